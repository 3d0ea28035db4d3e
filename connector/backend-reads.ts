import type net from "node:net";
import { FULL_READ_BYTES } from "../shared/chunks.ts";
import type { ReadListener, ReusedReadBuffer } from "../net/reused-reads.ts";

/**
 * How a backend socket's reads reach its session: each read as a Buffer the session may keep,
 * and whether it was full (more is probably waiting: the session coalesces) or drained the
 * socket (the session sends at once). Plain TCP backends read through the process's reused
 * buffer (net/reused-reads.ts, set up by net.connect's `onread`); TLS backends through 'data'.
 */

const reusedBuffers = new WeakMap<net.Socket, ReusedReadBuffer>();

/**
 * `socket` reads into `reads` (created with `reads.onread`). It is paused, so that nothing is read
 * before readBackend gives the reads a listener (a backend may speak first).
 */
export function useReusedReadBuffer(socket: net.Socket, reads: ReusedReadBuffer): void {
  reusedBuffers.set(socket, reads);
  reads.readFrom(socket);
  socket.pause();
}

/** Hands each read of a backend socket to `listener`, from now on. */
export function readBackend(socket: net.Socket, listener: ReadListener): void {
  const reads = reusedBuffers.get(socket);
  if (!reads) {
    // 'data' (TLS, and sockets dialed without a reused buffer): Node's reads, at most FULL_READ_BYTES.
    socket.on("data", (chunk: Buffer) => listener(chunk, chunk.byteLength >= FULL_READ_BYTES));
    return;
  }
  reads.listen(listener);
  socket.resume();
}
