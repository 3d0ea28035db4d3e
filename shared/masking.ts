import { isLoopbackHost } from "./loopback.ts";

/**
 * WebSocket masking (RFC 6455 §5.3) exists for one threat: script in a browser choosing the
 * bytes a client sends, to poison a cache in an intermediary that reads the cleartext stream.
 * No intermediary can read a wss:// stream (TLS) or sits on a loopback connection, so there
 * our Node clients (connector, CLI) use the all-zero key, which `ws` sends without touching
 * the payload: a copy and an XOR pass over every byte saved. Over ws:// to any other host,
 * frames are masked with a random key as usual. Browsers always mask; this is not for them.
 */

/** Whether frames sent to `url` need a random mask. */
export function maskingNeeded(url: string | URL): boolean {
  return isCleartextRemote(url);
}

/**
 * A ws:// (or http://) URL to another machine: whatever goes there — a token, session data —
 * crosses the network readable by anyone on the path.
 */
export function isCleartextRemote(url: string | URL): boolean {
  const u = typeof url === "string" ? new URL(url) : url;
  if (u.protocol === "wss:" || u.protocol === "https:") return false;
  return !isLoopbackHost(u.hostname);
}

/** `ws` client options for `url`: the zero key where masking protects nothing. */
export function maskOptions(url: string | URL): { generateMask?: (mask: Uint8Array) => void } {
  return maskingNeeded(url) ? {} : { generateMask: zeroMask };
}

function zeroMask(mask: Uint8Array): void {
  mask.fill(0);
}
