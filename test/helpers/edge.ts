import { startLocalEdge } from "../../local-edge/edge.ts";
import type { Cleanup } from "./cleanup.ts";
import { Condition } from "./wait.ts";

/**
 * The real edge (edge/index.ts bundled, in workerd through the Miniflare API, as
 * `sallyport dev` runs it) on 127.0.0.1, stopped by cleanup. Its log lines are captured
 * (not printed) and parsed, for `waitForLog` and for failure messages.
 */

export interface EdgeLogLine {
  readonly level: string;
  readonly raw: string;
  readonly json: Record<string, unknown> | undefined;
  readonly at: number;
}

export interface TestEdge {
  readonly port: number;
  /** ws://127.0.0.1:PORT (wss:// when started with `https`) — the connector's --edge. */
  readonly ws: string;
  /** ws://127.0.0.1:PORT/PATH — what a client dials for a service whose accept path is PATH. */
  clientUrl(path: string): string;
  readonly logs: EdgeLogLine[];
  /** The resume tickets' key it runs with. */
  readonly resumeSecret: string;
  waitForLog(pred: (l: EdgeLogLine) => boolean, timeoutMs: number, what: string): Promise<EdgeLogLine>;
  stop(): Promise<void>;
}

export interface TestEdgeOptions {
  /** Service name → its edge settings (accept, socks.timeout …). */
  readonly services: Record<string, Record<string, string>>;
  /** Service name → its connector tokens. */
  readonly tokens: Record<string, string[]>;
  /** A fixed port (restarts, connector-first); 0 or absent picks a free one. */
  readonly port?: number;
  /** Serve TLS (wss://) with this certificate and key (PEM). */
  readonly https?: { readonly cert: string; readonly key: string };
  /** More Worker bindings (SALLYPORT_ADMIN_TOKEN …). */
  readonly bindings?: Record<string, unknown>;
  /** SALLYPORT_RESUME_SECRET: an edge restarted in place is given its predecessor's (TestEdge.resumeSecret). */
  readonly resumeSecret?: string;
}

export async function startEdge(cleanup: Cleanup, opts: TestEdgeOptions): Promise<TestEdge> {
  const logs: EdgeLogLine[] = [];
  const changed = new Condition();
  const edge = await startLocalEdge({
    services: opts.services,
    connectorTokens: opts.tokens,
    port: opts.port ?? 0,
    ...(opts.https ? { https: opts.https } : {}),
    ...(opts.bindings ? { bindings: opts.bindings } : {}),
    ...(opts.resumeSecret ? { resumeSecret: opts.resumeSecret } : {}),
    onLog: (level, message) => {
      let json: Record<string, unknown> | undefined;
      try {
        const v: unknown = JSON.parse(message);
        if (v && typeof v === "object" && !Array.isArray(v)) json = v as Record<string, unknown>;
      } catch {
        // kept raw
      }
      logs.push({ level, raw: message, json, at: performance.now() });
      changed.notify();
    },
  });
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopped ??= edge.stop());
  cleanup.add(`edge ${edge.url.href}`, stop);
  const port = Number(edge.url.port);
  const ws = `${opts.https ? "wss" : "ws"}://127.0.0.1:${port}`;
  return {
    port,
    ws,
    clientUrl: (path) => new URL(path, ws).href,
    logs,
    resumeSecret: edge.resumeSecret,
    waitForLog: (pred, ms, what) => changed.wait(() => logs.find(pred), ms, `edge log: ${what}`),
    stop,
  };
}
