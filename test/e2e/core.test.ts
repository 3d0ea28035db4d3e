import { randomBytes, createHash } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  Cleanup,
  SINK_READY,
  echoBackend,
  hashSinkBackend,
  msgIs,
  openClient,
  randomToken,
  refusingBackend,
  sha256,
  since,
  sourceBackend,
  startConnector,
  startConnectorWithConfig,
  startEdge,
  startWireTap,
  tapView,
  type Backend,
  type HashSink,
  type Source,
  type TestConnector,
  type TestEdge,
} from "../helpers/index.ts";

/**
 * Issue "core": the whole path — client → edge (workerd) → parked bind → connector (a real
 * child process) → TCP backend — on 127.0.0.1, with the failures a user meets first.
 *
 * One edge and one multi-service connector serve most tests; tests that need a connector of
 * their own (wrong token, pool) start it and stop it themselves.
 */

const MiB = 1024 * 1024;
const BULK = 10 * MiB;
/** The logical accept URI of a service; clients dial the edge's real address with its path. */
const accept = (name: string): string => `ws://sallyport.test/${name}`;
const LONELY_TIMEOUT_MS = 1000;

const tokens = {
  echo: randomToken(),
  sink: randomToken(),
  source: randomToken(),
  refused: randomToken(),
  lonely: randomToken(),
  pool: randomToken(),
};

const file = new Cleanup();
const perTest = new Cleanup();
afterEach(() => perTest.run());
afterAll(() => file.run());

let edge: TestEdge;
let connector: TestConnector;
let echo: Backend;
let sink: HashSink;
let source: Source;
let refusedPort: number;

beforeAll(async () => {
  [echo, sink, source] = await Promise.all([echoBackend(file), hashSinkBackend(file, BULK), sourceBackend(file, BULK)]);
  const refused = await refusingBackend();
  refusedPort = refused.port;
  edge = await startEdge(file, {
    services: {
      echo: { accept: accept("echo"), "socks.timeout": "10 seconds" },
      sink: { accept: accept("sink"), "socks.timeout": "10 seconds" },
      source: { accept: accept("source"), "socks.timeout": "10 seconds" },
      refused: { accept: accept("refused"), "socks.timeout": "10 seconds" },
      lonely: { accept: accept("lonely"), "socks.timeout": `${LONELY_TIMEOUT_MS} milliseconds` },
      pool: { accept: accept("pool"), "socks.timeout": "10 seconds" },
    },
    tokens: Object.fromEntries(Object.entries(tokens).map(([name, t]) => [name, [t]])),
  });
  connector = await startConnectorWithConfig(file, edge.ws, [
    { name: "echo", accept: accept("echo"), connect: echo.uri, token: tokens.echo, prepared: 4 },
    { name: "sink", accept: accept("sink"), connect: sink.uri, token: tokens.sink },
    { name: "source", accept: accept("source"), connect: source.uri, token: tokens.source },
    { name: "refused", accept: accept("refused"), connect: refused.uri, token: tokens.refused },
  ]);
  for (const name of ["echo", "sink", "source", "refused"]) {
    await connector.proc.waitForLog(msgIs("registered with the edge", { service: name }), 20_000, `service ${name} registered`);
  }
});

