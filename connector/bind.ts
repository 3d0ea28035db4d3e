import type net from "node:net";
import WebSocket from "ws";
import type { ConnectorService } from "../shared/config/connector-config.ts";
import type { BackendAddress } from "../shared/config/service.ts";
import { type Clock, systemClock, type Timer } from "../shared/clock.ts";
import { Heartbeat } from "../shared/heartbeat.ts";
import { type EdgeRoute, openEdgeSocket } from "../net/edge-socket.ts";
import { close, CloseCode, type Close } from "../shared/protocol/close-codes.ts";
import { linkLost, ResumeWindow } from "../shared/resume-window.ts";
import { decodeFromEdge, encode } from "../shared/protocol/codec.ts";
import type { ClientProtocol } from "../shared/protocol/messages.ts";
import { offered, versionOf } from "../shared/protocol/negotiate.ts";
import {
  BIND_SUBPROTOCOLS,
  HANDSHAKE_TIMEOUT_MS,
  type ProtocolVersion,
  HEARTBEAT_REQUEST,
  HEARTBEAT_RESPONSE,
  MAX_RECEIVE_BYTES,
  MIN_MESSAGE_BYTES,
  RESUME_END_HEADER,
  RESUME_HEADER,
  RESUME_RECEIVED_HEADER,
  SESSION_HEARTBEAT_MS,
  MAX_SHARDS,
  SHARD_HEADER,
  SHARDS_HEADER,
} from "../shared/protocol/constants.ts";
import { BackendError, dialBackend, type DialOptions } from "./backend.ts";
import type { Logger } from "../shared/log.ts";
import { Session, type SessionOutcome } from "./session.ts";
import type { CloseCodeName } from "../shared/protocol/close-codes.ts";

/**
 * One prepared bind: a WebSocket dialed out to the edge, parked there until a client takes
 * it, then relayed to a fresh backend connection.
 *
 *   dialing → registering → parked → paired → relaying → closed
 *                                      ↘ standby ↗ (on the client's `start`, or its first data)
 *                 └──────────┴─────────┴──────────┴──→ closed
 *
 * v3 (docs/protocol.md, "Resume"): a relaying session whose socket drops (closed without a
 * close frame, told `resume` by the edge, or found silent) keeps its backend connection and
 * dials the edge again with its ticket:  relaying → resuming → relaying, or → closed when the
 * window passes or the edge refuses (the backend connection is then reset).
 */
export type BindPhase = "dialing" | "registering" | "parked" | "standby" | "paired" | "relaying" | "resuming" | "closed";

/** Why a bind ended, classified once for the pool. */
export type BindEnd =
  | { kind: "rejected"; status: number } // the edge refused the handshake: credentials or service
  // Could not reach the edge (or its proxy), or lost it before a client came.
  | { kind: "failed"; detail: string; fix?: string; code?: number }
  | { kind: "session"; close: Close } // served a client (successfully or not)
  | { kind: "stopped" } // we closed it
  | { kind: "withdrawn" }; // we closed it because the backend is down

export interface BindEvents {
  parked(bind: Bind): void;
  paired(bind: Bind): void;
  demand(bind: Bind, waiting: number): void;
  /** A relayed session finished (for metrics). */
  sessionEnded?(bind: Bind, outcome: SessionOutcome, durationMs: number): void;
  /** v3: a resume finished, resumed or failed (for metrics). */
  resumeEnded?(bind: Bind, outcome: ResumeOutcome): void;
  /** A session could not reach the backend: the pool withdraws its binds. */
  backendFailed(bind: Bind, close: CloseCodeName): void;
  ended(bind: Bind, end: BindEnd): void;
}

/** What a bind does to the outside world; unit tests pass in-memory fakes and a manual clock. */
export interface BindIo {
  /** Dials the edge (ws's constructor), with the options net/edge-socket.ts builds from the route. */
  openSocket(url: string, protocols: string[], options: ConstructorParameters<typeof WebSocket>[2]): WebSocket;
  dialBackend(address: BackendAddress, options?: DialOptions): Promise<net.Socket>;
  readonly clock: Clock;
}

