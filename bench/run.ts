import { execFileSync } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { QUIET_MS } from "../cli/bulk-gauge.ts";
import { bulk, concurrent, echoBulk, hold, rtt, sequential, type BulkResult, type SampleLog } from "./lib/load.ts";
import { cpuSeconds, fdCount, installCleanup, load1, nofileLimit, pssKb, rssKb, spawnChild, stopAll, type Child } from "./lib/proc.ts";
import { haltNote, readCpuIdle } from "./lib/cpuidle.ts";
import { SSH_CIPHERS, sshTunnel, type SshTunnelName } from "./lib/ssh-tunnel.ts";
import { fmt, stat, table, type Line, type Row } from "./lib/report.ts";
import { turnOrder } from "../test/helpers/turn-order.ts";
import {
  chain,
  direct,
  sallyport,
  wsrelay,
  type BenchEnv,
  type Role,
  type RunningTunnel,
  type TunnelSpec,
  type UpOptions,
} from "./lib/tunnels.ts";

const HELP = `usage: npm run bench -- [options]      (tsx bench/run.ts [options])

Measures, side by side in one run, with medians over repetitions:
  direct     TCP straight to the backend (the floor)
  wsrelay    a plain one-hop Node WebSocket relay (bench/ws-relay.ts): TCP -> ws -> TCP
  chain      Sallyport's topology with the least code (bench/chain-edge.ts, chain-relay.ts):
             the floor of client -> Durable Object -> connector on this runtime (opt-in;
             bulk, rtt, ttfb, paced and msgs only)
  chain-msgs the same least code exchanging a kept Sallyport session's messages (start,
             opened, end, end+done: 6 into the object, 5 out): the floor of Sallyport's
             protocol, so what sallyport measures above it is its code (opt-in)
  chain-tiered, chain-msgs-tiered
             the same with the V8 tiering settings Sallyport's relaying commands use
             (cli/relay-tiering.ts): what those settings do, told from Sallyport's code (opt-in)
  sallyport  client forwarder -> edge (workerd, Miniflare API) -> connector -> backend
  tinyproxy, squid
             sallyport with the connector reaching the edge through that proxy (--proxy), the
             proxy's CPU and memory reported apart (opt-in; needs the proxy installed)
  sallyport-tls, chain-tls
             sallyport / the chain floor with TLS on both WebSocket legs, as deployed (opt-in)
  ssh-aes128, ssh-aes256, ssh-chacha
             OpenSSH in the same shape: ssh -L (client) -> sshd (edge) -> ssh -R (connector),
             cipher pinned (opt-in; needs openssh-server): compare CPU-s/GiB by role with
             sallyport-tls (the table's "where the user pays" rows)
  sallyport-v1
             sallyport with the edge speaking protocol v1 only: the same client and connector
             without v2's marks and proofs of reading (opt-in; with --interleave, the cost of
             issue 11's metering: --tunnels sallyport,sallyport-v1 --interleave)
  sallyport-v2
             the same with the edge speaking up to v2: without v3's resume (tickets, resend
             buffers); the cost of issue 12 when nothing fails: --tunnels sallyport,sallyport-v2 --interleave
Tests: bulk (1 GiB each way: MB/s, CPU-s/GiB, peak RSS), rtt (64 B ping-pong p50/p99),
ttfb (sequential new sessions: connect + 64 B echo, back to back), paced (the same, each
started 5 ms after the last one closed: one new connection's latency on an idle tunnel, not
CPU per session; opt-in, and its p50 spreads widely here), concurrent (N sessions at once),
idle (PSS per idle session, by process), idle10k (10,000 idle sessions), crowd (as many idle
sessions held while beside them one more echoes --bulk-mib both ways, then --ttfb-count
sequential sessions run: MB/s and CPU, RSS by process held, at the peak and after, TTFB;
opt-in, not in the default set), msgs (WebSocket
messages per GiB, counted by a proxy on the client's WebSocket leg), shards (bench/shards.ts,
once, not per tunnel: a service over 1 object and over 4, session set-up p50/p99 and sessions
and messages per object).

options
  --quick               small sizes, 1 repetition (~1-2 min)
  --reps N              repetitions (default 3)
  --interleave          repetition-major: rep 1 of every test and tunnel, then rep 2, … (a fresh
                        tunnel each), so a drift in machine load hits every tunnel alike; each
                        repetition starts at the next tunnel, so none always runs first
  --only a,b            tests to run (default: all; idle10k only without --quick)
  --tunnels a,b         tunnels (default direct,wsrelay,sallyport; chain, tinyproxy, squid on request)
  --compare NAME=DIR    also measure the Sallyport checkout in DIR as tunnel NAME (repeatable;
                        a NAME ending in -tls runs it with TLS on both legs, as sallyport-tls)
  --out DIR             results (default /tmp/sallyport-bench-<timestamp>)
  --bulk-mib N --rtt-count N --ttfb-count N --concurrent N --idle N --idle-big N --msgs-mib N
  --shard-sessions N
  --preopen N           sallyport client --preopen (default 16)
  --prepared N          connector --prepared (default 32)
  --log-level L         connector and client log level (default info, as shipped)
  --socks-timeout D     edge socks.timeout (default "2 seconds", as shipped)
  --max-message BYTES   edge max.message.size (default 1048576, as shipped)
  --samples             also write every rtt / ttfb / paced sample, with when it started
                        (OUT/samples/TUNNEL-TEST-REP.txt: "start-ms µs", CLOCK_MONOTONIC)
Output: OUT/results.jsonl (one line per measurement and repetition), OUT/table.md, logs.
`;

