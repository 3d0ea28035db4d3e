import { DurableObject } from "cloudflare:workers";
import { close, relayableClose, type Close, type CloseCodeName } from "../shared/protocol/close-codes.ts";
import {
  BIND_SUBPROTOCOLS,
  CLIENT_SUBPROTOCOLS,
  HEARTBEAT_REQUEST,
  HEARTBEAT_RESPONSE,
  PROTOCOL_VERSIONS,
  type ProtocolVersion,
  SERVICE_FULL_STATUS,
} from "../shared/protocol/constants.ts";
import { decodeFromClient, decodeFromConnector, encode } from "../shared/protocol/codec.ts";
import type { BindMessage, DoneMessage, EndMessage, OpenedMessage } from "../shared/protocol/messages.ts";
import type { EdgeService } from "../shared/config/edge-config.ts";
import {
  MAX_PENDING_BYTES,
  OPEN_DEADLINE_MS,
  REGISTER_DEADLINE_MS,
  type Attachment,
  type BindAttachment,
  type ClientAttachment,
} from "./attachments.ts";
import { edgeConfig, findService, type Env } from "./env.ts";
import { UNKNOWN_CLIENT_ADDRESS } from "./client-address.ts";
import { COLD_SHARD, INTERNAL_HEADERS } from "./internal.ts";
import { perShard } from "./shards.ts";
import { log } from "./log.ts";
import { PendingHold } from "./hold.ts";
import { addPending, expired, isLive, nextDeadline, pair, pendingBytes, pickBind, pickClient, takeover } from "./pairing.ts";
import { SessionRelay } from "./relay.ts";
import { checkSession, type SessionVerdict } from "./liveness.ts";
import { SocketStore, closeSocket, sendTo } from "./socket-store.ts";
import { checkInstance, MAX_CLOCK_SKEW_MS } from "../shared/protocol/instance.ts";
import { summarize } from "./status.ts";
import { readVerifiedResume, type VerifiedResume } from "./resume-request.ts";
import { join, otherHalf, resumable, returningBind, returningClient, sameHalf, sessionIdOf, staleLegs } from "./resume.ts";
import { signTicket, usableSecret } from "./ticket.ts";

const encoder = new TextEncoder();

/** What the runtime reports for a socket that closed without a close frame: a dropped link, not an ending. */
const LINK_LOST = 1006;

type SocketPair = { readonly 0: WebSocket; readonly 1: WebSocket };

/** What a client refused for max.clients is told to wait (Retry-After, seconds): about a short session. */
const FULL_RETRY_AFTER_S = 5;

/** After an alarm failed as a whole, when to try again. */
const ALARM_RETRY_MS = 1000;

/** An entry point caught an error: said once, with what is safe to say (no message bodies). */
function failed(entry: string, error: unknown): void {
  log("error", "internal error: the sockets concerned are closed with 1011", {
    entry,
    error: (error instanceof Error ? `${error.name}: ${error.message}` : String(error)).slice(0, 200),
  });
}

/** The 101 that hands the client its socket, with the subprotocol (and version) it negotiated. */
function upgraded(request: Request, outside: WebSocket): Response {
  const version = versionHeader(request);
  const role = request.headers.get(INTERNAL_HEADERS.role);
  const protocol =
    role === "bind"
      ? BIND_SUBPROTOCOLS[version]
      : request.headers.get(INTERNAL_HEADERS.clientProtocol) === "sallyport"
        ? CLIENT_SUBPROTOCOLS[version]
        : undefined;
  return new Response(null, { status: 101, webSocket: outside, headers: protocol ? { "Sec-WebSocket-Protocol": protocol } : undefined });
}

const INSTANCE_PROBLEMS = {
  format: "not the shape a connector generates (9 base-36 digits of start time, 6 hex digits)",
  future: `starts more than ${MAX_CLOCK_SKEW_MS / 1000} s in the future`,
} as const;

const isStart = (chunk: Uint8Array | string, version: ProtocolVersion): boolean => {
  if (typeof chunk !== "string") return false;
  const decoded = decodeFromClient(chunk, version);
  return decoded.ok && decoded.value.t === "start";
};

/** The version the Worker selected (INTERNAL_HEADERS.version); absent or unknown: 1. */
const versionHeader = (request: Request): ProtocolVersion =>
  PROTOCOL_VERSIONS.find((v) => String(v) === request.headers.get(INTERNAL_HEADERS.version)) ?? 1;

/** A message's size in bytes on the wire: text counts its UTF-8 bytes, not UTF-16 units. */
function wireSize(message: string | ArrayBuffer, limit: number): number {
  if (typeof message !== "string") return message.byteLength;
  // Each UTF-16 unit is 1 to 3 UTF-8 bytes: only a string that might be over the limit is encoded.
  return message.length * 3 <= limit ? message.length : encoder.encode(message).byteLength;
}

/**
 * One object per service shard (edge/shards.ts; with one shard, one object per service): it
 * holds the parked binds and the waiting and paired clients, and relays each pair's messages.
 * It uses the hibernation API (ctx.acceptWebSocket), so an idle service costs nothing;
 * everything that must survive lives in attachments.
 * Entry points never throw (each catches, logs, and closes the sockets concerned with 1011)
 * and always reciprocate a close.
 */
