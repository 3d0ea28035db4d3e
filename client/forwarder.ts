import net from "node:net";
import { Backoff, DEFAULT_BACKOFF, STABLE_MS } from "../shared/backoff.ts";
import { type Clock, systemClock, type Timer } from "../shared/clock.ts";
import { CloseCode } from "../shared/protocol/close-codes.ts";
import type { Logger } from "../shared/log.ts";
import type { EdgeRoute } from "../net/edge-socket.ts";
import { refusalFix } from "./describe.ts";
import { dial, type DialFailure, type DialHandlers, type DialOptions } from "./dial.ts";
import type { CloseInfo, SallyportStream, SessionCounts } from "./stream.ts";
import { WriteBatch } from "../net/write-batch.ts";
import { readAcceptedInto } from "../net/accepted-reads.ts";
import { ReusedReadBuffer, sharedReadBuffer } from "../net/reused-reads.ts";

/**
 * `sallyport client`: a local TCP listener whose every connection becomes one Sallyport
 * session (like `cloudflared access tcp`).
 *
 * Pre-opened sessions: `preopen` WebSockets are kept open at the edge, handshake done, so a
 * new local connection starts without waiting for one. Each holds a bind at the edge, or
 * waits up to socks.timeout for one and is then closed (4006/4013); an idle session that
 * closes is replaced after the connector's backoff (100 ms doubling to retryMaxMs, reset once
 * a session has stayed up STABLE_MS). They are opened in standby: the connector dials the
 * backend only when a connection takes the session (`start`), so the backend never sees a
 * connection nobody made.
 *
 * Per connection: local bytes → send() (the local socket is paused while the stream says
 * wait: out of credit or the WebSocket buffer is full); session data → local write, credit
 * granted only once the write completed (so a slow local reader holds at most one window
 * here and at the connector). Local FIN ⇄ `end`. A clean session end (1000 after both
 * directions ended) leaves the local socket to finish; any other end resets it — an
 * abnormal end never looks like a clean EOF.
 */

/** On stop, how long sockets may take to finish their close handshakes. */
export const STOP_GRACE_MS = 2_000;

export interface ForwarderOptions {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly token?: string | undefined;
  readonly preopen: number;
  readonly retryMaxMs: number;
  readonly log: Logger;
  /** Trust and proxy toward the edge. */
  readonly route?: EdgeRoute;
}

/** The WebSocket under a session, as far as the forwarder handles it. */
export interface DialedSocket {
  once(event: "close", listener: () => void): unknown;
  terminate(): void;
}

/** How sessions are opened, and time; unit tests pass fakes and a manual clock. */
export interface ForwarderIo {
  dial(opts: DialOptions, handlers: DialHandlers): DialedSocket;
  readonly clock: Clock;
}

interface Idle {
  readonly stream: SallyportStream;
  readonly early: Uint8Array[];
}

let seq = 0;

export class Forwarder {
  private readonly server: net.Server;
  private readonly idle: Idle[] = [];
  private readonly sockets = new Set<DialedSocket>();
  private readonly relays = new Set<Relay>();
  private readonly backoff: Backoff;
  private readonly clock: Clock;
  private connecting = 0;
  private retryTimer: Timer | undefined;
  private stopping = false;
  /** Set while stop() waits for the last socket to close. */
  private lastSocketClosed: (() => void) | undefined;
  private lastIdleProblem: string | undefined;
  private lastRefusalLog: number | undefined;

