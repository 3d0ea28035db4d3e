import { encode, decodeForClient } from "../shared/protocol/codec.ts";
import { FULL_READ_BYTES, leadingBytes, takeBytes, takeParts } from "../shared/chunks.ts";
import {
  CLIENT_SUBPROTOCOLS,
  HEARTBEAT_REQUEST,
  HEARTBEAT_RESPONSE,
  INITIAL_WINDOW_BYTES,
  MAX_MESSAGE_BYTES,
  MIN_MESSAGE_BYTES,
  SESSION_HEARTBEAT_MS,
  type ProtocolVersion,
  V2_INITIAL_CREDIT_BYTES,
} from "../shared/protocol/constants.ts";
import { ResendBuffer } from "../shared/protocol/resend.ts";
import { linkLost, ResumeWindow } from "../shared/resume-window.ts";
import { initialCredit, ReaderCredit } from "../shared/protocol/credit.ts";
import type { CreditV2Message } from "../shared/protocol/messages.ts";
import { resumes, usesMarks, versionOf } from "../shared/protocol/negotiate.ts";
import { CloseCode, CLOSE_REASONS } from "../shared/protocol/close-codes.ts";
import { type Clock, systemClock, type Timer } from "../shared/clock.ts";
import { Heartbeat } from "../shared/heartbeat.ts";
import { type CloseInfo, initialState, type StreamEvent, type StreamState, step } from "./stream-state.ts";

export type { CloseInfo, StreamState } from "./stream-state.ts";

/**
 * The client side of a Sallyport session over one open WebSocket, platform-neutral: it runs
 * on a browser's WebSocket and on Node's `ws` alike (no Node imports here), and is what the
 * CLI forwarder and the browser helper are made of. connector/session.ts is the other end.
 *
 * Sallyport protocol (the edge selected one of CLIENT_SUBPROTOCOLS): binary frames are data both
 * ways; text frames are `end` (a FIN: the other direction stays open) and `credit`. Each
 * direction starts with INITIAL_WINDOW_BYTES of credit; we never send beyond ours (data is
 * queued instead), and grant the connector credit as the application reports data
 * `consumed`, in steps of at least half a window — so a slow reader holds at most one
 * window anywhere on the path.
 *
 * Version 2 (the edge selected sallyport.client.v2): credit is cumulative, and our grants
 * echo the marks the edge puts in the stream (ReaderCredit) — the edge counts a grant only
 * as far as a mark we have read. v1: increments in half-window steps.
 *
 * Plain (no subprotocol): every frame is data, strings go as text frames; no half-close, no
 * credit. The session is over when the socket closes.
 *
 * Liveness (Sallyport protocol only: on a plain socket the heartbeat would be data): the
 * stream sends HEARTBEAT_REQUEST every SESSION_HEARTBEAT_MS from the moment it opens (the
 * edge's runtime answers it, and the edge holds a client that heartbeats to it); once nothing
 * was heard for three intervals the path is dead: the session is reported closed at once,
 * abnormally (4003), and the socket is torn down — a black-holed path would otherwise keep
 * the application waiting as long as TCP does.
 *
 * Before the session is known to be paired, the edge holds what we send (MAX_PENDING_BYTES,
 * 8 KiB; more closes the socket with 1009). The protocol has no "paired" signal for clients,
 * so the first frame from the connector (data, credit or end) is the evidence; until then
 * at most `prePairBudgetBytes` go out, and after `assumePairedAfterMs` (by then an unpaired
 * client would have been closed with 4006/4013 at the default socks.timeout) the session is
 * taken as paired.
 *
 * The session's state (open/closing/closed, pairing, each direction's end) is one value that
 * changes only through stream-state.ts's step(); the rest here is flow control.
 *
 * Version 3 (docs/protocol.md, "Resume"), given a `reconnect`: the edge hands us a ticket at
 * pairing; when the socket then drops (closed without a close frame, told `resume`, or found
 * silent) the session does not end: it is "resuming" — what the application sends is queued,
 * what went out unacknowledged is kept (ResendBuffer) — while `reconnect` dials the edge again
 * with the ticket, at once and then backing off, for up to the ticket's timeoutMs. The edge's
 * `resumed` says what the connector received; we send again from there. If the window passes
 * or the edge refuses, the session closes with 4034 (not clean: the application's connection
 * is reset). onResume hears of each resume either way.
 */

