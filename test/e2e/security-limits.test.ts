import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { REGISTER_DEADLINE_MS } from "../../edge/attachments.ts";
import { CloseCode } from "../../shared/protocol/close-codes.ts";
import { echoBackend, type Backend } from "../helpers/backends.ts";
import { Cleanup } from "../helpers/cleanup.ts";
import { randomToken } from "../helpers/files.ts";
import { startWireTap, tapView, type WireTap } from "../helpers/wire-tap.ts";
import { openClient, type TestClient } from "../helpers/ws-client.ts";
import {
  accept,
  bindMessage,
  edgeLogged,
  eventually,
  openRawBind,
  startCapturedEdge,
  startInProcessConnector,
  waitForControl,
  type CapturedEdge,
  type InProcessConnector,
} from "./security-harness.ts";

/**
 * Resource limits at the edge (threats 4–6; T21, T25, T26), against the real edge in workerd:
 *   - max.message.size: a larger message closes that session with 1009, and only that one;
 *   - MAX_PENDING_BYTES (8 KiB): what a client may send before it is paired;
 *   - the registration deadline: a bind socket that never says `bind` is closed;
 *   - max.binds / max.binds.per.credential: refused with 4029, and the connector backs off
 *     instead of storming (bind attempts counted by a TCP proxy in front of the edge).
 */

const KiB = 1024;
const T = {
  download: randomToken(),
  small: randomToken(),
  pending: randomToken(),
  capped: randomToken(),
  percred: randomToken(),
  percred2: randomToken(),
  deadline: randomToken(),
  sessions: randomToken(),
};

const file = new Cleanup();
const perTest = new Cleanup();
afterEach(() => perTest.run());
afterAll(() => file.run());

let edge: CapturedEdge;
let backend: Backend;
let small: InProcessConnector;
/** A bind socket that never sends its bind message, opened first thing (the deadline runs while the other tests do). */
let silent: { client: TestClient; tap: WireTap; openedAt: number };

beforeAll(async () => {
  backend = await echoBackend(file);
  edge = await startCapturedEdge(file, {
    services: {
      small: { accept: accept("small"), "max.message.size": 64 * KiB },
      download: { accept: accept("download"), "max.message.size": 64 * KiB },
      pending: { accept: accept("pending"), "socks.timeout": "20 seconds" },
      capped: { accept: accept("capped"), "max.binds": 2, "max.binds.per.credential": 2 },
      percred: { accept: accept("percred"), "max.binds": 10, "max.binds.per.credential": 1 },
      deadline: { accept: accept("deadline") },
      sessions: { accept: accept("sessions"), "socks.timeout": "1500 milliseconds" },
    },
    tokens: {
      download: [T.download],
      small: [T.small],
      pending: [T.pending],
      capped: [T.capped],
      percred: [T.percred, T.percred2],
      deadline: [T.deadline],
      sessions: [T.sessions],
    },
  });
  const tap = await startWireTap(file, edge.port);
  const client = openRawBind(file, { ws: tap.url }, T.deadline);
  await client.opened(5000);
  silent = { client, tap, openedAt: performance.now() };
  small = startInProcessConnector(
    file,
    edge.ws,
    [{ name: "small", accept: accept("small"), connect: backend.uri, token: T.small, prepared: 2 }],
    "small",
  );
  await eventually(() => small.stats("small").parked === 2, 10_000, "two parked binds for small");
});

