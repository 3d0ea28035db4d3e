import { DurableObject } from "cloudflare:workers";
import { close, relayableClose, type Close } from "../shared/protocol/close-codes.ts";
import { BIND_SUBPROTOCOL, HEARTBEAT_REQUEST, HEARTBEAT_RESPONSE } from "../shared/protocol/constants.ts";
import { decodeFromConnector, encode } from "../shared/protocol/codec.ts";
import type { EdgeService } from "../shared/config/edge-config.ts";
import {
  MAX_PENDING_BYTES,
  ROLE_BIND,
  ROLE_CLIENT,
  idTag,
  type Attachment,
  type BindAttachment,
  type ClientAttachment,
} from "./attachments.ts";
import { edgeConfig, findService, type Env } from "./env.ts";
import { INTERNAL_HEADERS } from "./internal.ts";
import { log } from "./log.ts";
import { addPending, expiredClients, nextDeadline, pair, pickBind, pickClient } from "./pairing.ts";

const encoder = new TextEncoder();

/**
 * One object per service: it holds the parked binds and the waiting and paired clients,
 * and relays each pair's messages. It uses the hibernation API (ctx.acceptWebSocket), so
 * an idle service costs nothing; everything that must survive lives in attachments.
 */
export class ServiceObject extends DurableObject<Env> {
  /** Cache of attachments, rebuilt lazily after hibernation. */
  private readonly state = new Map<WebSocket, Attachment>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // Answered by the runtime without waking the object; the timestamp marks live binds.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(HEARTBEAT_REQUEST, HEARTBEAT_RESPONSE));
  }

  override async fetch(request: Request): Promise<Response> {
    const service = this.service(request.headers.get(INTERNAL_HEADERS.service));
    if (!service) return new Response("Not Found", { status: 404 });
    const role = request.headers.get(INTERNAL_HEADERS.role);
    const { 0: outside, 1: inside } = new WebSocketPair();
    const id = crypto.randomUUID().replaceAll("-", "");
    const now = Date.now();
    if (role === ROLE_BIND) {
      this.ctx.acceptWebSocket(inside, [ROLE_BIND, idTag(id)]);
      this.save(inside, { role: "bind", id, service: service.name, state: "registering", openedAt: now });
      return new Response(null, { status: 101, webSocket: outside, headers: { "Sec-WebSocket-Protocol": BIND_SUBPROTOCOL } });
    }
    const address = request.headers.get(INTERNAL_HEADERS.clientAddress) ?? "unknown";
    this.ctx.acceptWebSocket(inside, [ROLE_CLIENT, idTag(id)]);
    const client: ClientAttachment = { role: "client", id, service: service.name, state: "waiting", address, arrivedAt: now, deadline: now + service.socksTimeoutMs };
    this.save(inside, client);
    const bind = pickBind(this.binds());
    if (bind) this.pair(bind, client);
    else await this.waitForBind(service);
    return new Response(null, { status: 101, webSocket: outside });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const att = this.get(ws);
    if (!att) return;
    if (att.role === "client") return this.fromClient(ws, att, message);
    return this.fromBind(ws, att, message);
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    this.ended(ws, code, reason);
  }

  override async webSocketError(ws: WebSocket, error: unknown): Promise<void> {
    log("warn", "socket error", { error: String(error).slice(0, 200) });
    this.ended(ws, 1006, "");
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
    for (const c of expiredClients(this.clients(), now)) {
      const ws = this.socket(c.id);
      if (ws) this.closeSocket(ws, close("TTL_EXPIRED"));
      log("info", "client waited socks.timeout for a bind", { sessionId: c.id, waitedMs: now - c.arrivedAt });
    }
    await this.armAlarm();
  }

  // ---- messages ----

  private fromClient(ws: WebSocket, att: ClientAttachment, message: string | ArrayBuffer): void {
    // Browser text is forwarded as its UTF-8 bytes: on a bind, text means control.
    const data = typeof message === "string" ? encoder.encode(message) : message;
    if (att.state === "paired") {
      const peer = att.peer ? this.socket(att.peer) : undefined;
      peer?.send(data);
      return;
    }
    const added = addPending(att, data instanceof Uint8Array ? data : new Uint8Array(data), MAX_PENDING_BYTES);
    if (added.ok) this.save(ws, added.client);
    else this.closeSocket(ws, close("MESSAGE_TOO_BIG"));
  }

  private fromBind(ws: WebSocket, att: BindAttachment, message: string | ArrayBuffer): void {
    if (att.state === "paired" && typeof message !== "string") {
      const peer = att.peer ? this.socket(att.peer) : undefined;
      peer?.send(message);
      return;
    }
    if (typeof message !== "string" || att.state !== "registering") {
      log("warn", "unexpected message on bind", { bindId: att.bindId ?? att.id, state: att.state });
      return this.closeSocket(ws, close("PROTOCOL_ERROR"));
    }
    const decoded = decodeFromConnector(message);
    if (!decoded.ok) {
      log("warn", "bad control message from connector", { error: decoded.error.code, detail: decoded.error.detail });
      return this.closeSocket(ws, close("PROTOCOL_ERROR"));
    }
    const service = this.service(att.service);
    const bindMsg = decoded.value;
    if (!service || bindMsg.accept !== service.accept.uri) {
      log("warn", "bind names an accept URI its credential does not cover", { service: service?.name });
      return this.closeSocket(ws, close("NOT_ALLOWED"));
    }
    const parked: BindAttachment = { ...att, state: "parked", connectorId: bindMsg.connectorId, bindId: bindMsg.bindId, parkedAt: Date.now() };
    this.save(ws, parked);
    ws.send(encode({ t: "bound", bindId: bindMsg.bindId }));
    const client = pickClient(this.clients(), Date.now());
    if (client) this.pair(parked, client);
  }

  // ---- pairing ----

  /** Pick-and-mark: both attachments change before anything can interleave. */
  private pair(bind: BindAttachment, client: ClientAttachment): void {
    const bindWs = this.socket(bind.id);
    const clientWs = this.socket(client.id);
    if (!bindWs || !clientWs) return;
    const pending = client.pending ?? [];
    const [b, c] = pair(bind, client);
    this.save(bindWs, b);
    this.save(clientWs, c);
    bindWs.send(encode({ t: "paired", sessionId: client.id, clientAddress: client.address }));
    for (const chunk of pending) bindWs.send(chunk);
    log("info", "paired", { sessionId: client.id, bindId: bind.bindId, connectorId: bind.connectorId });
  }

  private async waitForBind(service: EdgeService): Promise<void> {
    const waiting = this.clients().filter((c) => c.state === "waiting").length;
    const asked = new Set<string>();
    for (const ws of this.ctx.getWebSockets(ROLE_BIND)) {
      const b = this.get(ws);
      if (b?.role !== "bind" || !b.connectorId || asked.has(b.connectorId)) continue;
      asked.add(b.connectorId);
      ws.send(encode({ t: "demand", waiting }));
    }
    log("info", "client waiting for a bind", { service: service.name, waiting, connectorsAsked: asked.size });
    await this.armAlarm();
  }

  private async armAlarm(): Promise<void> {
    const next = nextDeadline(this.clients());
    if (next === undefined) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(next);
  }

  // ---- endings ----

  private ended(ws: WebSocket, code: number, reason: string): void {
    const att = this.get(ws);
    this.state.delete(ws);
    // Reciprocate the close (a no-op if the runtime already did).
    this.closeSocket(ws, relayableClose(code));
    if (!att || att.state !== "paired" || !att.peer) return;
    const peer = this.socket(att.peer);
    // A bind that vanished without a close frame (1006) ended abnormally: the client must
    // not mistake that for a clean end of stream.
    if (peer) this.closeSocket(peer, relayableClose(code));
    log("info", "session ended", { sessionId: att.role === "client" ? att.id : att.peer, side: att.role, code, reasonLength: reason.length });
  }

  private closeSocket(ws: WebSocket, how: Close): void {
    try {
      ws.close(how.code, how.reason);
    } catch {
      // Already closing or closed: nothing left to tell it.
    }
  }

  // ---- state access ----

  private save(ws: WebSocket, att: Attachment): void {
    ws.serializeAttachment(att);
    this.state.set(ws, att);
  }

  private get(ws: WebSocket): Attachment | undefined {
    let att = this.state.get(ws);
    if (!att) {
      att = ws.deserializeAttachment() as Attachment | undefined;
      if (att) this.state.set(ws, att);
    }
    return att;
  }

  private socket(id: string): WebSocket | undefined {
    return this.ctx.getWebSockets(idTag(id))[0];
  }

  private binds(): BindAttachment[] {
    return this.ctx.getWebSockets(ROLE_BIND).map((ws) => this.get(ws)).filter((a): a is BindAttachment => a?.role === "bind");
  }

  private clients(): ClientAttachment[] {
    return this.ctx.getWebSockets(ROLE_CLIENT).map((ws) => this.get(ws)).filter((a): a is ClientAttachment => a?.role === "client");
  }

  private service(name: string | null): EdgeService | undefined {
    const config = edgeConfig(this.env);
    return config.ok && name ? findService(config.value, name) : undefined;
  }
}
