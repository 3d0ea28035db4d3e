import net from "node:net";
import type { Cleanup } from "./cleanup.ts";
import { closeServer, listen } from "./net.ts";
import { Condition } from "./wait.ts";

/**
 * A TCP relay with faults switchable at run time, for any leg of a session: client↔edge,
 * connector↔edge, connector↔backend. It listens on 127.0.0.1 port 0 and forwards each
 * accepted connection ("downstream", the side that dialed) to the target ("upstream").
 * Directions: "up" is downstream → target, "down" is target → downstream.
 *
 * Modes (for the whole relay, or overridden per connection):
 *   pass       forward bytes, FINs (half-close) and resets as they come;
 *   blackhole  a path that silently stopped working (NAT entry gone, cable pulled): sockets
 *              stay open, data both ways is read and dropped, FINs and resets are swallowed.
 *              A connection that lost anything this way is reset on both sides when it goes
 *              back to pass (the far end's answer to a packet it no longer knows); one that
 *              lost nothing simply carries on. New connections are accepted but held —
 *              unread, not yet dialed upstream — and go through when the path passes again
 *              (a SYN that got through late), or are reset when it resets;
 *   reset      every connection, current and new, is destroyed with a TCP RST both ways.
 * Shaping (pass mode, per connection and direction): `latency` delays every chunk by that
 * many ms; `bandwidth` caps bytes per second. Shaped data is queued at most QUEUE_HIGH bytes
 * per direction before the sending socket is paused, so a capped leg pushes back on its
 * sender as a slow network would (nothing is buffered without bound).
 * `halfClose(dir)` sends a FIN one way (and drops what still comes that way) while the other
 * direction keeps flowing.
 *
 * Everything is counted: connections accepted and open, bytes forwarded and dropped each way.
 */

export type RelayMode = "pass" | "blackhole" | "reset";
export type Direction = "up" | "down";

/** Bytes held per direction in the shaping queue before the sender is paused. */
export const QUEUE_HIGH = 64 * 1024;
/** A capped direction sends at most this many ms worth of bytes at once. */
const SLICE_MS = 20;

export interface RelayConnection {
  readonly id: number;
  /** performance.now() at accept. */
  readonly openedAt: number;
  closedAt: number | undefined;
  /** Bytes forwarded downstream → target, and target → downstream. */
  bytesUp: number;
  bytesDown: number;
  /** Bytes read and thrown away (blackhole, or after a half-close). */
  droppedUp: number;
  droppedDown: number;
  /** The connection's own mode; undefined follows the relay's. */
  readonly override: RelayMode | undefined;
  /** The mode in force for this connection. */
  mode(): RelayMode;
  /** Overrides the relay's mode for this connection only (undefined: follow the relay again). */
  set(mode: RelayMode | undefined): void;
  /** Sends a FIN in direction `dir` now; later data that way is dropped. */
  halfClose(dir: Direction): void;
  /** Destroys both sides with a TCP RST. */
  reset(): void;
  /** Whether both sockets are gone. */
  readonly closed: boolean;
}

export interface RelayStats {
  readonly accepted: number;
  readonly open: number;
  readonly bytesUp: number;
  readonly bytesDown: number;
  readonly droppedUp: number;
  readonly droppedDown: number;
}

export interface FaultRelayOptions {
  /** Port on 127.0.0.1 to forward to (or a host and port). */
  readonly target: number | { host: string; port: number };
  readonly mode?: RelayMode;
  readonly name?: string;
}

