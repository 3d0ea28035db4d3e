import type net from "node:net";
import type WebSocket from "ws";
import { close, type Close } from "../shared/protocol/close-codes.ts";

/**
 * Bytes between a paired bind and its backend, with backpressure both ways:
 * - backend → edge: the TCP socket is paused while the WebSocket's buffered amount is above
 *   HIGH_WATER and resumed when a send completes below LOW_WATER;
 * - edge → backend: the WebSocket is paused while the TCP socket's write buffer is full and
 *   resumed on 'drain'.
 * It ends when either side ends; `done` says how, so the caller can log it once.
 */

export const HIGH_WATER = 4 * 1024 * 1024;
export const LOW_WATER = 1024 * 1024;

/** How long the backend may take to finish after the client has gone. */
export const BACKEND_LINGER_MS = 5_000;

export interface RelayOutcome {
  readonly by: "client" | "backend";
  readonly close: Close;
  readonly bytesToBackend: number;
  readonly bytesToClient: number;
}

export function relay(ws: WebSocket, backend: net.Socket, done: (outcome: RelayOutcome) => void): void {
  let toBackend = 0;
  let toClient = 0;
  let finished = false;
  const finish = (by: RelayOutcome["by"], how: Close): void => {
    if (finished) return;
    finished = true;
    done({ by, close: how, bytesToBackend: toBackend, bytesToClient: toClient });
  };

  ws.on("message", (data: Buffer, isBinary: boolean) => {
    if (!isBinary) return; // text on a bind is control; handled by the bind
    toBackend += data.byteLength;
    if (!backend.write(data)) {
      ws.pause();
      backend.once("drain", () => ws.resume());
    }
  });

  backend.on("data", (chunk: Buffer) => {
    toClient += chunk.byteLength;
    ws.send(chunk, { binary: true }, () => {
      if (backend.isPaused() && ws.bufferedAmount < LOW_WATER) backend.resume();
    });
    if (ws.bufferedAmount > HIGH_WATER) backend.pause();
  });

  // The backend finished its reply: close once everything queued has been written.
  backend.on("end", () => {
    finish("backend", close("NORMAL"));
    const how = close("NORMAL");
    ws.close(how.code, how.reason);
  });
  backend.on("error", () => {
    const how = close("GENERAL_FAILURE");
    finish("backend", how);
    ws.close(how.code, how.reason);
  });
  backend.on("close", () => {
    if (!finished) {
      const how = close("GENERAL_FAILURE");
      finish("backend", how);
      ws.close(how.code, how.reason);
    }
  });

  ws.on("close", (code: number) => {
    finish("client", { code: code as Close["code"], reason: "" });
    if (backend.destroyed) return;
    // A clean close lets the backend flush and answer the FIN; anything else is a reset.
    if (code === 1000) {
      backend.end();
      setTimeout(() => backend.destroy(), BACKEND_LINGER_MS).unref();
    } else backend.destroy();
  });
}