const TESTS = ["bulk", "rtt", "ttfb", "paced", "concurrent", "idle", "idle10k", "crowd", "msgs", "shards"] as const;
type Test = (typeof TESTS)[number];

const { values: o } = parseArgs({
  options: {
    quick: { type: "boolean" },
    reps: { type: "string" },
    interleave: { type: "boolean" },
    only: { type: "string" },
    tunnels: { type: "string" },
    compare: { type: "string", multiple: true },
    out: { type: "string" },
    "bulk-mib": { type: "string" },
    "rtt-count": { type: "string" },
    "ttfb-count": { type: "string" },
    concurrent: { type: "string" },
    idle: { type: "string" },
    "idle-big": { type: "string" },
    "msgs-mib": { type: "string" },
    "shard-sessions": { type: "string" },
    preopen: { type: "string" },
    prepared: { type: "string" },
    "log-level": { type: "string" },
    "socks-timeout": { type: "string" },
    "max-message": { type: "string" },
    samples: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
  strict: true,
});
if (o.help) {
  process.stdout.write(HELP);
  process.exit(0);
}

const quick = o.quick ?? false;
const num = (v: string | undefined, dflt: number): number => {
  const n = v === undefined ? dflt : Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`not a positive number: ${v}`);
  return n;
};
const MiB = 1 << 20;
const GiB = 1 << 30;
const sizes = {
  reps: num(o.reps, quick ? 1 : 3),
  bulkBytes: num(o["bulk-mib"], quick ? 128 : 1024) * MiB,
  rttCount: num(o["rtt-count"], quick ? 2000 : 10_000),
  rttWarmup: quick ? 200 : 500,
  ttfbCount: num(o["ttfb-count"], quick ? 200 : 1000),
  concurrent: num(o.concurrent, quick ? 200 : 1000),
  idle: num(o.idle, quick ? 200 : 1000),
  idleBig: num(o["idle-big"], 10_000),
  msgsBytes: num(o["msgs-mib"], quick ? 128 : 1024) * MiB,
  shardSessions: num(o["shard-sessions"], quick ? 200 : 1000),
};
const OPT_IN: readonly Test[] = ["crowd", "paced"];
const only = o.only ? o.only.split(",") : TESTS.filter((t) => !OPT_IN.includes(t) && !(quick && t === "idle10k"));
for (const t of only) if (!TESTS.includes(t as Test)) throw new Error(`unknown test ${t} (tests: ${TESTS.join(", ")})`);

const repoRoot = resolve(new URL("..", import.meta.url).pathname);
const specs: TunnelSpec[] = [];
for (const name of (o.tunnels ?? "direct,wsrelay,sallyport").split(",")) {
  if (name === "direct") specs.push(direct);
  else if (name === "wsrelay") specs.push(wsrelay);
  else if (name === "chain") specs.push(chain("chain"));
  else if (name === "chain-tls") specs.push(chain("chain-tls", { tls: true }));
  else if (name === "chain-msgs") specs.push(chain(name, { protocolMessages: true }));
  else if (name === "chain-tiered") specs.push(chain(name, { tiered: true }));
  else if (name === "chain-msgs-tiered") specs.push(chain(name, { protocolMessages: true, tiered: true }));
  else if (name === "sallyport") specs.push(sallyport("sallyport", repoRoot));
  else if (name === "sallyport-tls") specs.push(sallyport(name, repoRoot, { tls: true }));
  else if (name === "tinyproxy" || name === "squid") specs.push(sallyport(name, repoRoot, { proxied: name }));
  else if (name in SSH_CIPHERS) specs.push(sshTunnel(name as SshTunnelName));
  else if (name === "sallyport-v1") specs.push(sallyport(name, repoRoot, { protocol: 1 }));
  else if (name === "sallyport-v2") specs.push(sallyport(name, repoRoot, { protocol: 2 }));
  else throw new Error(`unknown tunnel ${name}`);
}
for (const c of o.compare ?? []) {
  const [name, dir] = c.split("=");
  if (!name || !dir || !existsSync(join(dir, "bin/sallyport.mjs"))) throw new Error(`--compare NAME=DIR: no Sallyport checkout at ${dir}`);
  specs.push(sallyport(name, resolve(dir), { tls: name.endsWith("-tls") }));
}
const tunnels = specs.map((s) => s.name);

const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "Z");
const out = resolve(o.out ?? `/tmp/sallyport-bench-${stamp}`);
const logDir = join(out, "logs");
mkdirSync(logDir, { recursive: true });
const resultsFile = join(out, "results.jsonl");
writeFileSync(resultsFile, "");

// ---- environment ---------------------------------------------------------------------------

const t0 = Date.now();
const progress = (msg: string): void => {
  const s = Math.round((Date.now() - t0) / 1000);
  process.stderr.write(`[${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}] ${msg}\n`);
};
installCleanup((sig) => progress(`${sig}: stopping every process started`));

if (Number(process.versions.node.split(".")[0]) < 22)
  progress(`warning: Node ${process.version}; the project needs Node 22 (export PATH=${repoRoot}/node_modules/.bin:$PATH)`);
// 10,000 sessions need ~20,000 descriptors in the client, the edge and the connector each.
try {
  execFileSync("prlimit", ["--pid", String(process.pid), "--nofile=65536:65536"], { stdio: "ignore" });
} catch {
  // not root, or no prlimit: idle10k may fail with EMFILE; it says so
}

