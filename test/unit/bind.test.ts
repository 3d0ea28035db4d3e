import type net from "node:net";
import { describe, expect, it } from "vitest";
import { Bind, type BindEnd, type BindEvents, type BindIo } from "../../connector/bind.ts";
import { BackendError } from "../../connector/backend.ts";
import type { BackendAddress } from "../../shared/config/service.ts";
import {
  SHARD_HEADER,
  SHARDS_HEADER,
  BIND_SUBPROTOCOLS,
  HEARTBEAT_MISSES,
  HEARTBEAT_REQUEST,
  HEARTBEAT_RESPONSE,
  SESSION_HEARTBEAT_MS,
} from "../../shared/protocol/constants.ts";
import type { CloseCodeName } from "../../shared/protocol/close-codes.ts";
import { FakeBackend, FakeClock, FakeWs, recordingLogger, testService } from "../helpers/fakes.ts";

/**
 * connector/bind.ts over a fake edge socket, a fake backend dialer and a manual clock: the
 * bind's phases, what it tells the pool, and what it sends the edge.
 */

interface Dial {
  readonly address: BackendAddress;
  resolve(socket: net.Socket): void;
  reject(e: Error): void;
}

function harness(service = testService()) {
  const clock = new FakeClock();
  const ws = new FakeWs();
  const dials: Dial[] = [];
  const said: string[] = [];
  const ends: BindEnd[] = [];
  const backendFailures: CloseCodeName[] = [];
  const opened: Array<{ url: string; protocols: string[]; options: unknown }> = [];
  const io: BindIo = {
    openSocket: (url, protocols, options) => {
      opened.push({ url, protocols, options });
      return ws.asWebSocket();
    },
    dialBackend: (address) => new Promise((resolve, reject) => dials.push({ address, resolve, reject })),
    clock,
  };
  const events: BindEvents = {
    parked: () => said.push("parked"),
    paired: () => said.push("paired"),
    demand: (_b, waiting) => said.push(`demand ${waiting}`),
    backendFailed: (_b, why) => backendFailures.push(why),
    ended: (_b, end) => ends.push(end),
  };
  const log = recordingLogger();
  const bind = new Bind({ service, token: "secret-token", route: {}, connectorId: "conn-1", instance: "inst-1", log, events, io });
  return { clock, ws, dials, said, ends, backendFailures, opened, bind, log };
}

type Harness = ReturnType<typeof harness>;

/** These tests drive the bind in version 1 (the edge selecting it); v2 is pinned by the edge and e2e tests. */
const BIND_SUBPROTOCOL_V1 = BIND_SUBPROTOCOLS[1];

/** Dial, accept the subprotocol, and answer `bound`. */
function parked(h: Harness = harness()): Harness {
  h.bind.open();
  h.ws.protocol = BIND_SUBPROTOCOL_V1;
  h.ws.emit("open");
  h.ws.text({ t: "bound", bindId: h.bind.id });
  return h;
}

const PAIRED = { t: "paired", sessionId: "s1", clientAddress: "203.0.113.9", clientProtocol: "sallyport" };
const settle = () => new Promise<void>((r) => setImmediate(r));

