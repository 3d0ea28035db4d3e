import { afterEach, describe, expect, it } from "vitest";
import {
  Cleanup,
  REGISTERED,
  echoBackend,
  freePort,
  msgIs,
  openClient,
  randomToken,
  spawnSallyport,
  startConnector,
  startEdge,
  startWireTap,
  tapView,
  tempDir,
  writeSecretFile,
  type TestEdgeOptions,
} from "../helpers/index.ts";

/**
 * Issue "core", lifecycle: the connector and the edge start, stop and restart in any order,
 * and the connector process behaves as a service manager expects (SIGTERM → exit 0; a bad
 * configuration → exit 2 naming the setting). Each test starts its own edge and connector.
 */

const ACCEPT = "ws://sallyport.test/echo";
const TIMEOUT_MS = 1000;

const perTest = new Cleanup();
afterEach(() => perTest.run());

function edgeOptions(token: string, port?: number): TestEdgeOptions {
  return {
    services: { echo: { accept: ACCEPT, "socks.timeout": `${TIMEOUT_MS} milliseconds` } },
    tokens: { echo: [token] },
    ...(port !== undefined ? { port } : {}),
  };
}

/** One session: the payload goes to the echo backend and comes back. */
async function echoOnce(url: string, payload: string): Promise<void> {
  const c = openClient(perTest, url);
  await c.opened(5000);
  await c.send(Buffer.from(payload));
  expect((await c.take(Buffer.byteLength(payload), 5000)).toString()).toBe(payload);
  c.close(1000);
  expect((await c.closed(5000)).code).toBe(1000);
}

describe("lifecycle: edge and connector in any order", () => {
  it("a connector started before its edge backs off, then registers once the edge is up and serves a client", async () => {
    const token = randomToken();
    const echo = await echoBackend(perTest);
    const port = await freePort();
    const conn = await startConnector(perTest, {
      edge: `ws://127.0.0.1:${port}`,
      accept: ACCEPT,
      connect: echo.uri,
      token,
      prepared: 2,
      retryMax: "1 second",
    });
    // Nothing listens yet: it says so and retries on the backoff schedule (100 ms, 200 ms …).
    const fails = await conn.proc.waitForLogCount(msgIs("bind to edge failed"), 3, 10_000, "three failed attempts");
    expect(fails[0]!.json?.detail).toMatch(/^cannot reach the edge at 127\.0\.0\.1:\d+ \(ECONNREFUSED\)$/);
    // 100 ms + 200 ms, less at most 20 % jitter: not a tight loop.
    expect(fails[2]!.at - fails[0]!.at).toBeGreaterThanOrEqual(200);
    expect(conn.proc.logs(REGISTERED)).toHaveLength(0);

    const edge = await startEdge(perTest, edgeOptions(token, port));
    await conn.proc.waitForLog(REGISTERED, 10_000, "registration once the edge is up");
    await echoOnce(edge.clientUrl("/echo"), "served after a late edge");
    expect(conn.proc.exit).toBeUndefined();
  });

  it("an edge restarted under a connector: the connector reconnects, refills its pool and serves again", async () => {
    const N = 2;
    const token = randomToken();
    const echo = await echoBackend(perTest);
    const first = await startEdge(perTest, edgeOptions(token));
    // The tap sits in front of the edge's port and stays up while the edge behind it restarts.
    const tap = await startWireTap(perTest, first.port);
    const conn = await startConnector(perTest, {
      edge: tap.url,
      accept: ACCEPT,
      connect: echo.uri,
      token,
      prepared: N,
      retryMax: "1 second",
    });
    await tap.waitFor((cs) => cs.filter(tapView.parked).length === N, 15_000, `${N} parked binds`);
    await echoOnce(first.clientUrl("/echo"), "before the restart");

    const before = tap.connections.length;
    await first.stop();
    await conn.proc.waitForLog(msgIs("bind to edge failed"), 10_000, "the loss noticed");
    const second = await startEdge(perTest, edgeOptions(token, first.port));
    expect(second.port).toBe(first.port);
    await tap.waitFor(
      (cs) => cs.slice(0, before).every((c) => c.closedAt !== undefined) && cs.slice(before).filter(tapView.parked).length === N,
      15_000,
      `${N} binds parked at the new edge`,
    );
    await echoOnce(second.clientUrl("/echo"), "after the restart");
    expect(conn.proc.exit).toBeUndefined();
  });
});

describe("lifecycle: the connector process", () => {
  it("SIGTERM: parked binds close with 1001, the process exits 0, and later clients get 4006", async () => {
    const N = 2;
    const token = randomToken();
    const echo = await echoBackend(perTest);
    const edge = await startEdge(perTest, edgeOptions(token));
    const tap = await startWireTap(perTest, edge.port);
    const conn = await startConnector(perTest, { edge: tap.url, accept: ACCEPT, connect: echo.uri, token, prepared: N });
    await tap.waitFor((cs) => cs.filter(tapView.parked).length === N, 15_000, `${N} parked binds`);
    const parked = tap.connections.filter(tapView.parked);

    conn.proc.signal("SIGTERM");
    const exit = await conn.proc.waitForExit(10_000);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(conn.proc.logs(msgIs("connector stopped"))).toHaveLength(1);
    await tap.waitFor((cs) => cs.every((c) => c.closedAt !== undefined), 5000, "every bind connection closed");
    expect(parked.map(tapView.closeFromConnector)).toEqual(Array(N).fill(1001));
    // No connection was opened after the signal.
    expect(tap.connections).toHaveLength(N);

    const c = openClient(perTest, edge.clientUrl("/echo"));
    await c.opened(5000);
    await c.send(Buffer.from("anyone?"));
    const closed = await c.closed(TIMEOUT_MS + 5000);
    expect(closed.code).toBe(4006);
    expect(closed.reason).toBe("no connector available");
  });

  it("a bad setting: exit 2 and a message naming it, before dialing anything", async () => {
    const dir = await tempDir(perTest);
    const tokenFile = await writeSecretFile(dir, "token", randomToken());
    const bad = spawnSallyport(
      ["connector", "--edge", "ws://127.0.0.1:9", "--accept", ACCEPT, "--connect", "nonsense", "--token-file", tokenFile],
      { name: "connector --connect nonsense", cleanup: perTest },
    );
    expect(await bad.waitForExit(15_000)).toEqual({ code: 2, signal: null });
    const said = bad.output();
    expect(said).toMatch(/connect/);
    expect(said).toContain("tcp://HOST:PORT");
    expect(said).not.toMatch(/\n\s+at /); // a message, not a stack trace
    expect(bad.logs(msgIs("connector started"))).toHaveLength(0);

    const missing = `${dir}/no-such-token`;
    const noToken = spawnSallyport(
      ["connector", "--edge", "ws://127.0.0.1:9", "--accept", ACCEPT, "--connect", "tcp://127.0.0.1:9", "--token-file", missing],
      { name: "connector --token-file missing", cleanup: perTest },
    );
    expect(await noToken.waitForExit(15_000)).toEqual({ code: 2, signal: null });
    expect(noToken.output()).toContain(missing);
  });
});
