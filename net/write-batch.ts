import type { Writable } from "node:stream";

/**
 * Bulk writes gathered per turn of the event loop: a big write corks the stream and the turn's
 * end uncorks it, so the pieces of a message that arrived in several reads
 * (net/ws-streaming.ts) leave in one `writev` — one system call, one wake-up of the reader —
 * instead of one each. Small writes are latency, not bulk: one that finds the stream uncorked
 * goes at once, as it did before; held to the turn's end it would gain nothing and wait behind
 * whatever else the turn does (a new session's turn dials its replacement, logs, counts).
 */

/** From this size a write is bulk: a socket read is 64 KiB, a latency-bound message far less. */
export const BATCHED_FROM_BYTES = 16 * 1024;

export class WriteBatch {
  private corked = false;
  private readonly uncork = (): void => {
    this.corked = false;
    this.stream.uncork();
  };

  constructor(private readonly stream: Writable) {}

  write(chunk: Uint8Array, done: (e?: Error | null) => void): boolean {
    if (!this.corked && chunk.byteLength >= BATCHED_FROM_BYTES) {
      this.corked = true;
      this.stream.cork();
      setImmediate(this.uncork);
    }
    return this.stream.write(chunk, done);
  }
}