  constructor(
    private readonly opts: ForwarderOptions,
    private readonly io: ForwarderIo = { dial, clock: systemClock },
  ) {
    this.clock = io.clock;
    this.backoff = new Backoff({ ...DEFAULT_BACKOFF, maximumMs: opts.retryMaxMs, stableMs: STABLE_MS }, this.clock);
    this.server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) => this.accept(s));
  }

  async listen(): Promise<net.AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.opts.port, this.opts.host, () => {
        this.server.off("error", reject);
        resolve();
      });
    });
    this.fill();
    return this.server.address() as net.AddressInfo;
  }

  /** Stop accepting, close idle sessions cleanly and active ones as going away; resolves when all sockets closed. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.clock.clear(this.retryTimer);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const i of this.idle.splice(0)) i.stream.close(CloseCode.NORMAL);
    for (const r of [...this.relays]) r.abort("stopping");
    if (this.sockets.size > 0) {
      await new Promise<void>((resolve) => {
        const grace = this.clock.setTimeout(resolve, STOP_GRACE_MS);
        this.lastSocketClosed = () => {
          this.clock.clear(grace);
          resolve();
        };
      });
    }
    for (const ws of this.sockets) ws.terminate();
    await closed;
  }

  // ---- pre-opened sessions ----

  private fill(): void {
    if (this.stopping || this.retryTimer) return;
    while (this.idle.length + this.connecting < this.opts.preopen) this.preopen();
  }

  private preopen(): void {
    this.connecting++;
    const ws = this.io.dial(
      { url: this.opts.url, token: this.opts.token, standby: true, route: this.opts.route },
      {
        opened: (stream, handshakeMs) => {
          this.connecting--;
          this.backoff.connected();
          if (this.stopping) return stream.close(CloseCode.NORMAL);
          this.addIdle(stream);
          this.opts.log.log("debug", "pre-opened session open", { idle: this.idle.length, handshakeMs: Math.round(handshakeMs) });
          if (this.lastIdleProblem) this.opts.log.log("info", "pre-opened session ready again", { url: this.opts.url });
          this.lastIdleProblem = undefined;
        },
        failed: (f) => {
          this.connecting--;
          this.idleProblem(f.description, f);
          this.retry();
        },
      },
    );
    this.track(ws);
  }

  private addIdle(stream: SallyportStream): void {
    const idle: Idle = { stream, early: [] };
    stream.onData = (chunk) => idle.early.push(chunk);
    // The backend finished before anyone used the session: it is no use to a new connection.
    stream.onEnd = () => {
      this.dropIdle(idle, "backend ended the connection while idle");
      stream.close(CloseCode.NORMAL);
    };
    stream.onClose = (info) => this.dropIdle(idle, info.description);
    stream.onDone = stream.onDrain = undefined;
    this.idle.push(idle);
  }

  /**
   * A pre-opened session whose connection finished cleanly comes back in standby, paired and
   * warm: the next connection starts on it without a handshake. The pool was refilled when
   * the connection took it, so keeping it may go past `preopen`: up to twice that, which
   * back-to-back connections then use without opening anything.
   */
  private giveBack(stream: SallyportStream): void {
    if (this.stopping || stream.closed || this.idle.length >= 2 * this.opts.preopen) return stream.close(CloseCode.NORMAL);
    this.addIdle(stream);
    this.opts.log.log("debug", "pre-opened session kept", { idle: this.idle.length });
  }

  private dropIdle(idle: Idle, why: string): void {
    const i = this.idle.indexOf(idle);
    if (i < 0) return;
    this.idle.splice(i, 1);
    if (this.stopping) return;
    this.idleProblem(why);
    this.retry();
  }

  /** Said when it changes, not once per attempt: the log stays readable while it retries. */
  private idleProblem(description: string, failure?: DialFailure): void {
    const fields = { url: this.opts.url, reason: description, attempt: this.backoff.attempts };
    // What the operator must fix is said loudly, once a minute: the edge's refusal, a proxy's.
    const fix = failure?.kind === "refused" ? refusalFix(failure.status) : failure?.fix;
    if (fix) {
      const now = this.clock.now();
      if (this.lastRefusalLog === undefined || now - this.lastRefusalLog >= 60_000 || description !== this.lastIdleProblem) {
        this.lastRefusalLog = now;
        const msg = failure?.kind === "refused" ? "edge refused the session" : "cannot reach the edge";
        this.opts.log.log("error", msg, { ...fields, ...(failure?.kind === "error" ? { reason: failure.detail } : {}), fix });
      }
    } else {
      this.opts.log.log(description === this.lastIdleProblem ? "debug" : "warn", "pre-opened session closed", fields);
    }
    this.lastIdleProblem = description;
  }

  private retry(): void {
    if (this.stopping || this.retryTimer) return;
    const delay = this.backoff.failed();
    this.retryTimer = this.clock.setTimeout(() => {
      this.retryTimer = undefined;
      this.fill();
    }, delay);
  }

  private track(ws: DialedSocket): void {
    this.sockets.add(ws);
    ws.once("close", () => {
      this.sockets.delete(ws);
      if (this.sockets.size === 0) this.lastSocketClosed?.();
    });
  }

  // ---- local connections ----

  private accept(local: net.Socket): void {
    if (this.stopping) return void local.destroy();
    local.setNoDelay(true);
    const relay = new Relay(
      `c${(++seq).toString(36)}`,
      local,
      this.opts.log,
      this.clock,
      () => this.relays.delete(relay),
      (stream) => this.giveBack(stream),
    );
    this.relays.add(relay);
    // The newest: if it is still waiting for a bind, it has the most of socks.timeout left.
    // One whose close has begun (the edge closed it; the event may come seconds later) is dropped.
    let idle = this.idle.pop();
    let dropped = false;
    while (idle && !idle.stream.usable) {
      dropped = true;
      idle = this.idle.pop();
    }
    // Their close events no longer find them in the pool: refill from here, after a backoff.
    if (dropped) this.retry();
    if (idle) {
      relay.attach(idle.stream, idle.early, true);
      this.fill();
      return;
    }
    // None ready: this connection waits for a handshake of its own (paused meanwhile).
    const ws = this.io.dial(
      { url: this.opts.url, token: this.opts.token, route: this.opts.route },
      {
        opened: (stream) => relay.attach(stream, [], false),
        failed: (f) => relay.failed(f),
      },
    );
    this.track(ws);
  }
}

/** One local connection and its session. */
class Relay {
  private stream: SallyportStream | undefined;
  private readonly started: number;
  private localGone = false;
  private done = false;
  private preopened = false;
  /** Session data to the local socket, one `writev` per turn of the event loop. */
  private readonly writes: WriteBatch;
  /** The local socket's reads, through the process's reused buffer (else its 'data' events). */
  private readonly reads: ReusedReadBuffer | undefined;

