import net from "node:net";
import { startLocalEdge } from "../../local-edge/edge.ts";
import { Connector } from "../../connector/connector.ts";
import { createLogger } from "../../shared/log.ts";
import { parseConnectorConfig } from "../../shared/config/connector-config.ts";
import { BIND_PATH, BIND_SUBPROTOCOLS } from "../../shared/protocol/constants.ts";
import type { Cleanup } from "../helpers/cleanup.ts";
import { openClient, type TestClient } from "../helpers/ws-client.ts";
import { Condition, within } from "../helpers/wait.ts";

/**
 * Shared by the security e2e files (not a test file itself): the real edge in workerd with
 * its log captured, raw bind sockets a test drives by hand, an in-process connector whose
 * pool counters a test can read, and byte-exact HTTP responses.
 */

export const accept = (name: string): string => `ws://sallyport.test/${name}`;

export interface CapturedEdge {
  readonly port: number;
  /** ws://127.0.0.1:PORT */
  readonly ws: string;
  clientUrl(path: string): string;
  /** Every line the Worker and its objects logged (console.*), as "level message". */
  readonly logs: string[];
  stop(): Promise<void>;
}

export interface CapturedEdgeOptions {
  readonly services: Record<string, Record<string, unknown>>;
  /** `undefined`: SALLYPORT_CONNECTOR_TOKENS unset. */
  readonly tokens: Record<string, string[]> | undefined;
  readonly clientTokens?: Record<string, string[]>;
  readonly bindings?: Record<string, unknown>;
  readonly cf?: Record<string, unknown>;
}

export async function startCapturedEdge(cleanup: Cleanup, opts: CapturedEdgeOptions): Promise<CapturedEdge> {
  const logs: string[] = [];
  const edge = await startLocalEdge({
    services: opts.services,
    connectorTokens: opts.tokens,
    bindings: { ...(opts.clientTokens ? { SALLYPORT_CLIENT_TOKENS: JSON.stringify(opts.clientTokens) } : {}), ...opts.bindings },
    ...(opts.cf ? { cf: opts.cf } : {}),
    onLog: (level, message) => logs.push(`${level} ${message}`),
  });
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopped ??= edge.stop());
  cleanup.add(`edge ${edge.url.href}`, stop);
  const port = Number(edge.url.port);
  const ws = `ws://127.0.0.1:${port}`;
  return { port, ws, clientUrl: (path) => new URL(path, ws).href, logs, stop };
}

/** A bind socket the test drives: the connector's handshake, but every header and message chosen by hand. */
export function openRawBind(
  cleanup: Cleanup,
  edge: { ws: string },
  token: string | undefined,
  opts: { headers?: Record<string, string>; path?: string; cf?: unknown } = {},
): TestClient {
  const headers: Record<string, string> = { ...opts.headers };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  // Miniflare (only) takes request.cf from this header: what Cloudflare would report for the TLS handshake.
  if (opts.cf !== undefined) headers["MF-CF-Blob"] = JSON.stringify(opts.cf);
  return openClient(cleanup, new URL(opts.path ?? BIND_PATH, edge.ws).href, { protocols: BIND_SUBPROTOCOLS[1], headers });
}

export function bindMessage(acceptUri: string, bindId = `raw${Math.random().toString(36).slice(2, 10)}`): string {
  return JSON.stringify({
    v: 1,
    t: "bind",
    accept: acceptUri,
    bindId,
    connectorId: `raw-${bindId}`,
    instance: "000000001aaaaaa",
    heartbeatMs: 30_000,
  });
}

/** Control messages a raw bind has received, parsed. */
export function controls(c: TestClient): Array<Record<string, unknown>> {
  return c.messages.filter((m) => !m.binary).map((m) => JSON.parse(m.data.toString("utf8")) as Record<string, unknown>);
}

