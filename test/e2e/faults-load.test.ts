import { afterEach, describe, expect, it } from "vitest";
import { Cleanup } from "../helpers/cleanup.ts";
import { echoBackend } from "../helpers/backends.ts";
import { echoSession, randomBytes, startFaultEdge, startNode, type Outcome } from "../helpers/fault-kit.ts";
import { msgIs } from "../helpers/processes.ts";
import { controlType, startWireTap, tapView } from "../helpers/wire-tap.ts";

/**
 * Load: a burst far beyond the pool is answered — every client gets its echo or a documented
 * close (4013 busy / 4006 no connector), none hangs; and under 1,000 concurrent clients each
 * bind is paired at most once and each session sees only its own bytes. Both at the sizes the
 * reliability issue names.
 */

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

function tally(outcomes: Outcome[]): Record<string, number> {
  const t: Record<string, number> = {};
  for (const o of outcomes) {
    const key = o.kind === "ok" ? "ok" : o.kind === "closed" ? String(o.code) : "error";
    t[key] = (t[key] ?? 0) + 1;
  }
  return t;
}

describe("faults: load", () => {
  it(
    "500 clients within one second against a pool of 20, each sending for ~1.2 s: each gets a full echo or 4013/4006, never a " + "hang",
    async () => {
      const CLIENTS = 500;
      const edge = await startFaultEdge(cleanup, { "socks.timeout": "1 second" });
      const backend = await echoBackend(cleanup);
      const node = await startNode(cleanup, { edge: edge.ws, token: edge.token, connect: backend.uri, id: "burst", prepared: 20 });
      await node.registered();
      const runs: Array<Promise<Outcome>> = [];
      const started = performance.now();
      for (let i = 0; i < CLIENTS; i++) {
        // Spread over one second; each sends 4 KiB in 1 KiB messages 400 ms apart. Up to 25 times
        // the prepared pool is waiting at once: only surplus binds, opened on the edge's demand,
        // can serve them within socks.timeout. How many make it depends on this machine's speed
        // (on 2 cores all do, in ~2.3 s); those that do not must be refused, not left hanging.
        const due = started + (i * 1000) / CLIENTS;
        const wait = due - performance.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
        runs.push(echoSession(edge.url, randomBytes(4096), { chunk: 1024, paceMs: 400, timeoutMs: 15_000 }));
      }
      const outcomes = await Promise.all(runs);
      const t = tally(outcomes);
      console.log(`burst of ${CLIENTS}: ${JSON.stringify(t)} in ${Math.round(performance.now() - started)} ms`);
      expect((t.ok ?? 0) + (t["4013"] ?? 0) + (t["4006"] ?? 0), JSON.stringify(t)).toBe(CLIENTS);
      // Far more than the 20 prepared: the edge asked for surplus binds and they were opened.
      expect(t.ok ?? 0).toBeGreaterThan(20);
      expect(node.proc.logs(msgIs("edge has waiting clients; opening more binds")).length).toBeGreaterThan(0);
      // Those refused were refused at socks.timeout (1 s), not left hanging.
      for (const o of outcomes) if (o.kind === "closed") expect(o.ms).toBeLessThan(3000);
    },
  );

  it("1,000 concurrent clients against 10 binds: every bind paired at most once, every session sees only its own bytes", async () => {
    const CLIENTS = 1000;
    // A pairing race, not a cap: room for every client (max.clients defaults to 512).
    const edge = await startFaultEdge(cleanup, { "socks.timeout": "60 seconds", "max.clients": String(CLIENTS) });
    const backend = await echoBackend(cleanup);
    const tap = await startWireTap(cleanup, edge.port);
    const node = await startNode(cleanup, { edge: tap.url, token: edge.token, connect: backend.uri, id: "race", prepared: 10 });
    await node.registered();
    await tap.waitFor((cs) => cs.filter(tapView.parked).length === 10, 10_000, "10 binds parked");
    const started = performance.now();
    // Each client its own random payload; the echo must be exactly it (count and SHA-256).
    const outcomes = await Promise.all(
      Array.from({ length: CLIENTS }, () => echoSession(edge.url, randomBytes(2048), { timeoutMs: 60_000 })),
    );
    const t = tally(outcomes);
    console.log(
      `${CLIENTS} concurrent: ${JSON.stringify(t)} in ${Math.round(performance.now() - started)} ms over ${tap.connections.length} bind ` +
        `connections`,
    );
    expect(t.ok, JSON.stringify(t)).toBe(CLIENTS);
    // From the wire: no bind connection was ever told `paired` twice…
    const pairedPerBind = tap.connections.map((c) => c.fromEdge.filter((f) => controlType(f) === "paired").length);
    expect(Math.max(...pairedPerBind)).toBe(1);
    expect(pairedPerBind.reduce((a, b) => a + b, 0)).toBe(CLIENTS);
    // …and each pairing named a distinct session.
    const sessions = tap.connections.flatMap((c) =>
      c.fromEdge.filter((f) => controlType(f) === "paired").map((f) => JSON.parse(f.text!).sessionId as string),
    );
    expect(new Set(sessions).size).toBe(CLIENTS);
    // The edge's log agrees: one `paired` per bind id.
    const bindIds = edge.logs.filter((l) => l.json?.msg === "paired").map((l) => l.json!.bindId);
    expect(bindIds.length).toBe(CLIENTS);
    expect(new Set(bindIds).size).toBe(CLIENTS);
  });
});
