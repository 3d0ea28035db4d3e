import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { buildWorkerdDir } from "../../deploy/workerd/build.ts";
import type { TestPki } from "./certs.ts";
import type { Cleanup } from "./cleanup.ts";
import { Proc, ROOT } from "./processes.ts";
import { Condition } from "./wait.ts";

/**
 * The self-hosted edge as deploy/workerd ships it: the installed layout the README describes
 * (config, bundle, certificates, secrets in a directory of their own) and workerd started with
 * the unit's own ExecStart, by the workerd binary itself (no Miniflare).
 */

export const WORKERD = `${ROOT}node_modules/.bin/workerd`;
export const UNIT_FILE = join(ROOT, "deploy/workerd/sallyport-edge.service");
export const UNIT = readFileSync(UNIT_FILE, "utf8");

/** The two listeners of sallyport.capnp. */
export interface EdgePorts {
  readonly https: number;
  readonly connectors: number;
}

/**
 * Writes the layout the README installs under /etc/sallyport-edge into `dir`: the config and
 * bundle (build.ts), services.json, tls/, and the secrets in dir/secrets (the unit's %d);
 * dir/state is the state directory.
 */
export async function writeEdgeDir(
  dir: string,
  opts: { readonly pki: TestPki; readonly services: Record<string, unknown>; readonly tokens: Record<string, string[]> },
): Promise<void> {
  await buildWorkerdDir(dir);
  await Promise.all([mkdir(join(dir, "tls")), mkdir(join(dir, "secrets"), { mode: 0o700 }), mkdir(join(dir, "state"))]);
  await Promise.all([
    writeFile(join(dir, "services.json"), JSON.stringify(opts.services)),
    writeFile(join(dir, "tls", "edge.crt"), opts.pki.server.cert),
    writeFile(join(dir, "tls", "connector-ca.pem"), opts.pki.ca.cert),
    writeFile(join(dir, "secrets", "edge.key"), opts.pki.server.key, { mode: 0o600 }),
    writeFile(join(dir, "secrets", "connector-tokens.json"), JSON.stringify(opts.tokens), { mode: 0o600 }),
    writeFile(join(dir, "secrets", "client-tokens.json"), "{}", { mode: 0o600 }),
  ]);
}

/**
 * The unit's ExecStart, mapped onto `dir`: the config directory is `dir`, the credentials
 * directory (%d) `dir/secrets`, the state directory `dir/state`.
 */
export function unitCommand(dir: string): { command: string; args: string[] } {
  const execStart = /^ExecStart=(.*)$/m.exec(UNIT)?.[1];
  if (!execStart) throw new Error("no ExecStart in the unit");
  const [command, ...args] = execStart
    .replaceAll("/etc/sallyport-edge/", `${dir}/`)
    .replaceAll("%S/sallyport-edge", join(dir, "state"))
    .replaceAll("%d", join(dir, "secrets"))
    .split(" ");
  if (command !== "/usr/local/bin/workerd") throw new Error(`the unit runs ${command}, not /usr/local/bin/workerd`);
  return { command: WORKERD, args };
}

interface Listening {
  readonly event: string;
  readonly socket: string;
  readonly port: number;
}

export interface StartOptions {
  /** What the unit's EnvironmentFile would give it (SALLYPORT_ADMIN_TOKEN, SALLYPORT_RESUME_SECRET). */
  readonly env?: Record<string, string>;
  /** Listen on these ports of 127.0.0.1 (a restart in place); default 0, workerd picks. */
  readonly ports?: EdgePorts;
}

/**
 * workerd as the unit starts it, plus --socket-addr for both listeners on 127.0.0.1 and
 * --control-fd 3, on which it reports the ports it got. Resolves once both listen; rejects if
 * workerd exits first (a port still taken, say). Cleanup kills it by PID.
 */
export async function startWorkerd(cleanup: Cleanup, dir: string, opts: StartOptions = {}): Promise<{ proc: Proc; ports: EdgePorts }> {
  const { command, args } = unitCommand(dir);
  const port = (name: keyof EdgePorts): number => opts.ports?.[name] ?? 0;
  args.push("--socket-addr", `https=127.0.0.1:${port("https")}`, "--socket-addr", `connectors=127.0.0.1:${port("connectors")}`);
  args.push("--control-fd=3");
  const child = spawn(command, args, {
    cwd: dir,
    stdio: ["ignore", "pipe", "pipe", "pipe"],
    detached: true,
    env: { PATH: process.env.PATH ?? "", ...opts.env },
  });
  const proc = new Proc("workerd", child);
  cleanup.add(`workerd pid ${proc.pid}`, () => proc.kill());
  const ports: Record<string, number> = {};
  const changed = new Condition();
  let rest = "";
  const control = child.stdio[3] as Readable;
  control.setEncoding("utf8");
  control.on("data", (chunk: string) => {
    const lines = (rest + chunk).split("\n");
    rest = lines.pop()!;
    for (const line of lines) {
      const msg = JSON.parse(line) as Listening;
      if (msg.event === "listen") ports[msg.socket] = msg.port;
    }
    changed.notify();
  });
  void proc.exited.then(() => changed.notify());
  const listening = await changed.wait(
    () => {
      if (ports.https && ports.connectors) return { https: ports.https, connectors: ports.connectors };
      if (proc.exit) throw new Error(`workerd exited (${JSON.stringify(proc.exit)}) before listening\n${proc.output()}`);
      return undefined;
    },
    20_000,
    "workerd to report both listeners",
  );
  return { proc, ports: listening };
}
