import { afterEach, describe, expect, it } from "vitest";
import { startEchoServer } from "../../local-edge/echo-server.ts";
import { Cleanup } from "../helpers/cleanup.ts";
import { refusingBackend } from "../helpers/backends.ts";
import { blackholeBackend, echoSession, randomBytes, startFaultEdge, startNode, type Outcome } from "../helpers/fault-kit.ts";
import { msgIs } from "../helpers/processes.ts";
import { startWireTap, tapView } from "../helpers/wire-tap.ts";

/**
 * Backend health: a refusing backend is reported to waiting and new clients at once (4005)
 * instead of letting them wait for socks.timeout; an unreachable one (SYNs dropped) after the
 * connector's connect timeout (4004); and once it answers again, binds are offered again.
 */

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** connector/backend.ts BACKEND_CONNECT_TIMEOUT_MS. */
const CONNECT_TIMEOUT_MS = 10_000;

function expectClosed(o: Outcome, code: number, reason: string): void {
  expect(o.kind, JSON.stringify(o)).toBe("closed");
  if (o.kind === "closed") {
    expect(o.code).toBe(code);
    // A fixed reason: no address, port or errno reaches the client.
    expect(o.reason).toBe(reason);
  }
}

describe("faults: backend", () => {
  it(
    "backend refusing: paired, waiting and new clients all get 4005 at once; once it listens again, binds are offered and sessions " +
      "work",
    async () => {
      const edge = await startFaultEdge(cleanup, { "socks.timeout": "5 seconds" });
      const backend = await refusingBackend();
      const tap = await startWireTap(cleanup, edge.port);
      const node = await startNode(cleanup, {
        edge: tap.url,
        token: edge.token,
        connect: backend.uri,
        id: "refuse",
        prepared: 2,
        settings: { "maximum.recovery.interval": "300 milliseconds" },
      });
      await node.registered();
      await tap.waitFor((cs) => cs.filter(tapView.parked).length === 2, 10_000, "2 binds parked");

      // Five at once: two take the parked binds, three wait (socks.timeout is 5 s).
      const first = await Promise.all([0, 1, 2, 3, 4].map(() => echoSession(edge.url, randomBytes(1024), { timeoutMs: 8000 })));
      for (const o of first) {
        expectClosed(o, 4005, "backend refused");
        expect(o.ms).toBeLessThan(1500);
      }
      await node.proc.waitForLog(msgIs("backend unavailable: withdrawing binds until it answers"), 2000, "the pool to withdraw");
      // The edge knows now: a new client is told at once.
      const late = await echoSession(edge.url, randomBytes(1024), { timeoutMs: 8000 });
      expectClosed(late, 4005, "backend refused");
      expect(late.ms).toBeLessThan(500);
      expect(tap.count(tapView.parked)).toBe(0);

      // The backend comes back on its port: probes see it, binds are offered again. (Counted from
      // before it does: the log line may reach us after the binds it announces.)
      const marked = tap.connections.length;
      const revived = await startEchoServer({ port: backend.port });
      cleanup.add("revived backend", () => revived.stop());
      const back = await node.proc.waitForLog(msgIs("backend answers again: offering binds"), 5000, "the recovery probe to succeed");
      await tap.waitFor((cs) => cs.slice(marked).filter(tapView.parked).length === 2, 5000, "binds offered again");
      expect(performance.now() - back.at).toBeLessThan(2000);
      for (const o of await Promise.all([0, 1, 2].map(() => echoSession(edge.url, randomBytes(4096), { timeoutMs: 5000 }))))
        expect(o).toMatchObject({ kind: "ok" });
    },
  );

  it("a session whose backend dial failed holds up no drain: SIGTERM right after exits without waiting out the drain timeout", async () => {
    const edge = await startFaultEdge(cleanup);
    const backend = await refusingBackend();
    const node = await startNode(cleanup, {
      edge: edge.url,
      token: edge.token,
      connect: backend.uri,
      id: "refuse-drain",
      prepared: 1,
      drainTimeout: "60 seconds",
    });
    await node.registered();
    expectClosed(await echoSession(edge.url, randomBytes(16), { timeoutMs: 8000 }), 4005, "backend refused");
    node.proc.signal("SIGTERM");
    // The failed bind used to stay a session until ws gave up on its close handshake (30 s).
    expect((await node.proc.waitForExit(10_000)).code).toBe(0);
  });

  it(
    "backend blackholed (SYN unanswered): the client gets 4004 at the connector's connect timeout, new clients at once " + "after",
    async () => {
      const edge = await startFaultEdge(cleanup, { "socks.timeout": "20 seconds" });
      const backend = await blackholeBackend(cleanup);
      const node = await startNode(cleanup, {
        edge: edge.ws,
        token: edge.token,
        connect: backend.uri,
        id: "bh-backend",
        prepared: 1,
        settings: { "maximum.recovery.interval": "300 milliseconds" },
      });
      await node.registered();
      const o = await echoSession(edge.url, randomBytes(1024), { timeoutMs: 20_000 });
      expectClosed(o, 4004, "backend unreachable");
      expect(o.ms).toBeGreaterThanOrEqual(CONNECT_TIMEOUT_MS - 100);
      expect(o.ms).toBeLessThan(CONNECT_TIMEOUT_MS + 2000);
      await node.proc.waitForLog(
        msgIs("backend connection failed", { error: "ETIMEDOUT" }),
        1000,
        "the connect timeout in the connector's log",
      );
      await node.proc.waitForLog(msgIs("backend unavailable: withdrawing binds until it answers"), 2000, "the pool to withdraw");
      const next = await echoSession(edge.url, randomBytes(1024), { timeoutMs: 8000 });
      expectClosed(next, 4004, "backend unreachable");
      expect(next.ms).toBeLessThan(500);
    },
  );
});
