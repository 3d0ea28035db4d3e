import { EventEmitter } from "node:events";
import type net from "node:net";
import type WebSocket from "ws";
import type { WebSocketLike } from "../../client/stream.ts";
import type { Clock, Timer } from "../../shared/clock.ts";
import type { ConnectorService } from "../../shared/config/connector-config.ts";
import type { Logger, Level, Fields } from "../../shared/log.ts";
import { HEARTBEAT_REQUEST } from "../../shared/protocol/constants.ts";
import { Condition } from "./wait.ts";

/**
 * In-memory stand-ins for unit tests of one module's logic (connector/bind, pool, session,
 * client/forwarder): a clock the test moves by hand, the parts of a `ws` WebSocket and of a
 * net.Socket those modules use, and a logger that keeps its records. Scenarios use real
 * processes and sockets (test/e2e), never these.
 */

interface Scheduled {
  readonly id: number;
  at: number;
  readonly run: () => void;
  readonly every: number | undefined;
}

/** Timers fire only inside advance(), in time order; nothing ever sleeps. */
export class FakeClock implements Clock {
  private t = 1_000_000;
  private seq = 0;
  private readonly timers = new Map<number, Scheduled>();

  now(): number {
    return this.t;
  }

  setTimeout(run: () => void, ms: number): Timer {
    return this.add(run, ms, undefined);
  }

  setInterval(run: () => void, ms: number): Timer {
    return this.add(run, ms, Math.max(1, ms));
  }

  clear(timer: Timer | undefined): void {
    if (timer) this.timers.delete((timer as unknown as { id: number }).id);
  }

  /** Moves time forward by `ms`, running every timer that falls due on the way. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: Scheduled | undefined;
      for (const s of this.timers.values()) if (s.at <= end && (!next || s.at < next.at)) next = s;
      if (!next) break;
      this.t = next.at;
      if (next.every === undefined) this.timers.delete(next.id);
      else next.at += next.every;
      next.run();
    }
    this.t = end;
  }

  /** Timers still scheduled. */
  get pending(): number {
    return this.timers.size;
  }

  private add(run: () => void, ms: number, every: number | undefined): Timer {
    const id = ++this.seq;
    this.timers.set(id, { id, at: this.t + Math.max(0, ms), run, every });
    return { id, unref: () => undefined } as unknown as Timer;
  }
}

/** A `ws` WebSocket as the connector sees it: records what is sent; the test plays the edge. */
export class FakeWs extends EventEmitter {
  protocol = "";
  bufferedAmount = 0;
  paused = false;
  terminated = false;
  closedWith: { code: number | undefined; reason: string | undefined } | undefined;
  /** Messages sent: text, or a binary message's bytes (its fragments joined, as the edge's runtime joins them). */
  readonly sent: Array<string | Buffer> = [];
  /** Each binary message as the fragments `ws` was given, uncopied (one for a message sent whole). */
  readonly fragments: Uint8Array[][] = [];
  private partial: Uint8Array[] = [];

  send(data: string | Uint8Array, opts?: unknown, cb?: (err?: Error) => void): void {
    if (typeof data === "string") this.sent.push(data);
    else {
      this.partial.push(data);
      if ((opts as { fin?: boolean } | undefined)?.fin !== false) {
        this.fragments.push(this.partial);
        this.sent.push(Buffer.concat(this.partial));
        this.partial = [];
      }
    }
    const done = typeof opts === "function" ? (opts as (err?: Error) => void) : cb;
    if (done) queueMicrotask(() => done());
  }

  close(code?: number, reason?: string): void {
    this.closedWith ??= { code, reason };
  }

  terminate(): void {
    this.terminated = true;
  }

  /** ws's getter: whether reading is paused (the bind's heartbeat does not count silence then). */
  get isPaused(): boolean {
    return this.paused;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
  }

  /** Text frames sent, parsed (heartbeat pings left out). */
  controls(): Array<Record<string, unknown>> {
    return this.sent.filter((f): f is string => typeof f === "string" && f.startsWith("{")).map((f) => JSON.parse(f));
  }

  /** Binary frames sent, joined. */
  data(): Buffer {
    return Buffer.concat(this.sent.filter((f): f is Buffer => typeof f !== "string"));
  }

  /** The edge sends a text frame (an object is encoded as a control message). */
  text(message: string | Record<string, unknown>): void {
    const text = typeof message === "string" ? message : JSON.stringify({ v: 1, ...message });
    this.emit("message", Buffer.from(text), false);
  }

  binary(bytes: Uint8Array): void {
    this.emit("message", Buffer.from(bytes), true);
  }

  asWebSocket(): WebSocket {
    return this as unknown as WebSocket;
  }
}

