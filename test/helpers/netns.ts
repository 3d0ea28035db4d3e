import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Cleanup } from "./cleanup.ts";
import { type Finished, type Proc, ROOT, runCommand, SALLYPORT_BIN, spawnCommand } from "./processes.ts";

/**
 * Linux network namespaces for the firewall test (root, iproute2, nftables, tinyproxy). Two
 * namespaces made per run, joined by one veth pair and nothing else:
 *
 *   inside   INSIDE_ADDR, point-to-point to LINK_ADDR: its only route. nftables drops every
 *            new inbound connection and every outbound one but to the proxy's ports.
 *   outside  LINK_ADDR (the proxy listens there) and EDGE_ADDR on its loopback (the edge),
 *            which the inside has no route to.
 *
 * The 10.203.x addresses exist only in these namespaces; no packet leaves them. Deleting the
 * namespaces (cleanup) removes the veth pair with them; processes started in them are stopped
 * by their own cleanup entries, which run first.
 */

export const INSIDE_ADDR = "10.203.0.2";
export const LINK_ADDR = "10.203.0.1";
export const EDGE_ADDR = "10.203.1.1";
export const EDGE_PORT = 8443;

const TOOLS: ReadonlyArray<[string, string[], string]> = [
  ["ip", ["-V"], "iproute2"],
  ["nft", ["--version"], "nftables"],
  ["tinyproxy", ["-v"], "tinyproxy"],
];

/** Why namespaces cannot be made here (not root, a tool missing, no permission), or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== "linux") return `not Linux (${process.platform})`;
  if (process.getuid?.() !== 0) return "not root (ip netns needs CAP_SYS_ADMIN and CAP_NET_ADMIN)";
  const missing = TOOLS.filter(([cmd, args]) => spawnSync(cmd, args, { stdio: "ignore", timeout: 5000 }).status !== 0);
  if (missing.length)
    return `missing ${missing.map(([cmd, , pkg]) => `${cmd} (Debian package ${pkg})`).join(", ")}; run .ci/install-system-deps.sh`;
  const name = `sp-check-${randomBytes(3).toString("hex")}`;
  const add = spawnSync("ip", ["netns", "add", name], { encoding: "utf8", timeout: 5000 });
  if (add.status !== 0) return `ip netns add failed: ${add.stderr.trim() || `exit ${add.status}`}`;
  spawnSync("ip", ["netns", "del", name], { timeout: 5000 });
  return undefined;
}

export interface Topology {
  readonly inside: string;
  readonly outside: string;
}

async function must(command: string, args: string[], cleanup: Cleanup): Promise<Finished> {
  const r = await runCommand(command, args, { name: command, cleanup }, 10_000);
  if (r.code !== 0) throw new Error(`${command} ${args.join(" ")}: exit ${r.code}\n${r.stderr}`);
  return r;
}

/** `ip ARGS…` (or `ip -n NS ARGS…`), failing loudly. */
const ip = (cleanup: Cleanup, ...args: string[]): Promise<Finished> => must("ip", args, cleanup);

/** The two namespaces and their link, with names unique to this run; cleanup deletes them. */
export async function makeTopology(cleanup: Cleanup): Promise<Topology> {
  const id = randomBytes(3).toString("hex");
  const topo = { inside: `sp-in-${id}`, outside: `sp-out-${id}` };
  const [vIn, vOut] = [`spi${id}`, `spo${id}`]; // interface names: 15 characters at most
  for (const ns of [topo.inside, topo.outside]) {
    await ip(cleanup, "netns", "add", ns);
    cleanup.add(`netns ${ns}`, () => ip(new Cleanup(), "netns", "del", ns));
    await ip(cleanup, "-n", ns, "link", "set", "lo", "up");
  }
  await ip(cleanup, "link", "add", vIn, "netns", topo.inside, "type", "veth", "peer", "name", vOut, "netns", topo.outside);
  await ip(cleanup, "-n", topo.inside, "addr", "add", INSIDE_ADDR, "peer", LINK_ADDR, "dev", vIn);
  await ip(cleanup, "-n", topo.outside, "addr", "add", LINK_ADDR, "peer", INSIDE_ADDR, "dev", vOut);
  await ip(cleanup, "-n", topo.outside, "addr", "add", `${EDGE_ADDR}/32`, "dev", "lo");
  await ip(cleanup, "-n", topo.inside, "link", "set", vIn, "up");
  await ip(cleanup, "-n", topo.outside, "link", "set", vOut, "up");
  return topo;
}

/**
 * The inside's firewall: inbound, only replies to what it opened (and loopback); outbound, only
 * TCP to the proxy's ports on LINK_ADDR (and loopback, for the backend).
 */
