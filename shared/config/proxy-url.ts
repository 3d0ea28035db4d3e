import { err, ok, type Result } from "../result.ts";

/**
 * An HTTP proxy's URL as curl reads one: `http://host:port`, `https://host:port` (the proxy
 * itself reached over TLS), or a bare `host:port` (http). Credentials may sit in it
 * (`http://user:password@host:port`); they are taken out here, so that what travels on — and
 * anything printed — holds the address only. Pure: used by the config model and by net/.
 */

export interface ProxyUrl {
  /** scheme://host:port, without credentials, path or query. */
  readonly origin: string;
  readonly protocol: "http:" | "https:";
  readonly host: string;
  readonly port: number;
  /** Percent-decoded, as they go into Proxy-Authorization. */
  readonly username: string | undefined;
  readonly password: string | undefined;
  /** The URL fit for a log line: the password replaced by ***. */
  readonly display: string;
}

export const PROXY_URL_EXAMPLE = "http://proxy.example.com:3128";

export function parseProxyUrl(text: string): Result<ProxyUrl, string> {
  const trimmed = text.trim();
  // Quoted back only when it cannot hold a password.
  const quoted = /[@]/.test(trimmed) ? "the proxy URL" : JSON.stringify(trimmed);
  if (!trimmed) return err(`is empty; write e.g. "${PROXY_URL_EXAMPLE}"`);
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `http://${trimmed}`);
  } catch {
    return err(`${quoted} is not a URL; write e.g. "${PROXY_URL_EXAMPLE}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    return err(`must be an http:// or https:// proxy URL (HTTP CONNECT); ${url.protocol.slice(0, -1)}:// is not supported`);
  if (!url.hostname) return err(`${quoted} names no host; write e.g. "${PROXY_URL_EXAMPLE}"`);
  if ((url.pathname !== "/" && url.pathname !== "") || url.search || url.hash)
    return err(`${quoted} must be scheme://[user:password@]host[:port], without a path or query`);
  let username: string | undefined;
  let password: string | undefined;
  try {
    username = url.username ? decodeURIComponent(url.username) : undefined;
    password = url.password ? decodeURIComponent(url.password) : undefined;
  } catch {
    return err("has credentials that are not valid percent-encoding");
  }
  const protocol = url.protocol;
  const port = url.port ? Number(url.port) : protocol === "https:" ? 443 : 80;
  const origin = `${protocol}//${url.host}`;
  const display = username || password ? `${protocol}//${url.username}${password ? ":***" : ""}@${url.host}` : origin;
  return ok({ origin, protocol, host: url.hostname.replace(/^\[|\]$/g, ""), port, username, password, display });
}

/** A `user:password` line from a credentials file: Basic credentials, as RFC 7617 joins them. */
export function parseProxyCredentials(text: string): Result<{ username: string; password: string }, string> {
  const line = text.replace(/[\r\n]+$/, "");
  if (/[\r\n\0]/.test(line)) return err("must hold one line, user:password");
  const colon = line.indexOf(":");
  if (colon <= 0) return err("must hold user:password on one line");
  return ok({ username: line.slice(0, colon), password: line.slice(colon + 1) });
}