  constructor(
    readonly id: string,
    private readonly local: net.Socket,
    private readonly log: Logger,
    private readonly clock: Clock,
    private readonly finished: () => void,
    private readonly giveBack: (stream: SallyportStream) => void,
  ) {
    this.started = clock.now();
    this.writes = new WriteBatch(local);
    // Before the socket's first read: it was accepted paused.
    const reads = new ReusedReadBuffer(sharedReadBuffer());
    this.reads = readAcceptedInto(local, reads) ? reads : undefined;
    local.on("error", () => {}); // 'close' (hadError) follows; handled there
    local.on("close", (hadError) => this.localClosed(hadError));
  }

  attach(stream: SallyportStream, early: Uint8Array[], preopened: boolean): void {
    this.stream = stream;
    this.preopened = preopened;
    if (this.localGone) {
      // The local peer left while the handshake ran.
      stream.onClose = (info) => this.report(info);
      return stream.close(CloseCode.GOING_AWAY, "going away");
    }
    const local = this.local;
    // A pre-opened session waits in standby: the connector dials the backend now, and after a
    // clean end the session goes back to the pool instead of closing.
    if (preopened) {
      stream.start();
      stream.onDone = (counts) => this.kept(stream, counts);
    }
    stream.onData = (chunk) => this.write(chunk);
    stream.onEnd = () => local.end();
    stream.onClose = (info) => this.sessionClosed(info);
    stream.onDrain = () => local.resume();
    // v3: the link dropped and the session came back (or could not): said once per resume.
    stream.onResume = (r) =>
      this.log.log(r.outcome === "resumed" ? "info" : "warn", r.outcome === "resumed" ? "session resumed" : "session resume failed", {
        conn: this.id,
        ...r,
      });
    for (const chunk of early) this.write(chunk);
    if (stream.endReceived) local.end();
    // `full` from the reused buffer; a 'data' read leaves it to send()'s rule for Node's reads.
    const read = (chunk: Buffer, full?: boolean): void => {
      if (this.stream === stream && !stream.send(chunk, full)) local.pause();
    };
    if (this.reads) this.reads.listen(read);
    else local.on("data", read);
    local.on("end", () => this.stream === stream && stream.end());
    if (stream.closed) this.sessionClosed(stream.closed);
    else local.resume();
  }

  /** The handshake for this connection failed. */
  failed(f: DialFailure): void {
    this.log.log("warn", "connection closed", {
      conn: this.id,
      reason: f.description,
      ...(f.kind === "refused" ? { status: f.status } : {}),
    });
    this.end();
    if (!this.local.destroyed) this.local.resetAndDestroy();
  }

  abort(why: string): void {
    if (this.stream && !this.stream.closed) this.stream.close(CloseCode.GOING_AWAY, "going away");
    if (!this.local.destroyed) this.local.resetAndDestroy();
    if (!this.stream) {
      this.log.log("info", "connection closed", { conn: this.id, reason: why });
      this.end();
    }
  }

  /** Credit goes back to the connector only for bytes the local socket has taken. */
  private write(chunk: Uint8Array): void {
    if (this.local.destroyed) return;
    this.writes.write(chunk, (e) => {
      if (!e) this.stream?.consumed(chunk.byteLength);
    });
  }

  private localClosed(hadError: boolean): void {
    this.localGone = true;
    const stream = this.stream;
    if (!stream || stream.closed) return;
    // A clean local close after both FINs: the connector closes the session (1000) itself.
    // A reset, or a close while the session still owed the local side data, aborts it.
    if (hadError || !stream.endReceived) stream.close(CloseCode.GOING_AWAY, "going away");
  }

  private sessionClosed(info: CloseInfo): void {
    // A clean end has already ended the local socket (onEnd); anything else resets it.
    if (!info.clean && !this.local.destroyed) this.local.resetAndDestroy();
    this.report(info);
  }

  /** The session finished cleanly and its socket is kept: the local side is done with it. */
  private kept(stream: SallyportStream, counts: SessionCounts): void {
    this.stream = undefined; // nothing of the local socket reaches the stream any more
    this.giveBack(stream); // ready for the next connection before our log line's write
    this.report({ code: CloseCode.NORMAL, reason: "", clean: true, byUs: false, description: "finished" }, counts, true);
  }

  private report(info: CloseInfo, counts: SessionCounts = this.stream!, kept = false): void {
    if (this.done) return;
    const localAbort = info.byUs && info.code === CloseCode.GOING_AWAY;
    this.log.log(info.clean || localAbort ? "info" : "warn", "connection closed", {
      conn: this.id,
      closeCode: info.code,
      reason: localAbort ? "local connection closed first" : info.description,
      clean: info.clean,
      preopened: this.preopened,
      ...(kept ? { kept: true } : {}),
      bytesUp: counts.bytesSent,
      bytesDown: counts.bytesReceived,
      durationMs: this.clock.now() - this.started,
    });
    this.end();
  }

  private end(): void {
    if (this.done) return;
    this.done = true;
    this.finished();
  }
}