const childEnv: NodeJS.ProcessEnv = {};
for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("SALLYPORT_")) childEnv[k] = v;
const env: BenchEnv = {
  repoRoot,
  node: process.execPath,
  logDir,
  env: childEnv,
  logLevel: o["log-level"] ?? "info",
  preopen: num(o.preopen, 16),
  prepared: num(o.prepared, 32),
  socksTimeout: o["socks-timeout"] ?? "2 seconds",
  ...(o["max-message"] ? { maxMessage: num(o["max-message"], 0) } : {}),
  settleMs: 2500,
};

// Every idle session costs the edge (workerd) 4 descriptors (2 sockets, each dup()ed) and the
// client forwarder and connector 2 each; no process may pass RLIMIT_NOFILE, which an
// unprivileged run cannot raise. So the big idle test holds as many as fit, up to --idle-big.
const nofile = nofileLimit();
const idleBigCount = Math.min(sizes.idleBig, Math.floor((nofile - 500) / 4));
if (idleBigCount < sizes.idleBig && (only.includes("idle10k") || only.includes("crowd"))) {
  progress(
    `note: open-files limit ${nofile} (ulimit -n): the big idle test holds ${idleBigCount} sessions, not ${sizes.idleBig} (workerd needs ` +
      `4 descriptors per session)`,
  );
}

const cpuModel = os.cpus()[0]?.model ?? "?";
const cpuIdle = readCpuIdle();
const info = {
  started: new Date().toISOString(),
  host: os.hostname(),
  cpus: `${os.cpus().length} × ${cpuModel}`,
  mem_gib: Math.round(os.totalmem() / GiB),
  kernel: os.release(),
  node: process.version,
  load1_start: load1(),
  cpuidle: cpuIdle,
  cmd: `tsx bench/run.ts ${process.argv.slice(2).join(" ")}`,
  tunnels,
  tests: only,
  sizes: { ...sizes, idleBigHeld: idleBigCount, nofile },
  sallyport: {
    preopen: env.preopen,
    prepared: env.prepared,
    logLevel: env.logLevel,
    socksTimeout: env.socksTimeout,
    maxMessage: env.maxMessage ?? "default",
  },
};
writeFileSync(join(out, "run-info.json"), `${JSON.stringify(info, null, 2)}\n`);
progress(`results -> ${out}`);
const halting = haltNote(cpuIdle);
if (halting) progress(halting);

// ---- measurements --------------------------------------------------------------------------

const lines: Line[] = [];
function emit(tunnel: string, test: string, rep: number, result: Record<string, unknown> & { ok: boolean }, note: string): void {
  const line: Line = { ts: new Date().toISOString(), tunnel, test, rep, load1: load1(), ...result };
  lines.push(line);
  appendFileSync(resultsFile, `${JSON.stringify(line)}\n`);
  progress(
    `${test.padEnd(12)} ${tunnel.padEnd(10)} rep ${rep}: ` +
      `${result.ok ? "" : `FAILED (${String(result.error ?? result.first_error ?? "")}) `}${note}`,
  );
}

/**
 * --samples: every round trip's or session's latency, one file per tunnel, test and repetition
 * (`OUT/samples/TUNNEL-TEST-REP.txt`, lines "start-ms µs", start on CLOCK_MONOTONIC), to see when
 * the slow ones came and to line them up with `perf record -k CLOCK_MONOTONIC`.
 */
function sampleLog(tunnel: string, test: string, rep: number): { record: SampleLog; save(): void } | undefined {
  if (!o.samples) return undefined;
  const text: string[] = [];
  return {
    record: (startMs, us) => text.push(`${startMs.toFixed(3)} ${Math.round(us)}`),
    save() {
      mkdirSync(join(out, "samples"), { recursive: true });
      writeFileSync(join(out, "samples", `${tunnel}-${test}-${rep}.txt`), `${text.join("\n")}\n`);
    },
  };
}

type Sample = Record<string, number>;
function perRole(t: RunningTunnel, f: (pids: readonly number[], exclude?: readonly number[]) => number): Sample {
  const s: Sample = {};
  let total = 0;
  for (const [name, r] of Object.entries(t.roles) as Array<[string, Role]>) {
    s[name] = f(r.pids, r.exclude);
    total += s[name]!;
  }
  s.total = total;
  return s;
}
const diff = (a: Sample, b: Sample, scale = 1): Sample =>
  Object.fromEntries(Object.keys(b).map((k) => [k, round(((b[k] ?? 0) - (a[k] ?? 0)) * scale, 3)]));
const round = (v: number, d = 1): number => Math.round(v * 10 ** d) / 10 ** d;

/** Peak RSS per role, sampled every 100 ms while `work` runs. */
async function withPeaks<T>(t: RunningTunnel, work: () => Promise<T>): Promise<{ result: T; peak: Sample; base: Sample }> {
  const base = perRole(t, rssKb);
  const peak: Sample = { ...base };
  const timer = setInterval(() => {
    const now = perRole(t, rssKb);
    for (const k of Object.keys(now)) peak[k] = Math.max(peak[k] ?? 0, now[k]!);
  }, 100);
  try {
    return { result: await work(), peak, base };
  } finally {
    clearInterval(timer);
  }
}

/** Tunnel -> what its TLS negotiated (reported with the table, to match ssh's cipher class). */
const encryption = new Map<string, string>();

