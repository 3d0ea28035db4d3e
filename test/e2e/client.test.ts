import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import net from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { CLIENT_SUBPROTOCOLS, INITIAL_WINDOW_BYTES } from "../../shared/protocol/constants.ts";
import {
  Cleanup,
  Condition,
  closeServer,
  echoBackend,
  listen,
  loopbackHopBytes,
  msgIs,
  randomToken,
  since,
  spawnSallyport,
  startConnector,
  startConnectorWithConfig,
  startEdge,
  tempDir,
  within,
  writeSecretFile,
  type Backend,
  type LogLine,
  type Proc,
  type TestConnector,
  type TestEdge,
} from "../helpers/index.ts";

/**
 * `sallyport client`, the local TCP forwarder, as a user runs it: a child process between a
 * plain TCP program (net.connect) and the real edge (workerd) + real connector + TCP backend.
 */

const MiB = 1024 * 1024;
const accept = (name: string): string => `ws://sallyport.test/${name}`;
const LONELY_TIMEOUT_MS = 1000;
/**
 * What a stalled transfer can fill besides the flow-control window: two loopback hops' kernel
 * buffers (backend → connector, forwarder → local reader; see loopbackHopBytes) and a margin
 * for the reads each Node end has in flight.
 */
const KERNEL_SLACK = 2 * loopbackHopBytes() + MiB;
/** The firehose sends more than the window and the slack together, or a stall proves nothing. */
const FIREHOSE_BYTES = Math.ceil((INITIAL_WINDOW_BYTES + KERNEL_SLACK) / MiB) * MiB + 32 * MiB;

const tokens = Object.fromEntries(
  ["echo", "upload", "download", "firehose", "victim", "lonely", "late", "later", "standby"].map((n) => [n, randomToken()]),
);

const file = new Cleanup();
const perTest = new Cleanup();
afterEach(() => perTest.run());
afterAll(() => file.run());

let edge: TestEdge;
let connector: TestConnector;
let echo: Backend;
let standbyEcho: Backend;
let upload: { uri: string; results: Array<{ bytes: number; sha256: string }> };
let download: { uri: string; data: Buffer; sha256: string };
let firehose: Firehose;

// ---- backends ----

/** Reads until FIN, then answers with the byte count and SHA-256 of everything, and ends. */
async function uploadBackend(cleanup: Cleanup): Promise<typeof upload> {
  const results: Array<{ bytes: number; sha256: string }> = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => s.destroy());
    const hash = createHash("sha256");
    let bytes = 0;
    s.on("data", (c: Buffer) => {
      bytes += c.length;
      hash.update(c);
    });
    s.on("end", () => {
      const r = { bytes, sha256: hash.digest("hex") };
      results.push(r);
      s.end(`${r.bytes} ${r.sha256}\n`);
    });
  });
  const port = await listen(server);
  cleanup.add("upload backend", () => closeServer(server, sockets));
  return { uri: `tcp://127.0.0.1:${port}`, results };
}

/** Answers the first byte it receives with `size` random bytes, then FIN. */
async function downloadBackend(cleanup: Cleanup, size: number): Promise<typeof download> {
  const data = randomBytes(size);
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => s.destroy());
    s.once("data", () => s.end(data));
  });
  const port = await listen(server);
  cleanup.add("download backend", () => closeServer(server, sockets));
  return { uri: `tcp://127.0.0.1:${port}`, data, sha256: createHash("sha256").update(data).digest("hex") };
}

interface Firehose {
  readonly uri: string;
  readonly total: number;
  readonly sha256: string;
  /** Bytes the kernel has taken from the backend (write callbacks), per connection that asked. */
  flushed(): number;
  readonly changed: Condition;
}

