import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import net from "node:net";
import { join } from "node:path";
import WebSocket from "ws";
import { SallyportStream, type CloseInfo } from "../../client/stream.ts";
import { CLIENT_SUBPROTOCOLS } from "../../shared/protocol/constants.ts";
import { type Backend, echoBackend, serve, sha256 } from "./backends.ts";
import { offered, versionOf } from "../../shared/protocol/negotiate.ts";
import type { Cleanup } from "./cleanup.ts";
import { startConnector, type TestConnector } from "./connector.ts";
import { startEdge, type TestEdge } from "./edge.ts";
import { randomToken, tempDir } from "./files.ts";
import { listen } from "./net.ts";
import { msgIs, spawnNode, type LogLine, type Proc } from "./processes.ts";
import { Condition, within } from "./wait.ts";

/**
 * What the fault and cluster tests share on top of the e2e toolkit: an edge with one
 * service, connectors with per-test settings (heartbeat, recovery, identity, drain) through a
 * JSON --config file, backends that behave badly on purpose, and clients that check every
 * byte (count and SHA-256) and classify how their session ended.
 */

export const SERVICE = "svc";
export const ACCEPT = "ws://127.0.0.1/svc";

export interface FaultEdge extends TestEdge {
  readonly token: string;
  readonly url: string;
}

/** The real edge with one service at ACCEPT and one connector token. */
export async function startFaultEdge(
  cleanup: Cleanup,
  settings: Record<string, string> = {},
  opts: { port?: number; token?: string } = {},
): Promise<FaultEdge> {
  const token = opts.token ?? randomToken();
  const edge = await startEdge(cleanup, {
    services: { [SERVICE]: { accept: ACCEPT, "socks.timeout": "2 seconds", ...settings } },
    tokens: { [SERVICE]: [token] },
    ...(opts.port ? { port: opts.port } : {}),
  });
  return { ...edge, token, url: edge.clientUrl("/svc") };
}

export interface NodeOptions {
  /** ws://… the connector dials (the edge, or a relay in front of it). */
  readonly edge: string;
  readonly token: string;
  /** tcp://… of the backend (or a relay in front of it). */
  readonly connect: string;
  readonly id: string;
  readonly prepared?: number;
  readonly retryMax?: string;
  /** Per-service settings for the --config file, e.g. {"heartbeat.interval": "500 milliseconds"}. */
  readonly settings?: Record<string, string | number>;
  readonly drainTimeout?: string;
  readonly logLevel?: "debug" | "info" | "warn" | "error";
}

export interface FaultConnector extends TestConnector {
  readonly id: string;
  /** Resolves once its pool registered with the edge. */
  registered(ms?: number): Promise<LogLine>;
}

/** A connector process; flags name the service, a --config file carries what flags cannot. */
export async function startNode(cleanup: Cleanup, o: NodeOptions): Promise<FaultConnector> {
  const dir = await tempDir(cleanup);
  const config = join(dir, "connector.json");
  await writeFile(config, JSON.stringify({ services: [{ ...(o.settings ?? {}) }] }), { mode: 0o600 });
  const extraArgs = ["--config", config, "--connector-id", o.id];
  if (o.drainTimeout) extraArgs.push("--drain-timeout", o.drainTimeout);
  const c = await startConnector(cleanup, {
    edge: o.edge,
    accept: ACCEPT,
    connect: o.connect,
    token: o.token,
    prepared: o.prepared ?? 4,
    retryMax: o.retryMax ?? "1 second",
    logLevel: o.logLevel ?? "info",
    extraArgs,
    name: `connector ${o.id}`,
  });
  return { ...c, id: o.id, registered: (ms = 20_000) => c.proc.waitForLog(msgIs("registered with the edge"), ms, "registration") };
}

/** Lines `proc` logged from line index `from` on whose msg is `msg` (and whose fields include `fields`). */
export function logsSince(proc: Proc, from: number, msg: string, fields: Record<string, unknown> = {}): LogLine[] {
  return proc.lines.slice(from).filter(msgIs(msg, fields));
}

/** Resident set size of a process, from /proc (Linux). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
  if (!kb) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kb) * 1024;
}

// ---- backends ----

/** Echo backend that first says which connector's backend it is: `tag` + "\n", then echoes. */
export function taggedEcho(cleanup: Cleanup, tag: string): Promise<Backend> {
  return echoBackend(cleanup, `${tag}\n`);
}

export interface HalfCloseRecord {
  received: number;
  sha256: string | undefined;
  /** The backend saw the client's FIN. */
  ended: boolean;
}

