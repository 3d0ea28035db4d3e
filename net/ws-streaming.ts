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
 * Text and control frames, masked or compressed ones, and zero-length frames keep `ws`'s own
 * path, as does any receiver whose shape is not the one known here (then nothing changes).
 */

/** The parts of `ws`'s Receiver (lib/receiver.js) this relies on. */
interface Receiver {
  _buffers: Buffer[];
  _bufferedBytes: number;
  _payloadLength: number;
  _totalPayloadLength: number;
  _messageLength: number;
  _fragmented: number;
  _numFragments: number;
  _fragments: Buffer[];
  _opcode: number;
  _fin: boolean;
  _masked: boolean;
  _compressed: boolean;
  _mask: unknown;
  _loop: boolean;
  _state: number;
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

function streamable(r: Receiver): boolean {
  const binary = r._opcode === BINARY || (r._opcode === CONTINUATION && r._fragmented === BINARY);
  return binary && r._payloadLength > 0 && !r._masked && !r._compressed && r._allowSynchronousEvents && r._fragments.length === 0;
}

/** Emit what has arrived of the frame's payload; once it is all out, the frame is done. */
function emitPieces(r: Receiver): void {
  while (r._payloadLength > 0 && r._bufferedBytes > 0) {
    const head = r._buffers[0]!;
    let piece: Buffer;
    if (head.length <= r._payloadLength) piece = r._buffers.shift()!;
    else {
      piece = head.subarray(0, r._payloadLength);
      r._buffers[0] = head.subarray(r._payloadLength);
    }
    r._bufferedBytes -= piece.length;
    r._payloadLength -= piece.length;
    r.emit("message", piece, true);
  }
  if (r._payloadLength > 0) {
    r._loop = false; // wait for the rest
    return;
  }
  r._mask = undefined;
  if (r._fin) {
    r._totalPayloadLength = 0;
    r._messageLength = 0;
    r._fragmented = 0;
    r._numFragments = 0;
  }
  r._state = GET_INFO;
}
