import { describe, expect, it } from "vitest";
import { AdaptiveRateLimiter, limitedCall } from "../../src/index.js";
import { ManualClock } from "../../src/testing/index.js";
import { awsError } from "../helpers/aws-mocks.js";

describe("limitedCall", () => {
  const setup = () => {
    const clock = new ManualClock({ start: 0 });
    return { clock, limiter: new AdaptiveRateLimiter(clock, { ratePerSecond: 10, burst: 10 }) };
  };

  it("retries throttling with backoff, slowing the limiter, until it succeeds", async () => {
    const { clock, limiter } = setup();
    let calls = 0;
    const out = await clock.runUntil(
      limitedCall(
        limiter,
        clock,
        () =>
          ++calls < 3
            ? Promise.reject(awsError("ThrottlingException", "slow down"))
            : Promise.resolve("ok"),
        {
          backoffMs: (n) => 100 * n,
        },
      ),
    );
    expect(out).toEqual({ ok: true, value: "ok", attempts: 3 });
    expect(limiter.throttles).toBe(2);
    expect(clock.now()).toBeGreaterThanOrEqual(300);
  });

  it("gives up on a non-transient error at once, and on transient ones after maxAttempts", async () => {
    const { clock, limiter } = setup();
    const denied = await clock.runUntil(
      limitedCall(limiter, clock, () => Promise.reject(awsError("AccessDeniedException", "no")), {
        backoffMs: () => 10,
      }),
    );
    expect(denied).toMatchObject({
      ok: false,
      attempts: 1,
      aborted: false,
      error: { name: "AccessDeniedException" },
    });
    const down = await clock.runUntil(
      limitedCall(limiter, clock, () => Promise.reject(awsError("ServerException", "down", 500)), {
        maxAttempts: 4,
        backoffMs: () => 10,
      }),
    );
    expect(down).toMatchObject({ ok: false, attempts: 4, aborted: false });
  });

  it("stops waiting when its signal aborts", async () => {
    const { clock, limiter } = setup();
    const ac = new AbortController();
    clock.schedule(500, () => ac.abort());
    const out = await clock.runUntil(
      limitedCall(limiter, clock, () => Promise.reject(awsError("ServerException", "down", 500)), {
        backoffMs: () => 1000,
        signal: ac.signal,
      }),
    );
    expect(out).toMatchObject({ ok: false, aborted: true, attempts: 1 });
  });
});
