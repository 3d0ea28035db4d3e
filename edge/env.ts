import { parseEdgeConfig, type EdgeConfig, type EdgeService } from "../shared/config/edge-config.ts";
import type { ConfigIssue } from "../shared/config/issues.ts";
import type { Result } from "../shared/result.ts";

export interface Env {
  /** Object keyed by service name (wrangler.toml [vars]); a JSON string is accepted too. */
  SALLYPORT_SERVICES: unknown;
  /** Secret: JSON object, service name → token or list of tokens. */
  SALLYPORT_CONNECTOR_TOKENS?: string;
  /** Secret: JSON object, service name → client tokens (services with client.auth "token"). */
  SALLYPORT_CLIENT_TOKENS?: string;
  /** Secret: bearer token for the status endpoints; unset = status disabled (404). */
  SALLYPORT_ADMIN_TOKEN?: string;
  /** "cloudflare" (default): TLS ends at Cloudflare; "workerd": a self-hosted workerd listener verifies client certificates. */
  SALLYPORT_TLS?: string;
  /**
   * Secret: the HMAC key of resume tickets (edge/ticket.ts), at least 32 characters. Unset:
   * sessions do not resume. Keep it across deploys, or tickets issued before one are refused.
   */
  SALLYPORT_RESUME_SECRET?: string;
  SERVICE: DurableObjectNamespace;
}

// Parsed once per isolate: vars and secrets cannot change without a new deployment.
let cached: { services: unknown; tokens: unknown; clientTokens: unknown; result: Result<EdgeConfig, readonly ConfigIssue[]> } | undefined;

export function edgeConfig(env: Env): Result<EdgeConfig, readonly ConfigIssue[]> {
  if (
    cached &&
    cached.services === env.SALLYPORT_SERVICES &&
    cached.tokens === env.SALLYPORT_CONNECTOR_TOKENS &&
    cached.clientTokens === env.SALLYPORT_CLIENT_TOKENS
  ) {
    return cached.result;
  }
  // workerd's fromEnvironment binding is null, not absent, when the variable is unset.
  const result = parseEdgeConfig(env.SALLYPORT_SERVICES, env.SALLYPORT_CONNECTOR_TOKENS, env.SALLYPORT_CLIENT_TOKENS ?? undefined);
  if (!result.ok) {
    // Paths only: messages never quote a token. Fail closed: every request is refused.
    console.error(JSON.stringify({ level: "error", msg: "edge configuration invalid; refusing all traffic", issues: result.error }));
  }
  cached = { services: env.SALLYPORT_SERVICES, tokens: env.SALLYPORT_CONNECTOR_TOKENS, clientTokens: env.SALLYPORT_CLIENT_TOKENS, result };
  return result;
}

export function findService(config: EdgeConfig, name: string): EdgeService | undefined {
  return config.services.find((s) => s.name === name);
}
