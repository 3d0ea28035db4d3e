import net from "node:net";
import { startInstrEdge } from "/tmp/fs/instr-edge.ts";
import { afterEach, describe, expect, it } from "vitest";
import { Cleanup } from "../helpers/cleanup.ts";
import { refusingBackend } from "../helpers/backends.ts";
import { blackholeBackend, echoSession, randomBytes, startFaultEdge, startNode, type Outcome } from "../helpers/fault-kit.ts";
import { closeServer, listen } from "../helpers/net.ts";
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

describe("x", () => {
  it("backend blackholed (SYN unanswered): the client gets 4004 at the connector's connect timeout, new clients at once after", async () => {
    const logs: string[] = [];
    const token = "0123456789abcdef0123456";
    const ie = await startInstrEdge({ svc: { accept: "ws://127.0.0.1/svc", "socks.timeout": "20 seconds" } }, { svc: [token] }, logs);
    cleanup.add("ie", () => ie.stop());
    const edge = { port: ie.port, ws: `ws://127.0.0.1:${ie.port}`, token, url: `ws://127.0.0.1:${ie.port}/svc`, logs: logs.map((raw) => ({ raw })) };
    const backend = await blackholeBackend(cleanup);
    const node = await startNode(cleanup, {
      edge: edge.ws, token: edge.token, connect: backend.uri, id: "bh-backend", prepared: 1,
      settings: { "maximum.recovery.interval": "300 milliseconds" },
    });
    await node.registered();
    const o = await echoSession(edge.url, randomBytes(1024), { timeoutMs: 20_000 });
    expectClosed(o, 4004, "backend unreachable");
    expect(o.ms).toBeGreaterThanOrEqual(CONNECT_TIMEOUT_MS - 100);
    expect(o.ms).toBeLessThan(CONNECT_TIMEOUT_MS + 2000);
    await node.proc.waitForLog(msgIs("backend connection failed", { error: "ETIMEDOUT" }), 1000, "the connect timeout in the connector's log");
    await node.proc.waitForLog(msgIs("backend unavailable: withdrawing binds until it answers"), 2000, "the pool to withdraw");
    const next = await echoSession(edge.url, randomBytes(1024), { timeoutMs: 8000 });
    if (next.kind !== "closed") console.error(node.proc.output(), logs.join("\n"));
    expectClosed(next, 4004, "backend unreachable");
    expect(next.ms).toBeLessThan(500);
  });
});