describe("core: data through edge + connector + TCP backend", () => {
  it("echoes binary and text through to the backend and back", async () => {
    const before = echo.connections();
    const c = openClient(perTest, edge.clientUrl("/echo"));
    await c.opened(5000);
    await c.send(Buffer.from("hello sallyport"));
    expect((await c.take(15, 5000)).toString()).toBe("hello sallyport");
    // A plain client's text frame is data too: its UTF-8 bytes reach the backend.
    await c.send("text ✓");
    expect((await c.take(Buffer.byteLength("text ✓"), 5000)).toString()).toBe("text ✓");
    expect(echo.connections()).toBe(before + 1);
    c.close(1000);
    expect((await c.closed(5000)).code).toBe(1000);
  });

  it("carries 10 MiB client → backend intact (SHA-256 at the backend equals the client's)", async () => {
    const data = randomBytes(BULK);
    const before = sink.results.length;
    const c = openClient(perTest, edge.clientUrl("/sink"));
    await c.opened(5000);
    // The backend speaks first: once its greeting arrives the session is relaying.
    expect((await c.take(1, 10_000)).toString()).toBe(SINK_READY);
    const t0 = performance.now();
    await c.sendChunked(data, 64 * 1024, 30_000);
    const digest = await c.takeLine(30_000);
    const ms = since(t0);
    expect(digest).toBe(sha256(data));
    expect(sink.results[before]).toEqual({ bytes: BULK, sha256: sha256(data) });
    console.info(`10 MiB client → backend: ${ms.toFixed(0)} ms (${((BULK / MiB / ms) * 1000).toFixed(1)} MiB/s)`);
    c.close(1000);
  });

  it("carries 10 MiB backend → client intact and ends the session cleanly", async () => {
    const hash = createHash("sha256");
    const c = openClient(perTest, edge.clientUrl("/source"), { keep: false, onData: (d) => hash.update(d) });
    await c.opened(5000);
    const t0 = performance.now();
    await c.send(Buffer.from("GET")); // the source answers the first byte with 10 MiB, then FIN
    const closed = await c.closed(30_000);
    const ms = since(t0);
    expect(c.bytesReceived).toBe(source.bytes);
    expect(hash.digest("hex")).toBe(source.sha256);
    // The backend's FIN after the last byte ends the session as a normal close.
    expect(closed.code).toBe(1000);
    console.info(`10 MiB backend → client: ${ms.toFixed(0)} ms (${((BULK / MiB / ms) * 1000).toFixed(1)} MiB/s)`);
  });

  it("keeps 100 concurrent sessions apart: each client gets back exactly its own bytes", async () => {
    const N = 100;
    const before = echo.connections();
    const t0 = performance.now();
    const results = await Promise.all(
      Array.from({ length: N }, async (_, i) => {
        // First message within the edge's pre-pairing buffer; the rest only once it came back.
        const first = Buffer.concat([Buffer.from(`session ${i}:`), randomBytes(16 + Math.floor(Math.random() * 2000))]);
        const rest = randomBytes(1 + Math.floor(Math.random() * 48 * 1024));
        const c = openClient(perTest, edge.clientUrl("/echo"));
        await c.opened(15_000);
        await c.send(first);
        const gotFirst = await c.take(first.length, 20_000);
        await c.sendChunked(rest, 8 * 1024, 20_000);
        const gotRest = await c.take(rest.length, 20_000);
        c.close(1000);
        const closed = await c.closed(15_000);
        return {
          ok: gotFirst.equals(first) && gotRest.equals(rest),
          // Anything beyond its own bytes would be another session's.
          extra: c.bytesReceived - first.length - rest.length,
          code: closed.code,
        };
      }),
    );
    const ms = since(t0);
    expect(results.filter((r) => !r.ok).length).toBe(0);
    expect(results.filter((r) => r.extra !== 0).length).toBe(0);
    expect(results.map((r) => r.code)).toEqual(Array(N).fill(1000));
    expect(echo.connections() - before).toBe(N);
    console.info(`100 concurrent echo sessions: ${ms.toFixed(0)} ms`);
  });
});