describe("max.message.size (T21)", () => {
  it("a message one byte over closes that session with 1009; a concurrent session is untouched", async () => {
    const [a, b] = [openClient(perTest, edge.clientUrl("/small")), openClient(perTest, edge.clientUrl("/small"))];
    await Promise.all([a.opened(5000), b.opened(5000)]);
    // Exactly the limit passes, both ways.
    const exact = randomBytes(64 * KiB);
    await a.send(exact);
    expect((await a.take(64 * KiB, 5000)).equals(exact)).toBe(true);
    await a.send(randomBytes(64 * KiB + 1));
    expect(await a.closed(5000)).toMatchObject({ code: CloseCode.MESSAGE_TOO_BIG, reason: "message too big" });
    // The other session still relays.
    const more = randomBytes(512);
    await b.send(more);
    expect((await b.take(512, 5000)).equals(more)).toBe(true);
    expect(b.closedWith).toBeUndefined();
  });

  it("a message over the limit from the connector's side ends the session with 1009, never as a clean close", async () => {
    // Our connector never sends more than one TCP read (64 KiB) a message; a hand-driven bind does.
    const raw = openRawBind(perTest, edge, T.download);
    await raw.opened(5000);
    await raw.send(bindMessage(accept("download")));
    await waitForControl(raw, "bound", 5000);
    const client = openClient(perTest, edge.clientUrl("/download"));
    await client.opened(5000);
    await waitForControl(raw, "paired", 5000);
    // The client speaks first (see docs/operations.md: workerd is slow to finish the TCP close of
    // a socket that never sent anything, which only delays ws's 'close' event).
    await client.send(Buffer.from("go"));
    await raw.take(2, 5000);
    await raw.send(randomBytes(64 * KiB + 1));
    raw.close(1000, "done");
    // A dropped message followed by the bind's clean close must not look like a complete download.
    expect((await client.closed(5000)).code).toBe(CloseCode.MESSAGE_TOO_BIG);
    expect(client.bytesReceived).toBe(0);
  });

  it(
    "text counts in UTF-8 bytes: 21,845 × € (65,535 bytes) passes, " + "21,846 × € (65,538 bytes, far fewer characters) closes with 1009",
    async () => {
      const c = openClient(perTest, edge.clientUrl("/small"));
      await c.opened(5000);
      const fits = "€".repeat(21_845);
      await c.send(fits);
      expect((await c.take(65_535, 5000)).toString("utf8")).toBe(fits);
      await c.send("€".repeat(21_846));
      expect((await c.closed(5000)).code).toBe(CloseCode.MESSAGE_TOO_BIG);
    },
  );

  it("a 1 MiB message (a text frame, too) is refused the same way", async () => {
    const c = openClient(perTest, edge.clientUrl("/small"));
    await c.opened(5000);
    await c.send("x".repeat(1024 * KiB));
    expect((await c.closed(5000)).code).toBe(CloseCode.MESSAGE_TOO_BIG);
  });
});

describe("data before pairing (T26): a plain client may send max.message.size, a Sallyport client 8 KiB", () => {
  it("a plain client's max.message.size (1 MiB, the default) is held; one byte more closes the client with 1009", async () => {
    const c = openClient(perTest, edge.clientUrl("/pending"));
    await c.opened(5000);
    for (let i = 0; i < 16; i++) await c.send(randomBytes(64 * KiB));
    await new Promise((r) => setTimeout(r, 300));
    expect(c.closedWith).toBeUndefined();
    await c.send(Buffer.from([1]));
    expect((await c.closed(5000)).code).toBe(CloseCode.MESSAGE_TOO_BIG);
  });

  it("a single 9 KiB message from a waiting Sallyport client (all it sends is kept in its attachment) closes it with 1009", async () => {
    const c = openClient(perTest, edge.clientUrl("/pending"), { protocols: "sallyport.client.v1" });
    await c.opened(5000);
    await c.send(randomBytes(9 * KiB));
    expect((await c.closed(5000)).code).toBe(CloseCode.MESSAGE_TOO_BIG);
  });
});

describe("bind caps (T25)", () => {
  it("over max.binds the edge closes with 4029 and the connector backs off: no retry storm", async () => {
    const tap = await startWireTap(perTest, edge.port);
    const c = startInProcessConnector(
      perTest,
      tap.url,
      [{ name: "capped", accept: accept("capped"), connect: backend.uri, token: T.capped, prepared: 6, retryMax: "1 second" }],
      "capped",
    );
    await eventually(() => c.stats("capped").parked === 2 || undefined, 10_000, "two parked binds");
    const start = performance.now();
    const before = tap.connections.length;
    await new Promise((r) => setTimeout(r, 3000));
    const attempts = tap.connections.slice(before);
    // Four binds refused per round, rounds 100, 200, 400, 800, 1000, 1000 ms apart (less jitter):
    // some two dozen dials in 3 s. Retrying at once would be thousands.
    expect(attempts.length, `${attempts.length} bind attempts in 3 s`).toBeLessThanOrEqual(40);
    expect(c.stats("capped").parked).toBe(2);
    const limited = tap.connections.filter((x) => tapView.closeFromEdge(x) === CloseCode.LIMIT);
    expect(limited.length).toBeGreaterThanOrEqual(4);
    expect(c.lines.some((l) => l.includes("edge bind limit reached; backing off"))).toBe(true);
    // Rounds are spaced (≥ 80 ms): no 50 ms window holds more than one round's four dials (plus slack).
    const times = attempts.map((x) => x.openedAt - start).sort((p, q) => p - q);
    const densest = Math.max(0, ...times.map((t) => times.filter((u) => u >= t && u < t + 50).length));
    expect(densest, `dial times ${times.map((t) => t.toFixed(0)).join(",")}`).toBeLessThanOrEqual(6);
    c.connector.stop();
  });

  it("max.binds.per.credential: a second bind with the same token is refused (4029), another token still parks", async () => {
    const tap = await startWireTap(perTest, edge.port);
    const first = openRawBind(perTest, { ws: tap.url }, T.percred);
    await first.opened(5000);
    await first.send(bindMessage(accept("percred")));
    await waitForControl(first, "bound", 5000);
    const second = openRawBind(perTest, { ws: tap.url }, T.percred);
    await second.opened(5000);
    // Seen on the wire: a socket that never sent data gets its close *event* only when local workerd drops the TCP connection.
    const refused = await tap.waitFor((cs) => cs[1] && tapView.closeFrameFromEdge(cs[1]), 5000, "the edge's close frame");
    expect(refused).toMatchObject({ closeCode: CloseCode.LIMIT, closeReason: "limit reached" });
    const other = openRawBind(perTest, { ws: tap.url }, T.percred2);
    await other.opened(5000);
    await other.send(bindMessage(accept("percred")));
    await waitForControl(other, "bound", 5000);
  });
});

