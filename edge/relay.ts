import type { EdgeService } from "../shared/config/edge-config.ts";
import { close, type CloseCodeName } from "../shared/protocol/close-codes.ts";
import { encode } from "../shared/protocol/codec.ts";
import { endCarriesDone } from "../shared/protocol/negotiate.ts";
import type { ClientMessage, ConnectorMessage } from "../shared/protocol/messages.ts";
import type { BindAttachment, ClientAttachment } from "./attachments.ts";
import { BudgetAccount, grantCap, OBJECT_BUDGET_BYTES } from "./budget.ts";
import { SessionFlow, type Direction } from "./flow.ts";
import { log } from "./log.ts";
import { type SocketStore, closeSocket, sendTo } from "./socket-store.ts";

/**
 * The data path of paired sessions: data and flow control between a client and its bind,
 * metered (edge/flow.ts) so that no session can make the object hold more than the budget
 * lets it, whatever its peers do. workerd applies no backpressure on a WebSocket and reads
 * every incoming message at once, so the edge meters what it relays itself:
 *
 * - a writer that sends past the limit it was told is cut (4090 CREDIT_EXCEEDED), and so is a
 *   v2 reader whose grant is not backed by a mark it echoed;
 * - a plain client's upload past the connector's grant waits here, up to PLAIN_UPLOAD_HOLD_BYTES for all
 *   plain sessions together; past it, the session holding the most of it ends (1013);
 * - a plain client's download is counted against client.plain.max.bytes, then 1013;
 * - over the object budget, the stalled sessions holding the most end with 1013 (try again later);
 *   sessions whose readers keep proving are narrowed instead (edge/budget.ts grantCap).
 *
 * The flow's state lives in the bind's attachment (it survives hibernation); what a plain
 * client sent past its limit lives only in memory.
 */

/**
 * What plain clients' uploads may hold here past the connectors' grants, all plain sessions of
 * the object together (they cannot be told to wait: workerd reads everything they send). A
 * quarter of the object budget: one ordinary upload burst fits (the connector grants as its
 * backend takes the bytes); many uploaders at once share it, so their total stays a quarter of
 * the budget instead of growing with their number (bench/abuse.ts plain-upload-echo).
 */
export const PLAIN_UPLOAD_HOLD_BYTES = OBJECT_BUDGET_BYTES / 4;

/**
 * How long a session's flow may run ahead of its attachment. Writing the attachment for every
 * relayed message cost the object ~7 µs of CPU each (serializeAttachment; docs/performance.md,
 * "Levers taken"). The attachment is read only after hibernation, and the runtime does not
 * hibernate an object while it has a timer pending, so writing within this delay is as good as
 * writing per message (local workerd too: evictDurableObject waits for the timer, see
 * test/edge/credit.test.ts). An eviction or a restart ends the sockets along with the memory,
 * and a resume starts from what the readers present, not from an attachment.
 */
export const FLOW_SAVE_DELAY_MS = 1_000;

type Data = ArrayBuffer | Uint8Array;

const byteLength = (d: Data): number => d.byteLength;

function markId(): string {
  const b = crypto.getRandomValues(new Uint8Array(12));
  return btoa(String.fromCharCode(...b))
    .replaceAll("+", "-")
    .replaceAll("/", "_");
}

/** A runtime that reports bufferedAmount truthfully shows it above 0 at some point; until then it is not believed. */
let bufferedAmountWorks = false;
function buffered(ws: WebSocket): number | undefined {
  const b = (ws as { bufferedAmount?: unknown }).bufferedAmount;
  if (typeof b !== "number") return undefined;
  if (b > 0) bufferedAmountWorks = true;
  return bufferedAmountWorks ? b : undefined;
}

export class SessionRelay {
  /** Flows by bind id: a cache of the attachments' `flow`. */
  private readonly flows = new Map<string, SessionFlow>();
  /** A plain client's upload beyond the connector's grant, by bind id (memory only). */
  private readonly queues = new Map<string, Uint8Array[]>();
  /**
   * Pairs the relay ended (violation, limit, budget) whose close events are still to come:
   * what their sockets send meanwhile is dropped. Cleared when the bind's own close arrives.
   */
  private readonly ended = new Set<string>();
  readonly budget = new BudgetAccount();
  /** Bind ids whose flow changed since it was last written to the attachment (FLOW_SAVE_DELAY_MS). */
  private readonly unsaved = new Set<string>();
  private saveTimer: ReturnType<typeof setTimeout> | undefined;
  /** What each plain session's upload holds past the connector's grant (by bind id), and their total. */
  private readonly uploads = new BudgetAccount();

