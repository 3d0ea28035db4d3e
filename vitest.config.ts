import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { COMPATIBILITY_DATE } from "./local-edge/compatibility-date.ts";
import { servicesBinding, tokensBinding } from "./test/edge/services.ts";

/**
 * Three tiers, one `vitest run`:
 *   unit — pure logic in Node, over in-memory fakes;
 *   edge — the Worker and its service object inside workerd (@cloudflare/vitest-plugin),
 *          configured from wrangler.toml with test services and tokens in place of the real ones;
 *   e2e  — real processes and sockets on 127.0.0.1.
 * Everything runs offline: the edge tier is local workerd, never remote bindings.
 * Tests that need a tool beyond Node (Chromium, systemd-analyze) skip locally without it and fail
 * under CI=true (test/helpers/tools.ts), so CI cannot go green with a tier gone.
 */
export default defineConfig({
  test: {
    // A run that finds no test files fails: a mistyped path or a lost include must not pass.
    passWithNoTests: false,
    // Console output (the edge's JSON logs, mostly) only for tests that fail.
    silent: "passed-only",
    projects: [
      {
        test: {
          name: "unit",
          environment: "node",
          include: ["test/unit/**/*.test.ts"],
        },
      },
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            remoteBindings: false,
            miniflare: {
              // The deployed date (wrangler.toml carries the same), so the tests never drift
              // to a different runtime behaviour than the one deployed.
              compatibilityDate: COMPATIBILITY_DATE,
              bindings: {
                SALLYPORT_SERVICES: servicesBinding(),
                SALLYPORT_CONNECTOR_TOKENS: tokensBinding(),
              },
            },
          }),
        ],
        test: {
          name: "edge",
          include: ["test/edge/**/*.test.ts"],
          // socks.timeout and hibernation tests wait on real timers (bounded in each test).
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: "e2e",
          environment: "node",
          include: ["test/e2e/**/*.test.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // Each file starts workerd and connector processes; two cores do not run several at
          // once well. So e2e files run one at a time, in a group of their own that never
          // overlaps unit or edge files (vitest runs groups one after another).
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