export interface FaultRelay {
  readonly port: number;
  /** ws://127.0.0.1:PORT — a connector's --edge, or a client's base URL. */
  readonly url: string;
  /** tcp://127.0.0.1:PORT — a connector's --connect. */
  readonly uri: string;
  readonly connections: readonly RelayConnection[];
  mode(): RelayMode;
  /** Switches the relay's mode (connections with an override keep theirs). */
  set(mode: RelayMode): void;
  pass(): void;
  blackhole(): void;
  /** Resets every current connection and refuses (RST) new ones until the mode changes. */
  reset(): void;
  /** Resets every current connection once; the mode stays as it is. */
  resetAll(): void;
  /** Delay added to every chunk, each direction (0 = none). */
  setLatency(ms: number): void;
  /** Cap in bytes/s per connection and direction (undefined = none). */
  setBandwidth(bytesPerSecond: number | undefined, dir?: Direction | "both"): void;
  /** Half-closes direction `dir` of every open connection. */
  halfClose(dir: Direction): void;
  /** Where new connections go from now on (already open ones stay where they are). */
  setTarget(target: number | { host: string; port: number }): void;
  stats(): RelayStats;
  open(): RelayConnection[];
  /** Resolves with the first truthy result of `check`, re-run on every change (bytes, connections, closes). */
  waitFor<T>(check: (relay: FaultRelay) => T | undefined | false, ms: number, what: string): Promise<T>;
  stop(): Promise<void>;
}

interface Shaping {
  latencyMs: number;
  bandwidth: Record<Direction, number | undefined>;
}

/** One direction of one connection. */
class Pipe {
  private queue: Array<{ chunk: Buffer; due: number }> = [];
  private queued = 0;
  private timer: NodeJS.Timeout | undefined;
  /** When a capped link is free again. */
  private freeAt = 0;
  private srcEnded = false;
  finished = false;
  private blocked = false;

  constructor(
    private readonly conn: Conn,
    private readonly dir: Direction,
    private readonly src: net.Socket,
    private readonly dst: net.Socket,
  ) {
    dst.on("drain", () => {
      this.blocked = false;
      this.pump();
    });
  }

  data(chunk: Buffer): void {
    if (this.finished || this.conn.mode() === "blackhole" || this.dst.destroyed) {
      this.conn.dropped(this.dir, chunk.length);
      return;
    }
    const { latencyMs, bandwidth } = this.conn.relay.shaping;
    if (latencyMs === 0 && bandwidth[this.dir] === undefined && this.queue.length === 0 && !this.blocked) {
      this.conn.forwarded(this.dir, chunk.length);
      if (!this.dst.write(chunk)) {
        this.blocked = true;
        this.src.pause();
      }
      return;
    }
    this.queue.push({ chunk, due: performance.now() + latencyMs });
    this.queued += chunk.length;
    if (this.queued >= QUEUE_HIGH) this.src.pause();
    this.pump();
  }

  /** The source sent its FIN: pass it on once everything before it went. */
  end(): void {
    this.srcEnded = true;
    if (this.conn.mode() === "blackhole") {
      this.conn.lost = true;
      return;
    }
    this.pump();
  }

  /** FIN now from the relay's own initiative; later data this way is dropped. */
  halfClose(): void {
    if (this.finished) return;
    this.finished = true;
    this.conn.dropped(this.dir, this.queued);
    this.queue = [];
    this.queued = 0;
    if (!this.dst.destroyed) this.dst.end();
  }

  /** Passing again after a blackhole: send a FIN swallowed meanwhile. */
  resume(): void {
    if (!this.src.destroyed && !this.blocked && this.queued < QUEUE_HIGH) this.src.resume();
    this.pump();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private pump(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.conn.mode() === "blackhole" || this.dst.destroyed) return;
    const rate = this.conn.relay.shaping.bandwidth[this.dir];
    while (this.queue.length && !this.blocked) {
      const now = performance.now();
      const head = this.queue[0]!;
      const at = Math.max(head.due, rate === undefined ? 0 : this.freeAt);
      if (at > now + 0.5) {
        this.timer = setTimeout(() => this.pump(), Math.max(1, Math.ceil(at - now)));
        break;
      }
      let piece = head.chunk;
      if (rate !== undefined) {
        const slice = Math.max(1, Math.floor((rate * SLICE_MS) / 1000));
        if (piece.length > slice) {
          head.chunk = piece.subarray(slice);
          piece = piece.subarray(0, slice);
        } else this.queue.shift();
        this.freeAt = Math.max(now, this.freeAt) + (piece.length * 1000) / rate;
      } else this.queue.shift();
      this.queued -= piece.length;
      this.conn.forwarded(this.dir, piece.length);
      if (!this.dst.write(piece)) this.blocked = true;
    }
    if (!this.blocked && this.queued < QUEUE_HIGH && !this.src.destroyed && this.conn.mode() !== "blackhole") this.src.resume();
    if (this.queue.length === 0 && this.srcEnded && !this.finished) {
      this.finished = true;
      if (!this.dst.destroyed) this.dst.end();
    }
  }
}