describe("core: failures a client is told about", () => {
  it(`closes a waiting client with 4006 "no connector available" after socks.timeout`, async () => {
    const c = openClient(perTest, edge.clientUrl("/lonely"));
    await c.opened(5000);
    await c.send(Buffer.from("anyone there?")); // held by the edge while the client waits
    const closed = await c.closed(LONELY_TIMEOUT_MS + 5000);
    const elapsed = closed.at - c.startedAt;
    expect(closed.code).toBe(4006);
    expect(closed.reason).toBe("no connector available");
    expect(elapsed).toBeGreaterThanOrEqual(LONELY_TIMEOUT_MS);
    expect(elapsed).toBeLessThanOrEqual(LONELY_TIMEOUT_MS + 1500);
    expect(c.bytesReceived).toBe(0);
    console.info(`socks.timeout ${LONELY_TIMEOUT_MS} ms: client closed after ${elapsed.toFixed(0)} ms`);
  });

  it("tells a silent waiting client in time too (the close frame, seen on the wire)", async () => {
    // A client that never sends gets its close frame on time; the WebSocket 'close' event
    // waits for the TCP close, which local workerd holds back ~10 s for such a client.
    const tap = await startWireTap(perTest, edge.port);
    const c = openClient(perTest, `${tap.url}/lonely`);
    const t0 = performance.now();
    await c.opened(5000);
    const frameAt = await tap.waitFor(
      (conns) => (conns[0] && tapView.closeFromEdge(conns[0]) !== undefined ? performance.now() : undefined),
      LONELY_TIMEOUT_MS + 5000,
      "the edge's close frame",
    );
    expect(tapView.closeFromEdge(tap.connections[0]!)).toBe(4006);
    expect(frameAt - t0).toBeGreaterThanOrEqual(LONELY_TIMEOUT_MS);
    expect(frameAt - t0).toBeLessThanOrEqual(LONELY_TIMEOUT_MS + 1500);
    c.terminate();
  });

  it(`closes the client with 4005 "backend refused" and keeps the address and errno to the connector's log`, async () => {
    // Watched on the wire: the client is paired at once and its backend refuses within
    // milliseconds, so the close can beat anything the client would send; and a client that
    // never sent anything gets its close *event* only when local workerd closes the TCP
    // connection, ~10 s later. The close frame is what the edge controls.
    const tap = await startWireTap(perTest, edge.port);
    const c = openClient(perTest, `${tap.url}/refused`);
    const frame = await tap.waitFor((cs) => cs[0] && tapView.closeFrameFromEdge(cs[0]), 5000, "the edge's close frame");
    expect(frame.closeCode).toBe(4005);
    expect(frame.closeReason).toBe("backend refused");
    // Nothing the client got names the backend: no data, no text, only that close.
    const fromEdge = tap.connections[0]!.fromEdge;
    expect(fromEdge.filter((f) => f.opcode !== 0x8)).toEqual([]);
    const told =
      fromEdge.map((f) => `${f.text ?? ""} ${f.closeReason ?? ""}`).join("\n") +
      c.messages.map((m) => m.data.toString("latin1")).join("\n");
    for (const secret of [String(refusedPort), "127.0.0.1", "ECONNREFUSED", "errno", "Error", "    at "])
      expect(told).not.toContain(secret);
    // The operator's log has the detail.
    const line = await connector.proc.waitForLog(
      msgIs("backend connection failed", { service: "refused" }),
      5000,
      "the backend failure logged",
    );
    expect(line.json?.backend).toBe(`127.0.0.1:${refusedPort}`);
    expect(line.json?.error).toBe("ECONNREFUSED");
    c.terminate();

    // With its backend down the connector withdraws its binds: the next client is told at
    // once, not after socks.timeout (10 s here).
    const next = openClient(perTest, `${tap.url}/refused`);
    const again = await tap.waitFor((cs) => cs[1] && tapView.closeFrameFromEdge(cs[1]), 2000, "the edge to close the next client at once");
    expect(again.closeCode).toBe(4005);
    expect(again.closeReason).toBe("backend refused");
    next.terminate();
  });
});

