import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import WebSocket from "ws";
import type { ServiceStatus } from "../edge/status.ts";
import { startEchoServer } from "../local-edge/echo-server.ts";
import { startLocalEdge } from "../local-edge/edge.ts";
import { STATUS_PATH } from "../shared/protocol/constants.ts";
import { percentile } from "./lib/load.ts";
import { installCleanup, spawnChild, stopAll } from "./lib/proc.ts";

/**
 * A service over one object against the same service over N (issue 13), in one run on one
 * local edge: two services, `one` (shards 1) and `sharded` (shards N), each with its own
 * connector pool of --prepared binds and the same echo backend. Sessions are plain WebSocket
 * clients, --concurrency at a time, the two services taking turns in rounds so that load
 * drift on the machine falls on both alike.
 *
 *   npm run bench:shards [-- --sessions 1000 --shards 4 --concurrency 16 --prepared 32]
 *
 * `npm run bench` runs it too, as its `shards` test (--only shards for that alone).
 *
 * Set-up time: from dialing the WebSocket to the first 64 B echoed back (upgrade, shard
 * choice, pairing, the connector's backend dial, one round trip). Per object: sessions paired
 * and WebSocket messages handled, from the status endpoint's per-shard breakdown.
 * Target (issue 13): N shards no slower than one at p50; each shard within ±25 % of the mean.
 */

const { values: o } = parseArgs({
  options: {
    sessions: { type: "string" },
    shards: { type: "string" },
    concurrency: { type: "string" },
    prepared: { type: "string" },
    rounds: { type: "string" },
    json: { type: "boolean" },
  },
  strict: true,
});
const SESSIONS = Number(o.sessions ?? 1000);
const SHARDS = Number(o.shards ?? 4);
const CONCURRENCY = Number(o.concurrency ?? 16);
const PREPARED = Number(o.prepared ?? 32);
const ROUNDS = Number(o.rounds ?? 4);
const logDir = mkdtempSync(join(tmpdir(), "sallyport-shards-"));
const token = (): string => randomBytes(24).toString("base64url");
const ADMIN = token();
const accept = (name: string): string => `ws://127.0.0.1/${name}`;
const SERVICES = { one: 1, sharded: SHARDS } as const;
type Name = keyof typeof SERVICES;

installCleanup(() => process.stderr.write("stopping\n"));

/** One session: dial, 64 B out, 64 B back; the time to the echo, or the failure. */
function session(url: string): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 20_000 });
    const ping = randomBytes(64);
    let got = 0;
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error("no echo within 20 s"));
    }, 20_000);
    ws.on("open", () => ws.send(ping));
    ws.on("message", (d: Buffer) => {
      got += d.length;
      if (got < ping.length) return;
      clearTimeout(timer);
      const ms = performance.now() - started;
      ws.close(1000);
      resolve(ms);
    });
    ws.on("close", (code) => {
      clearTimeout(timer);
      if (got < ping.length) reject(new Error(`closed ${code} before the echo`));
    });
    ws.on("error", () => {});
  });
}

async function run(url: string, count: number): Promise<{ times: number[]; failures: string[] }> {
  const times: number[] = [];
  const failures: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = next++; i < count; i = next++) {
        try {
          times.push(await session(url));
        } catch (e) {
          failures.push((e as Error).message);
        }
      }
    }),
  );
  return { times, failures };
}

async function main(): Promise<void> {
  const echo = await startEchoServer();
  const tokens = { one: token(), sharded: token() };
  const edge = await startLocalEdge({
    port: 0,
    services: Object.fromEntries(
      Object.entries(SERVICES).map(([name, shards]) => [
        name,
        { accept: accept(name), "socks.timeout": "10 seconds", shards, "max.clients": 30_000 },
      ]),
    ),
    connectorTokens: { one: [tokens.one], sharded: [tokens.sharded] },
    bindings: { SALLYPORT_ADMIN_TOKEN: ADMIN },
    onLog: () => {},
  });
  const base = `http://${edge.url.host}`;
  const status = async (): Promise<ServiceStatus[]> => {
    const res = await fetch(`${base}${STATUS_PATH}`, { headers: { authorization: `Bearer ${ADMIN}` } });
    return ((await res.json()) as { services: ServiceStatus[] }).services;
  };
  const config = {
    edge: `ws://${edge.url.host}`,
    services: (Object.keys(SERVICES) as Name[]).map((name) => {
      const file = join(logDir, `${name}.token`);
      writeFileSync(file, tokens[name], { mode: 0o600 });
      return {
        name,
        accept: accept(name),
        connect: `tcp://127.0.0.1:${echo.port}`,
        "token.file": file,
        "prepared.connection.count": PREPARED,
      };
    }),
  };
  const configFile = join(logDir, "connector.json");
  writeFileSync(configFile, JSON.stringify(config), { mode: 0o600 });
  spawnChild("connector", process.execPath, ["bin/sallyport.mjs", "connector", "--config", configFile, "--log-level", "warn"], {
    logFile: join(logDir, "connector.log"),
  });
  // Every prepared bind parked on both services (the status endpoint is where that shows).
  const deadline = Date.now() + 60_000;
  while (!(await status()).every((s) => s.parkedBinds >= Math.max(PREPARED, SERVICES[s.service as Name]))) {
    if (Date.now() > deadline) throw new Error(`binds did not park: ${JSON.stringify(await status())}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const before = await status();

  const results: Record<Name, { times: number[]; failures: string[] }> = {
    one: { times: [], failures: [] },
    sharded: { times: [], failures: [] },
  };
  const perRound = Math.ceil(SESSIONS / ROUNDS);
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of Object.keys(SERVICES) as Name[]) {
      const r = await run(`ws://${edge.url.host}/${name}`, Math.min(perRound, SESSIONS - round * perRound));
      results[name].times.push(...r.times);
      results[name].failures.push(...r.failures);
    }
  }
  const after = await status();

  const report: Record<string, unknown> = { sessions: SESSIONS, shards: SHARDS, concurrency: CONCURRENCY, prepared: PREPARED, logDir };
  for (const name of Object.keys(SERVICES) as Name[]) {
    const s0 = before.find((s) => s.service === name)!;
    const s1 = after.find((s) => s.service === name)!;
    const objects = s1.shards!.map((h, i) => ({
      shard: h.shard,
      sessions: h.pairings - s0.shards![i]!.pairings,
      messages: h.messagesReceived - s0.shards![i]!.messagesReceived,
    }));
    const mean = objects.reduce((n, x) => n + x.sessions, 0) / objects.length;
    report[name] = {
      shards: SERVICES[name],
      ok: results[name].times.length,
      failed: results[name].failures.length,
      first_failure: results[name].failures[0],
      setup_ms_p50: percentile(results[name].times, 50),
      setup_ms_p99: percentile(results[name].times, 99),
      per_object: objects,
      worst_shard_off_mean_pct: Math.round((Math.max(...objects.map((x) => Math.abs(x.sessions - mean))) / mean) * 1000) / 10,
    };
  }
  // --json: one line, for bench/run.ts (its `shards` test runs this script).
  process.stdout.write(o.json ? `${JSON.stringify(report)}\n` : `${JSON.stringify(report, null, 2)}\n`);
  await stopAll();
  await edge.stop();
  await echo.stop();
}

main().catch(async (e: unknown) => {
  process.stderr.write(`bench:shards failed: ${(e as Error).stack ?? String(e)}\n`);
  await stopAll();
  process.exit(1);
});