/** On the first byte, sends `total` bytes with backpressure (write() false → wait for drain), then FIN. */
async function firehoseBackend(cleanup: Cleanup, total: number): Promise<Firehose> {
  const block = randomBytes(MiB);
  const blocks = total / MiB;
  const hash = createHash("sha256");
  for (let i = 0; i < blocks; i++) hash.update(tagged(block, i));
  const sha256 = hash.digest("hex");
  let flushed = 0;
  const changed = new Condition();
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => s.destroy());
    s.once("data", () => {
      let i = 0;
      const pump = (): void => {
        while (i < blocks) {
          const chunk = tagged(block, i++);
          const more = s.write(chunk, () => {
            flushed += chunk.length;
            changed.notify();
          });
          if (!more) return void s.once("drain", pump);
        }
        s.end();
      };
      pump();
    });
  });
  const port = await listen(server);
  cleanup.add("firehose backend", () => closeServer(server, sockets));
  return { uri: `tcp://127.0.0.1:${port}`, total, sha256, flushed: () => flushed, changed };
}

/** Block i: the random block with its index in the first 4 bytes (reordering would change the hash). */
function tagged(block: Buffer, i: number): Buffer {
  const b = Buffer.from(block);
  b.writeUInt32BE(i, 0);
  return b;
}

// ---- the client process and local connections ----

interface Client {
  readonly proc: Proc;
  readonly port: number;
}

async function startClient(cleanup: Cleanup, url: string, args: string[] = [], name = "client"): Promise<Client> {
  const proc = spawnSallyport(["client", "--url", url, "--listen", "127.0.0.1:0", "--log-level", "debug", ...args], { name, cleanup });
  const line = await proc.waitForLog(msgIs("listening"), 20_000, "the client to listen");
  const port = Number(String(line.json!.listen).split(":").pop());
  return { proc, port };
}

const preopened = (n: number) => (l: LogLine) => l.json?.msg === "pre-opened session open" && Number(l.json.idle) >= n;
/** A session joined the idle pool: newly opened, or kept after a connection finished on it. */
const joinedPool = (l: LogLine): boolean => l.json?.msg === "pre-opened session open" || l.json?.msg === "pre-opened session kept";

/** A plain TCP program's connection: everything it receives, and how it ended. */
class Local {
  readonly socket: net.Socket;
  readonly startedAt = performance.now();
  connectedAt: number | undefined;
  firstByteAt: number | undefined;
  chunks: Buffer[] = [];
  bytes = 0;
  readonly hash = createHash("sha256");
  ended = false;
  error: NodeJS.ErrnoException | undefined;
  closed = false;
  readonly changed = new Condition();

  constructor(port: number, opts: { keep?: boolean } = {}) {
    this.socket = net.connect({ port, host: "127.0.0.1", allowHalfOpen: true, noDelay: true });
    this.socket.on("connect", () => (this.connectedAt = performance.now()));
    this.socket.on("data", (c: Buffer) => {
      this.firstByteAt ??= performance.now();
      this.bytes += c.length;
      this.hash.update(c);
      if (opts.keep !== false) this.chunks.push(c);
      this.changed.notify();
    });
    this.socket.on("end", () => {
      this.ended = true;
      this.changed.notify();
    });
    this.socket.on("error", (e) => {
      this.error = e;
      this.changed.notify();
    });
    this.socket.on("close", () => {
      this.closed = true;
      this.changed.notify();
    });
  }

  text(): string {
    return Buffer.concat(this.chunks).toString("utf8");
  }

  waitFor(pred: () => boolean, ms: number, what: string): Promise<true> {
    return this.changed.wait(() => pred() || undefined, ms, what);
  }

  /** The clean end: all data, then EOF (FIN), no reset. */
  eof(ms: number): Promise<true> {
    return this.changed.wait(
      () => {
        if (this.error) throw new Error(`local connection failed: ${this.error.code ?? this.error.message}`);
        return this.ended || undefined;
      },
      ms,
      "EOF on the local connection",
    );
  }

  /** An abnormal end: a reset (ECONNRESET), never a clean EOF. */
  async reset(ms: number): Promise<void> {
    await this.changed.wait(() => this.closed || undefined, ms, "the local connection to close");
    expect(this.ended, "an abnormal end must not look like EOF").toBe(false);
    expect(this.error?.code).toBe("ECONNRESET");
  }
}

const rss = (pid: number): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) * 1024;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

