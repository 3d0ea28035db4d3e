import type WebSocket from "ws";
import {
  AUTHORIZATION_HEADER,
  BEARER_PREFIX,
  CLIENT_SUBPROTOCOLS,
  HANDSHAKE_TIMEOUT_MS,
  MAX_RECEIVE_BYTES,
  RESUME_END_HEADER,
  RESUME_HEADER,
  RESUME_RECEIVED_HEADER,
  STANDBY_HEADER,
} from "../shared/protocol/constants.ts";
import { type DialProblem, type EdgeRoute, openEdgeSocket } from "../net/edge-socket.ts";
import { offered } from "../shared/protocol/negotiate.ts";
import { describeRefusal } from "./describe.ts";
import { sendFragments } from "../net/ws-fragments.ts";
import { chunkPool } from "../net/reused-reads.ts";
import { type ReconnectError, type ResumeRequest, SallyportStream, type StreamOptions, type WebSocketLike } from "./stream.ts";

/**
 * Node: open one client WebSocket to a service's accept path, speaking the Sallyport client
 * protocol, and hand back a SallyportStream the moment the handshake completes (so nothing
 * the backend says first can slip past). Used by the forwarder and the probe.
 */

/** A client socket pings this often; three unanswered pings mean the path is dead. */
export const PING_INTERVAL_MS = 20_000;
export const PING_MISSES = 3;

export interface DialOptions {
  readonly url: string;
  readonly token?: string | undefined;
  readonly handshakeTimeoutMs?: number;
  readonly stream?: StreamOptions;
  /** Open the session ahead of use: the backend is dialed on stream.start() (Sallyport protocol only). */
  readonly standby?: boolean;
  /** Offer the client subprotocol (default true); without it the session is plain. */
  readonly sallyport?: boolean;
  /** Trust and proxy toward the edge; Node's defaults, direct, when absent. */
  readonly route?: EdgeRoute;
  /**
   * How long to wait, once close frames are exchanged, for the edge to close the TCP
   * connection before dropping it (ws's closeTimeout; default 30 s). Until then no "close"
   * event fires, and workerd may keep the connection of a socket it closed on arrival.
   */
  readonly closeTimeoutMs?: number;
}

export type DialFailure =
  | { readonly kind: "refused"; readonly status: number; readonly description: string }
  | { readonly kind: "error"; readonly detail: string; readonly description: string; readonly fix?: string | undefined };

export interface DialHandlers {
  /** The handshake completed; the stream exists already (set its handlers now, synchronously). */
  opened(stream: SallyportStream, handshakeMs: number): void;
  /** The handshake did not complete. */
  failed(failure: DialFailure): void;
}

export function dial(opts: DialOptions, handlers: DialHandlers): WebSocket {
  const started = performance.now();
  // Every version we speak, newest first: the edge selects the newest it speaks too.
  const offer = opts.sallyport === false ? [] : offered(CLIENT_SUBPROTOCOLS);
  const edge = openEdgeSocket(opts.url, offer, opts.route ?? {}, {
    handshakeTimeout: opts.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS,
    maxPayload: MAX_RECEIVE_BYTES,
    ...(opts.closeTimeoutMs !== undefined ? { closeTimeout: opts.closeTimeoutMs } : {}),
    headers: {
      ...(opts.token ? { [AUTHORIZATION_HEADER]: `${BEARER_PREFIX}${opts.token}` } : {}),
      ...(opts.standby ? { [STANDBY_HEADER]: "1" } : {}),
    },
  });
  const ws = edge.ws;
  let settled = false;
  const fail = (f: DialFailure): void => {
    if (settled) return;
    settled = true;
    handlers.failed(f);
  };
  ws.on("unexpected-response", (_req, res) => {
    const status = res.statusCode ?? 0;
    res.resume();
    // A proxy's refusal of the CONNECT arrives as a response too: it is not the edge's.
    const proxy = edge.refusal();
    fail(proxy ? problemFailure(proxy) : { kind: "refused", status, description: describeRefusal(status) });
    ws.terminate();
  });
  ws.on("error", (e: NodeJS.ErrnoException) => fail(problemFailure(edge.failure(e))));
  ws.on("open", () => {
    if (settled) return;
    settled = true;
    keepAlive(ws);
    // Node: reads that arrive in one turn of the event loop go out as one message.
    const reconnect = (r: ResumeRequest, opened: (ws: WebSocketLike) => void): Promise<void> => dialResume(opts, r, opened);
    handlers.opened(
      new SallyportStream(ws as unknown as WebSocketLike, {
        defer: setImmediate,
        sendFragments,
        chunks: chunkPool,
        reconnect,
        standby: opts.standby === true,
        ...opts.stream,
      }),
      performance.now() - started,
    );
  });
  return ws;
}

/**
 * v3: the socket a dropped session resumes on (docs/protocol.md, "Resume"): the same accept
 * path and credentials, v3 only, the ticket and offsets in headers. `opened` gets the socket in
 * its open event, before any message. Rejects with a ReconnectError: `refused` when the edge
 * answered with a refusal (the session is over).
 */
export function dialResume(opts: DialOptions, r: ResumeRequest, opened: (ws: WebSocketLike) => void): Promise<void> {
  const edge = openEdgeSocket(opts.url, [CLIENT_SUBPROTOCOLS[3]], opts.route ?? {}, {
    handshakeTimeout: opts.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS,
    maxPayload: MAX_RECEIVE_BYTES,
    ...(opts.closeTimeoutMs !== undefined ? { closeTimeout: opts.closeTimeoutMs } : {}),
    headers: {
      ...(opts.token ? { [AUTHORIZATION_HEADER]: `${BEARER_PREFIX}${opts.token}` } : {}),
      [RESUME_HEADER]: r.ticket,
      [RESUME_RECEIVED_HEADER]: String(r.received),
      ...(r.end ? { [RESUME_END_HEADER]: "1" } : {}),
    },
  });
  const ws = edge.ws;
  return new Promise((resolve, reject) => {
    const fail = (e: ReconnectError): void => {
      ws.terminate();
      reject(e);
    };
    ws.on("unexpected-response", (_req, res) => {
      res.resume();
      fail({ refused: edge.refusal() === undefined, detail: `status ${res.statusCode ?? 0}` });
    });
    ws.on("error", (e: Error) => fail({ refused: false, detail: e.message }));
    ws.on("open", () => {
      keepAlive(ws);
      opened(ws as unknown as WebSocketLike);
      resolve();
    });
  });
}

function problemFailure(p: DialProblem): DialFailure {
  return { kind: "error", detail: p.detail, description: p.fix ? `${p.detail}; ${p.fix}` : p.detail, fix: p.fix };
}

/** Pings keep NAT and proxies from dropping a quiet socket, and find a dead path. */
function keepAlive(ws: WebSocket): void {
  let missed = 0;
  ws.on("pong", () => (missed = 0));
  const timer = setInterval(() => {
    if (++missed > PING_MISSES) return ws.terminate();
    ws.ping();
  }, PING_INTERVAL_MS);
  timer.unref();
  ws.on("close", () => clearInterval(timer));
}
