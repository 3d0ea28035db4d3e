/**
 * Buffers for large socket reads, used again once the chunk read into one is done with.
 *
 * Each read of a connector's backend or a forwarder's local connection becomes a chunk its session
 * keeps past the read (net/reused-reads.ts): read into a buffer of this pool (readBuffer, claim),
 * or copied into one from the shared read buffer (take). Made fresh, every chunk is an
 * ArrayBuffer outside the JavaScript heap; those still queued when the young generation is
 * collected are promoted, and V8 then runs a major collection for every so many bytes of them —
 * 10–20 a second in a bulk transfer, the connector's slow mode (docs/performance.md, "The
 * connector's two modes"). A chunk taken from here is given back when nothing refers to it any
 * more, so a steady transfer reuses the same few buffers.
 *
 * A chunk is given back only while it is whole and every holder has let it go: `ws` once it has
 * written the frame, the v3 resend buffer once the other end acknowledged it. A chunk split by
 * credit, trimmed by a partial acknowledgement or sent again after a resume has other views of its
 * memory or an extra holder that never lets go: it is simply never given back, and the collector
 * frees it. Reads shorter than half a buffer become an exact-size Buffer instead: the resend
 * buffer keeps up to a window of bytes, and a small reply must not pin a whole buffer.
 */
export class ChunkPool {
  private readonly free: ArrayBuffer[] = [];
  /** Chunks taken from here and still whole, by their holders' count. */
  private readonly holders = new WeakMap<Uint8Array, number>();

  constructor(
    readonly bufferBytes: number,
    /** Buffers kept for the next reads, at most (the rest go to the collector). */
    readonly keep: number,
  ) {}

  /** A chunk of `n` bytes: from a pooled buffer when `n` is at least half of one. */
  take(n: number): Buffer {
    if (n * 2 < this.bufferBytes || n > this.bufferBytes) return Buffer.allocUnsafe(n);
    return this.chunkOf(this.free.pop() ?? new ArrayBuffer(this.bufferBytes), n);
  }

  /** A whole buffer to read into: what is read there becomes a chunk by claim(), without a copy. */
  readBuffer(): Buffer {
    return Buffer.from(this.free.pop() ?? new ArrayBuffer(this.bufferBytes));
  }

  /**
   * The first `n` bytes read into `buffer` (from readBuffer) as a chunk: the buffer itself when
   * `n` is at least half of it; a copy when less, and the buffer goes back to the pool.
   */
  claim(buffer: Buffer, n: number): Buffer {
    if (n * 2 < this.bufferBytes) {
      const copy = Buffer.allocUnsafe(n);
      buffer.copy(copy, 0, 0, n);
      this.giveBack(buffer.buffer as ArrayBuffer);
      return copy;
    }
    return this.chunkOf(buffer.buffer as ArrayBuffer, n);
  }

  /** Someone keeps `chunk` (a pooled, whole one; others are ignored) until it calls letGo. */
  hold(chunk: Uint8Array): void {
    const n = this.holders.get(chunk);
    if (n !== undefined) this.holders.set(chunk, n + 1);
  }

  /** A holder is done with `chunk`; the last one gives its buffer back. */
  letGo(chunk: Uint8Array): void {
    const n = this.holders.get(chunk);
    if (n === undefined) return;
    if (n > 1) return void this.holders.set(chunk, n - 1);
    this.holders.delete(chunk);
    this.giveBack(chunk.buffer as ArrayBuffer);
  }

  /** The first `n` bytes of a pooled buffer, as a chunk nobody holds yet. */
  private chunkOf(buffer: ArrayBuffer, n: number): Buffer {
    const chunk = Buffer.from(buffer, 0, n);
    this.holders.set(chunk, 0);
    return chunk;
  }

  /** A buffer nobody uses any more: kept for the next reads, up to `keep` of them. */
  private giveBack(buffer: ArrayBuffer): void {
    if (this.free.length < this.keep) this.free.push(buffer);
  }

  /** Buffers waiting to be used again. */
  get idle(): number {
    return this.free.length;
  }
}