  constructor(private readonly sockets: SocketStore) {}

  /** A new pair: its flow starts with each writer's first limit. Returns the bind attachment to save. */
  start(bind: BindAttachment, client: ClientAttachment): BindAttachment {
    const flow = new SessionFlow({
      clientProtocol: client.protocol,
      clientVersion: client.version ?? 1,
      bindVersion: bind.version ?? 1,
    });
    this.flows.set(bind.id, flow);
    return { ...bind, flow: flow.state() };
  }

  /** v3: a resumed pair; each direction restarts at what its reader presented (SessionFlow.resumed). */
  resume(bind: BindAttachment, client: ClientAttachment, upReceived: number, downReceived: number): BindAttachment {
    const legs = { clientProtocol: "sallyport" as const, clientVersion: client.version ?? 1, bindVersion: bind.version ?? 1 };
    const flow = SessionFlow.resumed(legs, upReceived, downReceived);
    this.flows.set(bind.id, flow);
    this.ended.delete(bind.id);
    return { ...bind, flow: flow.state() };
  }

  /** Client data on a paired session (a plain client's text already as its UTF-8 bytes). */
  clientData(client: ClientAttachment, data: Data, service: EdgeService): void {
    const s = this.session(client);
    if (!s) return;
    const up = s.flow.up;
    if (!up.accept(byteLength(data))) return this.violation(s, "client", "data beyond its credit");
    if (up.writer === "queued") {
      const q = this.queues.get(s.bind.id) ?? [];
      q.push(data instanceof Uint8Array ? data : new Uint8Array(data));
      this.queues.set(s.bind.id, q);
      this.drain(s);
      for (const id of this.uploads.overBudget(Date.now(), PLAIN_UPLOAD_HOLD_BYTES, 0)) this.endUpload(id);
      if (this.ended.has(s.bind.id)) return;
    } else {
      sendTo(s.bindWs, data);
      this.forwarded(s, "up", byteLength(data));
    }
    this.account(s, service);
  }

  /** end, credit, start from a Sallyport client on a paired session. */
  clientControl(client: ClientAttachment, msg: ClientMessage): void {
    const s = this.session(client);
    if (!s) return;
    const bindVersion = s.bind.version ?? 1;
    if (msg.t === "credit") {
      // A credit still in flight from before standby's `done` belongs to the session that ended.
      if (s.flow.staleClientCredit) return;
      return this.granted(s, "down", msg);
    }
    if (msg.t === "start") s.flow.staleClientCredit = false;
    sendTo(s.bindWs, encode(msg, bindVersion));
    this.save(s);
  }

  /** The connector's `opened` (each session, kept pairs too): the flow's first limits, where a leg needs telling. */
  opened(bindWs: WebSocket, bind: BindAttachment): void {
    const s = this.sessionOfBind(bindWs, bind);
    if (!s) return;
    for (const { d, tell } of s.flow.opened()) {
      if (d === "down") sendTo(s.bindWs, encode(tell, s.bind.version ?? 1));
      else sendTo(s.clientWs, encode(tell, s.client.version ?? 1));
    }
    this.save(s);
  }

  /** Connector data on a paired session. */
  connectorData(bindWs: WebSocket, bind: BindAttachment, data: ArrayBuffer, service: EdgeService): void {
    const s = this.sessionOfBind(bindWs, bind);
    if (!s) return;
    const down = s.flow.down;
    if (!down.accept(data.byteLength)) return this.violation(s, "connector", "data beyond its credit");
    sendTo(s.clientWs, data);
    this.forwarded(s, "down", data.byteLength);
    if (s.client.protocol === "plain" && down.held(buffered(s.clientWs)) > service.clientPlainMaxBytes) {
      log("info", "plain client reached client.plain.max.bytes; ended", { sessionId: s.client.id, bytes: down.sent });
      return this.end(s, "TRY_AGAIN_LATER");
    }
    this.account(s, service);
  }

