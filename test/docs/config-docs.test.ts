/**
 * docs/configuration.md is generated from the job schema and the runner options' doc comments
 * (scripts/gen-config-docs.ts). This fails while the committed file differs from what the
 * script produces now, so a new field, default or constraint cannot go undocumented.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CONFIG_DOCS_PATH, renderConfigurationDocs } from "../../scripts/gen-config-docs.js";
import { BatchJobSchema } from "../../src/job/schema.js";

describe("docs/configuration.md", () => {
  it("is what scripts/gen-config-docs.ts generates (`npm run docs:config` updates it)", async () => {
    const generated = await renderConfigurationDocs();
    const committed = readFileSync(CONFIG_DOCS_PATH, "utf8");
    expect(committed, "docs/configuration.md is stale: run `npm run docs:config`").toBe(generated);
  });

  it("lists every top-level job field", async () => {
    const generated = await renderConfigurationDocs();
    const fields = Object.keys(BatchJobSchema.shape);
    expect(fields.length).toBeGreaterThan(10);
    for (const field of fields) expect(generated).toContain(`| \`${field}\``);
  });
});
