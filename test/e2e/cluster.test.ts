import { afterEach, describe, expect, it } from "vitest";
import { Cleanup } from "../helpers/cleanup.ts";
import { echoSession, randomBytes, startFaultEdge, startNode, taggedEcho, type Outcome } from "../helpers/fault-kit.ts";
import { msgIs } from "../helpers/processes.ts";
import { Condition } from "../helpers/wait.ts";
import { startWireTap, tapView } from "../helpers/wire-tap.ts";

/**
 * Several connectors (distinct --connector-id) serving one service: the edge spreads
 * sessions over them, losing one loses only its own sessions (which end abnormally, never
 * 1000), and a restarted connector takes over its old identity's binds at once.
 */

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

describe("cluster", () => {
  it(
    "SIGKILL of one of two connectors mid-transfer, five cycles: survivor's sessions intact, killed one's end abnormally, new sessions " +
      "succeed, pool refills",
    async () => {
      const edge = await startFaultEdge(cleanup, { "socks.timeout": "5 seconds" });
      const backendA = await taggedEcho(cleanup, "A");
      const backendB = await taggedEcho(cleanup, "B");
      // A goes through a wire tap, so the test sees its binds parked again after each restart.
      const tapA = await startWireTap(cleanup, edge.port);
      const nodeOpts = { token: edge.token, prepared: 3, retryMax: "500 milliseconds" };
      const b = await startNode(cleanup, { ...nodeOpts, edge: edge.ws, connect: backendB.uri, id: "node-b" });
      await b.registered();
      let a = await startNode(cleanup, { ...nodeOpts, edge: tapA.url, connect: backendA.uri, id: "node-a" });
      await a.registered();
      await tapA.waitFor((cs) => cs.filter(tapView.parked).length === 3, 10_000, "A's 3 binds parked");

      for (let cycle = 1; cycle <= 5; cycle++) {
        // Four long transfers (2 MiB each, paced over ~1.3 s): the edge puts two on each connector.
        const tags: string[] = [];
        const tagged = new Condition();
        const runs: Array<Promise<Outcome>> = [];
        const sessionTags: Array<string | undefined> = [];
        for (let i = 0; i < 4; i++) {
          runs.push(
            echoSession(edge.url, randomBytes(2 * 1024 * 1024), {
              skipLine: true,
              chunk: 16 * 1024,
              paceMs: 10,
              timeoutMs: 20_000,
              onTag: (t) => {
                sessionTags[i] = t;
                tags.push(t);
                tagged.notify();
              },
            }),
          );
        }
        await tagged.wait(() => tags.length === 4, 10_000, `cycle ${cycle}: all four sessions under way`);
        expect(tags.filter((t) => t === "A").length, `cycle ${cycle}: sessions spread over both connectors`).toBe(2);

        await a.proc.kill(); // SIGKILL to its process group, mid-transfer
        // New sessions right after the loss are served by the survivor.
        const fresh = await Promise.all(
          [0, 1, 2].map(() => echoSession(edge.url, randomBytes(64 * 1024), { skipLine: true, timeoutMs: 10_000 })),
        );
        const outcomes = await Promise.all(runs);

        for (const [i, o] of outcomes.entries()) {
          if (sessionTags[i] === "B") expect(o, `cycle ${cycle}: B's session ${i} intact`).toMatchObject({ kind: "ok" });
          else {
            // Abnormal, never a clean close that would pass a truncated stream off as complete.
            expect(o.kind, `cycle ${cycle}: A's session ${i} (${JSON.stringify(o)})`).toBe("closed");
            if (o.kind === "closed") {
              expect(o.code).not.toBe(1000);
              expect(o.code).toBe(4003);
              expect(o.reason).toBe("connector lost");
            }
          }
        }
        for (const o of fresh) expect(o, `cycle ${cycle}: a new session during the loss`).toMatchObject({ kind: "ok" });

        // Restart A under the same identity; its pool fills again.
        const before = tapA.connections.length;
        a = await startNode(cleanup, { ...nodeOpts, edge: tapA.url, connect: backendA.uri, id: "node-a" });
        await a.registered();
        await tapA.waitFor((cs) => cs.slice(before).filter(tapView.parked).length === 3, 10_000, `cycle ${cycle}: A's binds parked again`);
      }
      expect(b.proc.exit).toBeUndefined();
    },
  );

  it("sessions go to the connector with the fewest in progress", async () => {
    const edge = await startFaultEdge(cleanup, { "socks.timeout": "5 seconds" });
    const backendA = await taggedEcho(cleanup, "A");
    const backendB = await taggedEcho(cleanup, "B");
    const tap = await startWireTap(cleanup, edge.port);
    const a = await startNode(cleanup, { edge: tap.url, token: edge.token, connect: backendA.uri, id: "spread-a", prepared: 6 });
    const b = await startNode(cleanup, { edge: tap.url, token: edge.token, connect: backendB.uri, id: "spread-b", prepared: 2 });
    await Promise.all([a.registered(), b.registered()]);
    await tap.waitFor((cs) => cs.filter(tapView.parked).length === 8, 10_000, "8 binds parked");
    // A offers three times as many binds, yet held sessions alternate between the two.
    const tags: string[] = [];
    const seen = new Condition();
    const held: Array<Promise<Outcome>> = [];
    for (let i = 0; i < 6; i++) {
      held.push(
        echoSession(edge.url, randomBytes(256 * 1024), {
          skipLine: true,
          chunk: 8 * 1024,
          paceMs: 40,
          timeoutMs: 20_000,
          onTag: (t) => {
            tags.push(t);
            seen.notify();
          },
        }),
      );
      await seen.wait(() => tags.length === i + 1, 10_000, `session ${i} under way`);
    }
    expect(tags.filter((t) => t === "A").length).toBe(3);
    expect(tags.filter((t) => t === "B").length).toBe(3);
    for (const o of await Promise.all(held)) expect(o).toMatchObject({ kind: "ok" });
  });

  it("a connector restarted with the same --connector-id evicts its old instance's parked binds at once (4030)", async () => {
    const edge = await startFaultEdge(cleanup);
    const backend = await taggedEcho(cleanup, "X");
    const tap = await startWireTap(cleanup, edge.port);
    const old = await startNode(cleanup, { edge: tap.url, token: edge.token, connect: backend.uri, id: "same-id", prepared: 3 });
    await old.registered();
    await tap.waitFor((cs) => cs.filter(tapView.parked).length === 3, 10_000, "the old instance's 3 binds parked");
    const oldConns = tap.connections.slice();
    // The old process hangs (as a wedged or partitioned host would): its sockets stay open.
    old.proc.signal("SIGSTOP");
    const replacement = await startNode(cleanup, { edge: tap.url, token: edge.token, connect: backend.uri, id: "same-id", prepared: 3 });
    const registered = await replacement.registered();
    // The edge closed every old parked bind with 4030 right when the new instance bound.
    const evicted = await tap.waitFor(
      () => (oldConns.every((c) => tapView.closeFromEdge(c) === 4030) ? oldConns : undefined),
      5000,
      "the old binds closed with 4030",
    );
    expect(evicted.length).toBe(3);
    expect(performance.now() - registered.at).toBeLessThan(2000);
    // Clients are served by the new instance only.
    for (let i = 0; i < 3; i++)
      expect(await echoSession(edge.url, randomBytes(10_000), { skipLine: true, timeoutMs: 10_000 })).toMatchObject({ kind: "ok" });
    old.proc.signal("SIGCONT");
    // The old instance, woken, is told it was replaced and does not evict the new one back.
    await old.proc.waitForLog(
      msgIs("a newer instance of this connector took over; backing off"),
      10_000,
      "the old instance to learn it was replaced",
    );
    await expect(echoSession(edge.url, randomBytes(10_000), { skipLine: true, timeoutMs: 10_000 })).resolves.toMatchObject({ kind: "ok" });
  });
});
