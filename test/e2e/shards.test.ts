import { randomBytes } from "node:crypto";
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { ServiceStatus } from "../../edge/status.ts";
import { STATUS_PATH } from "../../shared/protocol/constants.ts";
import { echoBackend, refusingBackend, sha256 } from "../helpers/backends.ts";
import { Cleanup } from "../helpers/cleanup.ts";
import { startEdge, type TestEdge } from "../helpers/edge.ts";
import { ACCEPT, echoSession, type Outcome, SERVICE, startNode, taggedEcho } from "../helpers/fault-kit.ts";
import { randomToken } from "../helpers/files.ts";
import { msgIs, spawnSallyport } from "../helpers/processes.ts";
import { within } from "../helpers/wait.ts";
import { echoAll, LocalConn, startForwarder } from "../helpers/local-conn.ts";

/**
 * A service spread over several Durable Objects (issue 13) in local workerd, with real
 * connector and `sallyport client` processes: clients spread evenly over the shards, binds
 * from every connector on every shard, losing a connector leaves every shard served, and a
 * restart of the edge with another N moves the connectors' binds to exactly the new shards.
 * Per-shard figures come from the edge's status endpoint (aggregated, with a breakdown).
 */

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const ADMIN = randomToken();
/** Sessions streaming through `sallyport client` while N changes, and the bytes each sends. */
const STREAMING = 100;
const STREAM_BYTES = 256 * 1024;

/** An edge with `shards`; `replacing` one stopped, its port and resume secret, as a deploy keeps both. */
async function shardedEdge(shards: number, token: string, replacing?: TestEdge): Promise<TestEdge> {
  return startEdge(cleanup, {
    services: { [SERVICE]: { accept: ACCEPT, "socks.timeout": "10 seconds", shards: String(shards), "max.clients": "4096" } },
    tokens: { [SERVICE]: [token] },
    bindings: { SALLYPORT_ADMIN_TOKEN: ADMIN },
    ...(replacing ? { port: replacing.port, resumeSecret: replacing.resumeSecret } : {}),
  });
}

async function status(edge: TestEdge): Promise<ServiceStatus> {
  const res = await fetch(`http://127.0.0.1:${edge.port}${STATUS_PATH}`, { headers: { authorization: `Bearer ${ADMIN}` } });
  if (res.status !== 200) throw new Error(`status answered ${res.status}`);
  return ((await res.json()) as { services: ServiceStatus[] }).services[0]!;
}

/**
 * Polls the status endpoint until `check` holds: which shard a bind parks on is visible only
 * there (the edge logs no line per parked bind). Each poll is one request; the deadline fails the test.
 */
async function statusUntil(edge: TestEdge, what: string, check: (s: ServiceStatus) => boolean, ms = 20_000): Promise<ServiceStatus> {
  const deadline = performance.now() + ms;
  for (;;) {
    const s = await status(edge);
    if (check(s)) return s;
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}: ${JSON.stringify(s.shards)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One session through `sallyport client`'s local port: `payload` out, the same bytes back from the echo. */
function throughClient(port: number, payload: Buffer): Promise<Outcome> {
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  return within(
    new Promise<Outcome>((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      const got: Buffer[] = [];
      let n = 0;
      s.on("connect", () => s.write(payload));
      s.on("data", (d: Buffer) => {
        got.push(d);
        n += d.length;
        if (n < payload.length) return;
        s.end();
        resolve(
          Buffer.concat(got).equals(payload) ? { kind: "ok", ms: ms() } : { kind: "error", detail: `echo mismatch (${n})`, ms: ms() },
        );
      });
      s.on("error", (e) => resolve({ kind: "error", detail: e.message, ms: ms() }));
      s.on("close", () => resolve({ kind: "error", detail: `closed after ${n} bytes`, ms: ms() }));
    }),
    20_000,
    "a session through sallyport client",
  );
}

/** Runs `total` sessions, `concurrency` at a time. */
async function runAll(total: number, concurrency: number, one: (i: number) => Promise<Outcome>): Promise<Outcome[]> {
  const out: Outcome[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < total; i = next++) out[i] = await one(i);
    }),
  );
  return out;
}

const parkedEverywhere =
  (shards: number, perShard: number, connectors = 1) =>
  (s: ServiceStatus) =>
    s.shards?.length === shards && s.shards.every((h) => h.parkedBinds >= perShard && h.connectors === connectors);

/**
 * A four-shard edge with one connector process (to `connect`, an echo backend when absent),
 * once the connector's binds are parked on every shard, at least `perShard` each.
 */
async function servedOverFour(
  perShard: number,
  o: Pick<Parameters<typeof startNode>[1], "id" | "prepared" | "retryMax" | "drainTimeout">,
  connect?: string,
) {
  const token = randomToken();
  const edge = await shardedEdge(4, token);
  const backend = connect === undefined ? await echoBackend(cleanup) : undefined;
  const node = await startNode(cleanup, { edge: edge.ws, token, connect: connect ?? backend!.uri, ...o });
  await node.registered();
  await statusUntil(edge, `${perShard} of ${o.id}'s binds on each shard`, parkedEverywhere(4, perShard));
  return { token, edge, backend, node };
}

