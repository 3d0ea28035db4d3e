import { parseConnectorConfig } from "../shared/config/connector-config.ts";
import { EDGE_SECRETS, EDGE_TLS, EDGE_VARS, parseEdgeConfig, standInTokens } from "../shared/config/edge-config.ts";
import type { ConfigIssue } from "../shared/config/issues.ts";
import { isRecord } from "../shared/config/reader.ts";
import { readWranglerVars } from "../shared/config/wrangler-vars.ts";
import { importKaazingXml, looksLikeXml } from "../kaazing/xml.ts";

/**
 * `sallyport config check`: whichever configuration a file holds — connector JSON, Kaazing XML,
 * the edge's wrangler.toml (its [vars]), or the edge's vars as JSON ({"SALLYPORT_SERVICES": …})
 * — validated in one pass with every problem listed. Static: secrets are not read, and a setting the deployment supplies from
 * elsewhere (the token file, from --token-file or the systemd unit) is noted, not failed.
 */

export type ConfigKind = "kaazing" | "connector" | "edge";

export interface CheckResult {
  readonly kind: ConfigKind | undefined;
  readonly issues: readonly ConfigIssue[];
  /** What the file describes, and what the check could not see. */
  readonly lines: readonly string[];
}

const SECRET_NOTE = (name: string) => `${name} is not in the file (it is a secret): not checked`;

export function checkConfigText(fileName: string, text: string): CheckResult {
  if (looksLikeXml(fileName, text)) return checkKaazing(text);
  if (/\.toml$/i.test(fileName)) return checkWranglerToml(text);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    // Position only: V8's message quotes the text it choked on, which may be a secret.
    const where = /\(line \d+ column \d+\)/.exec((e as Error).message)?.[0];
    return {
      kind: undefined,
      issues: [
        {
          path: "(file)",
          message:
            `is neither Kaazing XML nor valid JSON${where ? ` ${where}` : ""} ` +
            "(a wrangler.toml is read as TOML when its name ends in .toml)",
        },
      ],
      lines: [],
    };
  }
  if (!isRecord(raw)) return { kind: undefined, issues: [{ path: "(root)", message: "must be an object" }], lines: [] };
  return Object.hasOwn(raw, "SALLYPORT_SERVICES") ? checkEdge(raw, "") : checkConnector(raw);
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

/**
 * The edge's own file. Only `[vars]` is Sallyport's; a secret written there would be committed
 * and shown in the dashboard, so it is an error even though the Worker would read it.
 */
function checkWranglerToml(text: string): CheckResult {
  const read = readWranglerVars(text);
  if (!read.ok) return { kind: undefined, issues: read.error, lines: [] };
  const vars = read.value;
  const early: ConfigIssue[] = EDGE_SECRETS.filter((k) => vars[k] !== undefined).map((k) => ({
    path: `[vars].${k}`,
    message: `is a secret: wrangler.toml is committed and shown in the dashboard; set it with wrangler secret put ${k}`,
  }));
  if (vars.SALLYPORT_SERVICES === undefined) {
    early.unshift({
      path: "[vars].SALLYPORT_SERVICES",
      message: "is not set: the edge's services go in [vars.SALLYPORT_SERVICES.<name>] tables (docs/configuration.md)",
    });
    return { kind: "edge", issues: [...early, ...unknownVars(vars, "[vars].")], lines: [] };
  }
  return checkEdge(vars, "[vars].", early);
}

function unknownVars(vars: Record<string, unknown>, where: string): ConfigIssue[] {
  return Object.keys(vars)
    .filter((k) => !(EDGE_VARS as readonly string[]).includes(k))
    .map((k) => ({ path: `${where}${k}`, message: `is not a Sallyport edge variable (${EDGE_VARS.join(", ")})` }));
}

/**
 * The vars, from a JSON file (`where` "") or wrangler.toml's [vars]. Tokens are secrets,
 * rarely beside the vars: when absent, a distinct stand-in per service lets the services be
 * checked on their own, and the output says what was not checked.
 */
function checkEdge(vars: Record<string, unknown>, where: string, early: readonly ConfigIssue[] = []): CheckResult {
  const issues = [...early, ...unknownVars(vars, where)];
  const tls = vars.SALLYPORT_TLS;
  if (tls !== undefined && !(EDGE_TLS as readonly unknown[]).includes(tls))
    issues.push({ path: `${where}SALLYPORT_TLS`, message: `must be ${EDGE_TLS.map((t) => `"${t}"`).join(" or ")}` });
  const services = typeof vars.SALLYPORT_SERVICES === "string" ? safeJson(vars.SALLYPORT_SERVICES) : vars.SALLYPORT_SERVICES;
  const names = Object.keys(isRecord(services) ? services : {});
  const notes: string[] = [];
  let tokens = vars.SALLYPORT_CONNECTOR_TOKENS;
  if (tokens === undefined) {
    tokens = standInTokens(names, "connector");
    notes.push(SECRET_NOTE("SALLYPORT_CONNECTOR_TOKENS"));
  }
  const clientTokens = vars.SALLYPORT_CLIENT_TOKENS ?? standInTokens(names, "client");
  const parsed = parseEdgeConfig(vars.SALLYPORT_SERVICES, tokens, clientTokens);
  if (!parsed.ok) issues.push(...parsed.error);
  if (issues.length || !parsed.ok) return { kind: "edge", issues, lines: [] };
  if (vars.SALLYPORT_CLIENT_TOKENS === undefined && parsed.value.services.some((s) => s.client.auth === "token"))
    notes.push(SECRET_NOTE("SALLYPORT_CLIENT_TOKENS"));
  const lines = parsed.value.services.map((s) => `SALLYPORT_SERVICES.${s.name}: ${s.accept.uri}, socks.timeout ${s.socksTimeoutMs} ms`);
  return { kind: "edge", issues: [], lines: [...lines, ...notes] };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