/** The part of the WHATWG WebSocket interface used here; `ws` implements it too. */
export interface WebSocketLike {
  readonly readyState: number;
  readonly protocol: string;
  readonly bufferedAmount: number;
  binaryType: string;
  /** Browsers ignore the callback; `ws` calls it once the frame is written. */
  send(data: string | ArrayBufferView | ArrayBuffer, cb?: (err?: Error) => void): void;
  close(code?: number, reason?: string): void;
  /** `ws` only: drop the connection without a closing handshake (a dead path never answers one). */
  terminate?(): void;
  addEventListener(type: string, listener: (event: never) => void): void;
  removeEventListener(type: string, listener: (event: never) => void): void;
}

export const OPEN = 1;

export interface StreamOptions {
  /** Pause (send() returns false) while the socket buffers more than this. Default 1 MiB. */
  readonly highWaterBytes?: number;
  /**
   * Data frames are at most this big. Until the edge has said its max.message.size (in
   * `opened`), frames are at most MIN_MESSAGE_BYTES (64 KiB), which every edge takes; then up
   * to the edge's limit. Default MAX_MESSAGE_BYTES (1 MiB).
   */
  readonly maxFrameBytes?: number;
  /**
   * Coalesce: after a send() of a full socket read (FULL_READ_BYTES), data given to send()
   * within the same turn of the event loop goes out as one frame. `defer` runs its argument
   * at the end of the turn (Node: setImmediate). Without it each send() goes out at once, as
   * the caller cut it (browsers: the application's messages).
   */
  readonly defer?: (run: () => void) => void;
  /** Data sent before the session is known to be paired. Default 7 KiB (the edge holds 8 KiB). */
  readonly prePairBudgetBytes?: number;
  /** Take the session as paired after this long open. Default 2000 ms (the default socks.timeout). */
  readonly assumePairedAfterMs?: number;
  /** How often to look at bufferedAmount while blocked on it (browsers have no event for it). Default 4 ms. */
  readonly pollMs?: number;
  /** Grant credit on delivery instead of waiting for consumed() (for consumers that never hold data). */
  readonly autoConsume?: boolean;
  /** Time and timers (the pairing assumption, polling, heartbeat); tests pass a manual clock. */
  readonly clock?: Clock;
  /** Heartbeat interval (Sallyport protocol). Default SESSION_HEARTBEAT_MS; the edge expects no longer. */
  readonly heartbeatMs?: number;
  /**
   * v3: dial the edge again to resume this session, calling `opened` with the socket inside its
   * open event (before any message can arrive: the edge may have said `resumed` already), and
   * resolving then; reject with `refused` true when the edge refused it (the session is over),
   * else it is tried again. Without it the session ends with its socket, as in v2.
   */
  readonly reconnect?: (r: ResumeRequest, opened: (ws: WebSocketLike) => void) => Promise<void>;
  /** The socket was opened in standby (no session until start()): a drop before then is not resumed. */
  readonly standby?: boolean;
  /**
   * Sends `parts` as the fragments of one binary message (Node's `ws`: net/ws-fragments.ts), so
   * that reads gathered for a message go out as they are instead of copied into one array.
   * Without it (browsers) they are joined.
   */
  readonly sendFragments?: (ws: WebSocketLike, parts: readonly Uint8Array[], cb: (err?: Error) => void) => void;
  /**
   * Told when a chunk given to send() is kept and let go: by the socket until written, and by the
   * resend buffer until acknowledged (Node: net/chunk-pool.ts, whose chunks the forwarder reads
   * into and which uses each again once every holder let go of it).
   */
  readonly chunks?: ChunkHolders;
}

/** Who is told when a sent chunk is kept (hold) and no longer (letGo); net/chunk-pool.ts. */
export interface ChunkHolders {
  hold(chunk: Uint8Array): void;
  letGo(chunk: Uint8Array): void;
}

/** What a resume presents (RESUME_HEADER and the others): client/dial.ts turns it into a handshake. */
export interface ResumeRequest {
  readonly ticket: string;
  /** Data bytes received from the connector. */
  readonly received: number;
  /** The connector's `end` was received. */
  readonly end: boolean;
}