async function up(spec: TunnelSpec, opts: UpOptions): Promise<RunningTunnel | undefined> {
  const started = Date.now();
  try {
    const t = await spec.up(env, opts);
    progress(`${spec.name} up in ${Date.now() - started} ms (${t.addr.host}:${t.addr.port})${t.encryption ? `, ${t.encryption}` : ""}`);
    if (t.encryption) encryption.set(spec.name, t.encryption);
    return t;
  } catch (e) {
    progress(`${spec.name}: could not start: ${(e as Error).message}`);
    return undefined;
  }
}

/** Latency targets against the topology's floor, measured in the same run (issue 15): test, path, label, most. */
const FLOOR_TARGETS: readonly (readonly [string, string, string, number])[] = [
  ["rtt", "p50_us", "64 B RTT p50", 1.03],
  ["rtt", "p99_us", "64 B RTT p99", 1.25],
  ["rtt", "warm.p50_us", "64 B RTT p50, warm (last three quarters)", 1.03],
  ["rtt", "warm.p99_us", "64 B RTT p99, warm", 1.25],
  ["ttfb", "p50_us", "TTFB p50", 1.05],
  ["ttfb", "p99_us", "TTFB p99", 1.25],
];

const CHAIN_TESTS: readonly Test[] = ["bulk", "rtt", "ttfb", "paced", "msgs"];
/** paced: the pause between one session's close and the next one's connect (the tunnel's own end of it finishes in it). */
const PACE_GAP_MS = 5;
/** crowd: how long after the transfer its RSS is read again (past the bulk switch's quiet time, and a collection). */
const CROWD_SETTLE_MS = QUIET_MS + 3000;
/** Tunnels with Sallyport's processes (client, edge, edge-host, connector), Sallyport itself or its floor. */
const edgeShaped = (spec: TunnelSpec): boolean => ["sallyport", "chain"].includes(spec.kind);

