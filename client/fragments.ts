import type { Socket } from "node:net";
import type { WebSocket } from "ws";
import type { WebSocketLike } from "./stream.ts";

/**
 * One binary message sent as fragments (RFC 6455 §5.4), one per part, through Node's `ws`.
 * The forwarder gathers a connection's reads (64 KiB each) into messages of up to
 * max.message.size; sent whole, they would first be copied into one array, which for an upload
 * is a copy of every byte and a new 256 KiB ArrayBuffer per message for V8 to collect
 * (docs/performance.md). The edge's runtime reassembles the fragments, so the object still sees
 * one message, and the reads themselves are what the socket writes. The socket is corked
 * around the fragments so they still leave in one writev, as the whole message did.
 */
export function sendFragments(socket: WebSocketLike, parts: readonly Uint8Array[], cb: (err?: Error) => void): void {
  const ws = socket as unknown as WebSocket & { readonly _socket?: Socket };
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