/** A failed reconnect attempt: `refused` when the edge answered it with a refusal (a 404), not a network error. */
export interface ReconnectError {
  readonly refused: boolean;
  readonly detail: string;
}

/** One resume, resumed or failed. */
export interface ResumeReport {
  readonly outcome: "resumed" | "failed";
  readonly why: string;
  /** From the drop to `resumed` (or to giving up). */
  readonly stallMs: number;
  readonly resentBytes: number;
  readonly attempts: number;
}

/** What one session carried, in bytes of data each way. */
export interface SessionCounts {
  readonly bytesSent: number;
  readonly bytesReceived: number;
}

export type Data = Uint8Array | ArrayBuffer | ArrayBufferView | string;

const END = Symbol("end");
const START = Symbol("start");
type Queued = Uint8Array | string | typeof END | typeof START;

const utf8 = new TextEncoder();

export class SallyportStream {
  readonly protocol: "sallyport" | "plain";
  /** The protocol version the edge selected (a plain session: 1, unused). */
  readonly version: ProtocolVersion;
  /** Data from the backend. In protocol mode call consumed(n) once it has been used. */
  onData: ((chunk: Uint8Array) => void) | undefined;
  /** The backend finished sending (protocol mode only). */
  onEnd: (() => void) | undefined;
  /** Once, when the socket closed. */
  onClose: ((info: CloseInfo) => void) | undefined;
  /** send() returned false earlier and more can be sent now. */
  onDrain: (() => void) | undefined;
  /** First evidence (or assumption) that a connector took the session. */
  onPaired: (() => void) | undefined;
  /**
   * A session started from standby (start()) finished cleanly and the socket is kept: the
   * stream is reset (fresh windows, counters at zero) and may start() again. Gets the
   * finished session's byte counts. Without a handler the socket is closed instead.
   */
  onDone: ((finished: SessionCounts) => void) | undefined;
  /** v3: a resume finished (resumed, or failed just before onClose). */
  onResume: ((report: ResumeReport) => void) | undefined;

  private current: StreamState;
  private credit = { send: INITIAL_WINDOW_BYTES, receive: INITIAL_WINDOW_BYTES };
  private counts = { bytesSent: 0, bytesReceived: 0 };
  private readonly queue: Queued[] = [];
  private queuedBytes = 0;
  private consumedTotal = 0;
  private granted = 0;
  private prePairSent = 0;
  private needDrain = false;
  private pollTimer: Timer | undefined;
  private pairTimer: Timer | undefined;
  private readonly clock: Clock;
  private readonly highWater: number;
  private readonly maxFrameCap: number;
  private maxFrame: number;
  private readonly defer: ((run: () => void) => void) | undefined;
  private readonly sendFragments: StreamOptions["sendFragments"];
  private readonly chunks: ChunkHolders | undefined;
  private flushQueued = false;
  private readonly prePairBudget: number;
  private readonly pollMs: number;
  private readonly autoConsume: boolean;
  private readonly listeners: Array<[string, (event: never) => void]>;
  /** v2: what we grant the connector, proved by the edge's marks. */
  private readonly reader = new ReaderCredit();
  private readonly heartbeat: Heartbeat;
  private readonly heartbeatMs: number;
  /** v3: what went out and is not yet acknowledged, kept for a resume. */
  private readonly out: ResendBuffer | undefined;
  private readonly reconnect: StreamOptions["reconnect"];
  /** v3: this session's latest ticket. */
  private ticket: { readonly ticket: string; readonly timeoutMs: number } | undefined;
  /**
   * v3: a session runs on the socket (from the start, or from start() in standby, until `done`):
   * only then is there a session to resume.
   */
  private inSession: boolean;
  /** v3: while resuming. */
  private resume: { window: ResumeWindow; timer?: Timer | undefined; why: string } | undefined;