describe("Bind: registering", () => {
  it("dials the edge with the token in a header, sends `bind`, and parks on `bound`", () => {
    const h = harness();
    h.bind.open();
    expect(h.opened[0]).toMatchObject({
      url: "wss://edge.test",
      protocols: [BIND_SUBPROTOCOLS[3], BIND_SUBPROTOCOLS[2], BIND_SUBPROTOCOLS[1]],
    });
    expect(h.opened[0]!.options).toMatchObject({ headers: { authorization: "Bearer secret-token" }, followRedirects: false });
    expect(h.bind.phase).toBe("dialing");
    h.ws.protocol = BIND_SUBPROTOCOL_V1;
    h.ws.emit("open");
    expect(h.bind.phase).toBe("registering");
    expect(h.ws.controls()).toEqual([
      { v: 1, t: "bind", accept: "wss://edge.test/app", bindId: h.bind.id, connectorId: "conn-1", instance: "inst-1", heartbeatMs: 1000 },
    ]);
    h.ws.text({ t: "bound", bindId: h.bind.id });
    expect(h.bind.phase).toBe("parked");
    expect(h.said).toEqual(["parked"]);
  });

  it("asks for its shard in a header and learns from the 101 where it was placed and how many shards there are", () => {
    const h = harness();
    h.bind.open();
    expect(h.opened[0]!.options).toMatchObject({ headers: { [SHARD_HEADER]: "0" } });
    expect(h.bind.placement).toBeUndefined();
    h.ws.emit("upgrade", { headers: { [SHARD_HEADER]: "2", [SHARDS_HEADER]: "4" } });
    expect(h.bind.placement).toEqual({ shard: 2, shards: 4 });
  });

  it("ends as `rejected` when the edge refuses the handshake", () => {
    const h = harness();
    h.bind.open();
    h.ws.emit("unexpected-response", {}, { statusCode: 401, resume: () => undefined });
    expect(h.ends).toEqual([{ kind: "rejected", status: 401 }]);
    expect(h.ws.terminated).toBe(true);
  });

  it("closes with 1002 when the edge does not echo the bind subprotocol", () => {
    const h = harness();
    h.bind.open();
    h.ws.emit("open");
    expect(h.ws.closedWith).toEqual({ code: 1002, reason: "protocol error" });
    expect(h.ends).toEqual([{ kind: "failed", detail: "protocol error" }]);
  });

  it("treats `bound` for another bind, data before pairing, and `paired` twice as protocol errors", () => {
    const a = harness();
    a.bind.open();
    a.ws.protocol = BIND_SUBPROTOCOL_V1;
    a.ws.emit("open");
    a.ws.text({ t: "bound", bindId: "someone-else" });
    expect(a.ws.closedWith?.code).toBe(1002);

    const b = parked();
    b.ws.binary(new Uint8Array([1]));
    expect(b.ws.closedWith?.code).toBe(1002);

    const c = parked();
    c.ws.text({ ...PAIRED, standby: true });
    c.ws.text(PAIRED);
    expect(c.ws.closedWith?.code).toBe(1002);
  });

  it("passes the edge's `demand` to the pool", () => {
    const h = parked();
    h.ws.text({ t: "demand", waiting: 4 });
    expect(h.said).toEqual(["parked", "demand 4"]);
  });

  it("a close before pairing is a failure the pool retries; after pairing, a session", () => {
    const a = parked();
    a.ws.emit("close", 1006);
    expect(a.ends).toEqual([{ kind: "failed", detail: "closed by edge (1006)", code: 1006 }]);
    const b = parked();
    b.ws.text({ ...PAIRED, standby: true });
    b.ws.emit("close", 1000);
    expect(b.ends).toEqual([{ kind: "session", close: { code: 1000, reason: "" } }]);
  });
});

describe("Bind: heartbeats", () => {
  it("pings every heartbeat interval while the edge answers", () => {
    const h = parked();
    for (let i = 0; i < 10; i++) {
      h.clock.advance(1000);
      h.ws.text(HEARTBEAT_RESPONSE);
    }
    expect(h.ws.sent.filter((f) => f === HEARTBEAT_REQUEST)).toHaveLength(10);
    expect(h.ends).toEqual([]);
  });

  it(`drops the bind once the edge has been silent for more than ${HEARTBEAT_MISSES} intervals`, () => {
    const h = parked();
    h.clock.advance(HEARTBEAT_MISSES * 1000);
    expect(h.ends).toEqual([]);
    h.clock.advance(1000);
    expect(h.ends).toEqual([{ kind: "failed", detail: "heartbeat timeout" }]);
    expect(h.ws.terminated).toBe(true);
    expect(h.clock.pending).toBe(0); // the heartbeat stopped with the bind
  });
});

