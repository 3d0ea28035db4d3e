import { randomBytes } from "node:crypto";
import net from "node:net";

/**
 * Load generators. Each is bounded in count and in time: every wait has a timeout and the
 * whole run a deadline, after which it gives up and reports what it saw (ok: false).
 */

export interface Addr {
  readonly host: string;
  readonly port: number;
}

const now = (): bigint => process.hrtime.bigint();
const usSince = (t0: bigint): number => Number(now() - t0) / 1000;
/** CLOCK_MONOTONIC in ms, the clock `perf record -k CLOCK_MONOTONIC` stamps events with. */
const monotonicMs = (t: bigint): number => Number(t) / 1e6;

/** Each measurement as it is taken: when it started (monotonic ms) and how long it took (µs). */
export type SampleLog = (startMs: number, us: number) => void;

export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const a = Float64Array.from(values).sort();
  const i = Math.min(a.length - 1, Math.max(0, Math.ceil((p / 100) * a.length) - 1));
  return Math.round(a[i]! * 10) / 10;
}

function timeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(new Error(`${what}: timeout after ${ms} ms`)), ms);
    }),
  ]);
}

export function connect(addr: Addr, timeoutMs = 10_000): Promise<net.Socket> {
  return timeout(
    new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host: addr.host, port: addr.port });
      s.setNoDelay(true);
      s.once("connect", () => {
        s.off("error", reject);
        resolve(s);
      });
      s.once("error", reject);
    }),
    timeoutMs,
    "connect",
  );
}

/** Collects what a socket receives; `take(n)` resolves with exactly the next n bytes. */
class Reader {
  private buf: Buffer[] = [];
  private have = 0;
  private wake: (() => void) | undefined;
  private failed: Error | undefined;
  private eof = false;

  constructor(s: net.Socket) {
    s.on("data", (d: Buffer) => {
      this.buf.push(d);
      this.have += d.length;
      this.wake?.();
    });
    s.on("error", (e) => {
      this.failed = e;
      this.wake?.();
    });
    s.on("close", () => {
      this.eof = true;
      this.wake?.();
    });
  }

  async take(n: number, timeoutMs: number): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.have < n) {
      if (this.failed) throw this.failed;
      if (this.eof) throw new Error(`closed after ${this.have}/${n} bytes`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`read timeout (${this.have}/${n} bytes)`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          this.wake = undefined;
          resolve();
        };
      });
    }
    const all = this.buf.length === 1 ? this.buf[0]! : Buffer.concat(this.buf);
    const out = all.subarray(0, n);
    const restBuf = all.subarray(n);
    this.buf = restBuf.length ? [restBuf] : [];
    this.have = restBuf.length;
    return out;
  }
}

function closeQuietly(s: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    if (s.destroyed) return resolve();
    const t = setTimeout(() => {
      s.destroy();
      resolve();
    }, 5000);
    s.once("close", () => {
      clearTimeout(t);
      resolve();
    });
    s.on("error", () => {});
    s.end();
  });
}

// ---- (a) bulk ----------------------------------------------------------------------------------

export interface BulkResult {
  readonly ok: boolean;
  readonly bytes: number;
  readonly ms: number;
  readonly mb_per_s: number;
  readonly error?: string;
}

const CHUNK = randomBytes(1 << 20);

/** up: N bytes client -> backend, timed until the backend confirms it has all of them. down: the reverse. */
export function bulk(addr: Addr, bytes: number, dir: "up" | "down", deadlineMs: number): Promise<BulkResult> {
  return timedTransfer(addr, bytes, async (sock) => {
    const header = Buffer.alloc(9);
    header[0] = dir === "up" ? 0x55 : 0x44; // 'U' / 'D'
    header.writeBigUInt64BE(BigInt(bytes), 1);
    // Up: the backend's one byte says it has them all.
    const got = dir === "up" ? new Reader(sock).take(1, deadlineMs) : received(sock, bytes);
    sock.write(header);
    if (dir === "up") await sendBytes(sock, bytes, deadlineMs);
    await timeout<unknown>(got, deadlineMs, "bulk");
  });
}

/** N bytes through an echo backend, both ways at once: timed until the last one is back. */
export function echoBulk(addr: Addr, bytes: number, deadlineMs: number): Promise<BulkResult> {
  return timedTransfer(addr, bytes, async (sock) => {
    const back = received(sock, bytes);
    await Promise.all([sendBytes(sock, bytes, deadlineMs), timeout(back, deadlineMs, "echo bulk")]);
  });
}

