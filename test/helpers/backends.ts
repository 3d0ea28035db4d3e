import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import net from "node:net";
import { startEchoServer } from "../../local-edge/echo-server.ts";
import type { Cleanup } from "./cleanup.ts";
import { closeServer, listen } from "./net.ts";
import { Condition } from "./wait.ts";

/**
 * TCP backends for the connector to dial, each on 127.0.0.1 port 0 and stopped by cleanup.
 * They count what they see, so a test can tell "the bytes reached the backend" apart from
 * "something answered".
 */

export interface Backend {
  readonly port: number;
  /** tcp://127.0.0.1:PORT, as --connect takes it. */
  readonly uri: string;
  /** Connections accepted so far. */
  connections(): number;
  stop(): Promise<void>;
}

export interface EchoBackend extends Backend {
  /** Resolves once `n` connections have been accepted in all. */
  accepted(n: number, ms: number): Promise<void>;
}

export function serve(
  name: string,
  cleanup: Cleanup,
  onConnection: (s: net.Socket) => void,
): { server: net.Server; sockets: Set<net.Socket> } {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.setNoDelay(true);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => s.destroy());
    onConnection(s);
  });
  cleanup.add(name, () => closeServer(server, sockets));
  return { server, sockets };
}

/** The echo backend `sallyport dev` runs (local-edge/echo-server.ts); `greeting` is written first on each connection. */
export async function echoBackend(cleanup: Cleanup, greeting?: string): Promise<EchoBackend> {
  const accepted = new Condition();
  const echo = await startEchoServer({ greeting, onConnection: () => accepted.notify() });
  cleanup.add(greeting ? `echo backend ${greeting.trim()}` : "echo backend", () => echo.stop());
  return {
    ...echo,
    uri: `tcp://127.0.0.1:${echo.port}`,
    accepted: (n, ms) => accepted.wait(() => echo.connections() >= n, ms, `${n} backend connections`).then(() => undefined),
  };
}

export interface WatchedEcho extends Backend {
  /** performance.now() at each connection's close, in order of closing. */
  readonly closedAt: number[];
  /** Connections open now. */
  open(): number;
  /** Resolves once `n` connections have closed. */
  closes(n: number, ms: number, what: string): Promise<void>;
}

/** An echo backend that notes when each of its connections closes (reset, FIN or destroy alike). */
export async function watchedEchoBackend(cleanup: Cleanup): Promise<WatchedEcho> {
  let count = 0;
  const closedAt: number[] = [];
  const changed = new Condition();
  const { server, sockets } = serve("watched echo backend", cleanup, (s) => {
    count++;
    s.pipe(s);
    s.on("close", () => {
      closedAt.push(performance.now());
      changed.notify();
    });
  });
  const port = await listen(server);
  return {
    port,
    uri: `tcp://127.0.0.1:${port}`,
    connections: () => count,
    stop: () => closeServer(server, sockets),
    closedAt,
    open: () => sockets.size,
    closes: async (n, ms, what) => void (await changed.wait(() => closedAt.length >= n || undefined, ms, what)),
  };
}

export interface SinkResult {
  readonly bytes: number;
  readonly sha256: string;
}

export interface HashSink extends Backend {
  /** One entry per connection that has received `expect` bytes. */
  readonly results: SinkResult[];
  waitForResult(index: number, timeoutMs: number): Promise<SinkResult>;
}

/**
 * Says "R" on connect (so a client knows it is paired), hashes what it receives and, once
 * `expect` bytes have arrived, answers with the hex SHA-256 and a newline.
 */
export const SINK_READY = "R";

export async function hashSinkBackend(cleanup: Cleanup, expect: number): Promise<HashSink> {
  let count = 0;
  const results: SinkResult[] = [];
  const changed = new Condition();
  const { server, sockets } = serve("hash sink backend", cleanup, (s) => {
    count++;
    const hash = createHash("sha256");
    let bytes = 0;
    s.write(SINK_READY);
    s.on("data", (chunk: Buffer) => {
      if (bytes >= expect) return;
      const take = Math.min(chunk.length, expect - bytes);
      hash.update(take === chunk.length ? chunk : chunk.subarray(0, take));
      bytes += take;
      if (bytes === expect) {
        const sha256 = hash.digest("hex");
        results.push({ bytes, sha256 });
        changed.notify();
        s.write(`${sha256}\n`);
      }
    });
  });
  const port = await listen(server);
  return {
    port,
    uri: `tcp://127.0.0.1:${port}`,
    connections: () => count,
    results,
    waitForResult: (i, ms) => changed.wait(() => results[i], ms, `hash sink result #${i}`),
    stop: () => closeServer(server, sockets),
  };
}

export interface Source extends Backend {
  readonly bytes: number;
  readonly sha256: string;
}

/** `size` random bytes (fixed per backend), sent on each connection when `start` says. */
async function randomSource(
  cleanup: Cleanup,
  name: string,
  size: number,
  start: (s: net.Socket, send: () => void) => void,
): Promise<Source> {
  const data = randomBytes(size);
  const sha256 = createHash("sha256").update(data).digest("hex");
  let count = 0;
  const { server, sockets } = serve(name, cleanup, (s) => {
    count++;
    start(s, () => s.end(data));
  });
  const port = await listen(server);
  return { port, uri: `tcp://127.0.0.1:${port}`, connections: () => count, bytes: size, sha256, stop: () => closeServer(server, sockets) };
}

/**
 * Request/response: on the first byte a connection receives, sends the same `size` random
 * bytes (fixed per backend), then ends it (FIN).
 */
export function sourceBackend(cleanup: Cleanup, size: number): Promise<Source> {
  return randomSource(cleanup, "source backend", size, (s, send) => s.once("data", send));
}

/**
 * Sends `size` random bytes (fixed per backend) as soon as a connection opens, then ends it:
 * a download nobody asked for, to test what a reader that does not read makes the edge hold.
 */
export function pushBackend(cleanup: Cleanup, size: number): Promise<Source> {
  return randomSource(cleanup, "push backend", size, (_s, send) => send());
}

/** Accepts connections and never reads from them: an upload into it backs up all the way to the client. */
export async function stuckBackend(cleanup: Cleanup): Promise<Backend> {
  let count = 0;
  const { server, sockets } = serve("stuck backend", cleanup, (s) => {
    count++;
    s.pause();
  });
  const port = await listen(server);
  return { port, uri: `tcp://127.0.0.1:${port}`, connections: () => count, stop: () => closeServer(server, sockets) };
}

/**
 * A backend address where nothing listens: every dial is refused (ECONNREFUSED), for as long as
 * the test runs. A port freed after listening on 0 would not do: the kernel hands it out again
 * to the next listener on port 0, and with test files running in parallel one can get it
 * mid-test (seen in CI: the "refused" backend accepted). Ports below the kernel's local range
 * are never handed out for port 0; one of them that refuses now stays refusing.
 */
export async function refusingBackend(): Promise<{ port: number; uri: string }> {
  const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = 1024 + Math.floor(Math.random() * Math.max(1, low - 1024));
    if (await refuses(port)) return { port, uri: `tcp://127.0.0.1:${port}` };
  }
  throw new Error(`no refusing port on 127.0.0.1 between 1024 and ${low}`);
}

function refuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(false);
    });
    s.once("error", (e: NodeJS.ErrnoException) => resolve(e.code === "ECONNREFUSED"));
  });
}

export const sha256 = (data: Buffer | Uint8Array): string => createHash("sha256").update(data).digest("hex");
