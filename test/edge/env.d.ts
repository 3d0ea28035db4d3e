// The bindings the edge tests see: the Worker's own Env (edge/env.ts), via wrangler.toml and
// the overrides in vitest.config.ts.
declare namespace Cloudflare {
  interface Env extends import("../../edge/env.ts").Env {}
}
