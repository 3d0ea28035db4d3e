import net from "node:net";
import tls from "node:tls";
import type { BackendAddress } from "../shared/config/service.ts";
import type { CloseCodeName } from "../shared/protocol/close-codes.ts";
import { ReusedReadBuffer, sharedReadBuffer } from "../net/reused-reads.ts";
import { useReusedReadBuffer } from "./backend-reads.ts";

/** Dials the configured backend; the only address this process ever connects to besides its edge. */

export const BACKEND_CONNECT_TIMEOUT_MS = 10_000;

export class BackendError extends Error {
  constructor(
    readonly close: CloseCodeName,
    /** errno or "ETIMEDOUT": for our own log, never sent to the edge. */
    readonly detail: string,
  ) {
    super(`backend ${close === "CONNECTION_REFUSED" ? "refused the connection" : "unreachable"} (${detail})`);
    this.name = "BackendError";
  }
}

/** Classify once: what the client is told for each way a dial can fail. */
export function classifyDialError(code: string | undefined): CloseCodeName {
  switch (code) {
    case "ECONNREFUSED":
      return "CONNECTION_REFUSED";
    case "ETIMEDOUT":
    case "EHOSTUNREACH":
    case "ENETUNREACH":
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "HOST_UNREACHABLE";
    default:
      return "GENERAL_FAILURE";
  }
}

export interface DialOptions {
  readonly timeoutMs?: number;
  /** A plain TCP socket's read buffer: the process's one (sharedReadBuffer) unless a test gives its own. */
  readonly readBuffer?: Buffer;
}

/** Read it with readBackend (connector/backend-reads.ts): a plain TCP socket has no 'data' events. */
export function dialBackend(address: BackendAddress, options: DialOptions = {}): Promise<net.Socket> {
  const { timeoutMs = BACKEND_CONNECT_TIMEOUT_MS, readBuffer } = options;
  return new Promise((resolve, reject) => {
    const socket = address.scheme === "tls" ? dialTls(address) : dialTcp(address, readBuffer);
    const ready = address.scheme === "tls" ? "secureConnect" : "connect";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new BackendError("HOST_UNREACHABLE", "ETIMEDOUT"));
    }, timeoutMs);
    socket.once(ready, () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      socket.setNoDelay(true);
      resolve(socket);
    });
    socket.once("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new BackendError(classifyDialError(e.code), e.code ?? e.message));
    });
  });
}

function dialTls(address: BackendAddress): tls.TLSSocket {
  return tls.connect({ host: address.host, port: address.port, servername: net.isIP(address.host) ? undefined : address.host });
}

function dialTcp(address: BackendAddress, readBuffer = sharedReadBuffer()): net.Socket {
  const reads = new ReusedReadBuffer(readBuffer);
  // Half-open: after the backend's FIN the client may still be sending.
  const socket = net.connect({ host: address.host, port: address.port, allowHalfOpen: true, onread: reads.onread });
  useReusedReadBuffer(socket, reads);
  return socket;
}