describe("max.sessions (connector)", () => {
  it("at the cap the connector offers no bind, a further client is told 4013 busy, and a session's end opens room again", async () => {
    const c = startInProcessConnector(
      perTest,
      edge.ws,
      [{ name: "sessions", accept: accept("sessions"), connect: backend.uri, token: T.sessions, prepared: 3, maxSessions: 2 }],
      "sessions",
    );
    // Offered binds count against the cap too: two of the three prepared.
    await eventually(() => c.stats("sessions").parked === 2 || undefined, 10_000, "two parked binds");
    const url = edge.clientUrl("/sessions");
    const clients = [openClient(perTest, url), openClient(perTest, url)];
    for (const [i, cl] of clients.entries()) {
      await cl.opened(5000);
      await cl.send(`hello ${i}`);
      expect((await cl.take(7, 5000)).toString()).toBe(`hello ${i}`);
    }
    expect(c.stats("sessions")).toMatchObject({ sessions: 2, offered: 0 });
    expect(c.lines.some((l) => l.includes("max.sessions reached: no more binds offered until a session ends"))).toBe(true);
    // Seen on the wire: locally the close event of a client closed by the alarm comes ~10 s late.
    const tap = await startWireTap(perTest, edge.port);
    openClient(perTest, new URL("/sessions", tap.url).href);
    const busy = await tap.waitFor((cs) => cs[0] && tapView.closeFrameFromEdge(cs[0]), 5000, "the edge's close frame");
    expect(busy).toMatchObject({ closeCode: CloseCode.BUSY, closeReason: "busy" });
    expect(c.stats("sessions").offered).toBe(0);

    clients[0]!.close();
    await eventually(() => c.stats("sessions").parked === 1 || undefined, 10_000, "a bind offered again");
    expect(c.lines.some((l) => l.includes("below max.sessions again"))).toBe(true);
    const fourth = openClient(perTest, url);
    await fourth.opened(5000);
    await fourth.send("again");
    expect((await fourth.take(5, 5000)).toString()).toBe("again");
  });
});

describe("registration deadline", () => {
  const deadline = `REGISTER_DEADLINE_MS (${REGISTER_DEADLINE_MS} ms)`;
  it(`a bind socket that never sends its bind message is closed (1002) after ${deadline}`, async () => {
    // Opened in beforeAll: this waits only for what is left of the deadline.
    const conn = await silent.tap.waitFor(
      (cs) => cs.find((x) => tapView.closeFromEdge(x) !== undefined),
      REGISTER_DEADLINE_MS + 5000,
      "the edge's close frame",
    );
    const closedAfter = conn.fromEdge.length ? performance.now() - silent.openedAt : 0;
    expect(tapView.closeFromEdge(conn)).toBe(CloseCode.PROTOCOL_ERROR);
    expect(closedAfter).toBeGreaterThanOrEqual(REGISTER_DEADLINE_MS - 1000);
    expect(closedAfter).toBeLessThanOrEqual(REGISTER_DEADLINE_MS + 3000);
    await edgeLogged(edge, "bind sent no bind message in time");
  });
});
