import { spawn, spawnSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Cleanup } from "./cleanup.ts";
import { tempDir } from "./files.ts";
import { freePort } from "./net.ts";
import { Proc, type LogPredicate } from "./processes.ts";

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
}

export interface TestProxy {
  readonly port: number;
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly proc: Proc;
  /** Log lines recording a CONNECT to `hostPort` ("127.0.0.1:8443"). */
  connects(hostPort: string): number;
  readonly connectTo: (hostPort: string) => LogPredicate;
}

export async function startTinyproxy(cleanup: Cleanup, opts: TinyproxyOptions = {}): Promise<TestProxy> {
  const [dir, port] = await Promise.all([tempDir(cleanup), freePort()]);
  const conf = [
    `Port ${port}`,
    "Listen 127.0.0.1",
    "Allow 127.0.0.1",
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
  const child = spawn(TINYPROXY, ["-d", "-c", file], { stdio: ["ignore", "pipe", "pipe"], detached: true });
  const proc = new Proc("tinyproxy", child);
  cleanup.add(`tinyproxy pid ${proc.pid}`, () => proc.kill());
  await proc.waitForLog((l) => /Accepting connections/.test(l.raw), 10_000, "tinyproxy to accept connections");
  const connectTo =
    (hostPort: string): LogPredicate =>
    (l) =>
      l.raw.includes(`: CONNECT ${hostPort} HTTP/1.1`);
  return { port, url: `http://127.0.0.1:${port}`, proc, connectTo, connects: (hp) => proc.logs(connectTo(hp)).length };
}
