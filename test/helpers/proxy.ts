import { spawnSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Cleanup } from "./cleanup.ts";
import { tempDir } from "./files.ts";
import { freePort } from "./net.ts";
import { type LogPredicate, type Proc, spawnCommand } from "./processes.ts";

/**
 * A real HTTP proxy on 127.0.0.1: Debian's tinyproxy, started in the foreground (-d) with a
 * config written for the test, its log lines (stdout) captured by Proc, stopped by PID.
 * Installed by .ci/install-system-deps.sh; under CI=true a missing tinyproxy fails the test
 * instead of skipping it (see `tinyproxyMissing`).
 */

export const TINYPROXY = "tinyproxy";

/** Why the proxy tests cannot run here, or undefined when they can. Under CI, never skipped. */
export function tinyproxyMissing(): string | undefined {
  const found = spawnSync(TINYPROXY, ["-v"]).status === 0;
  if (found) return undefined;
  if (process.env.CI === "true") throw new Error("tinyproxy is not installed: .ci/install-system-deps.sh should have installed it");
  return "tinyproxy is not installed (apt-get install tinyproxy)";
}

export interface TinyproxyOptions {
  /** Demand these Basic credentials (tinyproxy's BasicAuth). */
  readonly basicAuth?: { readonly user: string; readonly password: string };
  /** Ports CONNECT may reach; any other answers 403. Absent: any port. */
  readonly connectPorts?: readonly number[];
  /**
   * Run inside this network namespace (test/helpers/netns.ts), on `listen`:`port` and admitting
   * only `allow`, instead of on 127.0.0.1 and a free port of this namespace.
   */
  readonly netns?: { readonly name: string; readonly listen: string; readonly allow: string; readonly port: number };
}

export interface TestProxy {
  readonly port: number;
  /** http://127.0.0.1:PORT (the netns's listen address when given) */
  readonly url: string;
  readonly proc: Proc;
  /** Log lines recording a CONNECT to `hostPort` ("127.0.0.1:8443"). */
  connects(hostPort: string): number;
  readonly connectTo: (hostPort: string) => LogPredicate;
}

export async function startTinyproxy(cleanup: Cleanup, opts: TinyproxyOptions = {}): Promise<TestProxy> {
  const [dir, port] = await Promise.all([tempDir(cleanup), opts.netns?.port ?? freePort()]);
  const listen = opts.netns?.listen ?? "127.0.0.1";
  const conf = [
    `Port ${port}`,
    `Listen ${listen}`,
    `Allow ${opts.netns?.allow ?? "127.0.0.1"}`,
    "Timeout 60",
    "MaxClients 64",
    // Info: each CONNECT is logged ("Request (file descriptor N): CONNECT host:port HTTP/1.1").
    "LogLevel Info",
    "DisableViaHeader Yes",
    ...(opts.basicAuth ? [`BasicAuth ${opts.basicAuth.user} ${opts.basicAuth.password}`] : []),
    ...(opts.connectPorts ?? []).map((p) => `ConnectPort ${p}`),
  ].join("\n");
  const file = join(dir, "tinyproxy.conf");
  await writeFile(file, `${conf}\n`);
  const args = [TINYPROXY, "-d", "-c", file];
  const name = opts.netns ? `tinyproxy :${port} (${opts.netns.name})` : "tinyproxy";
  const proc = spawnCommand(opts.netns ? "ip" : args[0]!, opts.netns ? ["netns", "exec", opts.netns.name, ...args] : args.slice(1), {
    name,
    cleanup,
  });
  await proc.waitForLog((l) => /Accepting connections/.test(l.raw), 10_000, "tinyproxy to accept connections");
  const connectTo =
    (hostPort: string): LogPredicate =>
    (l) =>
      l.raw.includes(`: CONNECT ${hostPort} HTTP/1.1`);
  return { port, url: `http://${listen}:${port}`, proc, connectTo, connects: (hp) => proc.logs(connectTo(hp)).length };
}
