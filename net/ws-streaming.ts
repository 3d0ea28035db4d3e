import type WebSocket from "ws";

/**
 * Binary messages delivered as their bytes arrive, not once whole.
 *
 * `ws` gathers each frame's payload into one contiguous buffer before it emits the message: a
 * 1 MiB frame read from the socket 64 KiB at a time is copied into a fresh 1 MiB allocation,
 * whose pages the kernel must first fault in and zero. For Sallyport's data messages that
 * buys nothing: their bytes are a stream (credit counts bytes, not messages), so each piece
 * can go on to its socket as it is read. This hooks `ws`'s receiver (8.x; its fields are not
 * public API, hence the shape check) so that a binary frame's payload is emitted as views of
 * the socket's own reads — one `message` event per read the frame spans, none copied.
 *
 * Text and control frames, masked or compressed ones, and frames already read whole keep `ws`'s
 * own path, as does any receiver whose shape is not the one known here (then nothing changes).
 */

/** The parts of `ws`'s Receiver (lib/receiver.js) this relies on. */
interface Receiver {
  _buffers: Buffer[];
  _bufferedBytes: number;
  _payloadLength: number;
  _fragmented: number;
  _fragments: Buffer[];
  _opcode: number;
  _masked: boolean;
  _compressed: boolean;
  _loop: boolean;
  _allowSynchronousEvents: boolean;
  getData(cb: (e?: Error) => void): void;
  emit(event: "message", data: Buffer, isBinary: true): boolean;
}

/** `ws`'s GET_INFO state: read the next frame's header. */
const GET_INFO = 0;
const BINARY = 2;
const CONTINUATION = 0;

/** Whether `ws`'s receiver has the shape this module knows; if not, `streamBinary` leaves it alone. */
function isKnownReceiver(r: unknown): r is Receiver {
  if (typeof r !== "object" || r === null) return false;
  const o = r as Record<string, unknown>;
  return (
    typeof o.getData === "function" &&
    Array.isArray(o._buffers) &&
    typeof o._bufferedBytes === "number" &&
    typeof o._payloadLength === "number" &&
    typeof o._opcode === "number" &&
    typeof o._fragmented === "number" &&
    Array.isArray(o._fragments) &&
    typeof o._masked === "boolean" &&
    typeof o._compressed === "boolean" &&
    typeof o._allowSynchronousEvents === "boolean" &&
    o._state === GET_INFO
  );
}

/**
 * Make `ws` (open, its receiver created) emit binary payloads as they are read. Returns false
 * if the receiver is not one this knows (a fake in a unit test, a future `ws`): unchanged.
 */
export function streamBinary(ws: WebSocket): boolean {
  const r = (ws as unknown as { _receiver?: unknown })._receiver;
  if (!isKnownReceiver(r)) return false;
  const whole = r.getData;
  r.getData = function (this: Receiver, cb) {
    if (!streamable(this)) return whole.call(this, cb);
    emitPieces(this);
  };
  return true;
}

/**
 * A binary data frame not yet all read. A frame that is (every small message: a latency-bound
 * path left exactly as `ws` has it) takes `ws`'s own path; so does the rest of a streamed frame
 * once all of it has arrived, emitted as the frame's last piece.
 */
function streamable(r: Receiver): boolean {
  const binary = r._opcode === BINARY || (r._opcode === CONTINUATION && r._fragmented === BINARY);
  return (
    binary && r._bufferedBytes < r._payloadLength && !r._masked && !r._compressed && r._allowSynchronousEvents && r._fragments.length === 0
  );
}

/** Emit every read buffered so far (all of it the frame's payload), then wait for more. */
function emitPieces(r: Receiver): void {
  while (r._buffers.length > 0) {
    const piece = r._buffers.shift()!;
    r._bufferedBytes -= piece.length;
    r._payloadLength -= piece.length;
    r.emit("message", piece, true);
  }
  r._loop = false;
}