export const systemIo: BindIo = {
  openSocket: (url, protocols, options) => new WebSocket(url, protocols, options),
  dialBackend,
  clock: systemClock,
};

export interface BindDeps {
  readonly service: ConnectorService;
  readonly token: string;
  /** Trust, pin and proxy toward the edge. */
  readonly route: EdgeRoute;
  readonly connectorId: string;
  readonly instance: string;
  readonly log: Logger;
  readonly events: BindEvents;
  readonly io?: BindIo;
  /** The shard of the service this bind asks the edge for (SHARD_HEADER); 0 when absent. */
  readonly shard?: number;
}

/** Where the edge placed a bind, and how many shards it spreads the service over (its 101's headers). */
export interface Placement {
  readonly shard: number;
  readonly shards: number;
}

/**
 * The 101's shard headers. An edge from before shards sends none: one shard, shard 0. A count
 * past MAX_SHARDS is taken as MAX_SHARDS: the pool keeps a bind per shard, and an edge must not
 * be able to make it open more than that.
 */
export function placementOf(headers: Record<string, string | string[] | undefined>): Placement {
  const int = (v: string | string[] | undefined): number | undefined =>
    typeof v === "string" && /^[0-9]{1,4}$/.test(v) ? Number(v) : undefined;
  const shards = Math.min(Math.max(int(headers[SHARDS_HEADER]) ?? 1, 1), MAX_SHARDS);
  const shard = int(headers[SHARD_HEADER]) ?? 0;
  return { shard: shard < shards ? shard : 0, shards };
}

let counter = 0;

/** One resume of a session's link, as the bind saw it. */
export interface ResumeOutcome {
  readonly outcome: "resumed" | "failed";
  /** From the drop to `resumed` (or to giving up). */
  readonly stallMs: number;
  /** Bytes sent again to the client. */
  readonly resentBytes: number;
  readonly attempts: number;
}

interface Pairing {
  readonly sessionId: string;
  readonly clientAddress: string;
  readonly protocol: ClientProtocol;
  readonly maxMessageBytes: number;
  /** Opened ahead of use: a clean end keeps the socket for the client's next `start`. */
  readonly standby: boolean;
}