  /** credit, end, done (v3: maybe as one `end` carrying `done`) from a connector on a paired session (opened is the object's). */
  connectorControl(bindWs: WebSocket, bind: BindAttachment, msg: Extract<ConnectorMessage, { t: "credit" | "end" | "done" }>): void {
    const s = this.sessionOfBind(bindWs, bind);
    if (!s) return;
    if (msg.t === "credit") return this.granted(s, "up", msg);
    const done = msg.t === "done" || msg.done === true;
    if (done) {
      s.flow.restart();
      this.queues.delete(s.bind.id);
      this.uploads.remove(s.bind.id);
    }
    if (s.client.protocol === "sallyport") {
      const version = s.client.version ?? 1;
      // A client older than v3 knows `end` and `done` only apart: it gets the two messages.
      if (msg.t === "end" && done && !endCarriesDone(version)) {
        sendTo(s.clientWs, encode({ t: "end" }, version));
        sendTo(s.clientWs, encode({ t: "done" }, version));
      } else sendTo(s.clientWs, encode(msg, version));
    }
    this.save(s);
  }

  /** A socket of the pair closed: forget its flow (`bindClosed`: the bind's own close, the last word of the pair). */
  forget(bindId: string | undefined, clientId: string | undefined, bindClosed = false): void {
    if (bindId && bindClosed) this.ended.delete(bindId);
    if (bindId) {
      this.flows.delete(bindId);
      this.unsaved.delete(bindId);
      this.queues.delete(bindId);
      this.uploads.remove(bindId);
      this.budget.remove(bindId);
    }
    if (clientId) this.budget.remove(clientId);
  }

  // ---- internals ----

  private granted(s: Session, d: Direction, msg: Extract<ClientMessage | ConnectorMessage, { t: "credit" }>): void {
    const r = s.flow.grant(d, msg, grantCap(this.budget.total, this.budget.holders));
    if (!r.ok) return this.violation(s, d === "down" ? "client" : "connector", r.why);
    if (r.tell) {
      if (d === "down") sendTo(s.bindWs, encode(r.tell, s.bind.version ?? 1));
      else if (s.client.protocol === "sallyport") sendTo(s.clientWs, encode(r.tell, s.client.version ?? 1));
      else this.drain(s);
    }
    this.save(s);
    this.book(s); // a proof lowers what the session holds
  }

  /** Sends what a plain client queued, as far as the connector's grant goes. */
  private drain(s: Session): void {
    const q = this.queues.get(s.bind.id);
    const up = s.flow.up;
    while (q && q.length > 0 && up.room() > 0) {
      const head = q[0]!;
      const n = Math.min(head.byteLength, up.room());
      const chunk = n === head.byteLength ? q.shift()! : head.subarray(0, n);
      if (n < head.byteLength) q[0] = head.subarray(n);
      sendTo(s.bindWs, chunk);
      this.forwarded(s, "up", n);
    }
    this.uploads.set(s.bind.id, up.queued, Date.now());
  }

  /** The plain session (by bind id) holding the most of the uploads' share: ended, 1013. */
  private endUpload(bindId: string): void {
    this.uploads.remove(bindId);
    const bindWs = this.sockets.socket(bindId);
    const bind = bindWs && this.sockets.get(bindWs);
    const s = bind?.role === "bind" ? this.sessionOfBind(bindWs!, bind) : undefined;
    if (!s) return;
    log("warn", "plain client kept sending past what the connector takes; ended", {
      sessionId: s.client.id,
      queued: s.flow.up.queued,
      allPlainUploads: this.uploads.total + s.flow.up.queued,
    });
    this.end(s, "TRY_AGAIN_LATER");
  }

  /** Data went to the reader of `d`: place a mark when one is due (v2 readers only). */
  private forwarded(s: Session, d: Direction, n: number): void {
    const m = s.flow.meter(d);
    m.forwarded(n);
    if (!m.markDue()) return;
    const id = markId();
    m.placeMark(id);
    sendTo(d === "up" ? s.bindWs : s.clientWs, encode({ t: "mark", id }, s.flow.readerVersion(d)));
  }