/** Runs repetitions `repNos` of `test` on `spec` (all of them, or one with --interleave). */
async function runTest(test: Test, spec: TunnelSpec, ports: { echo: number; bulk: number }, repNos: readonly number[]): Promise<void> {
  const first = repNos[0] ?? 1;
  const fail = (rep: number, error: string): void => emit(spec.name, test, rep, { ok: false, error }, "");
  // The floor is of the data path and of kept sessions; it opens a WebSocket per extra
  // connection and parks only --prepared binds, so many connections at once are not its subject.
  if (spec.kind === "chain" && !CHAIN_TESTS.includes(test)) return;
  if (test === "bulk") {
    const t = await up(spec, { backendPort: ports.bulk, backendKind: "bulk" });
    if (!t) return fail(first, "tunnel did not start");
    try {
      for (const rep of repNos) {
        for (const dir of ["up", "down"] as const) {
          const c0 = perRole(t, cpuSeconds);
          const { result, peak, base } = await withPeaks(t, () => bulk(t.addr, sizes.bulkBytes, dir, 180_000));
          const cpu = diff(c0, perRole(t, cpuSeconds));
          const perGiB = diff({}, cpu, GiB / sizes.bulkBytes);
          emit(
            spec.name,
            `bulk_${dir}`,
            rep,
            { ...result, cpu_s: cpu, cpu_s_per_gib: perGiB, rss_base_kb: base, rss_peak_kb: peak },
            `${result.mb_per_s} MB/s, ${fmt(perGiB.total, 2)} CPU-s/GiB${
              edgeShaped(spec)
                ? ` (${Object.entries(perGiB)
                    .filter(([k]) => k !== "total")
                    .map(([k, v]) => `${k} ${fmt(v, 2)}`)
                    .join(", ")}), edge peak RSS ${fmt((peak.edge ?? 0) / 1024)} MiB`
                : ""
            }`,
          );
        }
      }
    } finally {
      await t.down();
    }
  } else if (test === "rtt" || test === "ttfb" || test === "paced" || test === "concurrent") {
    const t = await up(spec, { backendPort: ports.echo, backendKind: "echo" });
    if (!t) return fail(first, "tunnel did not start");
    try {
      for (const rep of repNos) {
        const c0 = perRole(t, cpuSeconds);
        if (test === "rtt" || test === "ttfb" || test === "paced") {
          const log = sampleLog(spec.name, test, rep);
          const r =
            test === "rtt"
              ? await rtt(t.addr, sizes.rttCount, 64, sizes.rttWarmup, 180_000, log?.record)
              : await sequential(t.addr, sizes.ttfbCount, 180_000, test === "paced" ? PACE_GAP_MS : 0, log?.record);
          log?.save();
          const note =
            "succeeded" in r
              ? `${r.succeeded}/${r.count}, p50 ${r.p50_us} µs, p99 ${r.p99_us} µs, ${r.per_s}/s`
              : `p50 ${r.p50_us} µs, p99 ${r.p99_us} µs (cold ${r.cold?.p99_us}, warm ${r.warm?.p99_us})`;
          emit(spec.name, test, rep, { ...r, cpu_s: diff(c0, perRole(t, cpuSeconds)) }, note);
        } else {
          const r = await concurrent(t.addr, sizes.concurrent, 60_000);
          emit(spec.name, test, rep, { ...r, cpu_s: diff(c0, perRole(t, cpuSeconds)) }, `${r.succeeded}/${r.count} in ${r.total_ms} ms`);
          // Let the tunnel close and replace what it used before the next repetition.
          await new Promise((r2) => setTimeout(r2, 2000));
        }
      }
    } finally {
      await t.down();
    }
  } else if (test === "crowd") {
    const t = await up(spec, { backendPort: ports.echo, backendKind: "echo" });
    if (!t) return fail(first, "tunnel did not start");
    try {
      let held: Sample = {};
      let during: Awaited<ReturnType<typeof withPeaks<BulkResult>>> | undefined;
      let after: Sample = {};
      let cpu: Sample = {};
      let sessions: Awaited<ReturnType<typeof sequential>> | undefined;
      const r = await hold(t.addr, idleBigCount, 100, 300_000, async () => {
        await new Promise((r2) => setTimeout(r2, 1500));
        held = perRole(t, rssKb);
        const c0 = perRole(t, cpuSeconds);
        during = await withPeaks(t, () => echoBulk(t.addr, sizes.bulkBytes, 180_000));
        cpu = diff(c0, perRole(t, cpuSeconds));
        await new Promise((r2) => setTimeout(r2, CROWD_SETTLE_MS));
        after = perRole(t, rssKb);
        sessions = await sequential(t.addr, sizes.ttfbCount, 180_000);
      });
      const moved = during?.result;
      emit(
        spec.name,
        test,
        first,
        {
          ...r,
          ok: r.ok && moved?.ok === true && sessions?.ok === true,
          bulk: moved,
          cpu_s: cpu,
          rss_held_kb: held,
          rss_peak_kb: during?.peak,
          rss_after_kb: after,
          ttfb: sessions,
        },
        `${r.held}/${r.count} held; TTFB p50 ${sessions?.p50_us ?? "-"} µs, p99 ${sessions?.p99_us ?? "-"} µs; ` +
          `${moved?.mb_per_s ?? "-"} MB/s each way, CPU-s ${Object.entries(cpu)
            .map(([k, v]) => `${k} ${fmt(v, 2)}`)
            .join(", ")}; RSS MiB held / peak / after: ${Object.keys(held)
            .map((k) => `${k} ${fmt(held[k]! / 1024)} / ${fmt((during?.peak[k] ?? 0) / 1024)} / ${fmt((after[k] ?? 0) / 1024)}`)
            .join(", ")}`,
      );
    } finally {
      await t.down();
    }
  } else if (test === "idle" || test === "idle10k") {
    const count = test === "idle" ? sizes.idle : idleBigCount;
    // The big idle test runs once: its first repetition.
    for (const rep of test === "idle" ? repNos : repNos.filter((r) => r === 1)) {
      // A fresh instance per repetition: memory a previous round left behind must not hide this one's.
      const t = await up(spec, { backendPort: ports.echo, backendKind: "echo" });
      if (!t) return fail(rep, "tunnel did not start");
      try {
        const base = perRole(t, pssKb);
        const fdBase = perRole(t, fdCount);
        let held: Sample = {};
        let fdHeld: Sample = {};
        const r = await hold(t.addr, count, 100, test === "idle" ? 120_000 : 300_000, async () => {
          await new Promise((r2) => setTimeout(r2, 1500));
          held = perRole(t, pssKb);
          fdHeld = perRole(t, fdCount);
        });
        const perSession = diff(base, held, 1 / count);
        emit(
          spec.name,
          test,
          rep,
          { ...r, pss_base_kb: base, pss_held_kb: held, pss_per_session_kb: perSession, fds_per_session: diff(fdBase, fdHeld, 1 / count) },
          `${r.held}/${r.count} held (opened in ${r.open_ms} ms), KiB/session: ${Object.entries(perSession)
            .map(([k, v]) => `${k} ${fmt(v, 1)}`)
            .join(", ")}`,
        );
      } finally {
        await t.down();
      }
    }
  } else if (test === "msgs") {
    if (spec.kind === "direct") return;
    const t = await up(spec, { backendPort: ports.bulk, backendKind: "bulk", countFrames: true });
    if (!t) return fail(first, "tunnel did not start");
    try {
      for (const dir of ["up", "down"] as const) {
        const before = t.frames!.snapshot();
        const r = await bulk(t.addr, sizes.msgsBytes, dir, 180_000);
        await new Promise((r2) => setTimeout(r2, 300));
        const after = t.frames!.snapshot();
        const d = (side: "up" | "down", k: "binary" | "text" | "control" | "binaryBytes"): number => after[side][k] - before[side][k];
        const dataMsgs = dir === "up" ? d("up", "binary") : d("down", "binary");
        const dataBytes = dir === "up" ? d("up", "binaryBytes") : d("down", "binaryBytes");
        const all = d("up", "binary") + d("up", "text") + d("down", "binary") + d("down", "text");
        const scale = GiB / sizes.msgsBytes;
        emit(
          spec.name,
          `msgs_${dir}`,
          first,
          {
            ok: r.ok,
            bytes: r.bytes,
            error: r.error,
            mb_per_s_through_proxy: r.mb_per_s,
            data_messages: dataMsgs,
            control_messages: all - dataMsgs,
            messages_per_gib: Math.round(all * scale),
            data_messages_per_gib: Math.round(dataMsgs * scale),
            avg_data_message_kib: round(dataBytes / Math.max(1, dataMsgs) / 1024, 1),
          },
          `${Math.round(all * scale)} messages/GiB (${Math.round(dataMsgs * scale)} data, avg ` +
            `${fmt(dataBytes / Math.max(1, dataMsgs) / 1024, 1)} KiB)`,
        );
      }
    } finally {
      await t.down();
    }
  }
}