describe("Bind: heartbeats in a session", () => {
  const slow = () => parked(harness(testService({ heartbeatIntervalMs: 15_000 })));

  const faster =
    `speeds up to every ${SESSION_HEARTBEAT_MS} ms once paired, whatever heartbeat.interval, ` +
    `and a silent edge ends the session within ${HEARTBEAT_MISSES + 1} of those`;
  it(faster, async () => {
    const h = slow();
    h.ws.text(PAIRED);
    h.dials[0]!.resolve(new FakeBackend().asSocket());
    await settle();
    expect(h.bind.phase).toBe("relaying");
    const pings = () => h.ws.sent.filter((f) => f === HEARTBEAT_REQUEST).length;
    const before = pings();
    h.clock.advance(SESSION_HEARTBEAT_MS);
    expect(pings()).toBe(before + 1);
    h.clock.advance(SESSION_HEARTBEAT_MS * HEARTBEAT_MISSES);
    expect(h.ends).toEqual([{ kind: "failed", detail: "heartbeat timeout" }]);
    expect(h.ws.terminated).toBe(true);
    expect(h.log.records.find((r) => r.msg === "edge silent; dropping bind")?.fields).toMatchObject({ sessionId: "s1" });
  });

  it("does not count silence while it is not reading: a backend dial of any length is no dead path", () => {
    const h = slow();
    h.ws.text(PAIRED);
    expect(h.ws.paused).toBe(true);
    h.clock.advance(SESSION_HEARTBEAT_MS * 20);
    expect(h.ends).toEqual([]);
    expect(h.ws.sent.filter((f) => f === HEARTBEAT_REQUEST).length).toBeGreaterThanOrEqual(20); // still beating
  });
});