describe("core: connector behaviour seen from the wire", () => {
  it("a wrong token is refused (404); the connector says which token file and retries with backoff, not in a loop", async () => {
    const tap = await startWireTap(perTest, edge.port);
    const wrong = await startConnector(perTest, {
      edge: tap.url,
      accept: accept("pool"),
      connect: echo.uri,
      token: randomToken(),
      retryMax: "1 second",
      name: "wrong-token connector",
    });
    const rejection = await wrong.proc.waitForLog(msgIs("edge refused the connector's credentials"), 10_000, "the rejection logged");
    expect(rejection.json?.level).toBe("error");
    expect(rejection.json?.status).toBe(404);
    expect(String(rejection.json?.fix)).toContain(wrong.tokenFile);
    // The whole hint, not its first 256 characters.
    expect(String(rejection.json?.fix)).toMatch(/a certificate the edge accepts \(ssl\.cert\.file, ssl\.key\.file\)$/);
    expect(rejection.raw).not.toContain(tokens.pool);
    // Count its attempts over a fixed window (a measurement, not a synchronisation).
    const start = tap.connections.length;
    const WINDOW_MS = 2500;
    await new Promise((r) => setTimeout(r, WINDOW_MS));
    const attempts = tap.connections.slice(start);
    expect(attempts.filter((a) => a.status !== undefined).every((a) => a.status === 404)).toBe(true);
    expect(attempts.filter((a) => a.status === 404).length).toBeGreaterThanOrEqual(2); // it keeps trying
    expect(attempts.length).toBeLessThanOrEqual(15); // with backoff: ~5 at 100 ms … 1 s
    // Said once, not once per attempt.
    expect(wrong.proc.logs(msgIs("edge refused the connector's credentials")).length).toBe(1);
    expect(wrong.proc.exit).toBeUndefined();
    console.info(`wrong token: ${attempts.length} bind attempts in ${WINDOW_MS} ms`);
  });

  it("keeps prepared.connection.count binds parked: each bind a client takes is replaced at once", async () => {
    const N = 3;
    const tap = await startWireTap(perTest, edge.port);
    const pool = await startConnector(perTest, {
      edge: tap.url,
      accept: accept("pool"),
      connect: echo.uri,
      token: tokens.pool,
      prepared: N,
      name: "pool connector",
    });
    await pool.proc.waitForLog(msgIs("registered with the edge"), 15_000);
    await tap.waitFor((cs) => cs.filter(tapView.parked).length === N, 10_000, `${N} parked binds`);

    // N clients at once take all N parked binds; while their sessions run, N new binds park.
    const held = Array.from({ length: N }, () => openClient(perTest, edge.clientUrl("/pool")));
    await Promise.all(
      held.map(async (c, i) => {
        await c.opened(5000);
        await c.send(Buffer.from(`held ${i}`));
        expect((await c.take(`held ${i}`.length, 5000)).toString()).toBe(`held ${i}`);
      }),
    );
    await tap.waitFor(
      (cs) => cs.filter(tapView.parked).length === N && cs.filter((x) => tapView.paired(x) && tapView.open(x)).length === N,
      10_000,
      `${N} parked binds beside ${N} live sessions`,
    );
    for (const c of held) c.close(1000);
    await Promise.all(held.map((c) => c.closed(5000)));

    // More pairings, one after another; the pool ends where it started.
    const MORE = 5;
    for (let i = 0; i < MORE; i++) {
      const c = openClient(perTest, edge.clientUrl("/pool"));
      await c.opened(5000);
      await c.send(Buffer.from(`seq ${i}`));
      expect((await c.take(`seq ${i}`.length, 5000)).toString()).toBe(`seq ${i}`);
      c.close(1000);
      await c.closed(5000);
    }
    await tap.waitFor(
      (cs) => cs.filter(tapView.parked).length === N && cs.every((x) => tapView.parked(x) || x.closedAt !== undefined),
      10_000,
      `back to ${N} parked binds`,
    );
    // Exactly one replacement per pairing: no binds dialed for nothing.
    expect(tap.connections.length).toBe(N + N + MORE);
    expect(pool.proc.logs(msgIs("edge has waiting clients; opening more binds")).length).toBe(0);
  });
});