/** Sharding (issue 13): bench/shards.ts in its own process with its own edge, once per repetition. */
async function runShards(): Promise<void> {
  for (let rep = 1; rep <= sizes.reps; rep++) {
    const child = spawnChild(
      "shards",
      env.node,
      ["--import", "tsx", join(repoRoot, "bench/shards.ts"), "--json", "--sessions", String(sizes.shardSessions)],
      { logFile: join(logDir, `shards-${rep}.log`), env: childEnv, cwd: repoRoot },
    );
    try {
      const [json] = await child.waitLine(/^\{.*\}$/, 600_000, "stdout");
      const r = JSON.parse(json!) as Record<"one" | "sharded", { failed: number; setup_ms_p50: number; worst_shard_off_mean_pct: number }>;
      emit(
        "sallyport",
        "shards",
        rep,
        { ok: r.one.failed + r.sharded.failed === 0, ...r },
        `set-up p50 ${r.one.setup_ms_p50} ms (1 object) vs ${r.sharded.setup_ms_p50} ms (4), worst shard ` +
          `${r.sharded.worst_shard_off_mean_pct} % off the mean`,
      );
    } catch (e) {
      emit("sallyport", "shards", rep, { ok: false, error: (e as Error).message }, "");
    } finally {
      await child.stop();
    }
  }
}

// ---- main ----------------------------------------------------------------------------------

let backend: Child | undefined;
try {
  backend = spawnChild("backend", env.node, ["--import", "tsx", join(repoRoot, "bench/backend.ts"), "--max-seconds", "3600"], {
    logFile: join(logDir, "backend.log"),
    env: childEnv,
    cwd: repoRoot,
  });
  const ports = JSON.parse((await backend.waitLine(/^\{.*\}$/, 30_000, "stdout"))[0]) as { echo: number; bulk: number };
  // Test-major, tunnel-minor: a drift in machine load hits every tunnel of a test alike;
  // --interleave goes repetition-major on top, so it also hits every repetition alike.
  const allReps = Array.from({ length: sizes.reps }, (_, i) => i + 1);
  for (const repNos of o.interleave ? allReps.map((r) => [r]) : [allReps]) {
    for (const test of TESTS) {
      if (!only.includes(test) || test === "shards") continue;
      // msgs counts messages once: its first repetition.
      if (test === "msgs" && !repNos.includes(1)) continue;
      // Interleaved, each repetition starts at another tunnel: no tunnel always runs first.
      const order = o.interleave ? turnOrder(specs, repNos[0]!) : specs;
      for (const spec of order) await runTest(test, spec, ports, repNos);
    }
  }
  if (only.includes("shards")) await runShards();
} finally {
  await backend?.stop();
  await stopAll();
}

// ---- report --------------------------------------------------------------------------------

const notDirect = ["direct"];
const rows: Row[] = [
  { label: `(a) bulk ${sizes.bulkBytes / MiB} MiB client→backend (MB/s)`, test: "bulk_up", path: "mb_per_s", better: "higher" },
  { label: `(a) bulk ${sizes.bulkBytes / MiB} MiB backend→client (MB/s)`, test: "bulk_down", path: "mb_per_s", better: "higher" },
  { label: "(a) tunnel CPU-s per GiB, up", test: "bulk_up", path: "cpu_s_per_gib.total", digits: 2, skip: notDirect },
  { label: "(a) tunnel CPU-s per GiB, down", test: "bulk_down", path: "cpu_s_per_gib.total", digits: 2, skip: notDirect },
  { label: `(b) RTT 64 B × ${sizes.rttCount} p50 (µs)`, test: "rtt", path: "p50_us", better: "lower" },
  { label: "(b) RTT p99 (µs)", test: "rtt", path: "p99_us", better: "lower" },
  {
    label: `(b) … cold, the first ${Math.floor(sizes.rttCount / 4)} round trips: p50 (µs)`,
    test: "rtt",
    path: "cold.p50_us",
    better: "lower",
  },
  { label: "(b) … cold: p99 (µs)", test: "rtt", path: "cold.p99_us", better: "lower" },
  { label: "(b) … warm, the rest: p50 (µs)", test: "rtt", path: "warm.p50_us", better: "lower" },
  { label: "(b) … warm: p99 (µs)", test: "rtt", path: "warm.p99_us", better: "lower" },
  { label: `(c) ${sizes.ttfbCount} sequential sessions: TTFB p50 (µs)`, test: "ttfb", path: "p50_us", better: "lower" },
  { label: "(c) TTFB p99 (µs)", test: "ttfb", path: "p99_us", better: "lower" },
  { label: "(c) sessions/s", test: "ttfb", path: "per_s", better: "higher" },
  {
    label: `(c) ${sizes.ttfbCount} paced sessions (${PACE_GAP_MS} ms after each close): TTFB p50 (µs)`,
    test: "paced",
    path: "p50_us",
    better: "lower",
  },
  { label: "(c) paced TTFB p99 (µs)", test: "paced", path: "p99_us", better: "lower" },
  { label: `(d) ${sizes.concurrent} concurrent sessions: succeeded`, test: "concurrent", path: "succeeded" },
  { label: "(d) … total time (ms)", test: "concurrent", path: "total_ms", better: "lower" },
  { label: "(d) … TTFB p99 (µs)", test: "concurrent", path: "p99_us", better: "lower" },
  {
    label: `(e) ${sizes.idle} idle sessions: PSS per session, all tunnel processes (KiB)`,
    test: "idle",
    path: "pss_per_session_kb.total",
    digits: 1,
    skip: notDirect,
  },
  { label: `(e) ${idleBigCount} idle sessions: held`, test: "idle10k", path: "held" },
  {
    label: "(e) … PSS per session, all tunnel processes (KiB)",
    test: "idle10k",
    path: "pss_per_session_kb.total",
    digits: 1,
    skip: notDirect,
  },
  { label: "(f) WebSocket messages per GiB, up", test: "msgs_up", path: "messages_per_gib", skip: notDirect },
  { label: "(f) WebSocket messages per GiB, down", test: "msgs_down", path: "messages_per_gib", skip: notDirect },
  { label: "(f) average data message, up / down (KiB)", test: "msgs_up", path: "avg_data_message_kib", digits: 1, skip: notDirect },
  { label: "(f) … down (KiB)", test: "msgs_down", path: "avg_data_message_kib", digits: 1, skip: notDirect },
  { label: `(g) ${sizes.shardSessions} sessions, 1 object: set-up p50 (ms)`, test: "shards", path: "one.setup_ms_p50", digits: 1 },
  { label: "(g) … p99 (ms)", test: "shards", path: "one.setup_ms_p99", digits: 1 },
  { label: `(g) ${sizes.shardSessions} sessions, 4 objects: set-up p50 (ms)`, test: "shards", path: "sharded.setup_ms_p50", digits: 1 },
  { label: "(g) … p99 (ms)", test: "shards", path: "sharded.setup_ms_p99", digits: 1 },
  { label: "(g) … messages handled, shard 0", test: "shards", path: "sharded.per_object.0.messages" },
  ...[1, 2, 3].map((i) => ({ label: `(g) … shard ${i}`, test: "shards", path: `sharded.per_object.${i}.messages` })),
  { label: "(g) … worst shard off the mean (%)", test: "shards", path: "sharded.worst_shard_off_mean_pct", digits: 1 },
];
const main = table(lines, tunnels, rows, sizes.reps);