describe("Bind: pairing", () => {
  it("dials the backend on `paired`, holding the socket paused, and replays early data in order", async () => {
    const h = parked();
    h.ws.text(PAIRED);
    expect(h.bind.phase).toBe("paired");
    expect(h.said).toEqual(["parked", "paired"]);
    expect(h.ws.paused).toBe(true);
    expect(h.dials.map((d) => d.address)).toEqual([{ scheme: "tcp", host: "127.0.0.1", port: 9 }]);
    // The edge replays a waiting client's data right behind `paired`.
    h.ws.binary(Buffer.from("hello "));
    h.ws.binary(Buffer.from("world"));
    const backend = new FakeBackend();
    h.dials[0]!.resolve(backend.asSocket());
    await settle();
    expect(h.bind.phase).toBe("relaying");
    expect(h.ws.controls()).toContainEqual({ v: 1, t: "opened" });
    expect(backend.bytes().toString()).toBe("hello world");
    expect(h.ws.paused).toBe(false);
  });

  it("in standby, dials only on the client's `start` (or its first data)", async () => {
    const a = parked();
    a.ws.text({ ...PAIRED, standby: true });
    expect(a.bind.phase).toBe("standby");
    expect(a.dials).toHaveLength(0);
    a.ws.text({ t: "start" });
    expect(a.dials).toHaveLength(1);

    const b = parked();
    b.ws.text({ ...PAIRED, standby: true });
    b.ws.binary(Buffer.from("x"));
    expect(b.dials).toHaveLength(1);
    const backend = new FakeBackend();
    b.dials[0]!.resolve(backend.asSocket());
    await settle();
    expect(backend.bytes().toString()).toBe("x");
  });

  /** A bind in `version`, parked and paired in standby; `text` says a message in that version. */
  function standbyPair(version: 2 | 3): { h: Harness; text: (m: Record<string, unknown>) => void } {
    const h = harness();
    h.bind.open();
    h.ws.protocol = BIND_SUBPROTOCOLS[version];
    h.ws.emit("open");
    const text = (m: Record<string, unknown>) => h.ws.text(JSON.stringify({ v: version, ...m }));
    text({ t: "bound", bindId: h.bind.id });
    text({ ...PAIRED, standby: true });
    return { h, text };
  }

  /** A standby session whose client ended first and backend last: what the bind says from `opened` on, in `version`. */
  async function keptSessionClose(version: 2 | 3): Promise<{ h: Harness; text: (m: Record<string, unknown>) => void; said: unknown[] }> {
    const { h, text } = standbyPair(version);
    text({ t: "start" });
    const backend = new FakeBackend();
    h.dials[0]!.resolve(backend.asSocket());
    await settle();
    const from = h.ws.controls().findIndex((m) => m.t === "opened");
    text({ t: "end" });
    backend.emit("end");
    return { h, text, said: h.ws.controls().slice(from + 1) };
  }

  it("v3: a kept session's close is one message, `end` carrying `done`; v2: `end`, then `done`", async () => {
    const v3 = await keptSessionClose(3);
    expect(v3.said).toEqual([{ v: 3, t: "end", done: true }]);
    expect(v3.h.bind.phase).toBe("standby");
    const v2 = await keptSessionClose(2);
    expect(v2.said).toEqual([
      { v: 2, t: "end" },
      { v: 2, t: "done" },
    ]);
    expect(v2.h.bind.phase).toBe("standby");
    // One connector message fewer per kept session: what the edge object and both ends no longer pay for.
    expect(v2.said.length - v3.said.length).toBe(1);
  });

  it.each([2, 3] as const)(
    "v%i: a grant that crossed a kept session's `done` is that session's: dropped, and the pair takes its next `start`",
    async (version) => {
      const { h, text } = await keptSessionClose(version);
      text({ t: "credit", upTo: 65536 });
      expect(h.ws.closedWith).toBeUndefined();
      expect(h.bind.phase).toBe("standby");
      text({ t: "start" });
      expect(h.dials).toHaveLength(2);
      // Only after a `done`: in a standby pair that has had no session, a credit is the edge's error.
      const fresh = standbyPair(version);
      fresh.text({ t: "credit", upTo: 65536 });
      expect(fresh.h.ws.closedWith).toEqual({ code: 1002, reason: "protocol error" });
    },
  );

  it("closes the session with the backend's failure and tells the pool when the backend refused", async () => {
    const h = parked();
    h.ws.text(PAIRED);
    h.dials[0]!.reject(new BackendError("CONNECTION_REFUSED", "ECONNREFUSED"));
    await settle();
    expect(h.ws.closedWith).toEqual({ code: 4005, reason: "backend refused" });
    expect(h.backendFailures).toEqual(["CONNECTION_REFUSED"]);
    // The backend's address stays in our own log; the client only gets the code.
    expect(h.log.records.find((r) => r.msg === "backend connection failed")?.fields).toMatchObject({
      backend: "127.0.0.1:9",
      error: "ECONNREFUSED",
    });
  });

  it("reads from the edge again after a failed backend dial, so the close handshake completes (issue 11, item 10)", async () => {
    // Left paused, the edge's close frame is never read: the bind stayed a session until ws
    // gave up on the handshake 30 s later, and SIGTERM waited for it.
    const h = parked();
    h.ws.text(PAIRED);
    expect(h.ws.paused).toBe(true);
    h.dials[0]!.reject(new BackendError("HOST_UNREACHABLE", "ETIMEDOUT"));
    await settle();
    expect(h.ws.closedWith?.code).toBe(4004);
    expect(h.ws.paused).toBe(false);
  });

  it("a failure that says nothing about the backend's health does not withdraw the pool's binds", async () => {
    const h = parked();
    h.ws.text(PAIRED);
    h.dials[0]!.reject(new Error("boom"));
    await settle();
    expect(h.ws.closedWith?.code).toBe(4001);
    expect(h.backendFailures).toEqual([]);
  });
});

describe("Bind: stopping", () => {
  it("closes with 1001, terminates after 2 s if the edge does not answer, and reports `stopped`", () => {
    const h = parked();
    h.bind.stop();
    expect(h.ws.closedWith).toEqual({ code: 1001, reason: "going away" });
    h.clock.advance(1999);
    expect(h.ws.terminated).toBe(false);
    h.clock.advance(1);
    expect(h.ws.terminated).toBe(true);
    h.ws.emit("close", 1006);
    expect(h.ends).toEqual([{ kind: "stopped" }]);
  });

  it("a withdrawn bind closes with the backend's code and ends as `withdrawn`", () => {
    const h = parked();
    h.bind.withdraw("CONNECTION_REFUSED");
    expect(h.ws.closedWith?.code).toBe(4005);
    h.ws.emit("close", 4005);
    expect(h.ends).toEqual([{ kind: "withdrawn" }]);
  });
});
