/**
 * Whether a relaying process is moving bulk bytes, told from its cumulative I/O byte count
 * (Linux: rchar + wchar of /proc/self/io, every read and write the process makes, sockets
 * included) sampled at intervals. cli/relay-heap.ts lets V8's heap grow more per collection
 * while the answer is "bulk" (docs/performance.md, "Levers taken"). Pure: the samples come in,
 * a change of mode comes out.
 */

/** At this rate or above, a sample counts as bulk (a bulk transfer here runs at 300–600 MB/s). */
export const BULK_BYTES_PER_S = 64 * 1024 * 1024;
/** Back to V8's own heap sizing once no sample has been bulk for this long. */
export const QUIET_MS = 5_000;

export type HeapMode = "bulk" | "default";

export class BulkGauge {
  private last: { readonly bytes: number; readonly at: number } | undefined;
  private current: HeapMode = "default";
  /** When the run of slow samples began, while in bulk mode. */
  private slowSince: number | undefined;

  get mode(): HeapMode {
    return this.current;
  }

  /** One sample: the cumulative byte count at time `at` (ms). Returns the new mode when it changes. */
  sample(bytes: number, at: number): HeapMode | undefined {
    const previous = this.last;
    this.last = { bytes, at };
    // The first sample, or one that went back in time or count: a baseline, nothing to compare.
    if (!previous || at <= previous.at || bytes < previous.bytes) return undefined;
    const fast = ((bytes - previous.bytes) * 1000) / (at - previous.at) >= BULK_BYTES_PER_S;
    if (fast) {
      this.slowSince = undefined;
      return this.change("bulk");
    }
    if (this.current === "default") return undefined;
    this.slowSince ??= previous.at;
    return at - this.slowSince >= QUIET_MS ? this.change("default") : undefined;
  }

  private change(to: HeapMode): HeapMode | undefined {
    if (this.current === to) return undefined;
    this.current = to;
    return to;
  }
}

/** rchar + wchar from the text of /proc/PID/io; undefined when either is missing. */
export function ioBytesOf(procIo: string): number | undefined {
  const read = /^rchar:\s*(\d+)$/m.exec(procIo);
  const written = /^wchar:\s*(\d+)$/m.exec(procIo);
  return read && written ? Number(read[1]) + Number(written[1]) : undefined;
}