export class ServiceObject extends DurableObject<Env> {
  private readonly sockets: SocketStore;
  /** Paired sessions' data and flow control. */
  private readonly relay: SessionRelay;
  /** Plain clients' data before pairing, beyond their attachment's share (memory only). */
  private readonly hold = new PendingHold();
  /**
   * Set when a connector withdrew its binds because its backend is down; new and waiting
   * clients are told at once instead of timing out. A cache: after eviction, clients simply
   * wait socks.timeout again. Cleared when any bind parks.
   */
  private backendDown: CloseCodeName | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sockets = new SocketStore(ctx);
    this.relay = new SessionRelay(this.sockets);
    // Answered by the runtime without waking the object; the timestamp marks live binds.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(HEARTBEAT_REQUEST, HEARTBEAT_RESPONSE));
  }

  /**
   * Since this object started (a cache: reset on eviction): session bytes relayed, and for the
   * status endpoint's per-shard figures, pairings made and WebSocket messages handled.
   */
  private readonly bytes = { toConnectors: 0, toClients: 0 };
  private readonly counts = { pairings: 0, messages: 0 };

  /**
   * When session data last went either way, by client socket id: for session.idle.timeout.
   * A cache (kept out of attachments: a write per message would cost too much); after an
   * eviction a session's idle time counts from the first check.
   */
  private readonly lastData = new Map<string, number>();

  /**
   * When some session must next be checked (liveness, idleness): recomputed by each alarm,
   * lowered by each pairing. A cache: after a restart the alarm already set recomputes it.
   */
  private sessionCheckAt: number | undefined;

  // ---- entry points: each catches, logs, and closes the sockets concerned with 1011 ----

  override async fetch(request: Request): Promise<Response> {
    let pair: SocketPair | undefined;
    try {
      return await this.open(request, () => (pair = new WebSocketPair()));
    } catch (error) {
      failed("fetch", error);
      if (!pair) return new Response("Internal Error", { status: 500 });
      const accepted = this.sockets.get(pair[1]) !== undefined;
      this.closeAffected(pair[1]);
      // Once accepted, the socket is the client's to be told on: 1011, with the handshake it asked for.
      return accepted ? upgraded(request, pair[0]) : new Response("Internal Error", { status: 500 });
    }
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    this.counts.messages++;
    try {
      await this.received(ws, message);
    } catch (error) {
      failed("webSocketMessage", error);
      this.closeAffected(ws);
    }
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    try {
      await this.ended(ws, code);
    } catch (error) {
      failed("webSocketClose", error);
      this.closeAffected(ws, true);
    }
  }

  override async webSocketError(ws: WebSocket, error: unknown): Promise<void> {
    try {
      log("warn", "socket error", { error: String(error).slice(0, 200) });
      await this.ended(ws, 1006);
    } catch (e) {
      failed("webSocketError", e);
      this.closeAffected(ws, true);
    }
  }

  override async alarm(): Promise<void> {
    try {
      await this.expire();
    } catch (error) {
      failed("alarm", error);
      // A deadline must not be lost with the alarm that failed: try again shortly.
      this.alarmAt = undefined;
      await this.ctx.storage.setAlarm(Date.now() + ALARM_RETRY_MS).catch((e: unknown) => failed("alarm", e));
    }
  }

  /**
   * After an internal error: the socket and its peer are closed with 1011 (never left in a
   * state nobody tracks), and forgotten once their close events come — or now, for a socket
   * whose own close was being handled (`gone`). Never throws itself.
   */
  private closeAffected(ws: WebSocket, gone = false): void {
    let peer: WebSocket | undefined;
    try {
      const att = this.sockets.get(ws);
      peer = att && this.peer(att);
      if (gone) this.sockets.forget(ws);
    } catch {
      // The store itself failed: the socket at hand is all we can reach.
    }
    closeSocket(ws, close("INTERNAL_ERROR"));
    if (peer) closeSocket(peer, close("INTERNAL_ERROR"));
  }

  private async open(request: Request, newPair: () => SocketPair): Promise<Response> {
    const service = this.service(request.headers.get(INTERNAL_HEADERS.service));
    if (!service) return new Response("Not Found", { status: 404 });
    if (request.headers.get(INTERNAL_HEADERS.role) === "status") {
      return Response.json(summarize(service.name, this.sockets.all(), this.bytes, this.counts));
    }
    const role = request.headers.get(INTERNAL_HEADERS.role);
    const now = Date.now();
    const object = request.headers.get(INTERNAL_HEADERS.objectName) ?? service.name;
    const resume = readVerifiedResume(request.headers.get(INTERNAL_HEADERS.resume));
    // A session coming back after a deploy is not a new client or bind: no shard choice, no cap.
    if (!resume) {
      // A client's first-choice shard with no parked bind: the Worker offers it to another shard.
      if (request.headers.get(INTERNAL_HEADERS.declineIfCold) === "1" && !this.pickLiveBind(now))
        return new Response(null, { status: COLD_SHARD.status, headers: { [COLD_SHARD.header]: "1" } });
      const maxClients = perShard(service.maxClients, service.shards);
      if (role !== "bind" && this.sockets.clients().length >= maxClients) return this.full(service, maxClients);
    }
    const { 0: outside, 1: inside } = newPair();
    const id = crypto.randomUUID().replaceAll("-", "");
    if (resume) {
      this.returning(request, inside, { id, service: service.name, version: versionHeader(request), object, resume, now }, service);
      return upgraded(request, outside);
    }
    if (role === "bind") {
      const credential = request.headers.get(INTERNAL_HEADERS.credential) ?? "";
      const version = versionHeader(request);
      this.sockets.accept(inside, {
        role: "bind",
        id,
        service: service.name,
        credential,
        version,
        object,
        state: "registering",
        openedAt: now,
        deadline: now + REGISTER_DEADLINE_MS,
      });
      const over = this.overCap(service, credential);
      if (over) {
        log("warn", "bind refused: limit reached", { service: service.name, limit: over });
        closeSocket(inside, close("LIMIT"));
      } else await this.armAlarm();
      return upgraded(request, outside);
    }
    const protocol = request.headers.get(INTERNAL_HEADERS.clientProtocol) === "sallyport" ? "sallyport" : "plain";
    const address = request.headers.get(INTERNAL_HEADERS.clientAddress) ?? UNKNOWN_CLIENT_ADDRESS;
    const standby = protocol === "sallyport" && request.headers.get(INTERNAL_HEADERS.standby) === "1";
    const version = versionHeader(request);
    const client: ClientAttachment = {
      role: "client",
      id,
      service: service.name,
      state: "waiting",
      protocol,
      address,
      arrivedAt: now,
      deadline: now + service.socksTimeoutMs,
      ...(standby ? { standby: true as const } : {}),
      ...(protocol === "sallyport" ? { version } : {}),
      object,
    };
    this.sockets.accept(inside, client);
    if (!this.pairWithLiveBind(client, now)) {
      if (this.backendDown) closeSocket(inside, close(this.backendDown));
      else await this.waitForBind(service);
    }
    return upgraded(request, outside);
  }

  private async received(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const att = this.sockets.get(ws);
    if (!att) return;
    const service = this.service(att.service);
    if (!service || wireSize(message, service.maxMessageBytes) > service.maxMessageBytes) {
      // The peer is told now: the message is dropped, so whatever close the sender sends next
      // (a connector's clean 1000 may already be on its way) must not reach it as a clean end.
      const peer = this.peer(att);
      if (peer) closeSocket(peer, close("MESSAGE_TOO_BIG"));
      return closeSocket(ws, close("MESSAGE_TOO_BIG"));
    }
    if (att.role === "client") return this.fromClient(ws, att, message, service);
    return this.fromBind(ws, att, message, service);
  }

  private async expire(): Promise<void> {
    this.alarmAt = undefined; // this one has fired
    const now = Date.now();
    const anyConnector = this.sockets.binds().length > 0;
    for (const att of expired(this.sockets.all(), now)) {
      const ws = this.sockets.socket(att.id);
      if (!ws) continue;
      try {
        this.expireOne(ws, att, now, anyConnector);
      } catch (error) {
        // One socket's failure must not keep the others' deadlines from being served.
        failed("alarm", error);
        this.closeAffected(ws);
        this.sockets.save(ws, { ...att, deadline: undefined });
      }
    }
    this.checkSessions(now);
    await this.armAlarm();
  }

  /** Every session in progress: ends those found silent or idle, and notes when to look again. */
  private checkSessions(now: number): void {
    let next: number | undefined;
    for (const [clientWs, c] of this.sockets.clients()) {
      const bindWs = c.state === "paired" ? this.peer(c) : undefined;
      const b = bindWs && this.sockets.get(bindWs);
      if (!bindWs || b?.role !== "bind") continue;
      try {
        const check = this.checkSession(bindWs, b, clientWs, c, now);
        if (check.verdict) this.endSession(clientWs, c, bindWs, b, check.verdict, now);
        else if (check.next !== undefined && (next === undefined || check.next < next)) next = check.next;
      } catch (error) {
        failed("alarm", error);
        this.closeAffected(clientWs);
      }
    }
    this.sessionCheckAt = next;
  }

  private checkSession(bindWs: WebSocket, b: BindAttachment, clientWs: WebSocket, c: ClientAttachment, now: number) {
    const lastData = this.lastData.get(c.id) ?? now;
    this.lastData.set(c.id, lastData);
    return checkSession(
      {
        bind: { att: b, lastHeartbeat: this.sockets.lastHeartbeat(bindWs) },
        client: { att: c, lastHeartbeat: this.sockets.lastHeartbeat(clientWs) },
        lastData,
      },
      now,
      this.service(c.service)?.sessionIdleTimeoutMs,
    );
  }

  /**
   * The one place a checked session is ended (a later version resumes instead). Both sockets
   * are forgotten at once: a silent peer may never answer the close, and must not be judged again.
   */
  private endSession(
    clientWs: WebSocket,
    c: ClientAttachment,
    bindWs: WebSocket,
    b: BindAttachment,
    why: SessionVerdict,
    now: number,
  ): void {
    // A resumable session whose leg went silent is not over: both ends come back with their tickets.
    const resume = why !== "idle" && b.session !== undefined;
    const how = close(why === "idle" ? "IDLE_TIMEOUT" : resume ? "RESUME" : "NETWORK_UNREACHABLE");
    const fields = { sessionId: sessionIdOf(c), bindId: b.bindId, connectorId: b.connectorId, closeCode: how.code };
    if (resume)
      log("warn", `session's ${why === "client-silent" ? "client" : "connector"} leg went silent: both ends told to resume`, fields);
    else if (why === "idle")
      log("info", "session idle for session.idle.timeout: ended", { ...fields, idleMs: now - (this.lastData.get(c.id) ?? now) });
    else log("warn", `session ended: its ${why === "client-silent" ? "client" : "connector"} leg went silent`, fields);
    closeSocket(clientWs, how);
    closeSocket(bindWs, how);
    this.sockets.forget(clientWs);
    this.sockets.forget(bindWs);
    this.relay.forget(b.id, c.id, true);
    this.lastData.delete(c.id);
  }

  private expireOne(ws: WebSocket, att: Attachment, now: number, anyConnector: boolean): void {
    if (att.state === "resuming") {
      // The other half never came (or the ticket was stale: the connector resumes only its current epoch).
      log("warn", "resume failed: the other half did not come within session.resume.timeout", {
        sessionId: sessionIdOf(att),
        side: att.role,
        closeCode: close("RESUME_FAILED").code,
      });
      closeSocket(ws, close("RESUME_FAILED"));
      this.sockets.save(ws, { ...att, deadline: undefined });
      return;
    }
    if (att.role === "client") {
      // Connectors present but all busy is "busy"; nobody there at all is SOCKS's TTL expired.
      closeSocket(ws, close(anyConnector ? "BUSY" : "TTL_EXPIRED"));
      this.sockets.save(ws, { ...att, deadline: undefined });
      log("info", "client waited socks.timeout for a bind", { sessionId: att.id, waitedMs: now - att.arrivedAt, busy: anyConnector });
    } else if (att.state === "registering") {
      closeSocket(ws, close("PROTOCOL_ERROR"));
      log("warn", "bind sent no bind message in time", { bindSocket: att.id });
    } else if (att.state === "paired") {
      // The connector never confirmed its backend: neither end is usable.
      log("warn", "paired bind never opened its backend", { sessionId: att.peer, bindId: att.bindId });
      this.endPair(ws, att, close("HOST_UNREACHABLE"), close("NETWORK_UNREACHABLE"));
    }
  }

  // ---- messages ----

  private fromClient(ws: WebSocket, att: ClientAttachment, message: string | ArrayBuffer, service: EdgeService): void {
    // A returning half says nothing until `resumed` (its heartbeats the runtime answers).
    if (att.state === "resuming") return closeSocket(ws, close("PROTOCOL_ERROR"));
    let data: ArrayBuffer | Uint8Array | string = message;
    if (typeof message === "string") {
      // A plain client's text is data; on a bind, text means control, so it goes as bytes.
      if (att.protocol === "plain") data = encoder.encode(message);
      else {
        const decoded = decodeFromClient(message, att.version ?? 1);
        if (!decoded.ok) return closeSocket(ws, close("PROTOCOL_ERROR"));
        if (att.state === "paired") {
          if (decoded.value.t === "start") this.started(att);
          return this.relay.clientControl(att, decoded.value);
        }
      }
    }
    if (att.state === "paired") {
      if (typeof data === "string") return; // unreachable: a Sallyport client's text was control
      this.bytes.toConnectors += data.byteLength;
      this.lastData.set(att.id, Date.now());
      return this.relay.clientData(att, data, service);
    }
    const chunk = data instanceof ArrayBuffer ? new Uint8Array(data) : data;
    // A plain client's data past what its attachment holds waits in memory, up to max.message.size in all.
    if (att.protocol === "plain" && typeof chunk !== "string" && (att.held || pendingBytes(att) + chunk.byteLength > MAX_PENDING_BYTES)) {
      if (this.lostHold(att)) return;
      if (!this.hold.add(att.id, chunk, service.maxMessageBytes - pendingBytes(att))) return closeSocket(ws, close("MESSAGE_TOO_BIG"));
      if (!att.held) this.sockets.save(ws, { ...att, held: true });
      this.relay.budget.set(att.id, this.hold.bytes(att.id), Date.now());
      return;
    }
    const added = addPending(att, chunk, MAX_PENDING_BYTES);
    if (added.ok) this.sockets.save(ws, added.client);
    else closeSocket(ws, close("MESSAGE_TOO_BIG"));
  }

  /** A client in standby is using its session: its bind must now open the backend in time. */
  private started(client: ClientAttachment): void {
    const bindWs = this.peer(client);
    const bind = bindWs && this.sockets.get(bindWs);
    if (!client.standby || bind?.role !== "bind" || bind.state !== "paired" || bind.deadline !== undefined) return;
    this.sockets.save(bindWs!, { ...bind, deadline: Date.now() + OPEN_DEADLINE_MS });
    void this.armAlarm();
  }

  private fromBind(ws: WebSocket, att: BindAttachment, message: string | ArrayBuffer, service: EdgeService): void {
    if (att.state === "resuming") return this.protocolError(ws, att, "message before resumed");
    const inSession = att.state === "paired" || att.state === "opened";
    if (typeof message !== "string") {
      if (!inSession) return this.protocolError(ws, att, "data on an unpaired bind");
      this.bytes.toClients += message.byteLength;
      if (att.peer) this.lastData.set(att.peer, Date.now());
      return this.relay.connectorData(ws, att, message, service);
    }
    const decoded = decodeFromConnector(message, att.version ?? 1);
    if (!decoded.ok) return this.protocolError(ws, att, `${decoded.error.code}: ${decoded.error.detail}`);
    const msg = decoded.value;
    switch (msg.t) {
      case "bind":
        if (att.state !== "registering") return this.protocolError(ws, att, "second bind message");
        return this.register(ws, att, msg, service);
      case "opened":
        if (att.state !== "paired") return this.protocolError(ws, att, "opened outside a pairing");
        this.sockets.save(ws, { ...att, state: "opened", deadline: undefined });
        // Our own words, not the connector's: the size limit is the edge's to tell. Once per
        // socket: a kept pair's client has heard it, and every message here costs the object.
        if (!att.kept) this.toSallyportClient(att, { t: "opened", maxMessageBytes: service.maxMessageBytes });
        return this.relay.opened(ws, att);
      case "end":
      case "credit":
        if (!inSession) return this.protocolError(ws, att, `${msg.t} outside a session`);
        // v3: an `end` carrying `done` is `end` (checked above) then `done` (checked there).
        if (msg.t === "end" && msg.done) return this.done(ws, att, msg);
        return this.relay.connectorControl(ws, att, msg);
      case "done":
        return this.done(ws, att, msg);
    }
  }

  /** `done`, alone or on the connector's last `end`: the session ended and the pair is kept, in standby. */
  private done(ws: WebSocket, att: BindAttachment, msg: DoneMessage | EndMessage): void {
    // Only a session opened in standby goes back to standby, and only once it was open.
    const peer = this.peer(att);
    const client = peer && this.sockets.get(peer);
    if (att.state !== "opened" || client?.role !== "client" || !client.standby)
      return this.protocolError(ws, att, "done outside a standby session");
    const kept: BindAttachment = { ...att, state: "paired", deadline: undefined, kept: true };
    this.sockets.save(ws, kept);
    return this.relay.connectorControl(ws, kept, msg);
  }

  /** Plain clients have no words for control: their end is the close that follows. */
  private toSallyportClient(att: BindAttachment, message: OpenedMessage): void {
    const peer = this.peer(att);
    const client = peer && this.sockets.get(peer);
    if (client?.role === "client" && client.protocol === "sallyport") sendTo(peer!, encode(message, client.version ?? 1));
  }

  private register(ws: WebSocket, att: BindAttachment, msg: BindMessage, service: EdgeService): void {
    if (msg.accept !== service.accept.uri) {
      log("warn", "bind names an accept URI its credential does not cover", { service: service.name });
      return closeSocket(ws, close("NOT_ALLOWED"));
    }
    const now = Date.now();
    const instance = checkInstance(msg.instance, now);
    if (!instance.ok) return this.protocolError(ws, att, `bind.instance: ${INSTANCE_PROBLEMS[instance.problem]}`);
    // Takeover: a restarted connector's old binds are stale; evict them now, not at timeout.
    const decision = takeover(
      this.sockets.binds().map(([, b]) => b),
      { credential: att.credential, connectorId: msg.connectorId, instance: msg.instance },
    );
    if (decision.refuse) {
      log("warn", "bind from an older instance of a connector refused", { connectorId: msg.connectorId });
      return closeSocket(ws, close("REPLACED"));
    }
    for (const old of decision.evict) {
      const oldWs = this.sockets.socket(old.id);
      if (oldWs) {
        this.sockets.save(oldWs, { ...old, state: "registering" }); // no longer offered
        closeSocket(oldWs, close("REPLACED"));
      }
    }
    if (decision.evict.length)
      log("info", "connector restarted: its old binds evicted", { connectorId: msg.connectorId, evicted: decision.evict.length });
    const parked: BindAttachment = {
      ...att,
      state: "parked",
      deadline: undefined,
      parkedAt: now,
      connectorId: msg.connectorId,
      instance: msg.instance,
      bindId: msg.bindId,
      heartbeatMs: msg.heartbeatMs,
    };
    this.sockets.save(ws, parked);
    this.backendDown = undefined;
    if (!sendTo(ws, encode({ t: "bound", bindId: msg.bindId }, att.version ?? 1))) return;
    let client = pickClient(
      this.sockets.clients().map(([, c]) => c),
      now,
    );
    while (client && this.lostHold(client))
      client = pickClient(
        this.sockets.clients().map(([, c]) => c),
        now,
      );
    if (client) this.pair(parked, client);
  }

  /**
   * A waiting client whose held data lived in memory that an eviction took: closed cleanly
   * (1013, try again later) and no longer picked, never paired with a stream missing its start.
   */
  private lostHold(client: ClientAttachment): boolean {
    if (!client.held || this.hold.has(client.id)) return false;
    const ws = this.sockets.socket(client.id);
    if (ws) {
      closeSocket(ws, close("TRY_AGAIN_LATER"));
      this.sockets.save(ws, { ...client, deadline: undefined });
    }
    log("warn", "waiting client's held data lost when the object restarted; closed", { sessionId: client.id });
    return true;
  }

  // ---- pairing ----

  /** A parked bind whose heartbeats are current; dead ones found on the way are closed. */
  private pickLiveBind(now: number): BindAttachment | undefined {
    const live: BindAttachment[] = [];
    for (const [ws, b] of this.sockets.binds()) {
      if (b.state !== "parked" || isLive(b, this.sockets.lastHeartbeat(ws), now)) live.push(b);
      else {
        log("warn", "parked bind went silent; dropped", { bindId: b.bindId, connectorId: b.connectorId });
        this.sockets.save(ws, { ...b, state: "registering" }); // no longer offered, even before its close event
        closeSocket(ws, close("NETWORK_UNREACHABLE"));
      }
    }
    return pickBind(live);
  }

  /** Pairs the client with the best live bind; a bind found closing on the way is skipped. */
  private pairWithLiveBind(client: ClientAttachment, now: number): boolean {
    for (let bind = this.pickLiveBind(now); bind; bind = this.pickLiveBind(now)) if (this.pair(bind, client)) return true;
    return false;
  }

  /**
   * Pick-and-mark: both attachments change before anything can interleave. False when the
   * bind can no longer be sent to: its connector closed it (the runtime answered the close)
   * and the close event is still to come. It is then never offered again.
   */
  private pair(bind: BindAttachment, client: ClientAttachment): boolean {
    const bindWs = this.sockets.socket(bind.id);
    const clientWs = this.sockets.socket(client.id);
    if (!bindWs || !clientWs) return false;
    const bindVersion = bind.version ?? 1;
    const paired = encode(
      {
        t: "paired",
        sessionId: client.id,
        clientAddress: client.address,
        clientProtocol: client.protocol,
        maxMessageBytes: this.service(bind.service)?.maxMessageBytes,
        ...(client.standby ? { standby: true as const } : {}),
      },
      bindVersion,
    );
    if (!sendTo(bindWs, paired)) {
      this.sockets.save(bindWs, { ...bind, state: "registering" });
      return false;
    }
    const pending = [...(client.pending ?? []), ...this.hold.take(client.id)];
    this.relay.budget.remove(client.id);
    const now = Date.now();
    // A client in standby may have said `start` while it waited: it is replayed below.
    const startedAt = client.standby && pending.some((chunk) => isStart(chunk, client.version ?? 1)) ? now : undefined;
    let [b, c] = pair(bind, client, now, startedAt);
    if (resumable(b, c, usableSecret(this.env.SALLYPORT_RESUME_SECRET))) {
      const session = { id: client.id, epoch: 0 };
      [b, c] = [
        { ...b, session },
        { ...c, session },
      ];
    }
    this.sockets.save(bindWs, this.relay.start(b, c));
    this.sockets.save(clientWs, c);
    if (c.session) void this.issueTickets(bindWs, b, clientWs, c);
    // Replayed through the relay: data is metered like any other, control is said in the bind's version.
    const service = this.service(bind.service);
    for (const chunk of pending) {
      if (typeof chunk !== "string") {
        if (service) this.relay.clientData(c, chunk, service);
        continue;
      }
      const decoded = decodeFromClient(chunk, client.version ?? 1);
      if (decoded.ok) this.relay.clientControl(c, decoded.value);
    }
    this.lastData.set(client.id, now);
    const check = this.checkSession(bindWs, b, clientWs, c, now);
    if (check.next !== undefined) this.sessionCheckAt = Math.min(this.sessionCheckAt ?? Infinity, check.next);
    void this.armAlarm();
    this.counts.pairings++;
    log("info", "paired", { sessionId: client.id, bindId: bind.bindId, connectorId: bind.connectorId });
    return true;
  }

  private async waitForBind(service: EdgeService): Promise<void> {
    const waiting = this.sockets.clients().filter(([, c]) => c.state === "waiting").length;
    const asked = new Set<string>();
    for (const [ws, b] of this.sockets.binds()) {
      if (!b.connectorId || asked.has(b.connectorId) || b.state === "registering") continue;
      // A bind whose session just ended may already be closed: then ask on another of its binds.
      if (sendTo(ws, encode({ t: "demand", waiting }, b.version ?? 1))) asked.add(b.connectorId);
    }
    log("info", "client waiting for a bind", { service: service.name, waiting, connectorsAsked: asked.size });
    await this.armAlarm();
  }

  /**
   * The alarm runs at the earliest deadline or before it: one that fires early finds nothing
   * expired and re-arms. So a later deadline (every pairing adds one) costs no storage write
   * while an earlier alarm is set. A cache: unknown (undefined) after the object restarts.
   */
  private alarmAt: number | null | undefined;

  private async armAlarm(): Promise<void> {
    const deadline = nextDeadline(this.sockets.all());
    const next = deadline === undefined ? (this.sessionCheckAt ?? null) : Math.min(deadline, this.sessionCheckAt ?? Infinity);
    if (this.alarmAt !== undefined && (next === null ? this.alarmAt === null : this.alarmAt !== null && this.alarmAt <= next)) return;
    this.alarmAt = next;
    if (next === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(next);
  }

  /**
   * A client beyond max.clients: refused before the upgrade, with HTTP 503 and Retry-After.
   * Waiting and paired clients both hold the object's memory, and a flood must not reach a
   * reset; a socket accepted only to be closed would cost as much as one kept (workerd ends
   * neither the TCP connection of a WebSocket closed in the fetch that accepted it, nor its
   * memory, until the client goes), so the refusal is an HTTP answer.
   */
  private full(service: EdgeService, maxClients: number): Response {
    log("warn", "client refused: max.clients reached", { service: service.name, maxClients, shards: service.shards });
    return new Response("limit reached: the service holds max.clients clients; try again later\n", {
      status: SERVICE_FULL_STATUS,
      headers: { "content-type": "text/plain", "retry-after": String(FULL_RETRY_AFTER_S) },
    });
  }

  private overCap(service: EdgeService, credential: string): "service" | "credential" | undefined {
    const binds = this.sockets.binds().filter(([, b]) => b.state === "registering" || b.state === "parked");
    if (binds.length > service.maxBinds) return "service";
    if (binds.filter(([, b]) => b.credential === credential).length > service.maxBindsPerCredential) return "credential";
    return undefined;
  }

  // ---- endings ----

  private async ended(ws: WebSocket, code: number): Promise<void> {
    const att = this.sockets.get(ws);
    this.sockets.forget(ws);
    if (att?.role === "client") this.lastData.delete(att.id);
    closeSocket(ws, relayableClose(code)); // reciprocate (a no-op if the runtime already did)
    if (!att) return;
    this.relay.forget(att.role === "bind" ? att.id : att.peer, att.role === "client" ? att.id : att.peer, att.role === "bind");
    if (att.role === "bind" && att.state === "parked" && (code === 4004 || code === 4005)) return this.withdrawn(relayableClose(code));
    const peer = this.peer(att);
    if (peer && att.session && code === LINK_LOST) {
      // A resumable session's leg dropped without a word: the session is not over. The other
      // leg is closed too, and both ends come back with their tickets (each end holds its TCP connection).
      log("info", "session link lost: both ends told to resume", { sessionId: att.session.id, side: att.role });
      closeSocket(peer, close("RESUME"));
      return;
    }
    // A bind that vanished without a close frame (1006) ended abnormally: the client must
    // not mistake that for a clean end of stream.
    if (peer) closeSocket(peer, relayableClose(code));
    if (att.peer) log("info", "session ended", { sessionId: att.role === "client" ? att.id : att.peer, side: att.role, closeCode: code });
    // A session whose backend dial failed is often the only word the edge gets: the bind that
    // replaces it is usually still dialing when the connector withdraws it, so no parked bind
    // closes with 4004/4005 and waiting clients would sit out socks.timeout.
    if (att.role === "bind" && att.state === "paired" && (code === 4004 || code === 4005)) await this.withdrawn(relayableClose(code));
  }

  /** A connector withdrew a bind because its backend is down. */
  private async withdrawn(how: Close): Promise<void> {
    const stillParked = this.sockets.binds().some(([, b]) => b.state === "parked");
    if (stillParked) return;
    this.backendDown = how.code === 4004 ? "HOST_UNREACHABLE" : "CONNECTION_REFUSED";
    for (const [ws, c] of this.sockets.clients()) {
      if (c.state === "waiting") {
        closeSocket(ws, how);
        this.sockets.save(ws, { ...c, deadline: undefined });
      }
    }
    log("warn", "backend unavailable: waiting clients told at once", { closeCode: how.code });
    await this.armAlarm();
  }

  private endPair(ws: WebSocket, att: Attachment, toClient: Close, toBind: Close): void {
    const peer = this.peer(att);
    const [clientWs, bindWs] = att.role === "client" ? [ws, peer] : [peer, ws];
    if (clientWs) closeSocket(clientWs, toClient);
    if (bindWs) closeSocket(bindWs, toBind);
    this.sockets.save(ws, { ...att, deadline: undefined });
  }

  private protocolError(ws: WebSocket, att: BindAttachment, detail: string): void {
    log("warn", "protocol error from connector", { bindId: att.bindId ?? att.id, state: att.state, detail });
    closeSocket(ws, close("PROTOCOL_ERROR"));
  }

  // ---- resume (v3) ----

  /**
   * A returning half of a dropped session, its ticket verified by the Worker. It waits up to
   * session.resume.timeout for the other half (not parked, not counted by max.binds or
   * max.clients: it was counted when the session began); both there, they are a pair again.
   */
  private returning(
    request: Request,
    ws: WebSocket,
    r: { id: string; service: string; version: ProtocolVersion; object: string; resume: VerifiedResume; now: number },
    service: EdgeService,
  ): void {
    const returning = { ...r, deadline: r.now + service.sessionResumeTimeoutMs };
    const att =
      request.headers.get(INTERNAL_HEADERS.role) === "bind"
        ? returningBind(returning, request.headers.get(INTERNAL_HEADERS.credential) ?? "")
        : returningClient(returning, request.headers.get(INTERNAL_HEADERS.clientAddress) ?? UNKNOWN_CLIENT_ADDRESS);
    const fields = { sessionId: r.resume.session.id, epoch: r.resume.session.epoch, side: att.role };
    const stale = staleLegs(this.sockets.all(), r.resume.session);
    if (stale.length > 0) {
      log("info", "resume: the session's old legs are still here; closed so the other end comes back too", fields);
      for (const old of stale) this.dropLeg(old);
    }
    this.sockets.accept(ws, att);
    const earlier = sameHalf(this.sockets.all(), att);
    if (earlier) {
      log("info", "resume: a newer attempt of this half replaces the one waiting", fields);
      const earlierWs = this.sockets.socket(earlier.id);
      if (earlierWs) {
        closeSocket(earlierWs, close("RESUME_FAILED"));
        this.sockets.forget(earlierWs);
      }
    }
    const other = otherHalf(this.sockets.all(), att.role, r.resume.session);
    const otherWs = other && this.sockets.socket(other.id);
    if (!other || !otherWs) {
      log("info", "resume: waiting for the other half", fields);
      void this.armAlarm();
      return;
    }
    const [bindWs, b, clientWs, c] =
      att.role === "bind" ? [ws, att, otherWs, other as ClientAttachment] : [otherWs, other as BindAttachment, ws, att];
    this.rejoin(bindWs, b, clientWs, c, r.now, service);
  }

  /** A leg of a resumable session that is being resumed: closed with 4032 and forgotten now (its close event finds nothing). */
  private dropLeg(att: Attachment): void {
    const ws = this.sockets.socket(att.id);
    if (!ws) return;
    closeSocket(ws, close("RESUME"));
    this.sockets.forget(ws);
    if (att.role === "bind") this.relay.forget(att.id, att.peer, true);
    else this.lastData.delete(att.id);
  }

  /** Both halves are here: a pair again, each told what the other received, then new tickets. */
  private rejoin(
    bindWs: WebSocket,
    bind: BindAttachment,
    clientWs: WebSocket,
    client: ClientAttachment,
    now: number,
    service: EdgeService,
  ) {
    const [b, c] = join(bind, client, now);
    // Upstream restarts at what the connector received, downstream at what the client received.
    this.sockets.save(bindWs, this.relay.resume(b, c, bind.offer!.received, client.offer!.received));
    this.sockets.save(clientWs, c);
    const toBind = { t: "resumed" as const, offset: client.offer!.received, ...(client.offer!.end ? { end: true as const } : {}) };
    const toClient = { t: "resumed" as const, offset: bind.offer!.received, ...(bind.offer!.end ? { end: true as const } : {}) };
    sendTo(bindWs, encode(toBind, b.version ?? 1));
    sendTo(clientWs, encode(toClient, c.version ?? 1));
    sendTo(clientWs, encode({ t: "opened", maxMessageBytes: service.maxMessageBytes }, c.version ?? 1));
    this.lastData.set(c.id, now);
    const check = this.checkSession(bindWs, this.sockets.get(bindWs) as BindAttachment, clientWs, c, now);
    if (check.next !== undefined) this.sessionCheckAt = Math.min(this.sessionCheckAt ?? Infinity, check.next);
    void this.armAlarm();
    void this.issueTickets(bindWs, b, clientWs, c);
    log("info", "session resumed", {
      object: c.object,
      sessionId: c.session!.id,
      epoch: c.session!.epoch,
      upOffset: bind.offer!.received,
      downOffset: client.offer!.received,
    });
  }

  /** Each end's ticket for the session's current epoch (signing is asynchronous; the pair may be gone by then). */
  private async issueTickets(bindWs: WebSocket, b: BindAttachment, clientWs: WebSocket, c: ClientAttachment): Promise<void> {
    const secret = this.env.SALLYPORT_RESUME_SECRET;
    const service = this.service(b.service);
    if (!usableSecret(secret) || !service || !c.session) return;
    const claims = {
      sessionId: c.session.id,
      epoch: c.session.epoch,
      service: service.name,
      objectName: c.object ?? service.name,
      ...(c.standby ? { standby: true } : {}),
    };
    const [forBind, forClient] = await Promise.all([
      signTicket(secret, { ...claims, side: "bind" }),
      signTicket(secret, { ...claims, side: "client" }),
    ]);
    const timeoutMs = service.sessionResumeTimeoutMs;
    const now = this.sockets.get(bindWs);
    if (now?.role !== "bind" || now.peer !== c.id || now.session?.epoch !== c.session.epoch) return;
    sendTo(bindWs, encode({ t: "ticket", ticket: forBind, timeoutMs }, b.version ?? 1));
    sendTo(clientWs, encode({ t: "ticket", ticket: forClient, timeoutMs }, c.version ?? 1));
  }

  // ---- lookups ----

  private peer(att: Attachment): WebSocket | undefined {
    return att.peer ? this.sockets.socket(att.peer) : undefined;
  }

  private service(name: string | null): EdgeService | undefined {
    const config = edgeConfig(this.env);
    return config.ok && name ? findService(config.value, name) : undefined;
  }
}
