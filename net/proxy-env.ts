import { BlockList, isIP } from "node:net";

/**
 * Which proxy, if any, a dial to the edge goes through — curl's rules, which Node tools and
 * operators expect:
 *  - an explicit setting (`proxy` in the connector's file, `--proxy`) wins over the whole
 *    environment, NO_PROXY included: it names the one way out this program was given;
 *  - otherwise a wss:// edge uses https_proxy / HTTPS_PROXY, a ws:// edge http_proxy /
 *    HTTP_PROXY, either falling back to all_proxy / ALL_PROXY (lowercase first, as curl);
 *  - and NO_PROXY / no_proxy (lowercase first) lists hosts reached directly: `*` for all, a
 *    host that also matches its subdomains (`example.com`, `.example.com`, `*.example.com`
 *    alike), `host:port` for one port, an IP address, or a CIDR range.
 * An empty variable counts as unset. Pure: the environment comes in as an argument.
 */

export type Environment = Readonly<Record<string, string | undefined>>;

export interface ProxyChoice {
  /** The proxy URL as written (may hold credentials: never print it). */
  readonly text: string;
  /** Where it came from, for messages: "--proxy", "HTTPS_PROXY" … */
  readonly source: string;
}

const FOR_SECURE = ["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"] as const;
const FOR_PLAIN = ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"] as const;

export function chooseProxy(target: URL, explicit: ProxyChoice | undefined, env: Environment): ProxyChoice | undefined {
  if (explicit) return explicit;
  const secure = target.protocol === "wss:" || target.protocol === "https:";
  const source = (secure ? FOR_SECURE : FOR_PLAIN).find((name) => nonEmpty(env[name]) !== undefined);
  if (source === undefined) return undefined;
  const noProxy = nonEmpty(env.no_proxy) ?? nonEmpty(env.NO_PROXY);
  if (noProxy !== undefined && bypasses(noProxy, target)) return undefined;
  return { text: env[source]!, source };
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === "" ? undefined : v;
}

/** Whether a NO_PROXY list names `target`'s host (and port, where an entry gives one). */
export function bypasses(noProxy: string, target: URL): boolean {
  const host = target.hostname
    .toLowerCase()
    .replace(/^\[|\]$/g, "")
    .replace(/\.$/, "");
  const port = Number(target.port || (target.protocol === "wss:" || target.protocol === "https:" ? 443 : 80));
  return noProxy
    .split(/[\s,]+/)
    .filter(Boolean)
    .some((entry) => entryMatches(entry.toLowerCase(), host, port));
}

function entryMatches(entry: string, host: string, port: number): boolean {
  if (entry === "*") return true;
  const cidr = /^([0-9a-f:.]+)\/(\d{1,3})$/.exec(entry);
  if (cidr) return inRange(host, cidr[1]!, Number(cidr[2]));
  const [name, entryPort] = splitPort(entry);
  if (entryPort !== undefined && entryPort !== port) return false;
  const bare = name.replace(/^\*?\./, "").replace(/\.$/, "");
  if (!bare) return false;
  if (isIP(bare)) return isIP(host) !== 0 && sameAddress(host, bare);
  return host === bare || host.endsWith(`.${bare}`);
}

/** "host", "host:port", "[v6]", "[v6]:port", or a bare IPv6 address (no port then). */
function splitPort(entry: string): [string, number | undefined] {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed) return [bracketed[1]!, bracketed[2] === undefined ? undefined : Number(bracketed[2])];
  const hostPort = /^([^:]+):(\d+)$/.exec(entry);
  if (hostPort) return [hostPort[1]!, Number(hostPort[2])];
  return [entry, undefined];
}

function sameAddress(a: string, b: string): boolean {
  const family = isIP(b) === 6 ? "ipv6" : "ipv4";
  if (isIP(a) !== isIP(b)) return false;
  const list = new BlockList();
  list.addAddress(b, family);
  return list.check(a, family);
}

function inRange(host: string, network: string, prefix: number): boolean {
  const family = isIP(network);
  if (family === 0 || isIP(host) !== family || prefix > (family === 4 ? 32 : 128)) return false;
  const list = new BlockList();
  const type = family === 4 ? "ipv4" : "ipv6";
  list.addSubnet(network, prefix, type);
  return list.check(host, type);
}