  /** Saves the flow and books what the session holds; over budget, the biggest holders end. */
  private account(s: Session, service: EdgeService): void {
    this.save(s);
    this.book(s);
    for (const id of this.budget.overBudget(Date.now())) this.shed(id, service);
  }

  private book(s: Session): void {
    this.budget.set(s.bind.id, s.flow.held(s.client.protocol === "plain" ? buffered(s.clientWs) : undefined), Date.now());
  }

  private shed(id: string, service: EdgeService): void {
    this.budget.remove(id);
    const ws = this.sockets.socket(id);
    const att = ws && this.sockets.get(ws);
    if (!ws || !att) return;
    log("warn", "object budget reached: the stalled session holding the most ended", { service: service.name, socket: id });
    if (att.role === "bind") {
      const s = this.sessionOfBind(ws, att);
      if (s) return this.end(s, "TRY_AGAIN_LATER");
    }
    closeSocket(ws, close("TRY_AGAIN_LATER"));
  }

  private violation(s: Session, who: "client" | "connector", why: string): void {
    log("warn", "flow control violated; session ended", { sessionId: s.client.id, by: who, why });
    this.end(s, "CREDIT_EXCEEDED");
  }

  /** Ends both legs with one code (the close events that follow find nothing left to relay). */
  private end(s: Session, how: CloseCodeName): void {
    closeSocket(s.clientWs, close(how));
    closeSocket(s.bindWs, close(how));
    this.forget(s.bind.id, s.client.id);
    this.ended.add(s.bind.id);
  }

  /** The flow changed: written to the attachment within FLOW_SAVE_DELAY_MS, with every other change by then. */
  private save(s: Session): void {
    this.unsaved.add(s.bind.id);
    this.saveTimer ??= setTimeout(() => {
      try {
        this.saveFlows();
      } catch (error) {
        log("error", "saving flows failed", { error: String(error).slice(0, 200) });
      }
    }, FLOW_SAVE_DELAY_MS);
  }

  /** The timer fired: writes every changed flow into its bind's attachment. */
  private saveFlows(): void {
    this.saveTimer = undefined;
    for (const id of this.unsaved) {
      const ws = this.sockets.socket(id);
      const att = ws && this.sockets.get(ws);
      const flow = this.flows.get(id);
      if (att?.role === "bind" && flow) this.sockets.save(ws!, { ...att, flow: flow.state() });
    }
    this.unsaved.clear();
  }

  private session(client: ClientAttachment): Session | undefined {
    const bindWs = client.peer ? this.sockets.socket(client.peer) : undefined;
    const bind = bindWs && this.sockets.get(bindWs);
    return bind?.role === "bind" ? this.sessionOfBind(bindWs!, bind) : undefined;
  }

  private sessionOfBind(bindWs: WebSocket, bind: BindAttachment): Session | undefined {
    const clientWs = bind.peer ? this.sockets.socket(bind.peer) : undefined;
    const client = clientWs && this.sockets.get(clientWs);
    if (client?.role !== "client" || this.ended.has(bind.id)) return undefined;
    let flow = this.flows.get(bind.id);
    if (!flow && bind.flow) {
      flow = SessionFlow.restore(bind.flow);
      this.flows.set(bind.id, flow);
      const s: Session = { bindWs, bind, clientWs: clientWs!, client, flow };
      // A plain client's queued upload lived in memory: after an eviction it is gone, and the
      // stream with it. Ending the session is the only honest thing left.
      if (flow.up.queued > 0) {
        log("warn", "object restarted while a plain client's upload waited; session ended", { sessionId: client.id });
        this.end(s, "TRY_AGAIN_LATER");
        return undefined;
      }
      return s;
    }
    // Every pair gets its flow when it is made (pair() → start()).
    return flow ? { bindWs, bind, clientWs: clientWs!, client, flow } : undefined;
  }
}

interface Session {
  readonly bindWs: WebSocket;
  readonly bind: BindAttachment;
  readonly clientWs: WebSocket;
  readonly client: ClientAttachment;
  readonly flow: SessionFlow;
}