// Per-process breakdown for each Sallyport variant.
const breakdown: string[] = [];
for (const spec of specs.filter((s) => s.kind !== "direct")) {
  const own = edgeShaped(spec)
    ? ["client", "edge", "edge-host", "connector"]
    : spec.kind === "ssh"
      ? ["client", "edge", "connector"]
      : ["client", "server"];
  const roles = [...own, ...(spec.extraRoles ?? [])];
  const r: Row[] = [
    ...roles.map((role) => ({ label: `CPU-s/GiB up: ${role}`, test: "bulk_up", path: `cpu_s_per_gib.${role}`, digits: 2 })),
    ...roles.map((role) => ({ label: `CPU-s/GiB down: ${role}`, test: "bulk_down", path: `cpu_s_per_gib.${role}`, digits: 2 })),
    ...roles.map((role) => ({
      label: `peak RSS under bulk down (MiB): ${role}`,
      test: "bulk_down",
      path: `rss_peak_kb.${role}`,
      digits: 0,
    })),
    ...roles.map((role) => ({ label: `peak RSS under bulk up (MiB): ${role}`, test: "bulk_up", path: `rss_peak_kb.${role}`, digits: 0 })),
    ...roles.map((role) => ({
      label: `idle (${sizes.idle}): PSS KiB/session: ${role}`,
      test: "idle",
      path: `pss_per_session_kb.${role}`,
      digits: 1,
    })),
    ...roles.map((role) => ({
      label: `idle (${idleBigCount}): PSS KiB/session: ${role}`,
      test: "idle10k",
      path: `pss_per_session_kb.${role}`,
      digits: 1,
    })),
  ];
  // RSS rows are in KiB in the data; show MiB.
  const scaled = lines.map((l) => (l.tunnel === spec.name ? { ...l, rss_peak_kb: mib(l.rss_peak_kb) } : l));
  breakdown.push(`#### ${spec.name}: by process\n\n${table(scaled, [spec.name], r, sizes.reps)}`);
}
function mib(v: unknown): unknown {
  if (!v || typeof v !== "object") return v;
  return Object.fromEntries(Object.entries(v as Record<string, number>).map(([k, x]) => [k, x / 1024]));
}

