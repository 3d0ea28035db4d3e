import type { Socket } from "node:net";
import type { WebSocket } from "ws";

/**
 * One binary message sent as fragments (RFC 6455 §5.4), one per part, through Node's `ws`.
 * Both Node ends gather reads into messages of up to max.message.size: the forwarder a local
 * connection's, the connector a backend's (up to 256 KiB each, net/reused-reads.ts). Sent
 * whole, a message of several reads would first be copied into one array: a copy of every byte
 * and a new ArrayBuffer per message for V8 to collect (docs/performance.md). The edge's runtime
 * reassembles the fragments, so the object still sees one message, and the reads themselves are
 * what the socket writes. The socket is corked around the fragments so they still leave in one
 * writev, as the whole message did.
 *
 * `socket` is a `ws` WebSocket (the client's stream holds it as its WebSocketLike); `cb` runs
 * once the last fragment is written, and with it every part.
 */
export function sendFragments(socket: object, parts: readonly Uint8Array[], cb: (err?: Error) => void): void {
  const ws = socket as WebSocket & { readonly _socket?: Socket };
  const tcp = ws._socket;
  tcp?.cork();
  try {
    const last = parts.length - 1;
    for (let i = 0; i < last; i++) ws.send(parts[i]!, { binary: true, fin: false });
    ws.send(parts[last]!, { binary: true, fin: true }, cb);
  } finally {
    tcp?.uncork();
  }
}