beforeAll(async () => {
  [echo, standbyEcho, upload, download, firehose] = await Promise.all([
    echoBackend(file),
    echoBackend(file),
    uploadBackend(file),
    downloadBackend(file, 8 * MiB),
    firehoseBackend(file, FIREHOSE_BYTES),
  ]);
  edge = await startEdge(file, {
    services: {
      echo: { accept: accept("echo"), "socks.timeout": "10 seconds" },
      upload: { accept: accept("upload"), "socks.timeout": "10 seconds" },
      download: { accept: accept("download"), "socks.timeout": "10 seconds" },
      firehose: { accept: accept("firehose"), "socks.timeout": "10 seconds" },
      // A killed connector looks, to the edge, like a dropped link: the client waits this long for it to resume.
      victim: { accept: accept("victim"), "socks.timeout": "10 seconds", "session.resume.timeout": "2 seconds" },
      lonely: { accept: accept("lonely"), "socks.timeout": `${LONELY_TIMEOUT_MS} milliseconds` },
      late: { accept: accept("late"), "socks.timeout": "20 seconds" },
      later: { accept: accept("later"), "socks.timeout": "20 seconds" },
      standby: { accept: accept("standby"), "socks.timeout": "10 seconds" },
    },
    tokens: Object.fromEntries(Object.entries(tokens).map(([name, t]) => [name, [t!]])),
  });
  connector = await startConnectorWithConfig(file, edge.ws, [
    { name: "echo", accept: accept("echo"), connect: echo.uri, token: tokens.echo!, prepared: 4 },
    { name: "upload", accept: accept("upload"), connect: upload.uri, token: tokens.upload! },
    { name: "download", accept: accept("download"), connect: download.uri, token: tokens.download! },
    { name: "firehose", accept: accept("firehose"), connect: firehose.uri, token: tokens.firehose! },
    { name: "standby", accept: accept("standby"), connect: standbyEcho.uri, token: tokens.standby!, prepared: 6 },
  ]);
  for (const name of ["echo", "upload", "download", "firehose", "standby"]) {
    await connector.proc.waitForLog(msgIs("registered with the edge", { service: name }), 20_000, `service ${name} registered`);
  }
});

