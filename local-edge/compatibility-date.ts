/**
 * The workerd compatibility date the edge runs at: the newest date every bundled workerd
 * accepts. TypeScript imports it; the files that cannot (wrangler.toml,
 * deploy/workerd/sallyport.capnp, the READMEs) are held to it by
 * test/unit/compatibility-date.test.ts.
 */
export const COMPATIBILITY_DATE = "2026-08-01";
