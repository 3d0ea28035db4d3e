import { INITIAL_WINDOW_BYTES } from "./constants.ts";

/**
 * v3: what a writer keeps of one session direction so a resume can send it again (docs/protocol.md,
 * "Resume"). Pure; the client stream and the connector session each keep one.
 *
 * It holds references to the chunks as they went out, not copies: the hot path adds an array
 * entry per message. Bytes leave it once acknowledged, and acknowledgements ride on credit: the
 * edge never lets a writer go more than a window past what its reader proved it read (a limit
 * `upTo` means the reader has read at least `upTo` − INITIAL_WINDOW_BYTES), and `resumed` says
 * exactly what the reader received. So it never holds more than one window beyond the latest
 * limit, whatever the peers do.
 */
export class ResendBuffer {
  /** `dropped`: told of each chunk it held once acknowledged, as held (a trimmed one as its view; none rewound or reset). */
  constructor(private readonly dropped?: (chunk: Uint8Array) => void) {}

  private chunks: Uint8Array[] = [];
  /** Offset of the first byte kept (everything before it is acknowledged). */
  private base = 0;
  /** Offset just past the last byte sent. */
  private top = 0;

  /** Bytes kept, not yet acknowledged. */
  get bytes(): number {
    return this.top - this.base;
  }

  /** The offset the next byte sent will have. */
  get sentOffset(): number {
    return this.top;
  }

  /** A chunk went out (kept by reference: the caller must not reuse its memory). */
  sent(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    this.chunks.push(chunk);
    this.top += chunk.byteLength;
  }

  /** The reader has everything before `offset`: drop it. Offsets beyond what was sent are clamped. */
  acknowledge(offset: number): void {
    let upTo = Math.min(offset, this.top);
    if (upTo <= this.base) return;
    let drop = 0;
    while (drop < this.chunks.length && this.base + this.chunks[drop]!.byteLength <= upTo) {
      this.base += this.chunks[drop]!.byteLength;
      this.dropped?.(this.chunks[drop]!);
      drop++;
    }
    if (drop > 0) this.chunks = this.chunks.slice(drop);
    upTo -= this.base;
    if (upTo > 0) {
      this.chunks[0] = this.chunks[0]!.subarray(upTo);
      this.base += upTo;
    }
  }

  /** A limit from the edge (credit `upTo`): the reader has read at least one window less. */
  limitSeen(upTo: number): void {
    this.acknowledge(upTo - INITIAL_WINDOW_BYTES);
  }

  /**
   * A resume: the reader has received `offset` bytes. Returns what to send again, in order (the
   * buffer is then empty, its offsets rewound to `offset`: the caller sends the chunks through its
   * usual path, which keeps them again). Undefined when `offset` is not one this writer can resume
   * from (before what it dropped, or past what it sent): the session cannot continue.
   */
  rewind(offset: number): Uint8Array[] | undefined {
    if (offset < this.base || offset > this.top) return undefined;
    this.acknowledge(offset);
    const again = this.chunks;
    this.chunks = [];
    this.top = this.base;
    return again;
  }

  /** A new session on the same pair (standby): fresh offsets. */
  reset(): void {
    this.chunks = [];
    this.base = this.top = 0;
  }
}