export async function lockDown(cleanup: Cleanup, ns: string, dir: string, proxyPorts: readonly number[]): Promise<void> {
  const rules = `table inet sallyport_firewall {
  chain inbound {
    type filter hook input priority filter; policy drop;
    iif "lo" accept
    ct state established,related accept
  }
  chain outbound {
    type filter hook output priority filter; policy drop;
    oif "lo" accept
    ct state established,related accept
    ip daddr ${LINK_ADDR} tcp dport { ${proxyPorts.join(", ")} } accept
  }
}
`;
  const file = join(dir, `${ns}.nft`);
  await writeFile(file, rules);
  await must("ip", ["netns", "exec", ns, "nft", "-f", file], cleanup);
}

/** Starts `command args…` inside `ns`, in its own process group; cleanup kills it. */
export function spawnInNetns(
  cleanup: Cleanup,
  ns: string,
  name: string,
  command: string,
  args: string[],
  env?: Record<string, string>,
): Proc {
  return spawnCommand("ip", ["netns", "exec", ns, command, ...args], { name, cleanup, ...(env ? { env } : {}) });
}

/** Runs `command args…` inside `ns` to its end (within `timeoutMs`); what it wrote. */
export function runInNetns(
  cleanup: Cleanup,
  ns: string,
  command: string,
  args: string[],
  timeoutMs: number,
  env?: Record<string, string>,
): Promise<Finished> {
  return runCommand(
    "ip",
    ["netns", "exec", ns, command, ...args],
    { name: `${command} (${ns})`, cleanup, ...(env ? { env } : {}) },
    timeoutMs,
  );
}

/** `sallyport ARGS…` (the checkout's bin, this Node) inside `ns`. */
export function sallyportInNetns(cleanup: Cleanup, ns: string, name: string, args: string[], env?: Record<string, string>): Proc {
  return spawnInNetns(cleanup, ns, name, process.execPath, [SALLYPORT_BIN, ...args], env);
}

/** A TypeScript script of the checkout (through tsx's loader, one process) inside `ns`. */
function scriptInNetns(cleanup: Cleanup, ns: string, name: string, script: string, args: string[]): Proc {
  return spawnInNetns(cleanup, ns, name, process.execPath, ["--import", "tsx", join(ROOT, script), ...args]);
}

/** An echo server on HOST port 0 inside `ns`; it prints `accepted ADDRESS` per connection. */
export async function echoInNetns(cleanup: Cleanup, ns: string, host: string): Promise<{ proc: Proc; port: number }> {
  const proc = scriptInNetns(cleanup, ns, `echo backend (${ns})`, "test/helpers/netns-tcp.ts", ["echo", host]);
  const line = await proc.waitForLog((l) => l.raw.startsWith("listening "), 20_000, "listening");
  return { proc, port: Number(line.raw.split(" ")[1]) };
}

export type ConnectOutcome = "connected" | "refused" | "timeout" | `failed ${string}`;

/** One TCP connection attempt from inside `ns`: what became of it within `ms`. */
export async function tryConnect(cleanup: Cleanup, ns: string, host: string, port: number, ms: number): Promise<ConnectOutcome> {
  const proc = scriptInNetns(cleanup, ns, `connect ${host}:${port} (${ns})`, "test/helpers/netns-tcp.ts", [
    "connect",
    host,
    String(port),
    String(ms),
  ]);
  const exit = await proc.waitForExit(ms + 20_000);
  const out = proc.lines.find((l) => l.stream === "stdout")?.raw;
  if (exit.code !== 0 || !out) throw new Error(`netns-tcp connect: exit ${exit.code}\n${proc.output()}`);
  return out as ConnectOutcome;
}

export interface EdgeInNetns {
  readonly proc: Proc;
  /** wss://EDGE_ADDR:PORT */
  readonly url: string;
}

/** The local edge (bench/edge-host.ts: workerd through Miniflare) on EDGE_ADDR inside `ns`, over TLS. */
export async function edgeInNetns(
  cleanup: Cleanup,
  ns: string,
  opts: { tokenFile: string; services: readonly string[]; acceptOrigin: string; cert: string; key: string },
): Promise<EdgeInNetns> {
  // A fixed port: the namespace is new, so it is free (startLocalEdge needs one off loopback).
  const args = ["--host", EDGE_ADDR, "--port", String(EDGE_PORT), "--token-file", opts.tokenFile, "--service", opts.services.join(",")];
  args.push("--accept-origin", opts.acceptOrigin, "--timeout", "10 seconds", "--tls-cert", opts.cert, "--tls-key", opts.key);
  const proc = scriptInNetns(cleanup, ns, `edge (${ns})`, "bench/edge-host.ts", args);
  const line = await proc.waitForLog((l) => l.raw.startsWith("edge "), 30_000, "the edge's address");
  await proc.waitForLog((l) => l.raw === "ready", 30_000, "ready");
  const url = new URL(line.raw.slice("edge ".length));
  if (url.protocol !== "https:") throw new Error(`the edge is not on TLS: ${line.raw}`);
  return { proc, url: `wss://${url.host}` };
}
