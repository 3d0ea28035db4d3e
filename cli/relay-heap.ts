import v8 from "node:v8";

/**
 * V8 settings for the processes that relay bytes: the connector, `sallyport client`, `sallyport
 * dev` (docs/performance.md, "The slow mode's trigger, and the V8 setting that removes it").
 *
 * Relaying, a Node process makes ArrayBuffers outside the JavaScript heap at the rate bytes pass
 * through it: every socket read, every message `ws` gathers from several reads. Almost all die
 * young, and V8 counts their bytes; past a limit set by what its last full collection left, it
 * collects the young generation and, as traced, the count still high, starts a full collection
 * as well. By default the dead buffers of a young collection are freed afterwards, by a
 * background thread, so the count has not come down yet when V8 looks again: traced with
 * `--trace-gc`, nearly every young collection "for external memory pressure" was followed by a
 * full one, 10–20 a second, at 1.5–2.5 times the CPU per GiB (the slow mode). Freed during the
 * young collection itself, the count comes down at once: in the same trace 139 young collections
 * for external memory pressure and one full collection. Buffers held long enough to be promoted
 * (queued for credit, or kept until acknowledged) still need a full collection; the connector's
 * chunk pool (connector/chunk-pool.ts) keeps those few and reuses them.
 */
export const RELAY_V8_FLAGS: readonly string[] = ["--no-concurrent-array-buffer-sweeping"];

/** Called first thing by the relaying commands; the flag is read at every young collection. */
export function tuneHeapForRelaying(): void {
  for (const flag of RELAY_V8_FLAGS) v8.setFlagsFromString(flag);
}