// Targets (issue "performance"), judged on the medians of each Sallyport variant — and of
// `chain`, the topology's floor: a target the floor misses is out of reach of any design here.
const targets: string[] = [];
for (const spec of specs.filter(edgeShaped)) {
  const m = (test: string, path: string): number | undefined => stat(lines, spec.name, test, path)?.median;
  const check = (label: string, v: number | undefined, pass: (x: number) => boolean, shown: string, partial = false): void => {
    // partial: only a smaller size could be measured here, so passing it does not meet the target.
    const status = v === undefined ? "–" : !pass(v) ? "**missed**" : partial ? "not measurable here (passed at the size that fits)" : "met";
    targets.push(`| ${spec.name} | ${label} | ${v === undefined ? "not measured" : shown} | ${status} |`);
  };
  const up = m("bulk_up", "mb_per_s");
  const down = m("bulk_down", "mb_per_s");
  // ssh -R (ssh-reverse-tty, node sender/sink, 1 GiB) on this machine: /work/shared/bench/RESULTS-peers.md.
  check(
    "bulk ≥ ssh -R both ways (peers: 805 up / 673 down MB/s, ssh-reverse-tty node bulk)",
    up === undefined || down === undefined ? undefined : Math.min(up / 805, down / 673),
    (x) => x >= 1,
    `${fmt(up)} / ${fmt(down)} MB/s`,
  );
  // The floor sends each read as it comes and holds no idle sessions of its own making: the
  // remaining targets are about Sallyport's own choices, latency judged against the floor.
  if (spec.kind === "chain") continue;
  for (const [test, path, label, most] of FLOOR_TARGETS) {
    const v = m(test, path);
    const floor = stat(lines, "chain", test, path)?.median;
    check(
      `${label} ≤ ${most} × chain`,
      v === undefined || floor === undefined ? undefined : v / floor,
      (x) => x <= most,
      `${fmt(v)} µs vs ${fmt(floor)} µs (${fmt(v === undefined || floor === undefined ? undefined : v / floor, 2)}×)`,
    );
  }
  const held = m("idle10k", "held");
  const capped = idleBigCount < sizes.idleBig;
  check(
    `${fmt(sizes.idleBig)} idle sessions held${capped ? ` (here: ${idleBigCount}, the open-files limit ${nofile} allows no more)` : ""}`,
    held,
    (x) => x >= idleBigCount,
    `${fmt(held)} of ${idleBigCount}`,
    capped,
  );
  check(
    "≤ 20 KiB per idle session in the connector",
    m("idle10k", "pss_per_session_kb.connector") ?? m("idle", "pss_per_session_kb.connector"),
    (x) => x <= 20,
    `${fmt(m("idle10k", "pss_per_session_kb.connector") ?? m("idle", "pss_per_session_kb.connector"), 1)} ` +
      `KiB${m("idle10k", "pss_per_session_kb.connector") === undefined ? ` (at ${sizes.idle} sessions)` : ""}`,
  );
  const mu = m("msgs_up", "data_messages_per_gib");
  const md = m("msgs_down", "data_messages_per_gib");
  check(
    "≤ 16,384 data messages per GiB (≥ 64 KiB average), worse direction",
    mu === undefined || md === undefined ? undefined : Math.max(mu, md),
    (x) => x <= 16_384,
    `${fmt(mu)} up / ${fmt(md)} down`,
  );
  const peak = m("bulk_down", "rss_peak_kb.edge");
  const peakUp = m("bulk_up", "rss_peak_kb.edge");
  check(
    "edge (workerd) memory bounded under bulk: peak RSS",
    peak,
    () => true,
    `${fmt((peakUp ?? 0) / 1024)} MiB up / ${fmt((peak ?? 0) / 1024)} MiB down (base ` +
      `${fmt((m("bulk_down", "rss_base_kb.edge") ?? 0) / 1024)} MiB)`,
  );
}

// Where the user pays (issue 15): the processes on the user's machines, Sallyport's against
// ssh's in the same role (the connector against `ssh -R`, the client against `ssh -L`).
const sshSpecs = specs.filter((s) => s.kind === "ssh");
for (const spec of specs.filter(edgeShaped)) {
  for (const ssh of sshSpecs) {
    for (const role of ["connector", "client"]) {
      for (const dir of ["up", "down"]) {
        const path = `cpu_s_per_gib.${role}`;
        const ours = stat(lines, spec.name, `bulk_${dir}`, path)?.median;
        const theirs = stat(lines, ssh.name, `bulk_${dir}`, path)?.median;
        const ratio = ours === undefined || theirs === undefined ? undefined : ours / theirs;
        const status = ratio === undefined ? "–" : ratio <= 0.75 ? "met" : "**missed**";
        targets.push(
          `| ${spec.name} | ${role} CPU-s/GiB ${dir} ≤ 0.75 × ${ssh.name} | ` +
            `${fmt(ours, 2)} vs ${fmt(theirs, 2)} (${fmt(ratio, 2)}×) | ${status} |`,
        );
      }
    }
  }
}

const md = [
  `## Sallyport bench — ${info.started}`,
  "",
  `Machine: ${info.cpus}, ${info.mem_gib} GiB, kernel ${info.kernel}, Node ${info.node}; load1 at start ${info.load1_start}. Command: ` +
    `\`${info.cmd}\`.`,
  `Sizes: bulk ${sizes.bulkBytes / MiB} MiB each way; RTT ${sizes.rttCount} × 64 B after ${sizes.rttWarmup} warm-up; ${sizes.ttfbCount} ` +
    `sequential and ${sizes.concurrent} concurrent sessions; ${sizes.idle} / ${idleBigCount} idle sessions; messages over ` +
    `${sizes.msgsBytes / MiB} MiB each way; ${sizes.reps} repetition(s).`,
  `Sallyport: client --preopen ${env.preopen}, connector --prepared ${env.prepared}, log level ${env.logLevel}, socks.timeout ` +
    `${env.socksTimeout}. Ratios (×) are against direct.`,
  ...[...encryption].map(([name, suite]) => `${name} negotiated ${suite}.`),
  "",
  main,
  "",
  ...breakdown.flatMap((b) => [b, ""]),
  "#### Targets",
  "",
  "| tunnel | target | measured (median) | status |",
  "|---|---|---|---|",
  ...targets,
  "",
  `Failed measurements: ${lines.filter((l) => !l.ok).length} of ${lines.length}. Raw: results.jsonl. Took ` +
    `${Math.round((Date.now() - t0) / 1000)} s.`,
  "",
].join("\n");
writeFileSync(join(out, "table.md"), md);
process.stdout.write(`\n${md}\nresults: ${out}\n`);
process.exit(lines.some((l) => !l.ok) ? 1 : 0);
