import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "../shared/log.ts";
import { isLoopbackHost } from "../shared/loopback.ts";
import type { ConnectorMetrics } from "./metrics.ts";
import type { PoolStats } from "./pool.ts";

/**
 * The admin port: /metrics (Prometheus), /healthz (the process runs), /readyz (every
 * service has at least one parked bind). Loopback only, and any Host header other than a
 * loopback name is refused, so a web page cannot read it through DNS rebinding.
 */
export interface AdminServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Whether a Host header names this machine, on the admin port itself (or no port). */
export function isLoopbackHostHeader(host: string | undefined, port: number): boolean {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host ?? "");
  return !!m && isLoopbackHost(m[1]!) && (m[2] === undefined || Number(m[2]) === port);
}

export function ready(stats: readonly PoolStats[]): boolean {
  return stats.length > 0 && stats.every((s) => s.parked > 0);
}

export async function startAdmin(
  port: number,
  metrics: ConnectorMetrics,
  stats: () => readonly PoolStats[],
  log: Logger,
): Promise<AdminServer> {
  const server = http.createServer(async (req, res) => {
    const own = (server.address() as AddressInfo).port;
    if (!isLoopbackHostHeader(req.headers.host, own)) {
      res.writeHead(421, { "content-type": "text/plain" }).end("Misdirected Request\n");
      return;
    }
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET") return void res.writeHead(405).end();
    if (path === "/metrics") {
      res.writeHead(200, { "content-type": metrics.registry.contentType }).end(await metrics.registry.metrics());
    } else if (path === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    } else if (path === "/readyz") {
      const s = stats();
      res
        .writeHead(ready(s) ? 200 : 503, { "content-type": "application/json" })
        .end(`${JSON.stringify({ ready: ready(s), services: s })}\n`);
    } else res.writeHead(404, { "content-type": "text/plain" }).end("Not Found\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  const bound = (server.address() as AddressInfo).port;
  log.log("info", "admin port listening", { admin: `127.0.0.1:${bound}` });
  return { port: bound, close: () => new Promise((r) => server.close(() => r())) };
}