class Conn implements RelayConnection {
  readonly openedAt = performance.now();
  closedAt: number | undefined;
  bytesUp = 0;
  bytesDown = 0;
  droppedUp = 0;
  droppedDown = 0;
  override: RelayMode | undefined;
  /** Something was dropped or swallowed: the connection cannot simply carry on. */
  lost = false;
  private up: net.Socket | undefined;
  private pipes: Record<Direction, Pipe> | undefined;

  constructor(
    readonly id: number,
    readonly relay: Relay,
    private readonly down: net.Socket,
  ) {
    down.on("error", () => {});
    down.on("close", (hadError) => this.sideClosed("down", hadError));
    if (this.mode() === "reset") {
      this.reset();
      return;
    }
    // Held (unread, not yet dialed) while blackholed; dialed when passing.
    down.pause();
    if (this.mode() === "pass") this.dial();
  }

  mode(): RelayMode {
    return this.override ?? this.relay.currentMode;
  }

  get closed(): boolean {
    return this.down.destroyed && (this.up === undefined || this.up.destroyed);
  }

  set(mode: RelayMode | undefined): void {
    const before = this.mode();
    this.override = mode;
    this.modeChanged(before);
  }

  /** Called after the relay's or this connection's mode changed. */
  modeChanged(before: RelayMode): void {
    const now = this.mode();
    if (now === before || this.closedAt !== undefined) return;
    if (now === "reset") return this.reset();
    if (now === "pass") {
      if (!this.up) return this.dial();
      if (this.lost) return this.reset();
      this.pipes?.up.resume();
      this.pipes?.down.resume();
    }
    // → blackhole: pipes check the mode on every chunk; nothing else to do.
  }

  halfClose(dir: Direction): void {
    this.pipes?.[dir].halfClose();
  }

  reset(): void {
    resetSocket(this.down);
    if (this.up) resetSocket(this.up);
    this.markClosed();
  }

  dropped(dir: Direction, n: number): void {
    if (n === 0) return;
    this.lost = true;
    if (dir === "up") this.droppedUp += n;
    else this.droppedDown += n;
    this.relay.changed.notify();
  }

  forwarded(dir: Direction, n: number): void {
    if (dir === "up") this.bytesUp += n;
    else this.bytesDown += n;
    this.relay.changed.notify();
  }

  private dial(): void {
    if (this.down.destroyed) return this.markClosed();
    const up = net.connect({ ...this.relay.target, allowHalfOpen: true });
    this.up = up;
    up.setNoDelay(true);
    up.on("error", () => {});
    up.on("close", (hadError) => this.sideClosed("up", hadError));
    const pipes = { up: new Pipe(this, "up", this.down, up), down: new Pipe(this, "down", up, this.down) };
    this.pipes = pipes;
    this.down.on("data", (c: Buffer) => pipes.up.data(c));
    this.down.on("end", () => pipes.up.end());
    up.on("data", (c: Buffer) => pipes.down.data(c));
    up.on("end", () => pipes.down.end());
    this.down.resume();
  }

  /**
   * One side's socket is gone. Passing: a reset travels on as a reset; a clean close (both
   * FINs done, or the side went away after its FIN) lets the other side finish its queue.
   * Blackholed: nothing travels.
   */
  private sideClosed(side: "down" | "up", hadError: boolean): void {
    const other = side === "down" ? this.up : this.down;
    if (this.mode() !== "pass") {
      this.lost = true;
      if (this.mode() === "reset" && other) resetSocket(other);
    } else if (other && !other.destroyed) {
      if (hadError) resetSocket(other);
      else {
        // Whatever still comes from the other side has nowhere to go.
        const toOther = side === "down" ? this.pipes?.up : this.pipes?.down;
        if (!toOther || toOther.finished) other.destroy();
        else other.once("finish", () => other.destroy());
      }
    }
    if (this.closed) this.markClosed();
    this.relay.changed.notify();
  }

