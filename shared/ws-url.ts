import { err, ok, type Result } from "./result.ts";

export interface WsUrlWording {
  /** What the setting calls its value. */
  readonly noun: "URL" | "URI";
  /** A good value, offered when the text is not a URL at all. */
  readonly example: string;
  /** Where a token goes instead, when one was put in the URL (e.g. "put the token in token.file"). */
  readonly tokenHint?: string;
}

/**
 * A ws:// or wss:// URL without credentials, query or fragment: what every URL Sallyport dials
 * or serves is (a credential in a URL ends up in logs and proxies; the edge matches paths
 * only). An error is a phrase to follow the setting's name; text that may hold a credential
 * (`@`, `?`, `#`) is never echoed.
 */
export function parseWsUrl(text: string, wording: WsUrlWording): Result<URL, string> {
  const { noun, example, tokenHint } = wording;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return err(`${/[@?#]/.test(text) ? "is" : `"${text}" is`} not a ${noun}; write e.g. "${example}"`);
  }
  if (url.protocol !== "ws:" && url.protocol !== "wss:") return err(`must be a ws:// or wss:// ${noun}`);
  if (url.username || url.password || url.search || url.hash)
    return err(`must not have credentials, a query or a fragment${tokenHint ? `; ${tokenHint}` : ""}`);
  return ok(url);
}