  constructor(
    private ws: WebSocketLike,
    opts: StreamOptions = {},
  ) {
    if (ws.readyState !== OPEN) throw new Error("SallyportStream needs an open WebSocket");
    const version = versionOf(ws.protocol, CLIENT_SUBPROTOCOLS);
    this.protocol = version ? "sallyport" : "plain";
    this.version = version ?? 1;
    this.credit.send = initialCredit(this.version);
    this.current = initialState(this.protocol);
    this.clock = opts.clock ?? systemClock;
    this.highWater = opts.highWaterBytes ?? 1024 * 1024;
    this.maxFrameCap = opts.maxFrameBytes ?? MAX_MESSAGE_BYTES;
    this.maxFrame = Math.min(this.maxFrameCap, MIN_MESSAGE_BYTES);
    this.defer = opts.defer;
    this.sendFragments = opts.sendFragments;
    this.chunks = opts.chunks;
    this.prePairBudget = opts.prePairBudgetBytes ?? 7 * 1024;
    this.pollMs = opts.pollMs ?? 4;
    this.autoConsume = opts.autoConsume ?? false;
    this.reconnect = opts.reconnect;
    this.inSession = opts.standby !== true;
    if (version && resumes(version) && this.reconnect) this.out = new ResendBuffer(this.chunks && ((c) => this.chunks!.letGo(c)));
    // Blobs would make every receive asynchronous; array buffers (or Node buffers) do not.
    if (ws.binaryType === "blob") ws.binaryType = "arraybuffer";
    this.listeners = [
      ["message", ((e: { data: unknown }) => this.received(e.data)) as (event: never) => void],
      ["close", ((e: { code: number; reason: string }) => this.socketClosed(e.code, e.reason)) as (event: never) => void],
    ];
    for (const [type, l] of this.listeners) ws.addEventListener(type, l);
    this.pairTimer = this.clock.setTimeout(() => this.markPaired(), opts.assumePairedAfterMs ?? 2000);
    this.heartbeat = new Heartbeat(
      this.clock,
      () => this.ws.send(HEARTBEAT_REQUEST),
      () => this.silent(),
    );
    this.heartbeatMs = opts.heartbeatMs ?? SESSION_HEARTBEAT_MS;
    if (this.protocol === "sallyport") this.beat();
  }

  private beat(): void {
    this.ws.send(HEARTBEAT_REQUEST); // at once: the edge holds only a client it has heard beat
    this.heartbeat.every(this.heartbeatMs);
  }

  // ---- state (read-only outside) ----

  get state(): StreamState {
    return this.current;
  }

  /** Bytes we may still send (protocol mode). */
  get sendCredit(): number {
    return this.credit.send;
  }

  /** Bytes the connector may still send us before it oversteps (protocol mode). */
  get receiveCredit(): number {
    return this.credit.receive;
  }

  /** Data bytes sent in this session. */
  get bytesSent(): number {
    return this.counts.bytesSent;
  }

  /** Data bytes received in this session. */
  get bytesReceived(): number {
    return this.counts.bytesReceived;
  }

  /** A connector has taken the session (or is assumed to have). */
  get paired(): boolean {
    return this.current.pairing === "paired";
  }

  get endSent(): boolean {
    return this.current.out === "ended";
  }

  get endReceived(): boolean {
    return this.current.in === "ended";
  }

  /** How the session ended, once the socket has closed. */
  get closed(): CloseInfo | undefined {
    return this.current.phase === "closed" ? this.current.info : undefined;
  }

  /** Moves the state; a step the peer had no right to cause closes the session (1002). */
  private apply(event: StreamEvent): boolean {
    const next = step(this.current, event);
    if (!next.ok) {
      this.protocolError();
      return false;
    }
    this.current = next.state;
    return true;
  }

  // ---- sending ----

  /**
   * Queue data for the backend. Returns false when the caller should stop until onDrain:
   * out of credit, or the socket's buffer is over the high-water mark. Nothing is dropped.
   * In protocol mode strings go as their UTF-8 bytes (text frames are control there).
   * `fullRead`: the caller's read filled its buffer, so more is probably waiting (by default:
   * bytes of a full 'data' read, FULL_READ_BYTES or more).
   */
  send(data: Data, fullRead?: boolean): boolean {
    if (this.current.out !== "open") throw new Error("send() after end()");
    // Resuming: queued until the session is back (send() asks the caller to wait).
    if (this.current.phase !== "open" && this.current.phase !== "resuming") return false;
    let more = false;
    if (typeof data === "string" && this.protocol === "plain") {
      this.push(data, utf8.encode(data).byteLength);
    } else {
      const bytes = toBytes(data);
      this.push(bytes, bytes.byteLength);
      more = fullRead ?? bytes.byteLength >= FULL_READ_BYTES;
    }
    // A short read drained its socket: nothing more is coming this turn, so no reason to wait.
    if (this.defer && more && this.queuedBytes < this.maxFrame) this.flushLater();
    else this.flush();
    const ok = this.writable();
    if (!ok) {
      this.needDrain = true;
      // Blocked on the socket's buffer alone: nothing else will wake us (browsers have no event).
      if (this.isOpen() && this.ws.bufferedAmount >= this.highWater) this.poll();
    }
    return ok;
  }