export class Bind {
  readonly id = `b${process.pid.toString(36)}${(++counter).toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  private current: BindPhase = "dialing";
  /** Opened to meet a burst of demand; not replaced when used. */
  readonly surplus: boolean;
  private ws: WebSocket | undefined;
  /**
   * Parked: every heartbeat.interval. In a session: at least every SESSION_HEARTBEAT_MS, so a
   * dead path does not hold the backend connection.
   */
  private readonly heartbeat: Heartbeat;
  private readonly io: BindIo;
  private readonly clock: Clock;
  private ending: BindEnd | undefined;
  private session: Session | undefined;
  /** Client data received while the backend was being dialed; handed to the session. */
  private early: Array<[Buffer, boolean]> = [];
  /**
   * A kept session ended (our `done` went out) and no `start` came since. A reader's grant sent
   * before it saw the session's last data crosses our `done` on the wire: it belongs to the
   * session that ended, not to a protocol error (the edge drops the ones that reach it later).
   */
  private afterDone = false;
  /** What `paired` said, kept while in standby for the dial that `start` brings. */
  private pairing: Pairing | undefined;
  private readonly log: Logger;
  /** The version the edge selected in the handshake; every control message says it. */
  private version: ProtocolVersion = 1;
  /** Set by the edge's 101: where this bind went and the service's shard count. */
  private placed: Placement | undefined;
  /** v3: this session's latest resume ticket, and how long the edge waits for the other half. */
  private ticket: { readonly ticket: string; readonly timeoutMs: number } | undefined;
  /** v3: while resuming, the window and the pending retry. */
  private resume: { window: ResumeWindow; retry?: Timer | undefined; why: string } | undefined;

  constructor(
    private readonly deps: BindDeps,
    surplus = false,
  ) {
    this.surplus = surplus;
    this.io = deps.io ?? systemIo;
    this.clock = this.io.clock;
    this.heartbeat = new Heartbeat(
      this.clock,
      () => this.ws?.send(HEARTBEAT_REQUEST),
      (silentMs) => this.silent(silentMs),
      // Paused (backend dial in progress, or a backend slower than its client): the edge's answers wait unread.
      () => !this.ws?.isPaused,
    );
    this.log = deps.log.child({ bindId: this.id });
  }

  get phase(): BindPhase {
    return this.current;
  }

  /** The shard this bind asked for. */
  get shard(): number {
    return this.deps.shard ?? 0;
  }

  /** Where the edge placed it (known once the handshake is answered). */
  get placement(): Placement | undefined {
    return this.placed;
  }

  open(): void {
    const { service, token, route } = this.deps;
    const edge = openEdgeSocket(
      service.bindUrl,
      // Every version we speak, newest first: the edge selects the newest it speaks too.
      offered(BIND_SUBPROTOCOLS),
      route,
      {
        headers: { authorization: `Bearer ${token}`, [SHARD_HEADER]: String(this.shard) },
        maxPayload: MAX_RECEIVE_BYTES,
        handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      },
      this.io.openSocket,
    );
    this.wire(edge);
  }

  /** The handlers of a socket to the edge: the first one, and each one a resume dials. */
  private wire(edge: ReturnType<typeof openEdgeSocket>): void {
    const ws = edge.ws;
    this.ws = ws;
    ws.on("unexpected-response", (_req, res) => {
      res.resume();
      ws.terminate();
      if (this.phase === "resuming") return this.resumeFailed(`edge refused the resume (${res.statusCode ?? 0})`);
      // A proxy's refusal of the CONNECT arrives as a response too: it is not the edge's.
      const proxy = edge.refusal();
      this.end(proxy ? { kind: "failed", ...proxy } : { kind: "rejected", status: res.statusCode ?? 0 });
    });
    ws.on("upgrade", (res) => {
      // A resumed session's socket goes where its ticket says: it is not a placement.
      if (this.phase !== "resuming") this.placed = placementOf(res.headers);
    });
    ws.on("open", () => (this.phase === "resuming" ? this.heartbeat.every(SESSION_HEARTBEAT_MS) : this.onOpen(ws)));
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      if (ws !== this.ws) return;
      this.heartbeat.heard();
      if (this.phase === "resuming") {
        if (isBinary) return this.protocolError("data before resumed");
        return this.onControl(data.toString("utf8"));
      }
      // Between `paired` and the session existing, frames already read still arrive (ws.pause()
      // stops reading, not the frames of the chunk in hand — the edge replays a waiting client's
      // data and `end` right behind `paired`): keep them, in order, for the session.
      if (this.phase === "paired" && (isBinary || data.toString("utf8") !== HEARTBEAT_RESPONSE)) this.early.push([data, isBinary]);
      else if (!isBinary) this.onControl(data.toString("utf8"));
      else if (this.phase === "standby") {
        // Data before `start` still means the session is in use.
        this.early.push([data, isBinary]);
        this.start();
      } else if (this.phase !== "relaying") this.protocolError("data before pairing");
    });
    ws.on("pong", () => this.heartbeat.heard());
    ws.on("error", (e) => {
      // While resuming, the close that follows schedules the next attempt.
      if (ws !== this.ws || this.phase === "resuming" || (this.phase === "relaying" && this.canResume())) return;
      this.end({ kind: "failed", ...edge.failure(e) });
    });
    ws.on("close", (code) => {
      if (ws !== this.ws) return;
      if (this.phase === "resuming")
        return code === CloseCode.RESUME_FAILED ? this.resumeFailed("the edge ended the resume") : this.retry();
      if (this.phase === "relaying" && this.canResume() && linkLost(code)) return this.dropped(`link lost (${code})`);
      if (this.phase === "standby" || this.phase === "paired" || this.phase === "relaying")
        this.end({ kind: "session", close: { code: code as Close["code"], reason: "" } });
      else this.end({ kind: "failed", detail: `closed by edge (${code})`, code });
    });
  }

  /** Close with "going away": shutdown, or a surplus bind no longer needed. */
  stop(): void {
    this.closeAs({ kind: "stopped" }, close("GOING_AWAY"));
  }

  /** Take an unpaired bind back because the backend is down; the edge tells waiting clients. */
  withdraw(reason: CloseCodeName): void {
    this.closeAs({ kind: "withdrawn" }, close(reason));
  }

  private closeAs(end: BindEnd, how: Close): void {
    if (this.phase === "closed") return;
    if (this.phase === "resuming") return this.resumeFailed("the connector is stopping");
    this.ending ??= end;
    this.ws?.close(how.code, how.reason);
    this.clock.setTimeout(() => this.ws?.terminate(), 2000).unref();
  }

  private onOpen(ws: WebSocket): void {
    const version = versionOf(ws.protocol, BIND_SUBPROTOCOLS);
    if (!version) return this.protocolError("edge did not accept the bind subprotocol");
    this.version = version;
    this.current = "registering";
    const { service, connectorId, instance } = this.deps;
    const every = service.heartbeatIntervalMs;
    ws.send(encode({ t: "bind", accept: service.accept.uri, bindId: this.id, connectorId, instance, heartbeatMs: every }, version));
    this.heartbeat.every(every);
  }

  /** Nothing from the edge for three intervals: the path is dead; a session on it ends (its backend is reset). */
  private silent(silentMs: number): void {
    const sessionId = this.pairing?.sessionId;
    if (this.phase === "resuming") return void this.ws?.terminate(); // this attempt hangs: its close retries
    if (this.phase === "relaying" && this.canResume()) {
      this.log.log("warn", "edge silent; resuming the session", { silentMs, sessionId });
      const ws = this.ws;
      this.dropped("heartbeat timeout");
      ws?.terminate();
      return;
    }
    this.log.log("warn", "edge silent; dropping bind", { silentMs, ...(sessionId ? { sessionId } : {}) });
    this.end({ kind: "failed", detail: "heartbeat timeout" });
    this.ws?.terminate();
  }

  private onControl(text: string): void {
    if (text === HEARTBEAT_RESPONSE) return;
    const decoded = decodeFromEdge(text, this.version);
    if (!decoded.ok) return this.protocolError(`${decoded.error.code}: ${decoded.error.detail}`);
    const msg = decoded.value;
    switch (msg.t) {
      case "bound":
        if (this.phase !== "registering" || msg.bindId !== this.id) return this.protocolError("unexpected bound");
        this.current = "parked";
        return this.deps.events.parked(this);
      case "paired":
        if (this.phase !== "parked") return this.protocolError("unexpected paired");
        this.pairing = {
          sessionId: msg.sessionId,
          clientAddress: msg.clientAddress,
          protocol: msg.clientProtocol,
          maxMessageBytes: msg.maxMessageBytes ?? MIN_MESSAGE_BYTES,
          standby: msg.standby === true,
        };
        // A session opened ahead of use: the backend sees no connection until it is used.
        this.current = msg.standby ? "standby" : "paired";
        this.heartbeat.every(Math.min(this.deps.service.heartbeatIntervalMs, SESSION_HEARTBEAT_MS));
        this.deps.events.paired(this);
        if (this.current === "paired") this.start();
        return;
      case "start":
        // Outside standby the backend is already being dialed: nothing more to do.
        if (this.phase === "standby") this.start();
        return;
      case "demand":
        return this.deps.events.demand(this, msg.waiting);
      case "mark":
        // Data sent before `start` may carry one: it waits with that data for the session.
        if (!this.session && this.phase === "standby") return void this.early.push([Buffer.from(text), false]);
        if (!this.session) return this.protocolError("mark outside a session");
        return this.session.control(msg);
      case "end":
      case "credit":
        if (!this.session && msg.t === "credit" && this.afterDone) return;
        if (!this.session) return this.protocolError(`${msg.t} outside a session`);
        return this.session.control(msg);
      case "ticket":
        this.ticket = { ticket: msg.ticket, timeoutMs: msg.timeoutMs };
        return;
      case "resumed":
        if (this.phase !== "resuming" || !this.session) return this.protocolError("unexpected resumed");
        return this.resumed(msg.offset, msg.end === true);
    }
  }

  // ---- resume (v3) ----

  private canResume(): boolean {
    return this.ticket !== undefined && this.session?.resumable === true;
  }

  /** The session's socket dropped: keep the backend connection, and dial the edge again with the ticket. */
  private dropped(why: string): void {
    this.current = "resuming";
    this.session!.detach();
    this.heartbeat.stop();
    this.ws = undefined; // its close event, still to come, is no longer this session's
    this.resume = { window: new ResumeWindow(this.clock, this.ticket!.timeoutMs), why };
    this.log.log("info", "session link lost; resuming", { sessionId: this.pairing?.sessionId, why });
    this.retry();
  }

  private retry(): void {
    const r = this.resume;
    if (!r || this.phase !== "resuming") return;
    this.clock.clear(r.retry);
    const delay = r.window.nextDelay();
    if (delay === undefined) return this.resumeFailed("session.resume.timeout passed");
    r.retry = this.clock.setTimeout(() => this.redial(), delay);
  }

  private redial(): void {
    if (this.phase !== "resuming" || !this.ticket || !this.session) return;
    const { received, end } = this.session.offer;
    const edge = openEdgeSocket(
      this.deps.service.bindUrl,
      [BIND_SUBPROTOCOLS[3]], // resume is v3's: a v3 edge or nothing
      this.deps.route,
      {
        headers: {
          authorization: `Bearer ${this.deps.token}`,
          [RESUME_HEADER]: this.ticket.ticket,
          [RESUME_RECEIVED_HEADER]: String(received),
          ...(end ? { [RESUME_END_HEADER]: "1" } : {}),
        },
        maxPayload: MAX_RECEIVE_BYTES,
        handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      },
      this.io.openSocket,
    );
    this.wire(edge);
  }

  private resumed(offset: number, peerHasEnd: boolean): void {
    const r = this.resume!;
    const result = this.session!.resumed(this.ws!, offset, peerHasEnd);
    if (!result.ok) return this.resumeFailed(`cannot resume from offset ${offset}`);
    this.resume = undefined;
    this.current = "relaying";
    this.heartbeat.every(Math.min(this.deps.service.heartbeatIntervalMs, SESSION_HEARTBEAT_MS));
    const outcome: ResumeOutcome = {
      outcome: "resumed",
      stallMs: r.window.elapsed,
      resentBytes: result.resent,
      attempts: r.window.attempts,
    };
    this.log.log("info", "session resumed", { sessionId: this.pairing?.sessionId, why: r.why, ...outcome });
    this.deps.events.resumeEnded?.(this, outcome);
  }

  /** The session cannot resume: its backend connection is reset, and the bind ends. */
  private resumeFailed(why: string): void {
    const r = this.resume;
    if (!r || this.phase !== "resuming") return;
    this.resume = undefined;
    this.clock.clear(r.retry);
    const outcome: ResumeOutcome = { outcome: "failed", stallMs: r.window.elapsed, resentBytes: 0, attempts: r.window.attempts };
    this.log.log("warn", "session resume failed; backend connection reset", { sessionId: this.pairing?.sessionId, why, ...outcome });
    this.deps.events.resumeEnded?.(this, outcome);
    this.current = "relaying"; // so the session's end is reported as a session's
    this.session?.abandon(close("RESUME_FAILED"));
    this.ws?.terminate();
    this.end({ kind: "session", close: close("RESUME_FAILED") });
  }

  private start(): void {
    this.afterDone = false;
    this.current = "paired";
    void this.connectBackend(this.pairing!);
  }

  private async connectBackend({ sessionId, clientAddress, protocol, maxMessageBytes, standby: keep }: Pairing): Promise<void> {
    const ws = this.ws!;
    const log = this.log.child({ sessionId });
    // Hold client data in the socket until the backend is there to take it.
    ws.pause();
    const started = this.clock.now();
    try {
      const socket = await this.io.dialBackend(this.deps.service.connect);
      if (this.phase !== "paired") return void socket.destroy();
      this.current = "relaying";
      ws.send(encode({ t: "opened" }, this.version));
      const connectMs = this.clock.now() - started;
      const options = { protocol, version: this.version, maxMessageBytes, keep, clock: this.clock };
      this.session = new Session(ws, socket, options, (outcome) => {
        const durationMs = this.clock.now() - started;
        // The edge first (the pair is ready for the next session), our log and metrics after:
        // a log line is a write of its own (stderr), and the session's last message needn't wait for it.
        if (outcome.kept) this.keepForNext(outcome.endWithDone === true);
        log.log("info", "session ended", {
          by: outcome.by,
          closeCode: outcome.close.code,
          bytesToBackend: outcome.bytesToBackend,
          bytesToClient: outcome.bytesToClient,
          durationMs,
          ...(outcome.kept ? { kept: true } : {}),
        });
        this.deps.events.sessionEnded?.(this, outcome, durationMs);
        // The backend connection ended while the link was down: nothing is left to resume.
        if (this.resume) this.resumeFailed("the backend connection ended while resuming");
      });
      // Replayed in order, before any later frame (the socket is still paused).
      for (const [data, isBinary] of this.early.splice(0)) ws.emit("message", data, isBinary);
      ws.resume();
      // Logged once the client's first bytes are on their way to the backend, not before.
      log.log("info", "session started", { clientAddress, clientProtocol: protocol, connectMs });
    } catch (e) {
      const why = e instanceof BackendError ? e : new BackendError("GENERAL_FAILURE", String(e));
      // The address and errno stay here, in our own log; the client gets a code.
      log.log("warn", "backend connection failed", {
        backend: `${this.deps.service.connect.host}:${this.deps.service.connect.port}`,
        error: why.detail,
      });
      const how = close(why.close);
      // Read again: a paused socket never sees the edge's close frame, and the bind would stay
      // a session until ws gives up on the close handshake (30 s), holding up a drain.
      this.early.length = 0;
      ws.resume();
      ws.close(how.code, how.reason);
      if (why.close !== "GENERAL_FAILURE") this.deps.events.backendFailed(this, why.close);
    }
  }

  /**
   * A session opened in standby ended cleanly: tell the client, and wait for its next `start`.
   * `withEnd` (v3): the session's last `end` is still to say, and goes in the same message.
   */
  private keepForNext(withEnd: boolean): void {
    if (this.phase !== "relaying") return;
    this.session = undefined;
    this.current = "standby";
    this.afterDone = true;
    this.ws?.send(encode(withEnd ? { t: "end", done: true } : { t: "done" }, this.version));
  }

  private protocolError(detail: string): void {
    this.log.log("warn", "protocol error from edge", { detail });
    this.end({ kind: "failed", detail: "protocol error" });
    const how = close("PROTOCOL_ERROR");
    this.ws?.close(how.code, how.reason);
  }

  private end(end: BindEnd): void {
    if (this.phase === "closed") return;
    this.current = "closed";
    this.heartbeat.stop();
    this.deps.events.ended(this, this.ending ?? end);
  }
}
