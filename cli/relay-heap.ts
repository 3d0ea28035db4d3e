import { readFileSync } from "node:fs";
import v8 from "node:v8";
import type { Logger } from "../shared/log.ts";
import { BulkGauge, type HeapMode, ioBytesOf } from "./bulk-gauge.ts";

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
 * chunk pool (net/chunk-pool.ts) keeps those few and reuses them.
 */
export const RELAY_V8_FLAGS: readonly string[] = ["--no-concurrent-array-buffer-sweeping"];

/**
 * While bytes flow in bulk, V8 may grow the old generation to 4 × what a full collection left
 * (its own choice is 1.1–4 ×, from how fast it collects against how fast we allocate). A
 * relaying process keeps little alive (10–16 MiB) and allocates fast, and V8 starts marking
 * whenever the room left under its limit is smaller than the young generation; with the limit
 * close above what is live, that is often: traced, 2–3 × the full collections. At 4 × the
 * client's CPU per GiB fell by a quarter and bulk ran 8–14 % faster (docs/performance.md,
 * "Levers taken"). Not always on: opening thousands of idle sessions then leaves its garbage
 * in a bigger heap (the connector's memory per idle session rose 1–2 KiB towards the 20 KiB
 * target). The flag is read at each full collection, so it can change while the process runs.
 */
export const BULK_HEAP_FLAG = "--heap-growing-percent=300";
/** 0: V8 chooses the factor itself again. */
export const DEFAULT_HEAP_FLAG = "--heap-growing-percent=0";
/** How often the I/O count is read (a read of a small file under /proc). */
export const GAUGE_INTERVAL_MS = 250;

export interface HeapTuning {
  /** Log each change of the heap's mode at debug level (the commands have a logger only later). */
  logTo(log: Logger): void;
}

/**
 * Called first thing by the relaying commands; the array-buffer flag is read at every young
 * collection. Where /proc/self/io cannot be read (not Linux), the heap keeps V8's sizing.
 */
export function tuneHeapForRelaying(): HeapTuning {
  for (const flag of RELAY_V8_FLAGS) v8.setFlagsFromString(flag);
  let log: Logger | undefined;
  const gauge = new BulkGauge();
  const read = (): number | undefined => {
    try {
      return ioBytesOf(readFileSync("/proc/self/io", "latin1"));
    } catch {
      return undefined;
    }
  };
  const first = read();
  if (first !== undefined) {
    gauge.sample(first, performance.now());
    setInterval(() => {
      const bytes = read();
      const change = bytes === undefined ? undefined : gauge.sample(bytes, performance.now());
      if (change) apply(change, log);
    }, GAUGE_INTERVAL_MS).unref();
  }
  return {
    logTo(l) {
      log = l;
    },
  };
}

function apply(mode: HeapMode, log: Logger | undefined): void {
  v8.setFlagsFromString(mode === "bulk" ? BULK_HEAP_FLAG : DEFAULT_HEAP_FLAG);
  log?.log("debug", mode === "bulk" ? "bulk transfer: heap may grow 4x per collection" : "bulk transfer over: V8's heap sizing again");
}
