import type { ClientRequest } from "node:http";
import type { Socket } from "node:net";
import type { SecureContext } from "node:tls";
import type { AgentConnectOpts } from "agent-base";
import { HttpsProxyAgent } from "https-proxy-agent";
import { parseProxyUrl } from "../shared/config/proxy-url.ts";
import { err, ok, type Result } from "../shared/result.ts";
import type { ProxyChoice } from "./proxy-env.ts";

/**
 * Egress through an HTTP proxy: one CONNECT tunnel per WebSocket to the edge, TLS to the
 * edge end to end inside it (the proxy sees only the host and port it is asked for).
 *
 * The CONNECT handshake is https-proxy-agent's, not ours: `ws` takes an `http.Agent` (its
 * `agent` option) and this is the maintained agent for exactly this job (the proxy-agents
 * family, used by npm's own tooling), with http:// and https:// proxies, Proxy-Authorization
 * headers and TLS to the target through the tunnel. undici's Client#connect would also open
 * the tunnel, but `ws` cannot take its socket without a hand-made agent around it — the very
 * code this avoids. Around the library this module adds what it leaves to the caller: a
 * deadline for the CONNECT (its parser waits forever on a silent proxy), and which step
 * failed, so that every failure can say what to fix.
 */

/** A proxy, resolved once per configuration. Never holds the password in a printable field. */
export interface ProxyRoute {
  /** scheme://host:port, no credentials: what the agent is given. */
  readonly origin: string;
  /** For log lines and errors: the password masked. */
  readonly display: string;
  /** Where the setting came from ("--proxy", "HTTPS_PROXY" …), named in fixes. */
  readonly source: string;
  /** `Basic …` for Proxy-Authorization, when credentials were given. */
  readonly authorization: string | undefined;
  /** Where the credentials came from, named when the proxy refuses them. */
  readonly credentialsFrom: string | undefined;
  /** Trust toward an https:// proxy (proxy.ca.file); Node's defaults when undefined. */
  readonly secureContext: SecureContext | undefined;
}

export interface ProxyRouteOptions {
  /** user:password from a file (proxy.credentials.file): wins over any in the URL. */
  readonly credentials?: { readonly username: string; readonly password: string; readonly file: string } | undefined;
  readonly secureContext?: SecureContext | undefined;
}

export function proxyRoute(choice: ProxyChoice, opts: ProxyRouteOptions = {}): Result<ProxyRoute, string> {
  const parsed = parseProxyUrl(choice.text);
  if (!parsed.ok) return err(parsed.error);
  const p = parsed.value;
  const fromUrl = p.username !== undefined || p.password !== undefined;
  const user = opts.credentials ?? (fromUrl ? { username: p.username ?? "", password: p.password ?? "" } : undefined);
  return ok({
    origin: p.origin,
    display: opts.credentials ? p.origin : p.display,
    source: choice.source,
    authorization: user ? `Basic ${Buffer.from(`${user.username}:${user.password}`).toString("base64")}` : undefined,
    credentialsFrom: opts.credentials ? opts.credentials.file : fromUrl ? `the proxy URL (${choice.source})` : undefined,
    secureContext: opts.secureContext,
  });
}

/** The proxy's answer to our CONNECT. */
export interface ConnectAnswer {
  readonly statusCode: number;
  readonly statusText: string;
  /** The first scheme of Proxy-Authenticate, on a 407. */
  readonly scheme: string | undefined;
}

/**
 * One CONNECT tunnel, for one dial: the agent to give `ws`, and what the proxy did — whether it
 * answered in time, and with which status — for the diagnosis.
 */
export class Tunnel {
  readonly agent: HttpsProxyAgent<string>;
  answer: ConnectAnswer | undefined;
  timedOut = false;

  constructor(
    readonly route: ProxyRoute,
    readonly timeoutMs: number,
  ) {
    this.agent = new DeadlineAgent(this);
    this.agent.on("proxyConnect", (res: { statusCode: number; statusText: string; headers: Record<string, string | string[]> }) => {
      const challenge = res.headers["proxy-authenticate"];
      const first = Array.isArray(challenge) ? challenge[0] : challenge;
      this.answer = { statusCode: res.statusCode, statusText: res.statusText, scheme: first?.split(/\s/)[0] };
    });
  }
}

/** https-proxy-agent with a deadline on the CONNECT: the abort destroys the socket to the proxy. */
class DeadlineAgent extends HttpsProxyAgent<string> {
  private readonly abort: AbortController;

  constructor(private readonly tunnel: Tunnel) {
    const abort = new AbortController();
    const { route } = tunnel;
    super(route.origin, {
      // Credentials travel as a header, never in the agent's URL (its debug output prints that).
      headers: route.authorization ? { "Proxy-Authorization": route.authorization } : {},
      signal: abort.signal,
      ...(route.secureContext ? { secureContext: route.secureContext } : {}),
    });
    this.abort = abort;
  }

  override async connect(req: ClientRequest, opts: AgentConnectOpts): Promise<Socket> {
    // `ws`'s handshake timeout starts only once a socket exists: until the proxy answers, this one rules.
    const timer = setTimeout(() => {
      this.tunnel.timedOut = true;
      this.abort.abort();
    }, this.tunnel.timeoutMs);
    try {
      return await super.connect(req, opts);
    } finally {
      clearTimeout(timer);
    }
  }
}
