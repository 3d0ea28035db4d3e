import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { watchedEchoBackend } from "../helpers/backends.ts";
import { Cleanup } from "../helpers/cleanup.ts";
import { startFaultRelay } from "../helpers/fault-relay.ts";
import { ACCEPT, echoSession, randomBytes, startFaultEdge, startNode } from "../helpers/fault-kit.ts";
import { msgIs, spawnSallyport } from "../helpers/processes.ts";
import { Condition, since } from "../helpers/wait.ts";

/**
 * Liveness of sessions in progress (issue 11): a leg of a paired session that goes silent (no
 * FIN, no RST: the fault relay's blackhole) must not hold its backend connection inside the
 * trusted network. With default heartbeat settings the session ends — backend connection
 * closed — within 10 s, whichever leg died:
 *   - connector↔edge: the connector heartbeats a paired bind every 2 s (SESSION_HEARTBEAT_MS),
 *     whatever heartbeat.interval its parked binds use, and drops it after three misses;
 *   - client↔edge, for a `sallyport client`: it heartbeats its session socket and resets the
 *     local connection after three misses; the edge, which answered its heartbeats, sees them
 *     stop and ends the session, and the connector resets the backend.
 */

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** 3 missed 2 s heartbeats, found at the next tick: 8 s; 10 s is the bound promised. */
const BOUND_MS = 10_000;

describe("faults: a session's leg goes silent", () => {
  it("connector↔edge black-holed mid-session, default heartbeat.interval (15 s): the backend connection closes within 10 s", async () => {
    const edge = await startFaultEdge(cleanup, { "socks.timeout": "5 seconds" });
    const backend = await watchedEchoBackend(cleanup);
    const relay = await startFaultRelay(cleanup, { target: edge.port, name: "connector↔edge" });
    const node = await startNode(cleanup, { edge: relay.url, token: edge.token, connect: backend.uri, id: "sl", prepared: 1 });
    await node.registered();
    const inFlight = echoSession(edge.url, randomBytes(8 * 1024 * 1024), { chunk: 16 * 1024, paceMs: 20, timeoutMs: 60_000 });
    await node.proc.waitForLog(msgIs("session started"), 10_000, "the session to start");
    expect(backend.open()).toBe(1);

    relay.blackhole();
    const cut = performance.now();
    await backend.closes(1, BOUND_MS + 5000, "the backend connection to close");
    const closedAfter = backend.closedAt[0]! - cut;
    console.log(`connector↔edge black-holed: backend connection closed after ${Math.round(closedAfter)} ms`);
    expect(closedAfter).toBeLessThanOrEqual(BOUND_MS);
    // Not before three heartbeats could have been missed (it is the heartbeat that found it).
    expect(closedAfter).toBeGreaterThanOrEqual(2 * 2000);
    const dropped = await node.proc.waitForLog(msgIs("edge silent; dropping bind"), 1000, "the connector's reason");
    expect(dropped.json?.sessionId).toEqual(expect.any(String));

    // The client's session ends abnormally, never as a clean end of stream, once the path heals.
    relay.pass();
    const o = await inFlight;
    expect(o.kind).toBe("closed");
    if (o.kind === "closed") expect(o.code).not.toBe(1000);
  });

  it("sallyport client↔edge black-holed mid-session: local connection reset and backend connection closed, each within 10 s", async () => {
    const edge = await startFaultEdge(cleanup, { "socks.timeout": "5 seconds" });
    const backend = await watchedEchoBackend(cleanup);
    const node = await startNode(cleanup, {
      edge: `ws://127.0.0.1:${edge.port}`,
      token: edge.token,
      connect: backend.uri,
      id: "cl",
      prepared: 1,
    });
    await node.registered();
    const relay = await startFaultRelay(cleanup, { target: edge.port, name: "client↔edge" });
    const client = spawnSallyport(
      ["client", "--url", new URL(new URL(ACCEPT).pathname, relay.url).href, "--listen", "127.0.0.1:0", "--preopen", "0"],
      { name: "sallyport client", cleanup },
    );
    const listening = await client.waitForLog(msgIs("listening"), 20_000, "the client to listen");
    const port = Number(String(listening.json!.listen).split(":").pop());

    const local = net.connect({ port, host: "127.0.0.1" });
    const changed = new Condition();
    let echoed = 0;
    let ended: "reset" | "fin" | undefined;
    let endedAt = 0;
    local.on("data", (c: Buffer) => {
      echoed += c.length;
      changed.notify();
    });
    local.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "ECONNRESET") ended ??= "reset";
      endedAt ||= performance.now();
      changed.notify();
    });
    local.on("end", () => {
      ended ??= "fin";
      endedAt ||= performance.now();
      changed.notify();
    });
    cleanup.add("local connection", () => void local.destroy());
    local.write("are you there?");
    await changed.wait(() => echoed === 14 || undefined, 10_000, "the echo through the session");
    expect(backend.open()).toBe(1);

    relay.blackhole();
    const cut = performance.now();
    await changed.wait(() => ended, BOUND_MS + 5000, "the local connection to end");
    expect(ended).toBe("reset");
    expect(endedAt - cut).toBeLessThanOrEqual(BOUND_MS);
    await backend.closes(1, BOUND_MS + 5000, "the backend connection to close");
    const [resetMs, closedMs] = [endedAt - cut, backend.closedAt[0]! - cut].map(Math.round);
    console.log(`client↔edge black-holed: local connection reset after ${resetMs} ms, backend closed after ${closedMs} ms`);
    expect(backend.closedAt[0]! - cut).toBeLessThanOrEqual(BOUND_MS);
    expect(since(cut)).toBeGreaterThanOrEqual(2 * 2000);
    const closed = await client.waitForLog(msgIs("connection closed"), 2000, "the client's account");
    expect(closed.json).toMatchObject({ closeCode: 4003, clean: false });
  });
});
