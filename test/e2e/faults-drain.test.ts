import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { Cleanup } from "../helpers/cleanup.ts";
import { echoSession, randomBytes, startFaultEdge, startNode, taggedEcho, type Outcome } from "../helpers/fault-kit.ts";
import { msgIs, spawnSallyport } from "../helpers/processes.ts";
import { since } from "../helpers/wait.ts";
import { startWireTap, tapView, type TapConnection } from "../helpers/wire-tap.ts";

/**
 * Drain on SIGTERM: parked binds are closed with 1001 at once (and the edge stops offering
 * them), sessions in flight finish within --drain-timeout, the process exits 0 as soon as it
 * is idle; after the grace period what is left is closed abnormally; a second signal exits
 * at once.
 */

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const parkedNow = (cs: TapConnection[]): TapConnection[] => cs.filter(tapView.parked);

describe("faults: drain", () => {
  it(
    "SIGTERM with a session in flight: binds closed 1001 at once, new clients go to the other connector, the session completes intact, " +
      "exit 0 early",
    async () => {
      const edge = await startFaultEdge(cleanup, { "socks.timeout": "5 seconds" });
      const backendA = await taggedEcho(cleanup, "A");
      const backendB = await taggedEcho(cleanup, "B");
      const tapA = await startWireTap(cleanup, edge.port);
      const a = await startNode(cleanup, {
        edge: tapA.url,
        token: edge.token,
        connect: backendA.uri,
        id: "drain-a",
        prepared: 3,
        drainTimeout: "20 seconds",
      });
      await a.registered();
      await tapA.waitFor((cs) => parkedNow(cs).length === 3, 10_000, "A's binds parked");
      // A 3 MiB echo paced over ~2 s, on A (the only connector yet).
      let tag = "";
      const long = echoSession(edge.url, randomBytes(3 * 1024 * 1024), {
        skipLine: true,
        chunk: 16 * 1024,
        paceMs: 10,
        timeoutMs: 20_000,
        onTag: (t) => (tag = t),
      });
      await a.proc.waitForLog(msgIs("session started"), 5000, "the long session on A");
      const b = await startNode(cleanup, { edge: edge.ws, token: edge.token, connect: backendB.uri, id: "drain-b", prepared: 3 });
      await b.registered();
      await tapA.waitFor((cs) => parkedNow(cs).length === 3, 10_000, "A's pool refilled");
      const parked = parkedNow(tapA.connections);

      const signalled = performance.now();
      a.proc.signal("SIGTERM");
      // Every parked bind of A is closed with "going away" at once.
      await tapA.waitFor(
        () => parked.every((c) => tapView.closeFromConnector(c) === 1001) || undefined,
        1000,
        "A's parked binds closed with 1001",
      );
      // Clients arriving meanwhile are all served, by B.
      const tags: string[] = [];
      const fresh = await Promise.all(
        [0, 1, 2, 3, 4].map(() =>
          echoSession(edge.url, randomBytes(4096), { skipLine: true, timeoutMs: 5000, onTag: (t) => tags.push(t) }),
        ),
      );
      for (const o of fresh) expect(o).toMatchObject({ kind: "ok" });
      expect(tags).toEqual(["B", "B", "B", "B", "B"]);
      // A opens nothing new while draining.
      const opened = tapA.connections.filter((c) => c.openedAt > signalled);
      expect(opened).toHaveLength(0);

      const done = await long;
      expect(tag).toBe("A");
      expect(done).toMatchObject({ kind: "ok" });
      const exit = await a.proc.waitForExit(5000);
      expect(exit).toEqual({ code: 0, signal: null });
      expect(since(signalled)).toBeLessThan(10_000); // well before the 20 s drain timeout
      await a.proc.waitForLog(msgIs("connector stopped"), 1000, "the stop message");
    },
  );

  it("SIGTERM with nothing in flight: binds closed 1001, exit 0 at once", async () => {
    const edge = await startFaultEdge(cleanup);
    const backend = await taggedEcho(cleanup, "A");
    const tap = await startWireTap(cleanup, edge.port);
    const node = await startNode(cleanup, {
      edge: tap.url,
      token: edge.token,
      connect: backend.uri,
      id: "idle",
      prepared: 3,
      drainTimeout: "30 seconds",
    });
    await node.registered();
    await tap.waitFor((cs) => parkedNow(cs).length === 3, 10_000, "binds parked");
    const parked = parkedNow(tap.connections);
    const signalled = performance.now();
    node.proc.signal("SIGTERM");
    expect(await node.proc.waitForExit(5000)).toEqual({ code: 0, signal: null });
    expect(since(signalled)).toBeLessThan(2000);
    expect(parked.map((c) => tapView.closeFromConnector(c))).toEqual([1001, 1001, 1001]);
    // The edge dropped them at once: a client now waits (and times out as "no connector"), it is never paired onto them.
    const o = await echoSession(edge.url, randomBytes(1024), { timeoutMs: 5000 });
    expect(o).toMatchObject({ kind: "closed", code: 4006 });
  });

  it("SIGTERM with pairs held in standby by a `sallyport client`: they are nothing in flight, exit 0 at once", async () => {
    const edge = await startFaultEdge(cleanup);
    const backend = await taggedEcho(cleanup, "A");
    const node = await startNode(cleanup, {
      edge: edge.ws,
      token: edge.token,
      connect: backend.uri,
      id: "standby",
      prepared: 3,
      drainTimeout: "30 seconds",
    });
    await node.registered();
    const client = spawnSallyport(["client", "--url", edge.url, "--listen", "127.0.0.1:0", "--preopen", "2", "--log-level", "debug"], {
      name: "client",
      cleanup,
    });
    await client.waitForLogCount(msgIs("pre-opened session open"), 2, 20_000);
    const signalled = performance.now();
    node.proc.signal("SIGTERM");
    expect(await node.proc.waitForExit(5000)).toEqual({ code: 0, signal: null });
    expect(since(signalled)).toBeLessThan(2000);
    // The client never hands a new connection a pre-opened session the edge has closed (its
    // close event may come only seconds later): with no connector left, the connection waits
    // socks.timeout (2 s) on a session of its own and is reset.
    const port = Number(
      String((await client.waitForLog(msgIs("listening"), 5000)).json!.listen)
        .split(":")
        .pop(),
    );
    const local = net.connect({ port, host: "127.0.0.1" });
    const opened = performance.now();
    local.write("hello");
    const ended = await new Promise<string>((resolve) => {
      local.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      local.on("close", () => resolve("closed"));
    });
    expect(ended).toBe("ECONNRESET");
    expect(since(opened)).toBeLessThan(4000);
  });

  it("after --drain-timeout, a session still running is closed abnormally and the connector exits 0", async () => {
    const edge = await startFaultEdge(cleanup);
    const backend = await taggedEcho(cleanup, "A");
    const node = await startNode(cleanup, {
      edge: edge.ws,
      token: edge.token,
      connect: backend.uri,
      id: "grace",
      prepared: 1,
      drainTimeout: "1 second",
    });
    await node.registered();
    // 4 MiB paced over ~5 s: longer than the grace period.
    const long = echoSession(edge.url, randomBytes(4 * 1024 * 1024), { skipLine: true, chunk: 8 * 1024, paceMs: 10, timeoutMs: 20_000 });
    await node.proc.waitForLog(msgIs("session started"), 5000, "the session");
    const signalled = performance.now();
    node.proc.signal("SIGTERM");
    const o: Outcome = await long;
    expect(o.kind).toBe("closed");
    if (o.kind === "closed") {
      expect(o.code).not.toBe(1000);
      expect(o.code).toBe(1001);
    }
    expect(await node.proc.waitForExit(5000)).toEqual({ code: 0, signal: null });
    const took = since(signalled);
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(4000);
  });

  it("a second signal while draining exits at once", async () => {
    const edge = await startFaultEdge(cleanup);
    const backend = await taggedEcho(cleanup, "A");
    const node = await startNode(cleanup, {
      edge: edge.ws,
      token: edge.token,
      connect: backend.uri,
      id: "twice",
      prepared: 1,
      drainTimeout: "30 seconds",
    });
    await node.registered();
    const long = echoSession(edge.url, randomBytes(4 * 1024 * 1024), { skipLine: true, chunk: 8 * 1024, paceMs: 10, timeoutMs: 20_000 });
    await node.proc.waitForLog(msgIs("session started"), 5000, "the session");
    node.proc.signal("SIGTERM");
    await node.proc.waitForLog(msgIs("draining"), 5000, "draining");
    const second = performance.now();
    node.proc.signal("SIGINT");
    const exit = await node.proc.waitForExit(2000);
    expect(exit.code).toBe(130);
    expect(since(second)).toBeLessThan(1000);
    const o = await long;
    expect(o.kind).toBe("closed");
    if (o.kind === "closed") expect(o.code).not.toBe(1000);
  });
});