describe("a service over four objects", () => {
  it("spreads 1,000 sessions (plain and `sallyport client`) over all four, each within ±25 % of the mean, every byte intact", async () => {
    const { edge } = await servedOverFour(8, { id: "spread", prepared: 32 });
    // --preopen 0: one WebSocket per connection, so every session is a pairing the edge counts
    // (a pre-opened pair is kept for the client's next connection, on the same shard).
    const client = spawnSallyport(["client", "--url", edge.clientUrl("/svc"), "--listen", "127.0.0.1:0", "--preopen", "0"], {
      name: "sallyport client",
      cleanup,
    });
    const line = await client.waitForLog(msgIs("listening"), 20_000, "the client to listen");
    const clientPort = Number(String(line.json!.listen).split(":").pop());

    const TOTAL = 1000;
    const outcomes = await runAll(TOTAL, 16, (i) => {
      const payload = randomBytes(4096 + i);
      return i % 2 ? throughClient(clientPort, payload) : echoSession(edge.clientUrl("/svc"), payload, { timeoutMs: 20_000 });
    });
    expect(outcomes.filter((o) => o.kind !== "ok")).toEqual([]);
    const s = await status(edge);
    expect(s.pairings).toBe(TOTAL);
    const mean = TOTAL / 4;
    for (const h of s.shards!)
      expect(Math.abs(h.pairings - mean), `shard ${h.shard}: ${h.pairings} sessions`).toBeLessThanOrEqual(mean / 4);
  });

  it("two connectors × 8 binds: every shard holds binds of both; with one killed, every shard still serves", async () => {
    const token = randomToken();
    const edge = await shardedEdge(4, token);
    const [backendA, backendB] = [await taggedEcho(cleanup, "A"), await taggedEcho(cleanup, "B")];
    const a = await startNode(cleanup, { edge: edge.ws, token, connect: backendA.uri, id: "node-a", prepared: 8 });
    const b = await startNode(cleanup, { edge: edge.ws, token, connect: backendB.uri, id: "node-b", prepared: 8 });
    await Promise.all([a.registered(), b.registered()]);
    const before = await statusUntil(edge, "2 + 2 binds on each shard", parkedEverywhere(4, 4, 2));
    expect(before.connectors.map((c) => [c.connectorId, c.parked]).sort()).toEqual([
      ["node-a", 8],
      ["node-b", 8],
    ]);

    await a.proc.kill();
    await statusUntil(edge, "only node-b's binds left", (s) => s.shards!.every((h) => h.connectors === 1 && h.parkedBinds >= 1));
    const tags: string[] = [];
    const outcomes = await runAll(8, 1, () =>
      echoSession(edge.clientUrl("/svc"), randomBytes(8192), { skipLine: true, timeoutMs: 15_000, onTag: (t) => tags.push(t) }),
    );
    expect(outcomes.filter((o) => o.kind !== "ok")).toEqual([]);
    expect(tags).toEqual(Array(8).fill("B"));
    const after = await status(edge);
    for (const h of after.shards!) expect(h.pairings - before.shards![h.shard]!.pairings, `shard ${h.shard} served`).toBeGreaterThan(0);
  });

  it("a second instance of a connector takes over the first's binds on every shard", async () => {
    const { token, edge, backend } = await servedOverFour(1, { id: "twin", prepared: 4 });
    const fresh = await startNode(cleanup, { edge: edge.ws, token, connect: backend!.uri, id: "twin", prepared: 4 });
    const started = await fresh.proc.waitForLog(msgIs("connector started"), 20_000, "the second instance to start");
    const instance = String(started.json!.instance);
    // Each shard evicts the old instance's binds when the new one's first bind arrives there.
    const evicted = () => edge.logs.filter((l) => l.json?.msg === "connector restarted: its old binds evicted").length;
    await statusUntil(edge, "the new instance alone on every shard", (s) => {
      const twin = s.connectors.find((c) => c.connectorId === "twin");
      // Four parked in all: the new instance's, one per shard; the old one's are refused wherever they come.
      return twin?.instance === instance && evicted() >= 4 && s.parkedBinds === 4 && s.shards!.every((h) => h.parkedBinds === 1);
    });
    const outcomes = await runAll(4, 1, () => echoSession(edge.clientUrl("/svc"), randomBytes(4096), { timeoutMs: 15_000 }));
    expect(outcomes.filter((o) => o.kind !== "ok")).toEqual([]);
  });

  it(
    "N changed by restarting the edge (4 → 2) while 100 sessions of `sallyport client` stream: each resumes on its own shard " +
      "(SHA-256 equal both ways), the connector moves its binds to exactly the new shards, new sessions spread",
    async () => {
      const served = await servedOverFour(1, { id: "mover", prepared: 4, retryMax: "300 milliseconds" });
      const { token, node, backend } = served;
      let edge = served.edge;
      const client = await startForwarder(cleanup, edge.clientUrl("/svc"));
      const sessions = Array.from({ length: STREAMING }, () => ({
        conn: new LocalConn(cleanup, client.port),
        data: randomBytes(STREAM_BYTES),
      }));
      const half = STREAM_BYTES / 2;
      await Promise.all(sessions.map((s) => s.conn.write(s.data.subarray(0, half))));
      await Promise.all(sessions.map((s) => s.conn.until(() => s.conn.received >= half, 60_000, "the first half echoed")));
      const before = await status(edge);
      // Sessions on every one of the four shards, so shards 2 and 3 (gone from the new N) hold some.
      expect(before.shards!.map((h) => h.pairings).every((n) => n > 0)).toBe(true);

      await edge.stop();
      edge = await shardedEdge(2, token, edge);
      await node.proc.waitForLog(
        msgIs("the edge spreads this service over a new number of shards; moving binds", { shards: 2, was: 4 }),
        20_000,
        "the connector to learn N = 2",
      );
      await echoAll(
        sessions.map((s) => ({ conn: s.conn, data: s.data.subarray(half) })),
        120_000,
      );
      for (const s of sessions) {
        expect(s.conn.received).toBe(STREAM_BYTES);
        expect(s.conn.digest()).toBe(sha256(s.data));
        expect(s.conn.error).toBeUndefined();
      }
      expect(backend!.connections()).toBe(STREAMING); // none dialed again: every one resumed
      expect(client.proc.lines.filter(msgIs("session resumed"))).toHaveLength(STREAMING);
      // Resumed on the objects their tickets name: the old shards 2 and 3 among them.
      const objects = new Set(edge.logs.filter((l) => l.json?.msg === "session resumed").map((l) => String(l.json!.object)));
      expect([...objects].sort()).toEqual([SERVICE, `${SERVICE}#1`, `${SERVICE}#2`, `${SERVICE}#3`]);

      // max(prepared 4, N 2) = 4 binds, two per shard, and none anywhere else: the 4 offered are all here.
      const s = await statusUntil(edge, "2 binds on each of 2 shards", (st) => st.shards!.every((h) => h.parkedBinds === 2));
      expect(s.shards).toHaveLength(2);
      const pairingsBefore = s.shards!.map((h) => h.pairings);
      const outcomes = await runAll(4, 1, () => echoSession(edge.clientUrl("/svc"), randomBytes(4096), { timeoutMs: 15_000 }));
      expect(outcomes.filter((o) => o.kind !== "ok")).toEqual([]);
      expect((await status(edge)).shards!.map((h, i) => h.pairings - pairingsBefore[i]!)).toEqual([2, 2]);
    },
  );

  it("backend down: the connector withdraws its binds on every shard, and a client on any shard is told 4005 at once", async () => {
    const { edge, node } = await servedOverFour(1, { id: "refused", prepared: 4 }, (await refusingBackend()).uri);
    const first = await echoSession(edge.clientUrl("/svc"), randomBytes(1024), { timeoutMs: 15_000 });
    expect(first).toMatchObject({ kind: "closed", code: 4005 });
    await node.proc.waitForLog(msgIs("backend unavailable: withdrawing binds until it answers"), 5000, "the pool to withdraw");
    await statusUntil(edge, "no bind parked on any shard", (s) => s.shards!.every((h) => h.parkedBinds === 0));
    // Eight in a row: the Worker's turn passes every shard first; none waits out socks.timeout (10 s).
    for (let i = 0; i < 8; i++) {
      const o = await echoSession(edge.clientUrl("/svc"), randomBytes(1024), { timeoutMs: 15_000 });
      expect(o, `client ${i}`).toMatchObject({ kind: "closed", code: 4005 });
      expect(o.ms, `client ${i}`).toBeLessThan(2000);
    }
    // Every shard cold: each went to shard 0 (which knows the backend is down), and the edge said so.
    expect(edge.logs.filter((l) => l.json?.msg === "client's shards had no parked bind; sent to shard 0").length).toBeGreaterThanOrEqual(8);
  });

  it("drain (SIGTERM): no bind left parked on any shard while a session in flight completes", async () => {
    const { edge, backend, node } = await servedOverFour(1, { id: "drained", prepared: 4, drainTimeout: "20 seconds" });
    const inFlight = echoSession(edge.clientUrl("/svc"), randomBytes(256 * 1024), { chunk: 8192, paceMs: 20, timeoutMs: 20_000 });
    await backend!.accepted(1, 10_000);
    node.proc.signal("SIGTERM");
    await statusUntil(edge, "no bind parked on any shard", (s) => s.shards!.every((h) => h.parkedBinds === 0), 5000);
    expect(await inFlight).toMatchObject({ kind: "ok" });
    expect((await node.proc.waitForExit(10_000)).code).toBe(0);
  });
});
