/**
 * A FIFO of byte chunks read off the front: how both ends turn many small reads into fewer,
 * larger messages. Pure; the queue may hold other items (a client's text frames, its `end`)
 * after the bytes, which are never crossed.
 */

/**
 * The most one read of a Node TCP socket returns through 'data' (libuv's read buffer; the
 * connector's plain TCP backends and the forwarder's local connections read into a larger one of
 * their own: net/reused-reads.ts). A shorter read means the socket was drained: nothing more is
 * coming this turn, so waiting to coalesce would only add latency. A full read means more is
 * probably waiting.
 */
export const FULL_READ_BYTES = 65_536;

/** Bytes in the run of byte chunks at the front of `queue`, counted up to `limit`. */
export function leadingBytes(queue: ReadonlyArray<unknown>, limit: number): number {
  let n = 0;
  for (const item of queue) {
    if (!(item instanceof Uint8Array) || n >= limit) break;
    n += item.byteLength;
  }
  return Math.min(n, limit);
}

/**
 * Removes the first `n` bytes from the front of `queue` and returns them as they lie: whole
 * chunks, and a view of the first part of the last one when `n` ends inside it. Nothing is
 * copied (what a sender that can write a message as fragments wants). `n` must not exceed
 * leadingBytes(queue, n).
 */
export function takeParts(queue: unknown[], n: number): Uint8Array[] {
  const parts: Uint8Array[] = [];
  let left = n;
  while (left > 0) {
    const head = queue[0];
    if (!(head instanceof Uint8Array)) throw new RangeError("takeParts: fewer bytes at the front than asked for");
    if (head.byteLength <= left) {
      parts.push(head);
      queue.shift();
      left -= head.byteLength;
    } else {
      parts.push(head.subarray(0, left));
      queue[0] = head.subarray(left);
      left = 0;
    }
  }
  return parts;
}

/**
 * Removes the first `n` bytes from the front of `queue` and returns them as one array: the chunk
 * itself when it is exactly those bytes, a view when one chunk holds them all, a copy when they
 * span chunks. `n` must not exceed leadingBytes(queue, n).
 */
export function takeBytes(queue: unknown[], n: number): Uint8Array {
  const parts = takeParts(queue, n);
  // The chunk itself, so that its owner still knows it (net/chunk-pool.ts), or a view.
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(n);
  let off = 0;
  for (const part of parts) {
    out.set(part, off);
    off += part.byteLength;
  }
  return out;
}