/**
 * Half-close backends (the chisel test). "reply-after-eof": reads to EOF, then sends
 * `reply` and FINs. "fin-first": sends `reply` and FINs at once, then reads to EOF.
 * Either records what it received.
 */
export async function halfCloseBackend(cleanup: Cleanup, kind: "reply-after-eof" | "fin-first", reply: Buffer) {
  const records: HalfCloseRecord[] = [];
  const changed = new Condition();
  const { server } = serve(`half-close backend ${kind}`, cleanup, (s) => {
    const rec: HalfCloseRecord = { received: 0, sha256: undefined, ended: false };
    records.push(rec);
    const hash = createHash("sha256");
    if (kind === "fin-first") s.end(reply);
    s.on("data", (d: Buffer) => {
      rec.received += d.length;
      hash.update(d);
      changed.notify();
    });
    s.on("end", () => {
      rec.ended = true;
      rec.sha256 = hash.digest("hex");
      if (kind === "reply-after-eof") s.end(reply);
      changed.notify();
    });
  });
  const port = await listen(server);
  return {
    port,
    uri: `tcp://127.0.0.1:${port}`,
    records,
    waitForEof: (i: number, ms: number) => changed.wait(() => records[i]?.ended && records[i], ms, `backend EOF on connection ${i}`),
  };
}

export interface SinkRecord {
  received: number;
  /** How the connection from the connector ended: "fin" (a complete stream), "reset", or still open. */
  ended: "fin" | "reset" | undefined;
}

/** Reads and counts; records whether the stream ended with a FIN or a reset. Sends `greeting` first, if any. */
export async function recordingSink(cleanup: Cleanup, greeting?: Buffer) {
  const records: SinkRecord[] = [];
  const changed = new Condition();
  const { server } = serve("recording sink", cleanup, (s) => {
    const rec: SinkRecord = { received: 0, ended: undefined };
    records.push(rec);
    if (greeting) s.write(greeting);
    const ended = (how: "fin" | "reset"): void => {
      rec.ended ??= how;
      changed.notify();
    };
    s.on("data", (d: Buffer) => {
      rec.received += d.length;
      changed.notify();
    });
    s.on("end", () => ended("fin"));
    s.on("error", () => ended("reset"));
    s.on("close", () => ended("reset"));
    changed.notify();
  });
  const port = await listen(server);
  return {
    port,
    uri: `tcp://127.0.0.1:${port}`,
    records,
    wait: <T>(check: () => T | undefined | false, ms: number, what: string) => changed.wait(check, ms, what),
  };
}

/**
 * A backend that sends `total` random bytes as fast as its socket accepts them — writing only
 * while write() says so — and hashes what it sent. `handed` is what it has given its socket:
 * what the connector read from it plus what the kernel buffers between them.
 */
export async function pushSource(cleanup: Cleanup, total: number) {
  const state = { handed: 0, lastWriteAt: 0, done: false, sha256: "" };
  const changed = new Condition();
  const { server } = serve("push source", cleanup, (s) => {
    const hash = createHash("sha256");
    const CHUNK = 64 * 1024;
    const pump = (): void => {
      while (state.handed < total) {
        const chunk = randomBytes(Math.min(CHUNK, total - state.handed));
        hash.update(chunk);
        state.handed += chunk.length;
        state.lastWriteAt = performance.now();
        if (!s.write(chunk)) {
          s.once("drain", pump);
          changed.notify();
          return;
        }
      }
      state.sha256 = hash.digest("hex");
      state.done = true;
      s.end();
      changed.notify();
    };
    pump();
  });
  const port = await listen(server);
  return {
    port,
    uri: `tcp://127.0.0.1:${port}`,
    state,
    wait: <T>(check: () => T | undefined | false, ms: number, what: string) => changed.wait(check, ms, what),
  };
}

/**
 * A backend whose SYNs go unanswered: a listener (backlog 1) in a stopped process, its accept
 * queue filled, so a dial to it neither connects nor is refused — it times out.
 */
