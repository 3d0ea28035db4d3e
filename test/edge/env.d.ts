// Types for the tests that run inside workerd: the bindings they see are the Worker's own
// (edge/env.ts, from wrangler.toml plus the overrides in vitest.config.ts), and
// `exports` from "cloudflare:workers" is the Worker's main module (edge/index.ts).
type EdgeEnv = import("../../edge/env.ts").Env;

declare namespace Cloudflare {
  interface Env extends EdgeEnv {}
  interface GlobalProps {
    mainModule: typeof import("../../edge/index.ts");
    durableNamespaces: "ServiceObject";
  }
}