  /**
   * A session opened in standby is in use now: the connector dials the backend. Goes before
   * anything sent after it. Protocol mode only; a no-op on a plain session.
   */
  start(): void {
    if (this.protocol !== "sallyport" || this.current.phase !== "open") return;
    this.inSession = true;
    this.queue.push(START);
    this.flush();
  }

  /** We have finished sending (a FIN); the backend may go on sending. Protocol mode only. */
  end(): void {
    if (this.protocol !== "sallyport") throw new Error("end() needs the Sallyport protocol; a plain session ends with close()");
    if (this.current.out !== "open" || (this.current.phase !== "open" && this.current.phase !== "resuming")) return;
    this.apply({ t: "end-queued" });
    this.queue.push(END);
    this.flush();
  }

  /** Report that `n` received bytes have been used; grants the connector more credit. */
  consumed(n: number): void {
    if (this.protocol !== "sallyport" || n <= 0) return;
    if (usesMarks(this.version)) return this.granting(this.reader.consume(n));
    this.consumedTotal += n;
    const grant = this.consumedTotal - this.granted;
    // Half-window steps, as connector/session.ts grants; nothing once the connector has finished.
    if (grant >= INITIAL_WINDOW_BYTES / 2 && this.current.in === "open" && this.isOpen()) {
      this.granted = this.consumedTotal;
      this.credit.receive += grant;
      this.ws.send(encode({ t: "credit", bytes: grant }, 1));
    }
  }

  /** v2: send a grant (once per mark read and used); nothing once the connector has finished. */
  private granting(grant: CreditV2Message | undefined): void {
    if (!grant || this.current.in !== "open" || !this.isOpen()) return;
    this.credit.receive = grant.upTo - this.counts.bytesReceived;
    this.ws.send(encode(grant, this.version));
  }

  /** Close the session. 1000 after end() both ways is a clean finish; anything else is an abort. */
  close(code: number = CloseCode.NORMAL, reason = ""): void {
    if (this.current.phase === "resuming") {
      // No socket to say it on: the session is over now.
      this.apply({ t: "close", code, reason });
      this.ws.close(code, reason); // a socket of an attempt in progress, if any
      return this.socketClosed(code, reason);
    }
    if (this.current.phase !== "open") return;
    this.apply({ t: "close", code, reason });
    this.stopTimers();
    if (this.ws.readyState <= OPEN) this.ws.close(code, reason);
  }

  /**
   * The socket can still carry a session. False as soon as a close has begun — also when the
   * peer's close frame has arrived but the socket's close event has not (ws waits for TCP).
   */
  get usable(): boolean {
    return this.isOpen();
  }

  /** Bytes accepted by send() but not yet handed to the socket (waiting for credit or pairing). */
  get pendingBytes(): number {
    return this.queuedBytes;
  }

  /** True when send() would not ask the caller to wait. */
  writable(): boolean {
    if (this.current.phase !== "open") return false;
    // Bytes waiting for the end of the turn to go out together are no reason to stop.
    if (this.queue.length > 0 && !(this.flushQueued && this.queuedBytes < this.maxFrame)) return false;
    if (this.protocol === "sallyport" && this.credit.send <= this.queuedBytes) return false;
    return this.ws.bufferedAmount < this.highWater;
  }

  private push(item: Uint8Array | string, size: number): void {
    if (size === 0) return;
    this.queue.push(item);
    this.queuedBytes += size;
  }