/** A backend TCP connection: writes complete when the test says (ack), as a slow backend would. */
export class FakeBackend extends EventEmitter {
  readonly written: Buffer[] = [];
  ended = false;
  destroyed = false;
  reset = false;
  /** write() returns false (the socket's buffer is full) while set. */
  full = false;
  private paused = false;
  private readonly callbacks: Array<() => void> = [];

  write(data: Uint8Array, cb?: () => void): boolean {
    this.written.push(Buffer.from(data));
    if (cb) this.callbacks.push(cb);
    return !this.full;
  }

  /** Gathering writes (net/write-batch.ts) changes no order a session sees: the fake writes at once. */
  cork(): void {}

  uncork(): void {}

  /** The backend took everything written so far. */
  ack(): void {
    for (const cb of this.callbacks.splice(0)) cb();
  }

  end(): void {
    this.ended = true;
  }

  destroy(): void {
    this.destroyed = true;
  }

  resetAndDestroy(): void {
    this.reset = this.destroyed = true;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
  }

  isPaused(): boolean {
    return this.paused;
  }

  bytes(): Buffer {
    return Buffer.concat(this.written);
  }

  asSocket(): net.Socket {
    return this as unknown as net.Socket;
  }
}

export interface LogRecord {
  readonly level: Level;
  readonly msg: string;
  readonly fields: Fields;
}

/** A logger that keeps what was said. */
export function recordingLogger(records: LogRecord[] = [], base: Fields = {}): Logger & { records: LogRecord[] } {
  return {
    records,
    log: (level, msg, fields = {}) => records.push({ level, msg, fields: { ...base, ...fields } }),
    child: (fields) => recordingLogger(records, { ...base, ...fields }),
  };
}

/** A connector service for unit tests; nothing is dialed for real. */
export function testService(over: Partial<ConnectorService> = {}): ConnectorService {
  return {
    name: "app",
    accept: { uri: "wss://edge.test/app", path: "/app", secure: true },
    bindUrl: "wss://edge.test",
    connect: { scheme: "tcp", host: "127.0.0.1", port: 9 },
    mode: "reverse",
    preparedConnectionCount: 3,
    maxSessions: 512,
    retryMaximumIntervalMs: 1000,
    maximumRecoveryIntervalMs: 4000,
    heartbeatIntervalMs: 1000,
    tokenFile: "/dev/null",
    caFile: undefined,
    caFileOnly: false,
    certFile: undefined,
    keyFile: undefined,
    edgeCertPin: undefined,
    ...over,
  };
}

/** A WHATWG WebSocket as client/stream.ts sees it: records what the stream sends; the test plays the edge. */
export class FakeClientSocket implements WebSocketLike {
  readyState = 1;
  binaryType = "blob";
  bufferedAmount = 0;
  readonly frames: Array<string | Uint8Array> = [];
  /** Heartbeats sent, kept apart from the session's frames. */
  beats = 0;
  terminated = false;
  closedWith: { code: number | undefined; reason: string | undefined } | undefined;
  /** Notified on every send and close, for tests that wait on what the stream does. */
  readonly changed = new Condition();
  private readonly listeners = new Map<string, Set<(e: never) => void>>();

  constructor(readonly protocol: string) {}

  send(data: string | ArrayBufferView | ArrayBuffer, cb?: (err?: Error) => void): void {
    if (this.readyState !== 1) throw new Error("send on a socket that is not open");
    if (data === HEARTBEAT_REQUEST) return void this.beats++;
    this.frames.push(typeof data === "string" ? data : new Uint8Array(data as ArrayBuffer).slice());
    if (cb) queueMicrotask(() => cb());
    this.changed.notify();
  }

  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
    this.readyState = 2;
    this.changed.notify();
  }

  terminate(): void {
    this.terminated = true;
    this.readyState = 3;
  }

  addEventListener(type: string, l: (e: never) => void): void {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type)!.add(l);
  }

  removeEventListener(type: string, l: (e: never) => void): void {
    this.listeners.get(type)?.delete(l);
  }

  private emit(type: string, event: unknown): void {
    for (const l of this.listeners.get(type) ?? []) (l as (e: unknown) => void)(event);
  }

  /** The edge sends a frame (a string is a text frame). */
  receive(data: string | Uint8Array | ArrayBuffer): void {
    this.emit("message", { data });
  }

  /** The close handshake completed with this code. */
  peerClose(code: number, reason = ""): void {
    this.readyState = 3;
    this.emit("close", { code, reason });
  }

  /** Data frames sent so far, as total bytes. */
  dataBytes(): number {
    return this.frames.reduce((n, f) => n + (typeof f === "string" ? 0 : f.byteLength), 0);
  }

  texts(): string[] {
    return this.frames.filter((f): f is string => typeof f === "string");
  }
}
