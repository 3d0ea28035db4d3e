/**
 * The browser helper (built to client/browser/sallyport.js, an ES module, by
 * client/browser/build.ts): a Sallyport session over the page's own WebSocket.
 *
 *   import { connect } from "./sallyport.js";
 *   const s = await connect("wss://gateway.example.com/app");
 *   s.onData = (bytes) => …;          // Uint8Array; credit is granted as it is delivered
 *   s.onEnd = () => …;                // the backend finished sending (its FIN)
 *   s.onClose = ({ code, clean, description }) => …;
 *   if (!s.send(bytes)) await new Promise((r) => (s.onDrain = r));   // out of credit: wait
 *   s.end();                          // our FIN; the backend can still answer
 *   s.onResume = ({ outcome, stallMs }) => …;  // the socket dropped and the session came back (or not)
 *
 * Pages cannot set headers, so there is no token here: a service that admits browsers does
 * so by other means (e.g. cookies or mTLS at the edge). A refused handshake (HTTP 404) is
 * invisible to a page: it shows as a close with 1006 before open.
 */
import { CLIENT_SUBPROTOCOLS, INITIAL_WINDOW_BYTES } from "../../shared/protocol/constants.ts";
import { offered } from "../../shared/protocol/negotiate.ts";
import { describeClose } from "../describe.ts";
import { resumeSubprotocol } from "../../shared/protocol/resume-subprotocol.ts";
import { type ReconnectError, type ResumeRequest, SallyportStream, type StreamOptions, type WebSocketLike } from "../stream.ts";

export { SallyportStream, describeClose, CLIENT_SUBPROTOCOLS, INITIAL_WINDOW_BYTES };
export type { CloseInfo, ResumeReport, StreamOptions } from "../stream.ts";

export interface ConnectOptions extends StreamOptions {
  /** Speak the Sallyport client protocol (default true); false opens a plain session. */
  readonly sallyport?: boolean;
  /**
   * Resume the session when its WebSocket drops (default true; protocol v3, docs/protocol.md
   * "Resume"). False offers v2 at most: the session ends with its socket.
   */
  readonly resume?: boolean;
}

/** Opens a session; resolves once the WebSocket is open, rejects if it closes first. */
export function connect(url: string, opts: ConnectOptions = {}): Promise<SallyportStream> {
  const resume = opts.sallyport !== false && opts.resume !== false;
  const protocols = opts.sallyport === false ? [] : offered(CLIENT_SUBPROTOCOLS, resume ? 3 : 2);
  const reconnect = resume ? (r: ResumeRequest, opened: (ws: WebSocketLike) => void) => reopen(url, r, opened) : undefined;
  return openSocket(
    url,
    protocols,
    (ws) => new SallyportStream(ws, { autoConsume: true, ...opts, ...(reconnect ? { reconnect } : {}) }),
  ).catch((e: CloseBeforeOpen) => {
    const why =
      e.code === 1006
        ? "handshake failed or connection lost (1006); an HTTP 404 from the edge (unknown service, not admitted) also shows as this"
        : describeClose(e.code, e.reason);
    throw new Error(`${url}: ${why}`);
  });
}

/**
 * The socket a dropped session resumes on: v3 only, the ticket and offsets as a subprotocol
 * (a page cannot set headers). A page cannot tell the edge's refusal (404) from a network
 * failure — both close with 1006 before open — so every failure is retried until the resume
 * window passes; the session then ends as failed.
 */
function reopen(url: string, r: ResumeRequest, opened: (ws: WebSocketLike) => void): Promise<void> {
  return openSocket(url, [CLIENT_SUBPROTOCOLS[3], resumeSubprotocol(r)], opened).catch((e: CloseBeforeOpen) => {
    throw { refused: false, detail: `closed with ${e.code} before open` } satisfies ReconnectError;
  });
}

/** How a socket that never opened closed. */
type CloseBeforeOpen = { readonly code: number; readonly reason: string };

/**
 * A page's WebSocket (binary as ArrayBuffer), handed to `use` inside its open event — before any
 * message can arrive — and resolving with what `use` returns; rejects with the close if it
 * closes first.
 */
function openSocket<T>(url: string, protocols: string[], use: (ws: WebSocketLike) => T): Promise<T> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols);
    ws.binaryType = "arraybuffer";
    const onClose = (e: CloseBeforeOpen): void => reject(e);
    ws.addEventListener("close", onClose, { once: true });
    ws.addEventListener(
      "open",
      () => {
        ws.removeEventListener("close", onClose);
        resolve(use(ws as unknown as WebSocketLike));
      },
      { once: true },
    );
  });
}
