// scratch (deleted later): TTFB with gaps between sessions
import { spawnChild, installCleanup, stopAll, cpuSeconds } from "./lib/proc.ts";
import { sallyport, wsrelay } from "./lib/tunnels.ts";
import { sequential, rtt, bulk } from "./lib/load.ts";
import { join } from "node:path";
installCleanup(() => {});
const root = process.argv[2] ?? "/work/main";
const mode = process.argv[3] ?? "ttfb";
const env = { repoRoot: "/work/main", node: process.execPath, logDir: "/tmp/exp", env: process.env, logLevel: process.argv[4] ?? "info", preopen: 16, prepared: 32, socksTimeout: "2 seconds", settleMs: Number(process.argv[5] ?? 2500) };
const be = spawnChild("backend", process.execPath, ["--import", "tsx", "/work/main/bench/backend.ts"], { logFile: "/tmp/exp/be.log", cwd: "/work/main" });
const ports = JSON.parse((await be.waitLine(/^\{.*\}$/, 30000, "stdout"))[0]);
const spec = root === "wsrelay" ? wsrelay : sallyport("x", root);
const t = await spec.up(env as never, { backendPort: mode === "bulk" ? ports.bulk : ports.echo, backendKind: mode === "bulk" ? "bulk" : "echo" });
const roles = Object.values(t.roles).flatMap((r) => r.pids);
if (mode === "ttfb") {
  for (const gap of [0, 20, 0, 20]) {
    const samples: number[] = [];
    for (let i = 0; i < 100; i++) {
      const r = await sequential(t.addr, 1, 10000);
      samples.push(r.p50_us!);
      if (gap) await new Promise((r) => setTimeout(r, gap));
    }
    samples.sort((a, b) => a - b);
    console.log(`gap ${gap} ms: p50 ${samples[50]} p90 ${samples[90]} max ${samples[99]}`);
  }
} else if (mode === "bulk") {
  for (const dir of ["up", "down", "up", "down"] as const) {
    const c0 = cpuSeconds(roles);
    const r = await bulk(t.addr, 256 << 20, dir, 120000);
    console.log(dir, r.mb_per_s, "MB/s", r.ms, "ms", ((cpuSeconds(roles) - c0) * 4).toFixed(2), "CPU-s/GiB");
  }
}
await t.down(); await be.stop(); await stopAll(); process.exit(0);
