import { describe, expect, it } from "vitest";
import { FARGATE_SIZES, isValidFargateSize, parseCpu, parseMemory } from "../../src/index.js";

describe("Fargate sizes", () => {
  it("holds every valid combination from 256/512 to 16384/122880", () => {
    const count = [...FARGATE_SIZES.values()].reduce((n, mems) => n + mems.length, 0);
    // 3 + 4 + 7 + 13 + 23 + 12 + 12 combinations, as the Fargate task size table lists them.
    expect(count).toBe(74);
    expect(isValidFargateSize(256, 512)).toBe(true);
    expect(isValidFargateSize(256, 2048)).toBe(true);
    expect(isValidFargateSize(256, 3072)).toBe(false);
    expect(isValidFargateSize(512, 4096)).toBe(true);
    expect(isValidFargateSize(1024, 2048)).toBe(true);
    expect(isValidFargateSize(1024, 1024)).toBe(false);
    expect(isValidFargateSize(4096, 30720)).toBe(true);
    expect(isValidFargateSize(8192, 20480)).toBe(true);
    expect(isValidFargateSize(8192, 18432)).toBe(false);
    expect(isValidFargateSize(16384, 122880)).toBe(true);
    expect(isValidFargateSize(16384, 40960)).toBe(true);
    expect(isValidFargateSize(16384, 36864)).toBe(false);
    expect(isValidFargateSize(128, 512)).toBe(false);
  });

  it("reads sizes the way ECS accepts them", () => {
    expect(parseCpu("1024")).toBe(1024);
    expect(parseCpu("1 vCPU")).toBe(1024);
    expect(parseCpu(".25 vcpu")).toBeUndefined();
    expect(parseCpu("0.25 vCPU")).toBe(256);
    expect(parseCpu("lots")).toBeUndefined();
    expect(parseMemory("2 GB")).toBe(2048);
    expect(parseMemory("0.5GB")).toBe(512);
    expect(parseMemory(3072)).toBe(3072);
    expect(parseMemory("3 TB")).toBeUndefined();
  });
});
