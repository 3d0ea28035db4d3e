import { readFile } from "node:fs/promises";
import net from "node:net";
import type { EdgeRoute } from "../net/edge-socket.ts";
import { loadEdgeRoute, type ROUTE_FLAGS } from "../net/route-load.ts";
import { formatIssues } from "../shared/config/issues.ts";
import { isLoopbackHost } from "../shared/loopback.ts";
import { isCleartextRemote } from "../shared/masking.ts";
import { RESERVED_PATH_PREFIX } from "../shared/protocol/constants.ts";
import { err, ok, type Result } from "../shared/result.ts";
import { parseWsUrl } from "../shared/ws-url.ts";
import type { Values } from "./options.ts";

/** Flag checks shared by `sallyport client` and `sallyport probe`; each error says what to fix. */

export function parseClientUrl(value: string | undefined, allowInsecure = false): Result<string, string> {
  if (!value) return err("--url is required: the service's client URL on the edge, e.g. wss://gateway.example.com/path");
  const parsed = parseWsUrl(value, {
    noun: "URL",
    example: "wss://gateway.example.com/path",
    tokenHint: "put the token in a file and pass --token-file",
  });
  if (!parsed.ok) return err(`--url ${parsed.error}`);
  const url = parsed.value;
  if (url.pathname.startsWith(RESERVED_PATH_PREFIX)) return err(`--url must be a service's accept path, not under ${RESERVED_PATH_PREFIX}`);
  if (isCleartextRemote(url) && !allowInsecure)
    return err(
      `--url is ws:// to ${url.hostname}: the token and the session's data would cross the network in clear text; ` +
        "use wss://, or pass --allow-insecure-edge if the network between is trusted",
    );
  return ok(url.href);
}

export type RouteFlagValues = Values<typeof ROUTE_FLAGS>;

/** `--url` and the route flags, as `sallyport client` and `sallyport probe` both take them: the edge to dial, or what to fix. */
export async function edgeFromFlags(
  values: RouteFlagValues & { readonly url?: string | undefined },
  env: NodeJS.ProcessEnv,
): Promise<Result<{ url: string; route: EdgeRoute }, string>> {
  const url = parseClientUrl(values.url, values["allow-insecure-edge"]);
  if (!url.ok) return url;
  const route = await routeFromFlags(url.value, values, env);
  if (!route.ok) return route;
  return ok({ url: url.value, route: route.value });
}

/** Files read, proxy chosen (the flag, else the environment): the route, or what to fix. */
export async function routeFromFlags(url: string, values: RouteFlagValues, env: NodeJS.ProcessEnv): Promise<Result<EdgeRoute, string>> {
  if (values["ca-file-only"] && values["ca-file"] === undefined)
    return err("--ca-file-only needs --ca-file: the CAs to trust instead of Node's");
  const flag = {
    "ca.file": "--ca-file",
    "ssl.cert.file": "--ca-file",
    "ssl.key.file": "--ca-file",
    proxy: "--proxy",
    "proxy.credentials.file": "--proxy-credentials-file",
    "proxy.ca.file": "--proxy-ca-file",
  } as const;
  const route = await loadEdgeRoute(
    url,
    {
      caFile: values["ca-file"],
      caFileOnly: values["ca-file-only"] ?? false,
      proxy: values.proxy,
      proxyCredentialsFile: values["proxy-credentials-file"],
      proxyCaFile: values["proxy-ca-file"],
    },
    env,
    (key) => flag[key],
  );
  return route.ok ? route : err(`how to reach the edge:\n${formatIssues(route.error)}`);
}

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
  readonly loopback: boolean;
}

export function parseListen(value: string | undefined): Result<ListenAddress, string> {
  if (!value) return err("--listen is required, e.g. --listen 127.0.0.1:2222 (port 0 picks a free one)");
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value);
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (!m || !host || port > 65535) return err(`--listen ${JSON.stringify(value)} must be HOST:PORT, e.g. 127.0.0.1:2222 or [::1]:2222`);
  if (m[1] !== undefined && net.isIPv6(host) === false) return err(`--listen: ${host} is not an IPv6 address`);
  return ok({ host, port, loopback: isLoopbackHost(host) });
}

export async function readTokenFile(path: string): Promise<Result<string, string>> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    return err(`cannot read --token-file ${path} (${(e as NodeJS.ErrnoException).code ?? "error"})`);
  }
  const token = text.trim();
  if (!token) return err(`--token-file ${path} is empty`);
  // It becomes a header value: one line of printable ASCII.
  if (!/^[\x21-\x7e]+$/.test(token)) return err(`--token-file ${path} must hold one token of printable ASCII without spaces`);
  return ok(token);
}
