import { ChunkPool } from "./chunk-pool.ts";

/**
 * Socket reads into buffers of our own (`onread`): how the connector reads its plain TCP backends
 * (connector/backend-reads.ts) and the forwarder its local connections (net/accepted-reads.ts) —
 * the two sockets whose bytes each Node end sends on as bulk.
 *
 * Without it Node allocates a fresh 64 KiB buffer for every read and passes each through the
 * stream machinery as a 'data' event; reads of up to 256 KiB into buffers used again cost fewer
 * reads, allocations and events (a plain Node TCP relay spent ~0.3 CPU-s per GiB less; the
 * forwarder 0.14–0.23 less per GiB uploaded, docs/performance.md). A socket reads into the
 * process's one shared buffer, and each read is copied out, into a chunk the session may keep (it
 * holds chunks past the read: coalescing, beyond the other end's credit, and in the resend buffer
 * until they are acknowledged). In bulk, after a read that filled its buffer, the next read goes
 * straight into a buffer of the pool instead, and that buffer is the chunk: no copy (the
 * connector 0.04–0.05 CPU-s per GiB less downloading). TLS sockets have no `onread` and keep
 * their 'data' events.
 */

/**
 * What one read takes at most, where the plain relay measured its saving. A message (up to
 * max.message.size, 1 MiB by default) is then a few reads, each sent as one fragment of it as it
 * was read (net/ws-fragments.ts), with no copy to gather them. Larger reads would need larger
 * pooled buffers, and a short read would pin more of one.
 */
export const READ_BUFFER_BYTES = 262_144;

let shared: Buffer | undefined;

/**
 * The one shared read buffer of the process, for every socket read this way outside bulk. One per
 * socket would hold up to 256 KiB for each session's life (idle sessions grew by 8 KiB each in
 * `npm run bench -- --only idle10k`); sharing is safe because Node hands each read to its
 * callback synchronously, before the event loop reads any socket again, and the callback copies
 * the bytes out before it returns. A socket in bulk holds a pooled buffer of its own only from a
 * full read that left it reading to its next read.
 */
export function sharedReadBuffer(): Buffer {
  // Outside Node's pool: it lives as long as the process.
  shared ??= Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
  return shared;
}

/**
 * Where the process's large reads go, read into or copied to (net/chunk-pool.ts): buffers of
 * one read buffer's size, up to 64 of them (16 MiB) kept for the next reads — about what the
 * resend buffers and `ws`'s queues of a few busy sessions hold.
 */
export const chunkPool = new ChunkPool(READ_BUFFER_BYTES, 64);

/** The part of a socket a ReusedReadBuffer looks at. */
export interface Pausable {
  isPaused(): boolean;
}

/** One read: `chunk` is the session's to keep; `full` says more is probably waiting. */
export type ReadListener = (chunk: Buffer, full: boolean) => void;

/** One socket's reads through the shared buffer or the pool's, and who they go to. */
export class ReusedReadBuffer {
  private listener: ReadListener | undefined;
  /** Reads before there is a listener: none while the socket stays paused until then, as it does. */
  private early: Array<[Buffer, boolean]> = [];
  /** Where the next read goes: the shared buffer, or after a full read a buffer of the pool. */
  private next: Buffer;
  /** The socket read (readFrom): one the session paused reads next into the shared buffer. */
  private socket: Pausable | undefined;
  /**
   * A socket's `onread`, with `buffer` a function: Node asks it for the buffer of each next read.
   * After a full read that left the socket reading (more is waiting, and the session takes it:
   * bulk) that is a buffer of the pool, whose read becomes the chunk itself, uncopied; after any
   * other read it is the shared buffer again, so neither a socket between bursts nor one paused
   * for want of credit holds a buffer of its own. The callback always returns true: the session
   * stops reading with socket.pause(), which isPaused() reports; `false` would stop the reads
   * unseen by isPaused(), and the session, which resumes only a socket that isPaused(), would
   * never read again.
   */
  readonly onread: { readonly buffer: () => Buffer; readonly callback: (nread: number, into: Buffer) => boolean };

  /** `buffer`: the process's (sharedReadBuffer), or a test's own. */
  constructor(readonly buffer: Buffer) {
    this.next = buffer;
    this.onread = {
      buffer: () => this.next,
      callback: (nread, into) => {
        const full = nread === into.byteLength;
        const chunk = into === this.buffer ? this.copy(nread) : chunkPool.claim(into, nread);
        if (this.listener) this.listener(chunk, full);
        else this.early.push([chunk, full]);
        // After the listener: it may have paused the socket.
        this.next = full && this.socket?.isPaused() === false ? chunkPool.readBuffer() : this.buffer;
        return true;
      },
    };
  }

  /** The socket whose reads these are; until it is known, every read goes to the shared buffer. */
  readFrom(socket: Pausable): void {
    this.socket = socket;
  }

  /** From now on, each read goes to `listener` (and any made before it, first). */
  listen(listener: ReadListener): void {
    this.listener = listener;
    for (const [chunk, full] of this.early.splice(0)) listener(chunk, full);
  }

  /** The `nread` bytes just read, copied out: the next read overwrites the buffer. */
  private copy(nread: number): Buffer {
    const chunk = chunkPool.take(nread);
    this.buffer.copy(chunk, 0, 0, nread);
    return chunk;
  }
}