/** One connection moving `bytes`, timed from the connect to the end of `move`. */
async function timedTransfer(addr: Addr, bytes: number, move: (sock: net.Socket) => Promise<unknown>): Promise<BulkResult> {
  const t0 = now();
  let s: net.Socket | undefined;
  try {
    s = await connect(addr);
    await move(s);
    const ms = usSince(t0) / 1000;
    return { ok: true, bytes, ms: Math.round(ms), mb_per_s: Math.round(bytes / 1e3 / ms) };
  } catch (e) {
    return { ok: false, bytes, ms: Math.round(usSince(t0) / 1000), mb_per_s: 0, error: (e as Error).message };
  } finally {
    if (s) await closeQuietly(s);
  }
}

/** Resolves once `bytes` bytes have arrived on `sock`; rejects if it closes or fails first. */
function received(sock: net.Socket, bytes: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let n = 0;
    sock.on("data", (d: Buffer) => {
      n += d.length;
      if (n >= bytes) resolve(n);
    });
    sock.on("error", reject);
    sock.on("close", () => (n >= bytes ? resolve(n) : reject(new Error(`closed after ${n}/${bytes} bytes`))));
  });
}

/** Writes `bytes` bytes of CHUNK to `sock`, waiting for 'drain' whenever it asks to. */
async function sendBytes(sock: net.Socket, bytes: number, deadlineMs: number): Promise<void> {
  let left = bytes;
  while (left > 0) {
    const chunk = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
    left -= chunk.length;
    if (!sock.write(chunk)) {
      await timeout(
        new Promise<void>((resolve, reject) => {
          const closed = (): void => reject(new Error("closed while sending"));
          sock.once("close", closed);
          sock.once("drain", () => {
            sock.off("close", closed);
            resolve();
          });
        }),
        deadlineMs,
        "send",
      );
    }
  }
}

// ---- (b) round trip -----------------------------------------------------------------------------

export interface LatencyStats {
  readonly p50_us?: number;
  readonly p90_us?: number;
  readonly p99_us?: number;
  readonly p999_us?: number;
  readonly max_us?: number;
}

export interface LatencyResult extends LatencyStats {
  readonly ok: boolean;
  readonly count: number;
  /** The first quarter of the measured round trips, while the tunnel's processes still optimise their code. */
  readonly cold?: LatencyStats;
  /** The other three quarters. */
  readonly warm?: LatencyStats;
  readonly error?: string;
}

/** Ping-pong of `size` bytes on one connection: `warmup` unrecorded, then `count` recorded. */
export async function rtt(
  addr: Addr,
  count: number,
  size: number,
  warmup: number,
  deadlineMs: number,
  record?: SampleLog,
): Promise<LatencyResult> {
  const deadline = Date.now() + deadlineMs;
  const samples: number[] = [];
  let s: net.Socket | undefined;
  try {
    s = await connect(addr);
    const reader = new Reader(s);
    const msg = randomBytes(size);
    for (let i = 0; i < warmup + count; i++) {
      if (Date.now() > deadline) throw new Error(`deadline after ${i} echoes`);
      msg.writeUInt32BE(i, 0);
      const t0 = now();
      s.write(msg);
      const back = await reader.take(size, 10_000);
      const us = usSince(t0);
      if (!back.equals(msg)) throw new Error(`echo ${i} corrupted`);
      if (i >= warmup) {
        samples.push(us);
        record?.(monotonicMs(t0), us);
      }
    }
    return { ok: true, count, ...latencyStats(samples), ...coldAndWarm(samples) };
  } catch (e) {
    return { ok: false, count: samples.length, ...latencyStats(samples), error: (e as Error).message };
  } finally {
    if (s) await closeQuietly(s);
  }
}

/**
 * A fresh tunnel's first thousands of round trips meet V8 optimising the processes' code on
 * its worker threads (2–11 ms of a CPU per function, docs/performance.md, "What the RTT p99
 * is"); the quarters are reported apart so that a cold tail is not read as a steady one.
 */
function coldAndWarm(samples: readonly number[]): Pick<LatencyResult, "cold" | "warm"> {
  const quarter = Math.floor(samples.length / 4);
  return { cold: latencyStats(samples.slice(0, quarter)), warm: latencyStats(samples.slice(quarter)) };
}

function latencyStats(samples: readonly number[]): LatencyStats {
  return {
    p50_us: percentile(samples, 50),
    p90_us: percentile(samples, 90),
    p99_us: percentile(samples, 99),
    p999_us: percentile(samples, 99.9),
    max_us: percentile(samples, 100),
  };
}

// ---- (c) new sessions ---------------------------------------------------------------------------

/**
 * Connect, send 64 B, get them back: the time to first byte of a new session. Returns the socket
 * (open), that latency, and when the session started (monotonic ms, for --samples).
 */
