import { createHash, randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { echoBackend } from "../test/helpers/backends.ts";
import { Cleanup } from "../test/helpers/cleanup.ts";
import { REGISTERED, startConnector } from "../test/helpers/connector.ts";
import { startEdge, type TestEdge } from "../test/helpers/edge.ts";
import { randomToken } from "../test/helpers/files.ts";
import { LocalConn, startForwarder } from "../test/helpers/local-conn.ts";
import { msgIs } from "../test/helpers/processes.ts";

/**
 * Issue 12's measurement: the edge restarted during bulk. N sessions through `sallyport client`
 * each echo M MiB (both directions at once); when `--at` of all bytes came back, the local edge
 * is stopped and a new one started on its port with the same SALLYPORT_RESUME_SECRET. Reports
 * the stall (client's drop → resumed, and restart → first byte back), bytes resent, throughput
 * before and after, and checks every session's SHA-256 both ways.
 *
 *   npm run bench:resume -- [--sessions 20] [--mib 256] [--at 0.5]
 */

const { values } = parseArgs({
  options: { sessions: { type: "string", default: "20" }, mib: { type: "string", default: "256" }, at: { type: "string", default: "0.5" } },
});
const SESSIONS = Number(values.sessions);
const BYTES = Number(values.mib) * 1024 * 1024;
const AT = Number(values.at);
const CHUNK = 1024 * 1024;

const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? NaN;

/** The chunk `i` of session `s`: one random block, stamped so no two chunks are alike. */
function chunkOf(block: Buffer, s: number, i: number): Buffer {
  const c = Buffer.from(block);
  c.writeUInt32BE(s, 0);
  c.writeUInt32BE(i, 4);
  return c;
}

async function main(): Promise<void> {
  const cleanup = new Cleanup();
  let failed = (): void => undefined;
  try {
    const token = randomToken();
    const services = { svc: { accept: "ws://127.0.0.1/svc", "socks.timeout": "10 seconds" } };
    const first: TestEdge = await startEdge(cleanup, { services, tokens: { svc: [token] } });
    let second: TestEdge | undefined;
    const echo = await echoBackend(cleanup);
    const connector = await startConnector(cleanup, {
      edge: first.ws,
      accept: "ws://127.0.0.1/svc",
      connect: echo.uri,
      token,
      prepared: SESSIONS + 4,
    });
    await connector.proc.waitForLog(REGISTERED, 20_000, "the connector to register");
    const client = await startForwarder(cleanup, first.clientUrl("/svc"), 2);
    failed = () => {
      for (const l of [...client.proc.lines, ...connector.proc.lines]) if (l.json?.level !== "info") console.error(l.raw);
      for (const e of [first, second]) for (const l of e?.logs ?? []) if (l.json?.level !== "info") console.error(`edge: ${l.raw}`);
    };
    const block = randomBytes(CHUNK);
    const conns = Array.from({ length: SESSIONS }, () => new LocalConn(cleanup, client.port));
    const sent = conns.map(() => createHash("sha256"));
    const total = SESSIONS * BYTES;
    const received = (): number => conns.reduce((n, c) => n + c.received, 0);
    const t0 = performance.now();
    let stage = "bulk";
    // Progress every 10 s: a stuck run says where it stands, and 30 s without a byte ends it (with every log).
    let lastSeen = -1;
    let still = 0;
    let stuck = (_e: Error): void => undefined;
    const stuckRun = new Promise<never>((_, reject) => (stuck = reject));
    stuckRun.catch(() => undefined);
    const progress = setInterval(() => {
      console.error(`[${stage}] received: ${conns.map((c) => c.received).join(", ")}`);
      still = received() === lastSeen ? still + 1 : 0;
      lastSeen = received();
      if (still >= 3) stuck(new Error(`no byte in 30 s at stage ${stage}`));
    }, 10_000);
    progress.unref();
    const writers = conns.map(async (c, s) => {
      for (let i = 0; i * CHUNK < BYTES; i++) {
        const chunk = chunkOf(block, s, i);
        sent[s]!.update(chunk);
        await c.write(chunk);
      }
      c.socket.end();
    });
    // Any connection's progress may be the one that reaches the restart point.
    const reached = (): boolean => received() >= AT * total;
    await Promise.race(conns.map((c) => c.until(reached, 600_000, "the restart point")));
    const beforeMs = performance.now() - t0;
    const beforeBytes = received();
    stage = "stopping the edge";
    await first.stop();
    stage = "starting a new edge";
    const droppedAt = performance.now();
    second = await startEdge(cleanup, { services, tokens: { svc: [token] }, port: first.port, resumeSecret: first.resumeSecret });
    const backAt = performance.now();
    stage = "resumed bulk";
    // What the local sockets still had in hand at the drop has arrived by now: the next byte is one resumed.
    const atBack = conns.map((c) => c.received);
    const firstByte = await Promise.all(
      conns.map((c, s) =>
        c
          .until(() => c.received > atBack[s]! || c.ended, 120_000, "the first byte after the restart")
          .then(() => performance.now() - backAt),
      ),
    );
    await Promise.race([Promise.all(writers), stuckRun]);
    await Promise.race([Promise.all(conns.map((c) => c.until(() => c.ended, 600_000, "every byte echoed, then EOF"))), stuckRun]);
    const afterMs = performance.now() - backAt;
    const bad = conns.filter((c, s) => c.received !== BYTES || c.digest() !== sent[s]!.digest("hex")).length;
    const stalls = client.proc.lines.filter(msgIs("session resumed")).map((l) => Number(l.json!.stallMs));
    const resent = connector.proc.lines.filter(msgIs("session resumed")).reduce((n, l) => n + Number(l.json!.resentBytes), 0);
    const mbps = (bytes: number, ms: number): string => ((bytes / 1024 / 1024 / ms) * 1000).toFixed(1);
    const lines = [
      `edge restart during bulk: ${SESSIONS} sessions × ${values.mib} MiB echoed (both ways), restart at ${AT * 100}%`,
      `  edge down ${Math.round(backAt - droppedAt)} ms; sessions resumed ${stalls.length}/${SESSIONS}; SHA-256 mismatches ${bad}`,
      `  client stall (drop → resumed): p50 ${Math.round(pct(stalls, 0.5))} ms, p99 ${Math.round(pct(stalls, 0.99))} ms`,
      `  first byte after the edge answered: p50 ${Math.round(pct(firstByte, 0.5))} ms, p99 ${Math.round(pct(firstByte, 0.99))} ms`,
      `  bytes resent by the connector: ${resent}`,
      `  echo throughput before ${mbps(beforeBytes, beforeMs)} MiB/s, after ${mbps(total - beforeBytes, afterMs)} MiB/s (incl. the stall)`,
    ];
    console.log(lines.join("\n"));
    if (bad > 0 || stalls.length !== SESSIONS) process.exitCode = 1;
  } catch (e) {
    await new Promise((r) => setTimeout(r, 1000)); // the processes' account of it is on its way
    failed();
    throw e;
  } finally {
    await cleanup.run();
  }
}

await main();