export async function waitForControl(c: TestClient, type: string, ms: number): Promise<Record<string, unknown>> {
  const deadline = performance.now() + ms;
  for (;;) {
    const hit = controls(c).find((m) => m.t === type);
    if (hit) return hit;
    if (c.closedWith) throw new Error(`closed (${c.closedWith.code} ${c.closedWith.reason}) before "${type}"`);
    if (performance.now() > deadline) throw new Error(`no "${type}" within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Polls `check` every 10 ms until it returns something. */
export async function eventually<T>(check: () => T | undefined | false, ms: number, what: string): Promise<T> {
  const c = new Condition();
  const timer = setInterval(() => c.notify(), 10);
  try {
    return await c.wait(check, ms, what);
  } finally {
    clearInterval(timer);
  }
}

/** Waits for a line the edge logged (Miniflare delivers them asynchronously). */
export function edgeLogged(edge: CapturedEdge, text: string, ms = 3000): Promise<string> {
  return eventually(() => edge.logs.find((l) => l.includes(text)), ms, `the edge to log "${text}"`);
}

export interface InProcessService {
  readonly name: string;
  readonly accept: string;
  readonly connect: string;
  readonly token: string;
  readonly prepared?: number;
  readonly retryMax?: string;
  readonly maxSessions?: number;
}

export interface InProcessConnector {
  readonly connector: Connector;
  /** Every log line it wrote (JSON). */
  readonly lines: string[];
  stats(name: string): ReturnType<Connector["stats"]>[number];
}

/** The real Connector class in this process, logging JSON into `lines`, stopped by cleanup. */
export function startInProcessConnector(
  cleanup: Cleanup,
  edgeWs: string,
  services: InProcessService[],
  id = "security-test",
): InProcessConnector {
  const parsed = parseConnectorConfig({
    edge: edgeWs,
    "token.file": "(in memory)",
    services: services.map((s) => ({
      name: s.name,
      accept: s.accept,
      connect: s.connect,
      ...(s.prepared !== undefined ? { "prepared.connection.count": s.prepared } : {}),
      ...(s.retryMax !== undefined ? { "socks.retry.maximum.interval": s.retryMax } : {}),
      ...(s.maxSessions !== undefined ? { "max.sessions": s.maxSessions } : {}),
    })),
  });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.error));
  const lines: string[] = [];
  const log = createLogger({ level: "debug", json: true, write: (l) => lines.push(l) });
  const connector = new Connector(
    parsed.value.services.map((service, i) => ({ service, token: services[i]!.token, route: {} })),
    log,
    id,
  );
  connector.start();
  cleanup.add(`in-process connector ${id}`, () => connector.stop());
  return {
    connector,
    lines,
    stats: (name) => {
      const s = connector.stats().find((x) => x.service === name);
      if (!s) throw new Error(`no pool ${name}`);
      return s;
    },
  };
}

export interface RawResponse {
  readonly status: number;
  /** Head and body exactly as received, minus any Date header line. */
  readonly text: string;
  readonly headers: Array<[string, string]>;
  readonly body: string;
}

/**
 * Sends `request` (a full HTTP/1.1 request head, CRLF line ends) over a fresh TCP connection
 * and returns the response byte for byte — head and Content-Length body — without any HTTP
 * client normalising it. A 101 returns at the end of its head.
 */
export function rawRequest(port: number, method: string, path: string, headers: Record<string, string>): Promise<RawResponse> {
  const lines = [`${method} ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  return within(
    new Promise<RawResponse>((resolve, reject) => {
      const s = net.connect({ host: "127.0.0.1", port });
      let buf = Buffer.alloc(0);
      const done = (): boolean => {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return false;
        const head = buf.subarray(0, end).toString("latin1");
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
        const hs = head
          .split("\r\n")
          .slice(1)
          .map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()] as [string, string]);
        const length = Number(hs.find(([k]) => k === "content-length")?.[1] ?? (status === 101 ? 0 : NaN));
        if (Number.isNaN(length)) return false; // chunked or unknown: wait for close
        if (buf.length < end + 4 + length) return false;
        const body = buf.subarray(end + 4, end + 4 + length).toString("utf8");
        const kept = head
          .split("\r\n")
          .filter((l) => !/^date:/i.test(l))
          .join("\r\n");
        resolve({ status, text: `${kept}\r\n\r\n${body}`, headers: hs.filter(([k]) => k !== "date"), body });
        s.destroy();
        return true;
      };
      s.on("data", (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        done();
      });
      s.on("error", reject);
      s.on("close", () => {
        if (!done()) reject(new Error(`connection closed after ${buf.length} bytes: ${buf.toString("latin1").slice(0, 200)}`));
      });
      s.write(`${lines.join("\r\n")}\r\n\r\n`);
    }),
    10_000,
    `${method} ${path}`,
  );
}

/** Headers of a WebSocket upgrade request (key fixed: the tests compare responses byte for byte). */
export const UPGRADE = Object.freeze({
  Upgrade: "websocket",
  Connection: "Upgrade",
  "Sec-WebSocket-Version": "13",
  "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
});
