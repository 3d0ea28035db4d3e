import { readFile } from "node:fs/promises";
import type { SecureContext } from "node:tls";
import type { ConfigIssue } from "../shared/config/issues.ts";
import { parseProxyCredentials } from "../shared/config/proxy-url.ts";
import { err, ok, type Result } from "../shared/result.ts";
import type { EdgeRoute } from "./edge-socket.ts";
import { chooseProxy, type Environment } from "./proxy-env.ts";
import { proxyRoute } from "./proxy.ts";
import { pemProblem, secureContextFor } from "./trust.ts";

/**
 * From settings to an EdgeRoute: the files read (CA, client certificate, proxy credentials and
 * CA), the proxy chosen from the setting or the environment, every problem collected. Shared
 * by the connector's loader and `sallyport client` / `probe`, which name settings differently:
 * `at(key)` turns a setting's key ("ca.file") into the name the user wrote.
 */

/**
 * The flags that say how to reach the edge: the connector's, `client`'s and `probe`'s alike.
 * Each with its help, in the shape of cli/options.ts's option tables (net/ imports only shared/,
 * so the shape is matched, not imported).
 */
export const ROUTE_FLAGS = {
  "ca-file": { type: "string", arg: "FILE", help: "extra CA (PEM) to trust for the edge's certificate, besides Node's default CAs" },
  "ca-file-only": { type: "boolean", help: "trust only --ca-file's CAs, not Node's defaults" },
  proxy: {
    type: "string",
    arg: "URL",
    help:
      "HTTP proxy to reach the edge through (CONNECT), http://HOST:PORT or https://HOST:PORT;\n" +
      "when not given, HTTPS_PROXY / HTTP_PROXY / NO_PROXY are honoured as curl does",
  },
  "proxy-credentials-file": { type: "string", arg: "FILE", help: "user:password for the proxy (Basic), instead of in the URL" },
  "proxy-ca-file": { type: "string", arg: "FILE", help: "extra CA (PEM) for an https:// proxy's own certificate" },
  "allow-insecure-edge": { type: "boolean", help: "accept a ws:// edge on another host (token and data in clear text)" },
} as const;

export interface RouteSettings {
  readonly caFile?: string | undefined;
  readonly caFileOnly?: boolean;
  readonly certFile?: string | undefined;
  readonly keyFile?: string | undefined;
  readonly pin?: string | undefined;
  /** The explicit proxy URL, winning over the environment. */
  readonly proxy?: string | undefined;
  readonly proxyCredentialsFile?: string | undefined;
  readonly proxyCaFile?: string | undefined;
}

export type SettingKey = "ca.file" | "ssl.cert.file" | "ssl.key.file" | "proxy" | "proxy.credentials.file" | "proxy.ca.file";

export async function loadEdgeRoute(
  target: string,
  s: RouteSettings,
  env: Environment,
  at: (key: SettingKey) => string,
): Promise<Result<EdgeRoute, ConfigIssue[]>> {
  const issues: ConfigIssue[] = [];
  const [ca, cert, key] = await Promise.all([
    readPem(s.caFile, at("ca.file"), issues),
    readFileAt(s.certFile, at("ssl.cert.file"), issues),
    readFileAt(s.keyFile, at("ssl.key.file"), issues),
  ]);
  const secureContext = contextOrIssue({ ca, caOnly: s.caFileOnly ?? false, cert, key }, at("ssl.cert.file"), issues);
  const choice = chooseProxy(new URL(target), s.proxy === undefined ? undefined : { text: s.proxy, source: at("proxy") }, env);
  if (!choice) return issues.length ? err(issues) : ok({ secureContext, pin: s.pin });
  const [credentialsText, proxyCa] = await Promise.all([
    readFileAt(s.proxyCredentialsFile, at("proxy.credentials.file"), issues, "utf8"),
    readPem(s.proxyCaFile, at("proxy.ca.file"), issues),
  ]);
  let credentials: { username: string; password: string; file: string } | undefined;
  if (credentialsText !== undefined && s.proxyCredentialsFile !== undefined) {
    const parsed = parseProxyCredentials(credentialsText);
    // The message names the file, never its content.
    if (!parsed.ok) issues.push({ path: at("proxy.credentials.file"), message: `${s.proxyCredentialsFile} ${parsed.error}` });
    else credentials = { ...parsed.value, file: s.proxyCredentialsFile };
  }
  const proxyContext = proxyCa ? contextOrIssue({ ca: proxyCa }, at("proxy.ca.file"), issues) : undefined;
  const route = proxyRoute(choice, { credentials, secureContext: proxyContext });
  if (!route.ok) issues.push({ path: choice.source, message: route.error });
  return issues.length || !route.ok ? err(issues) : ok({ secureContext, pin: s.pin, proxy: route.value });
}

function contextOrIssue(m: Parameters<typeof secureContextFor>[0], at: string, issues: ConfigIssue[]): SecureContext | undefined {
  try {
    return secureContextFor(m);
  } catch (e) {
    // A certificate and key that do not match, or a key that is not PEM.
    issues.push({ path: at, message: `cannot be used for TLS (${(e as Error).message})` });
    return undefined;
  }
}

async function readPem(file: string | undefined, at: string, issues: ConfigIssue[]): Promise<Buffer | undefined> {
  const pem = await readFileAt(file, at, issues);
  if (pem === undefined) return undefined;
  const problem = pemProblem(pem);
  if (problem) issues.push({ path: at, message: `${file} ${problem}` });
  return problem ? undefined : pem;
}

async function readFileAt(file: string | undefined, at: string, issues: ConfigIssue[]): Promise<Buffer | undefined>;
async function readFileAt(file: string | undefined, at: string, issues: ConfigIssue[], encoding: "utf8"): Promise<string | undefined>;
async function readFileAt(
  file: string | undefined,
  at: string,
  issues: ConfigIssue[],
  encoding?: "utf8",
): Promise<Buffer | string | undefined> {
  if (file === undefined) return undefined;
  try {
    return encoding ? await readFile(file, encoding) : await readFile(file);
  } catch (e) {
    issues.push({ path: at, message: `${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? "error"})` });
    return undefined;
  }
}
