/**
 * Buffers for the large chunks a Node end sends, used again once the chunk is done with.
 *
 * The connector copies each large backend read into one (connector/backend-reads.ts); `sallyport
 * client` gathers the reads of a local connection into one per message (client/stream.ts's
 * takeBytes). Made fresh, every chunk is an ArrayBuffer outside the JavaScript heap; these stay
 * queued in `ws` and in the v3 resend buffer until the other end acknowledges them, long enough
 * to be promoted, and V8 then runs a full collection for every so many bytes of them — 10–20 a
 * second in a bulk transfer (docs/performance.md, "The connector's two modes"). A chunk taken
 * from here is given back when nothing refers to it any more, so a steady transfer reuses the
 * same few buffers. Pure, platform-neutral: a browser never uses it (its WebSocket says nothing
 * when a frame is written).
 *
 * A chunk is given back only while it is whole and every holder has let it go: `ws` once it has
 * written the frame, the v3 resend buffer once the other end acknowledged it. A chunk split by
 * credit, trimmed by a partial acknowledgement or sent again after a resume has other views of its
 * memory or an extra holder that never lets go: it is simply never given back, and the collector
 * frees it. Chunks shorter than half a buffer are made fresh instead: the resend buffer keeps up
 * to a window of bytes, and a small reply must not pin a whole buffer.
 */
/** How a pool makes its chunks: Uint8Arrays by default, Node Buffers (Buffer.allocUnsafe: no zero fill) in the connector. */
export interface ChunkMaker<T extends Uint8Array> {
  /** A chunk of its own, for `n` too small or too large for a pooled buffer. */
  fresh(n: number): T;
  /** The first `n` bytes of a pooled buffer. */
  over(buffer: ArrayBuffer, n: number): T;
}

const BYTES: ChunkMaker<Uint8Array> = { fresh: (n) => new Uint8Array(n), over: (buffer, n) => new Uint8Array(buffer, 0, n) };

export class ChunkPool<T extends Uint8Array = Uint8Array> {
  private readonly free: ArrayBuffer[] = [];
  /** Chunks taken from here and still whole, by their holders' count. */
  private readonly holders = new WeakMap<Uint8Array, number>();

  constructor(
    readonly bufferBytes: number,
    /** Buffers kept for the next reads, at most (the rest go to the collector). */
    readonly keep: number,
    private readonly make: ChunkMaker<T> = BYTES as ChunkMaker<T>,
  ) {}

  /** A chunk of `n` bytes: from a pooled buffer when `n` is at least half of one. */
  take(n: number): T {
    if (n * 2 < this.bufferBytes || n > this.bufferBytes) return this.make.fresh(n);
    const chunk = this.make.over(this.free.pop() ?? new ArrayBuffer(this.bufferBytes), n);
    this.holders.set(chunk, 0);
    return chunk;
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
    if (this.free.length < this.keep) this.free.push(chunk.buffer as ArrayBuffer);
  }

  /** Buffers waiting to be used again. */
  get idle(): number {
    return this.free.length;
  }
}