export async function blackholeBackend(cleanup: Cleanup): Promise<{ port: number; uri: string }> {
  const code = [
    "const s=require('net').createServer();",
    "s.listen({port:0,host:'127.0.0.1',backlog:1},()=>{console.log(s.address().port);process.kill(process.pid,'SIGSTOP')})",
  ].join("");
  const proc = spawnNode(["-e", code], { name: "blackhole backend", cleanup });
  const line = await proc.waitForLog((l) => /^\d+$/.test(l.raw), 10_000, "the blackhole listener's port");
  const port = Number(line.raw);
  // Fill the accept queue (backlog + 1); later SYNs are dropped.
  const fillers: net.Socket[] = [];
  cleanup.add("blackhole fillers", () => {
    for (const f of fillers) f.destroy();
  });
  for (;;) {
    const f = net.connect({ host: "127.0.0.1", port });
    f.on("error", () => {});
    fillers.push(f);
    const connected = await within(new Promise<boolean>((r) => f.once("connect", () => r(true))), 300, "filler").catch(() => false);
    if (!connected) break;
    if (fillers.length > 16) throw new Error("the stopped listener keeps accepting");
  }
  return { port, uri: `tcp://127.0.0.1:${port}` };
}

// ---- clients ----

/**
 * How long a client waits, after the close handshake, for the server to close TCP (ws's
 * closeTimeout, 30 s by default). Local workerd keeps a client's connection open ~10 s after
 * a close the edge started from anywhere but that client's own message handler (socks.timeout,
 * the bind's end); the close frame itself, which is the outcome, arrives at once.
 */
export const CLOSE_TIMEOUT_MS = 500;

/** Options of every test client: no compression, bounded handshake, CLOSE_TIMEOUT_MS (not in @types/ws). */
export const CLIENT_OPTIONS: WebSocket.ClientOptions = {
  perMessageDeflate: false,
  handshakeTimeout: 10_000,
  ...{ closeTimeout: CLOSE_TIMEOUT_MS },
};

/**
 * How a client session ended. "closed" covers socket errors too (ws follows every error — a
 * reset, a refused handshake — with a close, 1006 when no close frame came); "error" is the
 * test's own verdict: it hung, or the echo did not match. `ms` is from start to the close
 * frame (or to the verdict).
 */
export type Outcome =
  | { kind: "ok"; ms: number }
  | { kind: "closed"; code: number; reason: string; ms: number; received: number }
  | { kind: "error"; detail: string; ms: number };

/**
 * One plain WebSocket session: connects, sends `payload` in `chunk`-byte messages, and waits
 * for the same bytes back (an echo backend), then closes with 1000. Ok only when count and
 * SHA-256 match; a close first is reported with its code. `skipLine` drops a first line (a
 * tagged backend's name, handed to `onTag`); `paceMs` waits between messages.
 */
export function echoSession(
  url: string,
  payload: Buffer,
  opts: { chunk?: number; timeoutMs?: number; skipLine?: boolean; onTag?: (tag: string) => void; paceMs?: number } = {},
): Promise<Outcome> {
  const started = performance.now();
  const ms = (): number => Math.round(performance.now() - started);
  return new Promise((resolve) => {
    const ws = new WebSocket(url, CLIENT_OPTIONS);
    const hash = createHash("sha256");
    let received = 0;
    let preamble = opts.skipLine ? Buffer.alloc(0) : undefined;
    let settled = false;
    let closeFrameAt: number | undefined;
    const settle = (o: Outcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(o);
    };
    const timer = setTimeout(() => {
      settle({ kind: "error", detail: `hung: ${received}/${payload.length} bytes after ${opts.timeoutMs ?? 30_000} ms`, ms: ms() });
      ws.terminate();
    }, opts.timeoutMs ?? 30_000);
    ws.on("open", async () => {
      // The close frame's arrival is the outcome's time (the 'close' event waits for TCP).
      (ws as unknown as { _receiver?: NodeJS.EventEmitter })._receiver?.on("conclude", () => (closeFrameAt ??= ms()));
      const chunk = opts.chunk ?? 16 * 1024;
      for (let off = 0; off < payload.length; off += chunk) {
        if (ws.readyState !== WebSocket.OPEN) return;
        ws.send(payload.subarray(off, off + chunk));
        if (opts.paceMs) await new Promise((r) => setTimeout(r, opts.paceMs));
        else if (ws.bufferedAmount > 1024 * 1024) await new Promise((r) => setTimeout(r, 5));
      }
    });
    ws.on("message", (d: Buffer) => {
      if (preamble !== undefined) {
        preamble = Buffer.concat([preamble, d]);
        const nl = preamble.indexOf(0x0a);
        if (nl < 0) return;
        opts.onTag?.(preamble.subarray(0, nl).toString());
        d = preamble.subarray(nl + 1);
        preamble = undefined;
      }
      received += d.length;
      hash.update(d);
      if (received >= payload.length) {
        const ok = received === payload.length && hash.digest("hex") === sha256(payload);
        if (ok) {
          ws.close(1000);
          settle({ kind: "ok", ms: ms() });
        } else settle({ kind: "error", detail: `echo mismatch (${received} bytes)`, ms: ms() });
      }
    });
    // An error (reset, failed handshake) is always followed by a close (1006): that is the outcome.
    ws.on("close", (code, reason) => settle({ kind: "closed", code, reason: reason.toString(), ms: closeFrameAt ?? ms(), received }));
    ws.on("error", () => {});
  });
}