  private markClosed(): void {
    if (this.closedAt !== undefined) return;
    this.closedAt = performance.now();
    this.pipes?.up.stop();
    this.pipes?.down.stop();
    this.relay.changed.notify();
  }
}

function resetSocket(s: net.Socket): void {
  if (s.destroyed) return;
  try {
    s.resetAndDestroy();
  } catch {
    s.destroy();
  }
}

class Relay implements FaultRelay {
  port = 0;
  currentMode: RelayMode;
  target: { host: string; port: number };
  readonly shaping: Shaping = { latencyMs: 0, bandwidth: { up: undefined, down: undefined } };
  readonly connections: Conn[] = [];
  readonly changed = new Condition();
  readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private stopped = false;

  constructor(opts: FaultRelayOptions) {
    this.currentMode = opts.mode ?? "pass";
    this.target = typeof opts.target === "number" ? { host: "127.0.0.1", port: opts.target } : opts.target;
    this.server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (down) => {
      this.sockets.add(down);
      down.on("close", () => this.sockets.delete(down));
      down.setNoDelay(true);
      this.connections.push(new Conn(this.connections.length, this, down));
      this.changed.notify();
    });
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  get uri(): string {
    return `tcp://127.0.0.1:${this.port}`;
  }

  mode(): RelayMode {
    return this.currentMode;
  }

  set(mode: RelayMode): void {
    const before = new Map(this.connections.map((c) => [c, c.mode()]));
    this.currentMode = mode;
    for (const c of this.connections) c.modeChanged(before.get(c)!);
    this.changed.notify();
  }

  pass(): void {
    this.set("pass");
  }

  blackhole(): void {
    this.set("blackhole");
  }

  reset(): void {
    this.set("reset");
  }

  resetAll(): void {
    for (const c of this.connections) if (c.closedAt === undefined) c.reset();
  }

  setLatency(ms: number): void {
    this.shaping.latencyMs = Math.max(0, ms);
  }

  setBandwidth(bytesPerSecond: number | undefined, dir: Direction | "both" = "both"): void {
    if (bytesPerSecond !== undefined && !(bytesPerSecond > 0)) throw new Error("bandwidth must be positive bytes/s");
    if (dir !== "down") this.shaping.bandwidth.up = bytesPerSecond;
    if (dir !== "up") this.shaping.bandwidth.down = bytesPerSecond;
  }

  halfClose(dir: Direction): void {
    for (const c of this.open()) c.halfClose(dir);
  }

  setTarget(target: number | { host: string; port: number }): void {
    this.target = typeof target === "number" ? { host: "127.0.0.1", port: target } : target;
  }

  open(): Conn[] {
    return this.connections.filter((c) => c.closedAt === undefined);
  }

  stats(): RelayStats {
    let bytesUp = 0;
    let bytesDown = 0;
    let droppedUp = 0;
    let droppedDown = 0;
    for (const c of this.connections) {
      bytesUp += c.bytesUp;
      bytesDown += c.bytesDown;
      droppedUp += c.droppedUp;
      droppedDown += c.droppedDown;
    }
    return { accepted: this.connections.length, open: this.open().length, bytesUp, bytesDown, droppedUp, droppedDown };
  }

  waitFor<T>(check: (relay: FaultRelay) => T | undefined | false, ms: number, what: string): Promise<T> {
    return this.changed.wait(() => check(this), ms, what);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const c of this.connections) if (c.closedAt === undefined) c.reset();
    await closeServer(this.server, this.sockets);
  }
}

export async function startFaultRelay(cleanup: Cleanup, opts: FaultRelayOptions): Promise<FaultRelay> {
  const relay = new Relay(opts);
  relay.port = await listen(relay.server);
  cleanup.add(`fault relay ${opts.name ?? relay.port}`, () => relay.stop());
  return relay;
}