describe("sallyport client: data", () => {
  it("echoes through pre-opened sessions, with half-close, and logs each connection's clean end", async () => {
    const client = await startClient(perTest, edge.clientUrl("/echo"));
    await client.proc.waitForLog(preopened(2), 10_000, "two pre-opened sessions");
    const firstByte: number[] = [];
    for (let i = 0; i < 8; i++) {
      // Give the forwarder time to refill its pool (a new session, or the one just used kept),
      // as a user's pauses would.
      await client.proc.waitForLogCount(joinedPool, 2 + i, 10_000);
      await new Promise((r) => setTimeout(r, 150));
      const local = new Local(client.port);
      local.socket.write(`hello ${i}`);
      local.socket.end();
      await local.eof(10_000);
      expect(local.text()).toBe(`hello ${i}`);
      firstByte.push(local.firstByteAt! - local.startedAt);
      await local.waitFor(() => local.closed, 5000, "local close");
      expect(local.error).toBeUndefined();
    }
    const closes = await client.proc.waitForLogCount(msgIs("connection closed"), 8, 10_000);
    for (const c of closes) expect(c.json).toMatchObject({ closeCode: 1000, clean: true, preopened: true, bytesUp: 7, bytesDown: 7 });
    console.info(
      `connect → first echoed byte through a pre-opened session: median ${median(firstByte).toFixed(1)} ms, all ` +
        `${firstByte.map((n) => n.toFixed(1)).join(" ")}`,
    );
  });

  it("pre-opened sessions wait in standby: the backend sees a connection only for a connection made", async () => {
    const client = await startClient(perTest, edge.clientUrl("/standby"), ["--preopen", "3"]);
    // Open means paired too: the edge pairs a client with a parked bind before it answers 101.
    await client.proc.waitForLog(preopened(3), 10_000, "three pre-opened sessions");
    for (let i = 1; i <= 2; i++) {
      const local = new Local(client.port);
      local.socket.end(`standby ${i}`);
      await local.eof(10_000);
      expect(local.text()).toBe(`standby ${i}`);
      // The pool is refilled (a new session, or the one used, kept): neither dials anything.
      await client.proc.waitForLogCount(joinedPool, 3 + i, 10_000);
      expect(standbyEcho.connections(), `backend connections after ${i} local connection(s)`).toBe(i);
    }
  });

  it("a session that finished cleanly is kept: the next connection runs on the same WebSocket, with no new handshake", async () => {
    const client = await startClient(perTest, edge.clientUrl("/standby"), ["--preopen", "1"]);
    await client.proc.waitForLog(preopened(1), 10_000, "one pre-opened session");
    const payloads = [randomBytes(3 * MiB), randomBytes(100), randomBytes(2 * MiB)];
    for (const [i, payload] of payloads.entries()) {
      const local = new Local(client.port);
      local.socket.end(payload);
      await local.eof(10_000);
      // Each session has its own bytes and its own fresh credit windows (3 MiB + 2 MiB > one window's worth left).
      expect(Buffer.concat(local.chunks).equals(payload), `connection ${i}`).toBe(true);
      await local.waitFor(() => local.closed, 5000, "local close");
      expect(local.error).toBeUndefined();
      // The local side is done at the FINs; the pair is back in the pool only at the
      // connector's `done`, a moment later. A connection made before that takes another one.
      await client.proc.waitForLogCount(msgIs("pre-opened session kept"), i + 1, 5000);
    }
    const closes = await client.proc.waitForLogCount(msgIs("connection closed"), 3, 10_000);
    expect(closes.map((c) => c.json!.bytesDown)).toEqual(payloads.map((p) => p.length));
    expect(closes.every((c) => c.json!.clean === true)).toBe(true);
    // With --preopen 1 and sessions kept, one connection after another needs no new WebSocket:
    // the one opened at start, and at most the refill opened while the first was in use.
    const kept = client.proc.logs(msgIs("pre-opened session kept")).length;
    expect(kept).toBeGreaterThanOrEqual(1);
    expect(client.proc.logs(msgIs("pre-opened session open")).length + kept).toBeGreaterThanOrEqual(3);
    expect(client.proc.logs(msgIs("pre-opened session open")).length).toBeLessThanOrEqual(2);
  });

  it("opens a session per connection with --preopen 0, many at once, each getting its own bytes", async () => {
    const client = await startClient(perTest, edge.clientUrl("/echo"), ["--preopen", "0"]);
    const N = 20;
    const locals = Array.from({ length: N }, () => new Local(client.port));
    const payloads = locals.map(() => randomBytes(100 * 1024));
    for (const [i, l] of locals.entries()) l.socket.end(payloads[i]!);
    await Promise.all(locals.map((l) => l.eof(20_000)));
    for (const [i, l] of locals.entries()) expect(Buffer.concat(l.chunks).equals(payloads[i]!), `connection ${i}`).toBe(true);
    console.info(
      `--preopen 0: connect → first echoed byte median ${median(locals.map((l) => l.firstByteAt! - l.startedAt)).toFixed(1)} ms over ` +
        `${N} concurrent connections`,
    );
  });

  it("uploads 8 MiB then half-closes: the backend hashes all of it after the FIN and the answer still arrives", async () => {
    const client = await startClient(perTest, edge.clientUrl("/upload"));
    await client.proc.waitForLog(preopened(2), 10_000, "two pre-opened sessions");
    // Steady state: a pre-opened session older than the pairing assumption (2 s) sends at
    // full speed at once; a younger one sends 7 KiB until the backend is heard from (see stream.ts).
    await new Promise((r) => setTimeout(r, 2100));
    const data = randomBytes(8 * MiB);
    const before = upload.results.length;
    const local = new Local(client.port);
    const t0 = performance.now();
    local.socket.end(data);
    await local.eof(30_000);
    const ms = since(t0);
    expect(local.text()).toBe(`${data.length} ${createHash("sha256").update(data).digest("hex")}\n`);
    expect(upload.results[before]).toEqual({ bytes: data.length, sha256: createHash("sha256").update(data).digest("hex") });
    const closed = await client.proc.waitForLog(msgIs("connection closed"), 10_000);
    expect(closed.json).toMatchObject({ closeCode: 1000, clean: true, bytesUp: 8 * MiB });
    console.info(`8 MiB upload + half-close through the client: ${ms.toFixed(0)} ms (${((8 / ms) * 1000).toFixed(1)} MiB/s)`);
  });

  it("downloads 8 MiB intact, then EOF; the session ends cleanly when the local side ends too", async () => {
    const client = await startClient(perTest, edge.clientUrl("/download"));
    const local = new Local(client.port, { keep: false });
    const t0 = performance.now();
    local.socket.write("GET");
    await local.eof(30_000);
    const ms = since(t0);
    expect(local.bytes).toBe(download.data.length);
    expect(local.hash.digest("hex")).toBe(download.sha256);
    local.socket.end();
    const closed = await client.proc.waitForLog(msgIs("connection closed"), 10_000);
    expect(closed.json).toMatchObject({ closeCode: 1000, clean: true, bytesDown: 8 * MiB });
    console.info(`8 MiB download through the client: ${ms.toFixed(0)} ms (${((8 / ms) * 1000).toFixed(1)} MiB/s)`);
  });

  it(
    "a paused local reader stalls a backend sending more than the window and every kernel buffer on its path: forwarder and " +
      "connector memory stay bounded, then every byte arrives",
    async () => {
      const client = await startClient(perTest, edge.clientUrl("/firehose"), ["--preopen", "1"]);
      await client.proc.waitForLog(preopened(1), 10_000, "a pre-opened session");
      const baseline = { client: rss(client.proc.pid), connector: rss(connector.proc.pid) };
      const flushedBefore = firehose.flushed();
      const local = new Local(client.port, { keep: false });
      local.socket.pause(); // reads nothing: its receive buffer fills, then the forwarder's writes stop completing
      local.socket.write("go");

      // Wait for the backend to stall: no progress for a full second.
      let last = -1;
      let stableSince = performance.now();
      const deadline = performance.now() + 30_000;
      while (performance.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        const now = firehose.flushed() - flushedBefore;
        if (now !== last) {
          last = now;
          stableSince = performance.now();
        } else if (since(stableSince) >= 1000) break;
      }
      const stalledAt = firehose.flushed() - flushedBefore;
      const grown = { client: rss(client.proc.pid) - baseline.client, connector: rss(connector.proc.pid) - baseline.connector };
      console.info(
        `slow reader: backend stalled after ${(stalledAt / MiB).toFixed(1)} MiB of ${firehose.total / MiB} ` +
          `(window ${INITIAL_WINDOW_BYTES / MiB} MiB, kernel slack ${(KERNEL_SLACK / MiB).toFixed(0)} MiB); ` +
          `RSS growth client ${(grown.client / MiB).toFixed(1)} MiB, connector ${(grown.connector / MiB).toFixed(1)} MiB`,
      );
      expect(since(stableSince), "the backend's writes stopped completing").toBeGreaterThanOrEqual(1000);
      expect(stalledAt).toBeGreaterThanOrEqual(INITIAL_WINDOW_BYTES); // the window itself flows
      expect(stalledAt).toBeLessThanOrEqual(INITIAL_WINDOW_BYTES + KERNEL_SLACK);
      // Each process holds at most a window of this session (plus allocator noise), not the 64 MiB.
      expect(grown.client).toBeLessThan(40 * MiB);
      expect(grown.connector).toBeLessThan(40 * MiB);

      local.socket.resume();
      await local.eof(60_000);
      expect(local.bytes).toBe(firehose.total);
      expect(local.hash.digest("hex")).toBe(firehose.sha256);
      local.socket.end();
      const closed = await client.proc.waitForLog(msgIs("connection closed"), 10_000);
      expect(closed.json).toMatchObject({ closeCode: 1000, clean: true, bytesDown: firehose.total });
    },
  );
});

