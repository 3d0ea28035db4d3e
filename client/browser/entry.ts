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
 *
 * Pages cannot set headers, so there is no token here: a service that admits browsers does
 * so by other means (e.g. cookies or mTLS at the edge). A refused handshake (HTTP 404) is
 * invisible to a page: it shows as a close with 1006 before open.
 */
import { CLIENT_SUBPROTOCOLS, INITIAL_WINDOW_BYTES } from "../../shared/protocol/constants.ts";
import { offered } from "../../shared/protocol/negotiate.ts";
import { describeClose } from "../describe.ts";
import { SallyportStream, type StreamOptions, type WebSocketLike } from "../stream.ts";

export { SallyportStream, describeClose, CLIENT_SUBPROTOCOLS, INITIAL_WINDOW_BYTES };
export type { CloseInfo, StreamOptions } from "../stream.ts";

export interface ConnectOptions extends StreamOptions {
  /** Speak the Sallyport client protocol (default true); false opens a plain session. */
  readonly sallyport?: boolean;
}

/** Opens a session; resolves once the WebSocket is open, rejects if it closes first. */
export function connect(url: string, opts: ConnectOptions = {}): Promise<SallyportStream> {
  return new Promise((resolve, reject) => {
    // v2 at most: a browser cannot set the resume headers (v3), so it cannot resume yet.
    const ws = new WebSocket(url, opts.sallyport === false ? [] : offered(CLIENT_SUBPROTOCOLS, 2));
    ws.binaryType = "arraybuffer";
    const onClose = (e: { code: number; reason: string }): void => {
      const why =
        e.code === 1006
          ? "handshake failed or connection lost (1006); an HTTP 404 from the edge (unknown service, not admitted) also shows as this"
          : describeClose(e.code, e.reason);
      reject(new Error(`${url}: ${why}`));
    };
    ws.addEventListener("close", onClose, { once: true });
    ws.addEventListener(
      "open",
      () => {
        ws.removeEventListener("close", onClose);
        resolve(new SallyportStream(ws as unknown as WebSocketLike, { autoConsume: true, ...opts }));
      },
      { once: true },
    );
  });
}
