import { randomBytes } from "node:crypto";
import { Miniflare, convertV4MiniflareOptions, type MiniflareOptions } from "miniflare";
import { bundleEdge } from "./bundle.ts";
import { COMPATIBILITY_DATE } from "./compatibility-date.ts";

/**
 * The edge in workerd through the Miniflare API: Miniflare's own listener, not
 * `wrangler dev`'s proxy, which measured ~16x slower here (README, "Toolchain").
 */
export interface LocalEdgeOptions {
  readonly services: Record<string, Record<string, unknown>>;
  /** Service name → connector tokens; `undefined` leaves SALLYPORT_CONNECTOR_TOKENS unset. */
  readonly connectorTokens: Record<string, string[]> | undefined;
  readonly port?: number;
  /** Address to listen on (default 127.0.0.1); another one needs a fixed `port`. */
  readonly host?: string;
  /** Directory for Durable Object state; in memory when absent. */
  readonly persistTo?: string;
  /** More Worker bindings: SALLYPORT_CLIENT_TOKENS, SALLYPORT_ADMIN_TOKEN, … */
  readonly bindings?: Record<string, unknown>;
  /** `request.cf` of every incoming request (tests: Cloudflare's view of a client certificate). */
  readonly cf?: Record<string, unknown>;
  /** Serve TLS with this certificate and key (PEM) instead of plain HTTP. */
  readonly https?: { readonly cert: string; readonly key: string };
  /** The Worker script to run instead of the bundle of edge/ (the bench's variants: bench/edge-host.ts --protocol). */
  readonly script?: string;
  /**
   * The resume tickets' key (SALLYPORT_RESUME_SECRET). A random one per run when absent; an
   * edge restarted on the same port must be given the same one (LocalEdge.resumeSecret), as a
   * deploy keeps its secrets, or the sessions of the edge it replaces cannot resume.
   */
  readonly resumeSecret?: string;
  /** Receives each line the Worker logs; without it Miniflare prints them. */
  readonly onLog?: (level: string, message: string) => void;
}

export interface LocalEdge {
  /** http://HOST:PORT (https:// with `https`) */
  readonly url: URL;
  /** The resume tickets' key it runs with: give it to the edge that replaces this one. */
  readonly resumeSecret: string;
  stop(): Promise<void>;
}

export async function startLocalEdge(opts: LocalEdgeOptions): Promise<LocalEdge> {
  const host = opts.host ?? "127.0.0.1";
  if (host !== "127.0.0.1" && !opts.port) throw new Error(`startLocalEdge: a host other than 127.0.0.1 (${host}) needs a fixed port`);
  const script = opts.script ?? (await bundleEdge());
  const resumeSecret = opts.resumeSecret ?? randomBytes(32).toString("base64url");
  // The Miniflare that wrangler ships (v5) takes v4-shaped options through this adapter.
  const options = convertV4MiniflareOptions({
    modules: [{ type: "ESModule", path: "index.js", contents: script }],
    compatibilityDate: COMPATIBILITY_DATE,
    host,
    port: opts.port ?? 0,
    bindings: {
      SALLYPORT_SERVICES: opts.services,
      ...(opts.connectorTokens ? { SALLYPORT_CONNECTOR_TOKENS: JSON.stringify(opts.connectorTokens) } : {}),
      SALLYPORT_RESUME_SECRET: resumeSecret,
      ...opts.bindings,
    },
    durableObjects: { SERVICE: { className: "ServiceObject", useSQLite: true } },
    ...(opts.persistTo ? { durableObjectsPersist: opts.persistTo } : {}),
    ...(opts.cf ? { cf: opts.cf } : {}),
    ...(opts.https ? { httpsCert: opts.https.cert, httpsKey: opts.https.key } : {}),
    ...(opts.onLog ? { handleStructuredLogs: (l: { level: string; message: string }) => opts.onLog!(l.level, l.message) } : {}),
  } as never) as MiniflareOptions;
  const mf = new Miniflare(options);
  const ready = await mf.ready;
  // For a host other than loopback, Miniflare's `ready` names its internal loopback entry
  // (plain HTTP), not the listener on host:port, whose port it does not report: hence the fixed port.
  const url = host === "127.0.0.1" ? ready : new URL(`${opts.https ? "https" : "http"}://${host}:${opts.port}`);
  return {
    url,
    resumeSecret,
    stop: () => mf.dispose(),
  };
}