async function oneSession(addr: Addr, timeoutMs: number): Promise<{ socket: net.Socket; us: number; startMs: number }> {
  const t0 = now();
  const s = await connect(addr, timeoutMs);
  try {
    const reader = new Reader(s);
    const msg = randomBytes(64);
    s.write(msg);
    const back = await reader.take(64, timeoutMs);
    const us = usSince(t0);
    if (!back.equals(msg)) throw new Error("echo corrupted");
    return { socket: s, us, startMs: monotonicMs(t0) };
  } catch (e) {
    s.destroy();
    throw e;
  }
}

export interface SessionsResult {
  readonly ok: boolean;
  readonly count: number;
  readonly succeeded: number;
  readonly total_ms: number;
  readonly per_s: number;
  readonly p50_us?: number;
  readonly p99_us?: number;
  readonly max_us?: number;
  readonly first_error?: string;
}

/**
 * `count` sessions one after another; each is closed (FIN) as soon as its echo is back.
 * Back to back (`gapMs` 0), the next starts at once, while the tunnel still ends the last: on
 * a machine with fewer cores than processes that measures CPU per session as much as latency.
 * With `gapMs`, the next starts that long after the last has closed: one new connection
 * against an idle tunnel, its latency alone.
 */
export async function sequential(addr: Addr, count: number, deadlineMs: number, gapMs = 0, record?: SampleLog): Promise<SessionsResult> {
  const deadline = Date.now() + deadlineMs;
  const t0 = now();
  const samples: number[] = [];
  const closing: Promise<void>[] = [];
  let firstError: string | undefined;
  for (let i = 0; i < count && Date.now() < deadline; i++) {
    try {
      const { socket, us, startMs } = await oneSession(addr, 10_000);
      samples.push(us);
      record?.(startMs, us);
      closing.push(closeQuietly(socket));
    } catch (e) {
      firstError ??= (e as Error).message;
    }
    if (gapMs > 0) {
      await closing.at(-1);
      await new Promise((r) => setTimeout(r, gapMs));
    }
  }
  const totalMs = usSince(t0) / 1000;
  await Promise.all(closing);
  return sessionsResult(count, samples, totalMs, firstError);
}

/** `count` sessions all at once; all are held until the last echo is back (or failed). */
export async function concurrent(addr: Addr, count: number, deadlineMs: number): Promise<SessionsResult> {
  const t0 = now();
  const samples: number[] = [];
  const sockets: net.Socket[] = [];
  let firstError: string | undefined;
  await Promise.all(
    Array.from({ length: count }, async () => {
      try {
        const { socket, us } = await oneSession(addr, Math.min(deadlineMs, 30_000));
        samples.push(us);
        sockets.push(socket);
      } catch (e) {
        firstError ??= (e as Error).message;
      }
    }),
  );
  const totalMs = usSince(t0) / 1000;
  await Promise.all(sockets.map(closeQuietly));
  return sessionsResult(count, samples, totalMs, firstError);
}

function sessionsResult(count: number, samples: number[], totalMs: number, firstError: string | undefined): SessionsResult {
  return {
    ok: samples.length === count,
    count,
    succeeded: samples.length,
    total_ms: Math.round(totalMs),
    per_s: Math.round(samples.length / (totalMs / 1000)),
    p50_us: percentile(samples, 50),
    p99_us: percentile(samples, 99),
    max_us: percentile(samples, 100),
    ...(firstError ? { first_error: firstError } : {}),
  };
}

// ---- (d) idle sessions --------------------------------------------------------------------------

export interface HoldResult {
  readonly ok: boolean;
  readonly count: number;
  readonly held: number;
  readonly open_ms: number;
  readonly first_error?: string;
}

/**
 * Open `count` sessions, at most `inFlight` being set up at a time, each confirmed by one
 * 64 B echo; then call `whileHeld` (the memory sample) and close them all.
 */
export async function hold(
  addr: Addr,
  count: number,
  inFlight: number,
  deadlineMs: number,
  whileHeld: () => Promise<void>,
): Promise<HoldResult> {
  const deadline = Date.now() + deadlineMs;
  const t0 = now();
  const sockets: net.Socket[] = [];
  let next = 0;
  let firstError: string | undefined;
  const worker = async (): Promise<void> => {
    while (next < count && Date.now() < deadline) {
      next++;
      try {
        sockets.push((await oneSession(addr, 30_000)).socket);
      } catch (e) {
        firstError ??= (e as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, worker));
  const openMs = usSince(t0) / 1000;
  let held = 0;
  try {
    await whileHeld();
    // Only sessions still open after the sample count (a tunnel may drop idle ones).
    held = sockets.filter((s) => !s.destroyed && !s.readableEnded).length;
  } finally {
    await Promise.all(sockets.map(closeQuietly));
  }
  return { ok: held === count, count, held, open_ms: Math.round(openMs), ...(firstError ? { first_error: firstError } : {}) };
}