  private flushLater(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    this.defer!(() => {
      this.flushQueued = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.queue.length > 0 && this.isOpen()) {
      const item = this.queue[0]!;
      if (item === END || item === START) {
        if (!this.paired && this.prePairSent + 32 > this.prePairBudget) break;
        this.queue.shift();
        if (!this.paired) this.prePairSent += 32; // the edge holds control text too
        this.ws.send(encode({ t: item === END ? "end" : "start" }, this.version));
        if (item === END) this.apply({ t: "end-sent" });
        continue;
      }
      if (this.ws.bufferedAmount >= this.highWater) {
        this.poll();
        break;
      }
      let allowance = Infinity;
      if (this.protocol === "sallyport") allowance = this.credit.send;
      if (!this.paired) allowance = Math.min(allowance, this.prePairBudget - this.prePairSent);
      if (allowance <= 0) break;
      let chunk: Uint8Array | string = item;
      let parts: Uint8Array[] | undefined;
      let size: number;
      if (typeof item === "string") {
        // A plain text frame is sent whole (splitting could cut a character); it counts as its UTF-8 size.
        size = utf8.encode(item).byteLength;
        if (size > allowance) break;
        this.queue.shift();
      } else {
        // Consecutive chunks go out as one message, up to the frame size and the allowance.
        size = leadingBytes(this.queue, Math.min(allowance, this.maxFrame));
        if (this.sendFragments && item.byteLength < size) parts = takeParts(this.queue, size);
        else chunk = takeBytes(this.queue, size);
      }
      this.queuedBytes -= size;
      if (this.protocol === "sallyport") this.credit.send -= size;
      if (!this.paired) this.prePairSent += size;
      this.counts.bytesSent += size;
      if (parts) {
        const sent = parts;
        for (const part of sent) this.keep(part);
        this.sendFragments!(this.ws, sent, () => {
          for (const part of sent) this.chunks?.letGo(part);
          this.sent();
        });
        continue;
      }
      if (typeof chunk === "string") {
        this.ws.send(chunk, () => this.sent());
        continue;
      }
      const sent = chunk;
      this.keep(sent);
      this.ws.send(sent, () => {
        this.chunks?.letGo(sent);
        this.sent();
      });
    }
    this.maybeDrain();
  }

  private poll(): void {
    if (this.pollTimer !== undefined) return;
    this.pollTimer = this.clock.setTimeout(() => {
      this.pollTimer = undefined;
      this.flush();
      if (this.isOpen() && this.ws.bufferedAmount >= this.highWater && (this.queue.length > 0 || this.needDrain)) this.poll();
    }, this.pollMs);
  }

  /** `chunk` goes out: the resend buffer keeps it until acknowledged, the socket until written. */
  private keep(chunk: Uint8Array): void {
    if (this.out) {
      this.chunks?.hold(chunk);
      this.out.sent(chunk);
    }
    this.chunks?.hold(chunk);
  }

  /** A frame was written (Node's `ws` only): the buffer may be below the mark before the poll fires. */
  private sent(): void {
    if (this.pollTimer !== undefined && this.isOpen() && this.ws.bufferedAmount < this.highWater) {
      this.clock.clear(this.pollTimer);
      this.pollTimer = undefined;
      this.flush();
    }
  }

  private maybeDrain(): void {
    if (this.needDrain && this.writable()) {
      this.needDrain = false;
      this.onDrain?.();
    }
  }

  // ---- receiving ----

  private received(data: unknown): void {
    if (this.current.phase === "closed") return;
    this.heartbeat.heard();
    if (typeof data === "string") {
      if (this.protocol === "plain") return this.deliver(utf8.encode(data));
      return this.control(data);
    }
    this.deliver(toBytes(data as Data));
  }

  private control(text: string): void {
    if (text === HEARTBEAT_RESPONSE) return;
    const decoded = decodeForClient(text, this.version);
    if (!decoded.ok) return this.protocolError();
    const msg = decoded.value;
    if (msg.t === "ticket") {
      this.ticket = { ticket: msg.ticket, timeoutMs: msg.timeoutMs };
      return;
    }
    if (msg.t === "resumed") return this.resumed(msg.offset, msg.end === true);
    if (this.current.phase === "resuming") return this.protocolError(); // nothing comes before `resumed`
    if (msg.t === "done") return this.finishedKept();
    if (msg.t === "mark") return this.granting(this.reader.mark(msg.id));
    if (msg.t === "opened") {
      // The edge's own limit; more than the floor only once it has said so.
      if (msg.maxMessageBytes !== undefined) this.maxFrame = Math.min(this.maxFrameCap, msg.maxMessageBytes);
      return this.markPaired();
    }
    this.markPaired();
    if (msg.t === "credit") {
      // v1: an increment; v2: a cumulative limit.
      if ("bytes" in msg) this.credit.send += msg.bytes;
      else {
        this.credit.send = Math.max(this.credit.send, msg.upTo - this.counts.bytesSent);
        this.out?.limitSeen(msg.upTo);
      }
      this.flush();
    } else if (this.apply({ t: "end-received" })) {
      this.onEnd?.();
      // v3: the connector's last `end` of a kept session may carry its `done`: end, then done.
      if (msg.done) this.finishedKept();
    }
  }

  /** The connector's `done`: valid only after both `end`s, with nothing of ours still queued. */
  private finishedKept(): void {
    if (this.queue.length > 0) return this.protocolError();
    if (!this.apply({ t: "done" })) return;
    const finished: SessionCounts = this.counts;
    this.credit = { send: initialCredit(this.version), receive: INITIAL_WINDOW_BYTES };
    this.counts = { bytesSent: 0, bytesReceived: 0 };
    this.consumedTotal = this.granted = 0;
    this.reader.reset();
    this.out?.reset();
    this.inSession = false;
    if (this.onDone) this.onDone(finished);
    else this.close(CloseCode.NORMAL);
  }

  private deliver(bytes: Uint8Array): void {
    if (bytes.byteLength === 0) return;
    this.markPaired();
    if (!this.apply({ t: "data-received" })) return;
    if (this.protocol === "sallyport") {
      this.credit.receive -= bytes.byteLength;
      if (this.credit.receive < 0) return this.protocolError(); // sent beyond the credit we granted
      if (usesMarks(this.version)) this.reader.data(bytes.byteLength);
    }
    this.counts.bytesReceived += bytes.byteLength;
    this.onData?.(bytes);
    if (this.autoConsume) this.consumed(bytes.byteLength);
  }

  private markPaired(): void {
    if (this.paired) return;
    this.apply({ t: "paired" });
    this.clock.clear(this.pairTimer);
    this.pairTimer = undefined;
    this.onPaired?.();
    this.flush();
  }

  private protocolError(): void {
    this.close(CloseCode.PROTOCOL_ERROR, CLOSE_REASONS.PROTOCOL_ERROR);
  }

  /** Nothing heard for three heartbeats: reported now (the close handshake would never finish). */
  private silent(): void {
    if (this.current.phase === "resuming") return this.ws.terminate?.(); // this attempt hangs: its close retries
    if (this.current.phase !== "open") return;
    if (this.canResume()) {
      const ws = this.ws;
      this.lost("heartbeat timeout");
      ws.terminate?.();
      if (!ws.terminate) ws.close();
      return;
    }
    this.close(CloseCode.NETWORK_UNREACHABLE, CLOSE_REASONS.NETWORK_UNREACHABLE);
    this.ws.terminate?.();
    this.socketClosed(CloseCode.NETWORK_UNREACHABLE, CLOSE_REASONS.NETWORK_UNREACHABLE);
  }

  // ---- closing ----

  private socketClosed(code: number, reason: string): void {
    if (this.current.phase === "closed") return;
    if (this.current.phase === "resuming") {
      if (code === CloseCode.RESUME_FAILED) return this.resumeFailed("the edge ended the resume");
      return this.retry();
    }
    if (this.current.phase === "open" && this.canResume() && linkLost(code)) return this.lost(`link lost (${code})`);
    this.stopTimers();
    for (const [type, l] of this.listeners) this.ws.removeEventListener(type, l);
    this.apply({ t: "socket-closed", code, reason });
    this.queue.length = 0;
    this.queuedBytes = 0;
    const info = this.closed;
    if (info) this.onClose?.(info);
  }

  // ---- resume (v3) ----

  /**
   * Only a session in progress resumes: not a standby socket between sessions, nor one whose
   * directions have both ended (the connector is done with it too, or is about to be).
   */
  private canResume(): boolean {
    const finished = this.current.out === "ended" && this.current.in === "ended";
    return this.out !== undefined && this.ticket !== undefined && this.paired && this.inSession && !finished;
  }

  /** The socket dropped: keep everything, and dial again with the ticket. */
  private lost(why: string): void {
    this.apply({ t: "socket-lost" });
    this.stopTimers();
    for (const [type, l] of this.listeners) this.ws.removeEventListener(type, l);
    this.resume = { window: new ResumeWindow(this.clock, this.ticket!.timeoutMs), why };
    this.retry();
  }

  private retry(): void {
    const r = this.resume;
    if (!r || this.current.phase !== "resuming") return;
    for (const [type, l] of this.listeners) this.ws.removeEventListener(type, l);
    this.heartbeat.stop();
    this.clock.clear(r.timer);
    const delay = r.window.nextDelay();
    if (delay === undefined) return this.resumeFailed("session.resume.timeout passed");
    r.timer = this.clock.setTimeout(() => this.attempt(), delay);
  }

  private attempt(): void {
    if (this.current.phase !== "resuming" || !this.ticket || !this.reconnect) return;
    const request = { ticket: this.ticket.ticket, received: this.counts.bytesReceived, end: this.current.in === "ended" };
    const opened = (ws: WebSocketLike): void => {
      if (this.current.phase !== "resuming") return ws.close(CloseCode.NORMAL);
      // The new socket: heard from and heartbeated like the first; `resumed` comes next.
      this.ws = ws;
      if (ws.binaryType === "blob") ws.binaryType = "arraybuffer";
      for (const [type, l] of this.listeners) ws.addEventListener(type, l);
      this.beat();
    };
    this.reconnect(request, opened).catch((e: ReconnectError) =>
      e?.refused ? this.resumeFailed("the edge refused the resume") : this.retry(),
    );
  }

  /** `resumed`: the connector received `offset` bytes (and our `end`, with `peerHasEnd`); send again from there. */
  private resumed(offset: number, peerHasEnd: boolean): void {
    const r = this.resume;
    if (!r || this.current.phase !== "resuming") return this.protocolError();
    const again = this.out!.rewind(offset);
    if (!again) return this.resumeFailed(`cannot resume from offset ${offset}`);
    this.resume = undefined;
    this.clock.clear(r.timer);
    const resent = again.reduce((n, c) => n + c.byteLength, 0);
    this.apply({ t: "resumed" });
    this.counts.bytesSent = offset;
    // The edge's first limit past the offset, as at pairing, until the connector grants again.
    this.credit.send = V2_INITIAL_CREDIT_BYTES;
    this.queue.unshift(...again);
    this.queuedBytes += resent;
    if (this.current.out === "ended" && !peerHasEnd) this.queue.push(END);
    this.reader.resumed();
    this.credit.receive = this.reader.granted - this.counts.bytesReceived;
    this.onResume?.({ outcome: "resumed", why: r.why, stallMs: r.window.elapsed, resentBytes: resent, attempts: r.window.attempts });
    this.needDrain = true; // the application may have been asked to wait meanwhile
    this.flush();
  }

  /** The session cannot resume: it ends (not cleanly: the application's connection is reset). */
  private resumeFailed(why: string): void {
    const r = this.resume;
    if (!r || this.current.phase !== "resuming") return;
    this.resume = undefined;
    this.clock.clear(r.timer);
    this.onResume?.({ outcome: "failed", why, stallMs: r.window.elapsed, resentBytes: 0, attempts: r.window.attempts });
    this.close(CloseCode.RESUME_FAILED, CLOSE_REASONS.RESUME_FAILED);
  }

  private isOpen(): boolean {
    return this.current.phase === "open" && this.ws.readyState === OPEN;
  }

  private stopTimers(): void {
    this.heartbeat.stop();
    if (this.resume) this.clock.clear(this.resume.timer);
    this.clock.clear(this.pollTimer);
    this.clock.clear(this.pairTimer);
    this.pollTimer = this.pairTimer = undefined;
  }
}

function toBytes(data: Data): Uint8Array {
  if (typeof data === "string") return utf8.encode(data);
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  // ws with binaryType "fragments" or anything else unexpected.
  if (Array.isArray(data)) return concat(data as Uint8Array[]);
  throw new TypeError("unsupported data type");
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}
