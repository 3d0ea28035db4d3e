import type net from "node:net";
import type { ReusedReadBuffer } from "./reused-reads.ts";

/**
 * An accepted socket read into buffers of our own (net/reused-reads.ts), as a dialed one is with
 * net.connect's `onread`. Node offers `onread` only where a socket is made (`new net.Socket`,
 * `net.connect`), not to a server for the sockets it accepts; yet those are the forwarder's
 * bulk source on uploads, where 'data' cost the client 0.14–0.23 CPU-s per GiB more than the
 * connector's reused buffer (docs/performance.md).
 *
 * What `onread` sets up is done here on the accepted socket, before its first read: the socket's
 * three `onread` fields (the symbols `kBuffer`, `kBufferCb`, `kBufferGen` that every net.Socket
 * carries, all unset: here the first buffer, the callback, and the function that gives each next
 * buffer) and its handle's `useUserBuffer`. From then on Node's own code treats it as
 * a socket made with `onread`: each read goes to the callback, pause() and resume() stop and
 * start the handle's reads, and end, errors and close are as before. Node 22 and later.
 *
 * Every field is checked first; a socket of another shape (another Node, or one already reading)
 * is left alone and the caller keeps its 'data' events: slower, never wrong.
 */
export function readAcceptedInto(socket: net.Socket, reads: ReusedReadBuffer): boolean {
  const fields = onreadFields(socket);
  const handle = (socket as unknown as { _handle?: UserBufferHandle | null })._handle;
  if (!fields || !handle || typeof handle.useUserBuffer !== "function" || handle.reading !== false) return false;
  const own = socket as unknown as Record<symbol, unknown>;
  const first = reads.onread.buffer();
  own[fields.buffer] = first;
  own[fields.generator] = reads.onread.buffer;
  own[fields.callback] = reads.onread.callback;
  handle.useUserBuffer(first);
  reads.readFrom(socket);
  return true;
}

/** The part of a socket's libuv handle (TCPWrap) that `onread` uses. */
interface UserBufferHandle {
  readonly reading?: unknown;
  readonly useUserBuffer?: (buffer: Uint8Array) => void;
}

interface OnreadSymbols {
  readonly buffer: symbol;
  readonly callback: symbol;
  readonly generator: symbol;
}

/** Node's `onread` symbols, the same for every socket of the process: looked up by name once found. */
let found: OnreadSymbols | undefined;

/** A socket's own `onread` symbols, when it has all three and none is set yet. */
function onreadFields(socket: net.Socket): OnreadSymbols | undefined {
  found ??= onreadSymbols(socket);
  if (!found) return undefined;
  const own = socket as unknown as Record<symbol, unknown>;
  // null: the socket carries the field, unset (a socket of another shape has none: undefined).
  if (own[found.buffer] !== null || own[found.callback] !== null || own[found.generator] !== null) return undefined;
  return found;
}

function onreadSymbols(socket: net.Socket): OnreadSymbols | undefined {
  const byName = new Map(Object.getOwnPropertySymbols(socket).map((s) => [s.description, s]));
  const buffer = byName.get("kBuffer");
  const callback = byName.get("kBufferCb");
  const generator = byName.get("kBufferGen");
  return buffer && callback && generator ? { buffer, callback, generator } : undefined;
}