describe("sallyport client: abnormal ends are resets, never EOF", () => {
  it("connector killed mid-session: the local connection is reset once session.resume.timeout passed, and the log says why", async () => {
    const victimEcho = await echoBackend(perTest);
    const c = await startConnector(perTest, {
      edge: edge.ws,
      accept: accept("victim"),
      connect: victimEcho.uri,
      token: tokens.victim,
      prepared: 1,
      name: "victim connector",
    });
    await c.proc.waitForLog(msgIs("registered with the edge"), 20_000);
    const client = await startClient(perTest, edge.clientUrl("/victim"), ["--preopen", "0"]);
    const local = new Local(client.port);
    local.socket.write("before");
    await local.waitFor(() => local.bytes === 6, 10_000, "the echo");
    await c.proc.kill();
    // The edge cannot tell a killed connector from a dropped link (v3: resume); no connector half comes back.
    await local.reset(15_000);
    const failed = await client.proc.waitForLog(msgIs("session resume failed"), 1000);
    expect(failed.json).toMatchObject({ outcome: "failed", level: "warn" });
    const closed = await client.proc.waitForLog(msgIs("connection closed"), 1000);
    expect(closed.json).toMatchObject({ closeCode: 4034, clean: false, level: "warn" });
  });

  it("no connector: the connection waits socks.timeout, is reset, and the log says no connector available (4006)", async () => {
    const client = await startClient(perTest, edge.clientUrl("/lonely"), ["--preopen", "0"]);
    const local = new Local(client.port);
    local.socket.write("anyone?");
    const t0 = performance.now();
    await local.reset(10_000);
    expect(since(t0)).toBeGreaterThanOrEqual(LONELY_TIMEOUT_MS - 100);
    const closed = await client.proc.waitForLog(msgIs("connection closed"), 5000);
    expect(closed.json).toMatchObject({ closeCode: 4006, reason: "no connector available (4006)", clean: false });
  });

  it("pre-opened sessions that time out (4006) are replaced after a backoff", async () => {
    const client = await startClient(perTest, edge.clientUrl("/lonely"), ["--preopen", "2", "--retry-max", "500 milliseconds"]);
    // The edge closes a waiting client after socks.timeout (1 s here); its close frame can
    // reach the client up to ~10 s late (reported to the edge's owners), hence the long wait.
    const first = await client.proc.waitForLog(msgIs("pre-opened session closed"), 20_000);
    expect(first.json).toMatchObject({ level: "warn", reason: "no connector available (4006)" });
    const opens = client.proc.logs(msgIs("pre-opened session open")).length;
    const replaced = await client.proc.waitForLogCount(msgIs("pre-opened session open"), opens + 1, 5000, "a replacement");
    // Not at once: after the backoff (100 ms less at most 20 % jitter for the first retry).
    expect(replaced.at(-1)!.at - first.at).toBeGreaterThanOrEqual(75);
  });

  it("pre-opened sessions waiting for a connector are served once one registers", async () => {
    const client = await startClient(perTest, edge.clientUrl("/later"), ["--preopen", "2"]);
    await client.proc.waitForLog(preopened(2), 10_000, "two pre-opened sessions");
    const laterEcho = await echoBackend(perTest);
    const c = await startConnector(perTest, {
      edge: edge.ws,
      accept: accept("later"),
      connect: laterEcho.uri,
      token: tokens.later,
      prepared: 2,
      name: "later connector",
    });
    await c.proc.waitForLog(msgIs("registered with the edge"), 20_000);
    const local = new Local(client.port);
    local.socket.end("finally");
    await local.eof(20_000).catch((e) => {
      throw new Error(`${e.message}\n${client.proc.output()}\n${c.proc.output()}`);
    });
    expect(local.text()).toBe("finally");
    const closed = await client.proc.waitForLog(msgIs("connection closed"), 10_000);
    expect(closed.json).toMatchObject({ clean: true, preopened: true });
    expect(client.proc.logs(msgIs("pre-opened session closed"))).toHaveLength(0);
  });

  it("data sent before any connector was there is delivered once one comes (held at the edge, not lost)", async () => {
    const client = await startClient(perTest, edge.clientUrl("/late"), ["--preopen", "0"]);
    const local = new Local(client.port);
    local.socket.write("early bytes");
    await new Promise((r) => setTimeout(r, 300));
    const lateEcho = await echoBackend(perTest);
    const c = await startConnector(perTest, {
      edge: edge.ws,
      accept: accept("late"),
      connect: lateEcho.uri,
      token: tokens.late,
      prepared: 1,
      name: "late connector",
    });
    await c.proc.waitForLog(msgIs("registered with the edge"), 20_000);
    await local.waitFor(() => local.bytes >= 11, 10_000, "the early bytes echoed");
    expect(local.text()).toBe("early bytes");
    local.socket.end();
    await local.eof(10_000);
  });
});