// One definition of the digest the tests compare, re-exported for the fault tests that import it from here.
export { sha256 };

/** A Sallyport-protocol client on `ws`: its SallyportStream, and its close. */
export interface ProtocolClient {
  readonly ws: WebSocket;
  readonly stream: SallyportStream;
  readonly received: Buffer[];
  readonly hash: ReturnType<typeof createHash>;
  closed(ms: number): Promise<CloseInfo>;
  ended(ms: number): Promise<true>;
  /** Waits until send() may go on (credit, socket buffer). */
  writable(ms: number): Promise<true>;
  bytes(): number;
  changed: Condition;
}

/** Opens a Sallyport client (offering the client subprotocol up to v2) and wraps it in client/stream.ts. */
export async function protocolClient(
  cleanup: Cleanup,
  url: string,
  opts: { autoConsume?: boolean; keep?: boolean } = {},
): Promise<ProtocolClient> {
  // No reconnect here: it offers no v3 (resume), as a client that cannot resume must not.
  const ws = new WebSocket(url, offered(CLIENT_SUBPROTOCOLS, 2), CLIENT_OPTIONS);
  cleanup.add("protocol client", () => ws.terminate());
  const changed = new Condition();
  const received: Buffer[] = [];
  const hash = createHash("sha256");
  let count = 0;
  /**
   * The stream takes the socket inside its open event, as client/dial.ts does: messages that
   * came in the same read as the handshake's response are emitted before a promise awaiting
   * 'open' resumes, and would be lost (on a loaded machine the first data arrives so).
   */
  const attach = (): SallyportStream => {
    if (!versionOf(ws.protocol, CLIENT_SUBPROTOCOLS)) throw new Error(`edge answered subprotocol "${ws.protocol}"`);
    const stream = new SallyportStream(ws as never, { autoConsume: opts.autoConsume ?? true });
    stream.onData = (chunk) => {
      count += chunk.byteLength;
      hash.update(chunk);
      if (opts.keep) received.push(Buffer.from(chunk));
      changed.notify();
    };
    stream.onEnd = () => changed.notify();
    stream.onClose = () => changed.notify();
    stream.onDrain = () => changed.notify();
    ws.on("message", () => changed.notify());
    return stream;
  };
  const stream = await within(
    new Promise<SallyportStream>((resolve, reject) => {
      ws.once("open", () => {
        try {
          resolve(attach());
        } catch (e) {
          reject(e);
        }
      });
      ws.once("error", reject);
      ws.once("close", (c) => reject(new Error(`closed ${c} before open`)));
    }),
    10_000,
    "a protocol client to open",
  );
  return {
    ws,
    stream,
    received,
    hash,
    changed,
    bytes: () => count,
    closed: (ms) => changed.wait(() => stream.closed, ms, "the protocol client to close"),
    ended: (ms) =>
      changed.wait(
        () => {
          if (stream.endReceived) return true as const;
          if (stream.closed) throw new Error(`closed (${stream.closed.description}) before end`);
          return undefined;
        },
        ms,
        "end from the backend",
      ),
    writable: (ms) =>
      changed.wait(
        () => {
          if (stream.closed) throw new Error(`closed (${stream.closed.description}) while sending`);
          return stream.writable() ? (true as const) : undefined;
        },
        ms,
        "credit to send",
      ),
  };
}

/** Sends all of `data` through a protocol client, honouring its credit. */
export async function sendAll(c: ProtocolClient, data: Buffer, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  const CHUNK = 64 * 1024;
  for (let off = 0; off < data.length; off += CHUNK) {
    if (!c.stream.send(data.subarray(off, off + CHUNK))) await c.writable(Math.max(1, deadline - performance.now()));
  }
  // Everything queued has gone to the socket.
  await c.changed.wait(() => c.stream.pendingBytes === 0 || undefined, Math.max(1, deadline - performance.now()), "queued data to go out");
}

export { randomBytes };
