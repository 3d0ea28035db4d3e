import { parseConnectorConfig } from "../shared/config/connector-config.ts";
import { MIN_TOKEN_LENGTH, parseEdgeConfig } from "../shared/config/edge-config.ts";
import type { ConfigIssue } from "../shared/config/issues.ts";
import { isRecord } from "../shared/config/reader.ts";
import { importKaazingXml, looksLikeXml } from "../kaazing/xml.ts";

/**
 * `sallyport config check`: whichever configuration a file holds — connector JSON, Kaazing XML,
 * or the edge's vars as JSON ({"SALLYPORT_SERVICES": …}) — validated in one pass with every
 * problem listed. Static: secrets are not read, and a setting the deployment supplies from
 * elsewhere (the token file, from --token-file or the systemd unit) is noted, not failed.
 */

export type ConfigKind = "kaazing" | "connector" | "edge";

export interface CheckResult {
  readonly kind: ConfigKind | undefined;
  readonly issues: readonly ConfigIssue[];
  /** What the file describes, and what the check could not see. */
  readonly lines: readonly string[];
}

const EDGE_VARS = ["SALLYPORT_SERVICES", "SALLYPORT_CONNECTOR_TOKENS"];

export function checkConfigText(fileName: string, text: string): CheckResult {
  if (looksLikeXml(fileName, text)) return checkKaazing(text);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    // Position only: V8's message quotes the text it choked on, which may be a secret.
    const where = /\(line \d+ column \d+\)/.exec((e as Error).message)?.[0];
    return {
      kind: undefined,
      issues: [{ path: "(file)", message: `is neither Kaazing XML nor valid JSON${where ? ` ${where}` : ""}` }],
      lines: [],
    };
  }
  if (!isRecord(raw)) return { kind: undefined, issues: [{ path: "(root)", message: "must be an object" }], lines: [] };
  return Object.hasOwn(raw, "SALLYPORT_SERVICES") ? checkEdge(raw) : checkConnector(raw);
}

function checkKaazing(text: string): CheckResult {
  const r = importKaazingXml(text);
  if (!r.ok) return { kind: "kaazing", issues: r.error, lines: [] };
  const lines = r.value.services.map((s) =>
    s.role === "internal"
      ? `${s.path}: internal gateway → connector service "${s.name}"`
      : `${s.path}: DMZ gateway → edge service "${s.name}"`,
  );
  for (const n of r.value.notes) if (n.text.startsWith("warning:")) lines.push(`${n.path}: ${n.text}`);
  if (r.value.connector) lines.push("the connector still needs its token: --token-file or SALLYPORT_TOKEN_FILE (Kaazing had none)");
  return { kind: "kaazing", issues: [], lines };
}

function checkConnector(raw: Record<string, unknown>): CheckResult {
  const services = Array.isArray(raw.services) ? raw.services : [];
  const tokenElsewhere = raw["token.file"] === undefined && !services.every((s) => isRecord(s) && s["token.file"] !== undefined);
  // The placeholder stands for the file the deployment passes; it is never opened here.
  const parsed = parseConnectorConfig(tokenElsewhere ? { ...raw, "token.file": "(from --token-file)" } : raw);
  if (!parsed.ok) return { kind: "connector", issues: parsed.error, lines: [] };
  const lines = parsed.value.services.map(
    (s, i) =>
      `services[${i}]: "${s.name}" ${s.accept.uri} → ${s.connect.scheme}://${s.connect.host}:${s.connect.port}, binds at ${s.bindUrl}`,
  );
  if (tokenElsewhere)
    lines.push(
      "token.file is not in the file: the connector needs --token-file or SALLYPORT_TOKEN_FILE (the systemd unit sets the latter)",
    );
  return { kind: "connector", issues: [], lines };
}

function checkEdge(raw: Record<string, unknown>): CheckResult {
  const unknown: ConfigIssue[] = Object.keys(raw)
    .filter((k) => !EDGE_VARS.includes(k))
    .map((k) => ({ path: k, message: `is not a Sallyport edge variable (${EDGE_VARS.join(", ")})` }));
  const lines: string[] = [];
  let tokens = raw.SALLYPORT_CONNECTOR_TOKENS;
  if (tokens === undefined) {
    // Tokens are a secret (wrangler secret put), rarely beside the vars: stand-ins let the
    // services be checked on their own.
    const services = typeof raw.SALLYPORT_SERVICES === "string" ? safeJson(raw.SALLYPORT_SERVICES) : raw.SALLYPORT_SERVICES;
    tokens = Object.fromEntries(Object.keys(isRecord(services) ? services : {}).map((n) => [n, ["x".repeat(MIN_TOKEN_LENGTH)]]));
    lines.push("SALLYPORT_CONNECTOR_TOKENS is not in the file (it is a secret): not checked");
  }
  const parsed = parseEdgeConfig(raw.SALLYPORT_SERVICES, tokens);
  const issues = [...unknown, ...(parsed.ok ? [] : parsed.error)];
  if (parsed.ok)
    lines.unshift(
      ...parsed.value.services.map((s) => `SALLYPORT_SERVICES.${s.name}: ${s.accept.uri}, socks.timeout ${s.socksTimeoutMs} ms`),
    );
  return { kind: "edge", issues, lines: issues.length ? [] : lines };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