describe("sallyport client: command line", () => {
  it("sends the token as an Authorization header, never in the URL, and offers the client subprotocol", async () => {
    const seen: Array<{ url: string; auth: string | undefined; protocol: string | undefined }> = [];
    const wss = new WebSocketServer({
      host: "127.0.0.1",
      port: 0,
      handleProtocols: (p) => (p.has(CLIENT_SUBPROTOCOLS[2]) ? CLIENT_SUBPROTOCOLS[2] : false),
    });
    wss.on("connection", (ws, req) => seen.push({ url: req.url ?? "", auth: req.headers.authorization, protocol: ws.protocol }));
    await new Promise((r) => wss.once("listening", r));
    perTest.add("fake edge", () => {
      for (const c of wss.clients) c.terminate();
      return new Promise<void>((r) => wss.close(() => r()));
    });
    const token = randomToken();
    const tokenFile = await writeSecretFile(await tempDir(perTest), "client-token", token);
    const port = (wss.address() as net.AddressInfo).port;
    await startClient(perTest, `ws://127.0.0.1:${port}/svc`, ["--token-file", tokenFile, "--preopen", "1"]);
    await within(
      new Promise<void>((r) => {
        const t = setInterval(() => {
          if (!seen.length) return;
          clearInterval(t);
          r();
        }, 20);
      }),
      10_000,
      "a session at the fake edge",
    );
    expect(seen[0]).toEqual({ url: "/svc", auth: `Bearer ${token}`, protocol: CLIENT_SUBPROTOCOLS[2] });
  });

  it("rejects bad flags with exit 2 and says what to fix", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["client", "--listen", "127.0.0.1:0"], /--url is required/],
      [["client", "--url", "http://x/y", "--listen", "127.0.0.1:0"], /ws:\/\/ or wss:\/\//],
      [
        ["client", "--url", "ws://x/y?token=abc", "--listen", "127.0.0.1:0"],
        /must not have credentials, a query or a fragment; put the token in a file and pass --token-file/,
      ],
      [["client", "--url", "wss://x/y", "--listen", "nowhere"], /HOST:PORT/],
      [["client", "--url", "wss://x/y", "--listen", "127.0.0.1:0", "--preopen", "-1"], /--preopen/],
      [["client", "--url", "wss://x/y", "--listen", "127.0.0.1:0", "--token-file", "/nonexistent/t"], /cannot read --token-file/],
      [["client", "--url", "wss://x/y", "--listen", "127.0.0.1:0", "--bogus"], /bogus/],
    ];
    await Promise.all(
      cases.map(async ([args, message]) => {
        const p = spawnSallyport(args, { name: `client ${args.join(" ")}`, cleanup: perTest });
        const exit = await p.waitForExit(20_000);
        expect(exit.code, args.join(" ")).toBe(2);
        expect(p.output()).toMatch(message);
      }),
    );
  });

  it("cannot listen on a port in use: exit 1 with the reason", async () => {
    const blocker = net.createServer();
    const port = await listen(blocker);
    perTest.add("blocker", () => closeServer(blocker, []));
    const p = spawnSallyport(["client", "--url", edge.clientUrl("/echo"), "--listen", `127.0.0.1:${port}`], {
      name: "client",
      cleanup: perTest,
    });
    expect((await p.waitForExit(20_000)).code).toBe(1);
    expect(p.output()).toMatch(/cannot listen on 127\.0\.0\.1:\d+ \(EADDRINUSE\)/);
  });

  it("SIGTERM stops it cleanly (exit 0) with a session in flight", async () => {
    const client = await startClient(perTest, edge.clientUrl("/echo"));
    const local = new Local(client.port);
    local.socket.write("x");
    await local.waitFor(() => local.bytes === 1, 10_000, "the echo");
    client.proc.signal("SIGTERM");
    const exit = await client.proc.waitForExit(10_000);
    expect(exit.code).toBe(0);
    expect(client.proc.logs(msgIs("client stopped"))).toHaveLength(1);
    await local.waitFor(() => local.closed, 5000, "the local connection to close");
    expect(local.ended).toBe(false); // going away is not a clean end of the stream
  });
});
