import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type ChunkHolders, SallyportStream, type CloseInfo, type StreamOptions } from "../../client/stream.ts";
import { FakeClientSocket as FakeSocket } from "../helpers/fakes.ts";
import { describeClose, describeRefusal } from "../../client/describe.ts";
import {
  CLIENT_SUBPROTOCOLS,
  HEARTBEAT_MISSES,
  HEARTBEAT_RESPONSE,
  INITIAL_WINDOW_BYTES,
  SESSION_HEARTBEAT_MS,
} from "../../shared/protocol/constants.ts";

const END = '{"v":1,"t":"end"}';
const credit = (bytes: number): string => JSON.stringify({ v: 1, t: "credit", bytes });
const MiB = 1024 * 1024;

function make(protocol = CLIENT_SUBPROTOCOLS[1], opts: StreamOptions = {}): { ws: FakeSocket; s: SallyportStream; closes: CloseInfo[] } {
  const ws = new FakeSocket(protocol);
  const s = new SallyportStream(ws, opts);
  const closes: CloseInfo[] = [];
  s.onClose = (c) => closes.push(c);
  return { ws, s, closes };
}

/** ChunkHolders that record what the stream tells them, in order. */
function recordingHolders(): { holders: ChunkHolders; events: Array<["hold" | "letGo", Uint8Array]> } {
  const events: Array<["hold" | "letGo", Uint8Array]> = [];
  return { events, holders: { hold: (c) => events.push(["hold", c]), letGo: (c) => events.push(["letGo", c]) } };
}

/** A stream already known to be paired (the connector sent something). */
function paired(opts: StreamOptions = {}): ReturnType<typeof make> {
  const m = make(CLIENT_SUBPROTOCOLS[1], opts);
  m.ws.receive(new Uint8Array([0x52]));
  return m;
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("SallyportStream: setup", () => {
  it("speaks the protocol only when the edge echoed the subprotocol", () => {
    expect(make(CLIENT_SUBPROTOCOLS[1]).s.protocol).toBe("sallyport");
    expect(make("").s.protocol).toBe("plain");
  });

  it("needs an open socket and switches blob delivery to array buffers", () => {
    const ws = new FakeSocket(CLIENT_SUBPROTOCOLS[1]);
    new SallyportStream(ws);
    expect(ws.binaryType).toBe("arraybuffer");
    ws.readyState = 0;
    expect(() => new SallyportStream(ws)).toThrow(/open WebSocket/);
  });
});

describe("SallyportStream: sending", () => {
  it("splits data into frames of at most maxFrameBytes", () => {
    const { ws, s } = paired({ maxFrameBytes: 1000 });
    expect(s.send(new Uint8Array(2500))).toBe(true);
    expect(ws.frames.map((f) => (f as Uint8Array).byteLength)).toEqual([1000, 1000, 500]);
  });

  it("frames stay within 64 KiB, which every edge takes, until `opened` says the edge's limit", () => {
    const KiB = 1024;
    const { ws, s } = make();
    ws.receive('{"v":1,"t":"credit","bytes":1}'); // paired, limit still unknown
    s.send(new Uint8Array(150 * KiB));
    expect(ws.frames.filter((f) => typeof f !== "string").map((f) => f.length / KiB)).toEqual([64, 64, 22]);
    ws.frames.length = 0;
    ws.receive('{"v":1,"t":"opened","maxMessageBytes":262144}');
    s.send(new Uint8Array(600 * KiB));
    expect(ws.frames.map((f) => (f as Uint8Array).byteLength / KiB)).toEqual([256, 256, 88]);
  });

  it("with `defer`, full reads given in one turn go out as one frame; a short read goes at once", () => {
    const KiB = 1024;
    const deferred: Array<() => void> = [];
    const { ws, s } = make(CLIENT_SUBPROTOCOLS[1], { defer: (run) => deferred.push(run) });
    ws.receive('{"v":1,"t":"opened","maxMessageBytes":1048576}');
    for (let i = 0; i < 3; i++) expect(s.send(new Uint8Array(64 * KiB).fill(i))).toBe(true);
    expect(ws.frames).toEqual([]);
    expect(deferred).toHaveLength(1);
    deferred.shift()!();
    expect(ws.frames.map((f) => (f as Uint8Array).byteLength)).toEqual([192 * KiB]);
    expect([0, 64 * KiB, 128 * KiB].map((o) => (ws.frames[0] as Uint8Array)[o])).toEqual([0, 1, 2]);
    // A short read means its socket was drained: waiting would only add latency.
    s.send(new Uint8Array(100));
    expect(ws.frames.map((f) => (f as Uint8Array).byteLength)).toEqual([192 * KiB, 100]);
    expect(deferred).toHaveLength(0);
  });

  it("with `sendFragments`, reads gathered into one message go to it as they are, uncopied; one read goes whole", () => {
    const KiB = 1024;
    const deferred: Array<() => void> = [];
    const messages: Uint8Array[][] = [];
    const { ws, s } = make(CLIENT_SUBPROTOCOLS[1], {
      defer: (run) => deferred.push(run),
      sendFragments: (_ws, parts, cb) => {
        messages.push([...parts]);
        cb();
      },
    });
    ws.receive('{"v":1,"t":"opened","maxMessageBytes":131072}');
    const reads = [0, 1, 2].map((i) => new Uint8Array(64 * KiB).fill(i));
    for (const r of reads) s.send(r);
    deferred.shift()!();
    // 128 KiB messages: the first two reads as they are, then the third alone, sent whole.
    expect(messages).toHaveLength(1);
    expect(messages[0]![0]).toBe(reads[0]);
    expect(messages[0]![1]).toBe(reads[1]);
    expect(ws.frames).toEqual([reads[2]]);
    // A message that ends inside a read takes a view of its start; the rest leads the next one.
    s.send(new Uint8Array(100 * KiB).fill(7));
    s.send(new Uint8Array(100 * KiB).fill(8));
    expect(messages.slice(1).map((m) => m.map((p) => p.byteLength / KiB))).toEqual([[100, 28]]);
    expect(ws.frames.slice(1).map((f) => (f as Uint8Array).byteLength / KiB)).toEqual([72]);
    expect(s.bytesSent).toBe(392 * KiB);
  });

  it("with `chunks`, a chunk sent is held until the socket wrote it and let go once, whole or as fragments", async () => {
    const { holders, events } = recordingHolders();
    const deferred: Array<() => void> = [];
    const { ws, s } = make(CLIENT_SUBPROTOCOLS[2], {
      chunks: holders,
      defer: (run) => deferred.push(run),
      sendFragments: (_ws, _parts, cb) => queueMicrotask(() => cb()),
    });
    ws.receive('{"v":2,"t":"opened","maxMessageBytes":1048576}');
    const one = new Uint8Array(1000);
    s.send(one, false);
    expect(events).toEqual([["hold", one]]);
    await Promise.resolve();
    expect(events).toEqual([
      ["hold", one],
      ["letGo", one],
    ]);
    // Two full reads in one turn: one message of both, as fragments, each let go once it is written.
    events.length = 0;
    const reads = [new Uint8Array(100), new Uint8Array(200)];
    for (const r of reads) s.send(r, true);
    expect(events).toEqual([]);
    deferred.shift()!();
    expect(events).toEqual(reads.map((r) => ["hold", r]));
    await Promise.resolve();
    expect(events.slice(2)).toEqual(reads.map((r) => ["letGo", r]));
  });

  it("with `chunks` and a resend buffer (v3), a chunk is let go again once the connector acknowledged it", async () => {
    const { holders, events } = recordingHolders();
    const { ws, s } = make(CLIENT_SUBPROTOCOLS[3], { chunks: holders, reconnect: async () => {} });
    ws.receive('{"v":3,"t":"opened","maxMessageBytes":1048576}');
    const chunk = new Uint8Array(1000);
    s.send(chunk);
    await Promise.resolve();
    // Held twice (resend buffer, socket); the socket let go of it once written.
    expect(events.map(([e]) => e)).toEqual(["hold", "hold", "letGo"]);
    // v3 acknowledges with the credit limit: one window past what the reader took.
    ws.receive(JSON.stringify({ v: 3, t: "credit", upTo: INITIAL_WINDOW_BYTES + 1000 }));
    expect(events.map(([e]) => e)).toEqual(["hold", "hold", "letGo", "letGo"]);
    expect(events.every(([, c]) => c === chunk)).toBe(true);
  });

  it("send()'s fullRead overrides the size rule: a large short read goes at once, a small full one waits", () => {
    const deferred: Array<() => void> = [];
    const { ws, s } = make(CLIENT_SUBPROTOCOLS[1], { defer: (run) => deferred.push(run) });
    ws.receive('{"v":1,"t":"opened","maxMessageBytes":1048576}');
    s.send(new Uint8Array(200 * 1024), false);
    expect(ws.frames).toHaveLength(1);
    s.send(new Uint8Array(10), true);
    expect(ws.frames).toHaveLength(1);
    expect(deferred).toHaveLength(1);
  });

  it("start() goes ahead of what is sent after it; a plain session has no start", () => {
    const { ws, s } = make();
    s.start();
    s.send(new Uint8Array(10));
    expect(ws.frames[0]).toBe('{"v":1,"t":"start"}');
    expect((ws.frames[1] as Uint8Array).byteLength).toBe(10);
    const plain = make("");
    plain.s.start();
    expect(plain.ws.frames).toEqual([]);
  });

  it("done after both ends resets the stream for the next session; done any earlier is a protocol error", () => {
    const { ws, s, closes } = make();
    const finished: Array<{ bytesSent: number; bytesReceived: number }> = [];
    s.onDone = (f) => finished.push(f);
    s.start();
    s.send(new Uint8Array(9 * MiB)); // beyond the 8 MiB window: 1 MiB waits for credit
    ws.receive(new Uint8Array(5));
    expect(s.sendCredit).toBe(0);
    ws.receive(credit(MiB));
    s.end();
    ws.receive(END);
    ws.receive('{"v":1,"t":"done"}');
    expect(finished).toEqual([{ bytesSent: 9 * MiB, bytesReceived: 5 }]);
    expect([s.sendCredit, s.receiveCredit, s.bytesSent, s.bytesReceived, s.endSent, s.endReceived]).toEqual([
      8 * MiB,
      8 * MiB,
      0,
      0,
      false,
      false,
    ]);
    expect(closes).toEqual([]);
    // The next session on the same socket.
    s.start();
    s.send(new Uint8Array(3));
    expect(s.bytesSent).toBe(3);

    const early = make();
    early.s.onDone = () => finished.push({ bytesSent: -1, bytesReceived: -1 });
    early.ws.receive(new Uint8Array(1));
    early.ws.receive('{"v":1,"t":"done"}');
    expect(early.ws.closedWith).toEqual({ code: 1002, reason: "protocol error" });
    expect(finished).toHaveLength(1);
  });

  it("never sends beyond its credit, queues the rest, and resumes on credit", () => {
    const { ws, s } = paired({ maxFrameBytes: MiB });
    const drains: number[] = [];
    s.onDrain = () => drains.push(ws.dataBytes());
    expect(s.send(new Uint8Array(INITIAL_WINDOW_BYTES + 3 * MiB))).toBe(false);
    expect(ws.dataBytes()).toBe(INITIAL_WINDOW_BYTES);
    expect(s.sendCredit).toBe(0);
    expect(s.pendingBytes).toBe(3 * MiB);
    ws.receive(credit(MiB));
    expect(ws.dataBytes()).toBe(INITIAL_WINDOW_BYTES + MiB);
    expect(drains).toEqual([]);
    ws.receive(credit(4 * MiB));
    expect(ws.dataBytes()).toBe(INITIAL_WINDOW_BYTES + 3 * MiB);
    expect(s.sendCredit).toBe(2 * MiB);
    expect(drains).toEqual([INITIAL_WINDOW_BYTES + 3 * MiB]);
  });

  it("splits a frame at the credit boundary and loses nothing", () => {
    const { ws, s } = paired({ maxFrameBytes: 64 * 1024 });
    const data = new Uint8Array(INITIAL_WINDOW_BYTES + 1000);
    for (let i = 0; i < data.length; i++) data[i] = i % 251;
    s.send(data);
    ws.receive(credit(INITIAL_WINDOW_BYTES / 2));
    const out = new Uint8Array(ws.dataBytes());
    let off = 0;
    for (const f of ws.frames) {
      if (typeof f === "string") continue;
      out.set(f, off);
      off += f.byteLength;
    }
    expect(Buffer.from(out.buffer).equals(Buffer.from(data.buffer))).toBe(true);
  });

  it("sends end after the data queued before it, as a text control message", () => {
    const { ws, s } = paired();
    s.send(new Uint8Array(INITIAL_WINDOW_BYTES + 10));
    s.end();
    expect(ws.texts()).toEqual([]);
    expect(s.endSent).toBe(false);
    ws.receive(credit(INITIAL_WINDOW_BYTES / 2));
    expect(ws.frames.at(-1)).toBe(END);
    expect(s.endSent).toBe(true);
    expect(() => s.send(new Uint8Array(1))).toThrow(/after end/);
  });

  it("sends strings as UTF-8 binary data in protocol mode, as text frames in plain mode", () => {
    const p = paired();
    p.s.send("héllo");
    expect(p.ws.frames.at(-1)).toEqual(new TextEncoder().encode("héllo"));
    const plain = make("");
    plain.ws.receive(new Uint8Array([1]));
    plain.s.send("héllo");
    expect(plain.ws.frames).toEqual(["héllo"]);
    expect(() => plain.s.end()).toThrow(/plain/);
  });

  it("asks the caller to wait while the socket buffers over the high-water mark, and drains by polling", () => {
    const { ws, s } = paired({ highWaterBytes: 1000, pollMs: 5 });
    let drained = 0;
    s.onDrain = () => drained++;
    ws.bufferedAmount = 2000;
    expect(s.send(new Uint8Array(10))).toBe(false);
    expect(ws.dataBytes()).toBe(0);
    vi.advanceTimersByTime(20);
    expect(drained).toBe(0);
    ws.bufferedAmount = 0;
    vi.advanceTimersByTime(5);
    expect(ws.dataBytes()).toBe(10);
    expect(drained).toBe(1);
  });

  it("fires drain when only the buffer was full and the queue was empty", () => {
    const { ws, s } = paired({ highWaterBytes: 1000, pollMs: 5 });
    let drained = 0;
    s.onDrain = () => drained++;
    expect(s.send(new Uint8Array(10))).toBe(true);
    ws.bufferedAmount = 5000; // the socket has not written it yet
    expect(s.send(new Uint8Array(10))).toBe(false);
    ws.bufferedAmount = 0;
    vi.advanceTimersByTime(5);
    expect(drained).toBe(1);
  });
});

describe("SallyportStream: before pairing", () => {
  it("sends at most the pre-pair budget until the connector is heard from", () => {
    const { ws, s } = make(CLIENT_SUBPROTOCOLS[1], { prePairBudgetBytes: 7 * 1024 });
    expect(s.paired).toBe(false);
    s.send(new Uint8Array(20 * 1024));
    expect(ws.dataBytes()).toBe(7 * 1024);
    ws.receive(new Uint8Array([0x52])); // the backend spoke: the session is paired
    expect(s.paired).toBe(true);
    expect(ws.dataBytes()).toBe(20 * 1024);
  });

  it("takes credit or an opened message as evidence of pairing", () => {
    const a = make(CLIENT_SUBPROTOCOLS[1], { prePairBudgetBytes: 100 });
    a.s.send(new Uint8Array(300));
    a.ws.receive(credit(1));
    expect(a.ws.dataBytes()).toBe(300);
    const b = make(CLIENT_SUBPROTOCOLS[1], { prePairBudgetBytes: 100 });
    let told = 0;
    b.s.onPaired = () => told++;
    b.s.send(new Uint8Array(300));
    b.ws.receive('{"v":1,"t":"opened"}');
    expect(b.ws.dataBytes()).toBe(300);
    expect(told).toBe(1);
    expect(b.ws.closedWith).toBeUndefined();
  });

  it("assumes pairing after assumePairedAfterMs", () => {
    const { ws, s } = make(CLIENT_SUBPROTOCOLS[1], { prePairBudgetBytes: 100, assumePairedAfterMs: 2000 });
    s.send(new Uint8Array(300));
    vi.advanceTimersByTime(1999);
    expect(ws.dataBytes()).toBe(100);
    vi.advanceTimersByTime(1);
    expect(ws.dataBytes()).toBe(300);
  });

  it("holds end back when the budget is used up", () => {
    const { ws, s } = make(CLIENT_SUBPROTOCOLS[1], { prePairBudgetBytes: 100 });
    s.send(new Uint8Array(90));
    s.end();
    expect(ws.texts()).toEqual([]);
    ws.receive(credit(1));
    expect(ws.texts()).toEqual([END]);
  });
});

describe("SallyportStream: receiving", () => {
  it("delivers binary data and grants credit in half-window steps as it is consumed", () => {
    const { ws, s } = paired();
    const got: number[] = [];
    s.onData = (c) => got.push(c.byteLength);
    ws.receive(new Uint8Array(INITIAL_WINDOW_BYTES / 2 - 1).buffer);
    s.consumed(INITIAL_WINDOW_BYTES / 2 - 1 + 1); // the 1-byte greeting of paired() too
    expect(ws.texts()).toEqual([credit(INITIAL_WINDOW_BYTES / 2)]);
    s.consumed(INITIAL_WINDOW_BYTES / 2 - 1);
    expect(ws.texts()).toHaveLength(1);
    s.consumed(1);
    expect(ws.texts()).toEqual([credit(INITIAL_WINDOW_BYTES / 2), credit(INITIAL_WINDOW_BYTES / 2)]);
  });

  it("autoConsume grants on delivery", () => {
    const { ws } = paired({ autoConsume: true });
    ws.receive(new Uint8Array(INITIAL_WINDOW_BYTES / 2));
    expect(ws.texts()).toEqual([credit(INITIAL_WINDOW_BYTES / 2 + 1)]);
  });

  it("closes with 1002 when the connector sends beyond the credit granted", () => {
    const { ws, s } = paired();
    s.onData = () => {};
    ws.receive(new Uint8Array(INITIAL_WINDOW_BYTES - 1));
    expect(ws.closedWith).toBeUndefined();
    ws.receive(new Uint8Array(1));
    expect(ws.closedWith).toEqual({ code: 1002, reason: "protocol error" });
  });

  it("reports end, and closes with 1002 on data after end or a second end", () => {
    const a = paired();
    let ended = 0;
    a.s.onEnd = () => ended++;
    a.ws.receive(END);
    expect(ended).toBe(1);
    expect(a.s.endReceived).toBe(true);
    a.ws.receive(new Uint8Array(1));
    expect(a.ws.closedWith?.code).toBe(1002);
    const b = paired();
    b.ws.receive(END);
    b.ws.receive(END);
    expect(b.ws.closedWith?.code).toBe(1002);
  });

  it("closes with 1002 on a text frame that is not a client control message", () => {
    for (const bad of ["hello", '{"v":1,"t":"bind"}', '{"v":2,"t":"end"}', '{"v":1,"t":"credit","bytes":0}']) {
      const { ws } = paired();
      ws.receive(bad);
      expect(ws.closedWith?.code, bad).toBe(1002);
    }
  });

  it("in plain mode a text frame is data (its UTF-8 bytes)", () => {
    const { ws, s } = make("");
    const got: Uint8Array[] = [];
    s.onData = (c) => got.push(c);
    ws.receive(credit(5));
    expect(new TextDecoder().decode(got[0])).toBe(credit(5));
    expect(ws.closedWith).toBeUndefined();
  });
});

describe("SallyportStream: closing", () => {
  it("is clean only on 1000 after both directions ended", () => {
    const a = paired();
    a.s.end();
    a.ws.receive(END);
    a.ws.peerClose(1000);
    expect(a.closes).toEqual([{ code: 1000, reason: "", clean: true, byUs: false, description: "closed normally (1000)" }]);

    const b = paired();
    b.ws.receive(END);
    b.ws.peerClose(1000); // we never sent end: our data may not all have arrived
    expect(b.closes[0]?.clean).toBe(false);

    const c = paired();
    c.s.end();
    c.ws.peerClose(1000); // the connector never said end
    expect(c.closes[0]?.clean).toBe(false);
  });

  it("every other code is abnormal and described", () => {
    const cases: Array<[number, string]> = [
      [4006, "no connector available (4006)"],
      [4013, "busy: every connector is in use (4013)"],
      [4005, "backend refused the connection (4005)"],
      [4004, "backend unreachable (4004)"],
      [4003, "connector lost (4003)"],
      [1009, "message too big (1009)"],
      [1002, "protocol error (1002)"],
      [1006, "connection lost (no close frame) (1006)"],
    ];
    for (const [code, text] of cases) {
      const { ws, closes } = paired();
      ws.peerClose(code, "x");
      expect(closes).toHaveLength(1);
      expect(closes[0]).toMatchObject({ code, clean: false, byUs: false, description: text });
    }
    expect(describeClose(4999, "weird")).toBe("closed: weird (4999)");
    expect(describeRefusal(404)).toMatch(/404: unknown service path, or this client is not admitted/);
    expect(describeRefusal(503)).toMatch(/503: the service holds max.clients clients; try again later/);
  });

  it("plain sessions end cleanly on 1000", () => {
    const { ws, closes } = make("");
    ws.peerClose(1000);
    expect(closes[0]?.clean).toBe(true);
  });

  it("reports our own close code, once, and stops sending", () => {
    const { ws, s, closes } = paired();
    s.close(1001, "going away");
    expect(ws.closedWith).toEqual({ code: 1001, reason: "going away" });
    expect(s.send(new Uint8Array(1))).toBe(false);
    ws.peerClose(1001);
    ws.peerClose(1001);
    expect(closes).toEqual([{ code: 1001, reason: "going away", clean: false, byUs: true, description: "going away (1001)" }]);
  });

  it("stops its timers when closed", () => {
    const { ws, s } = make(CLIENT_SUBPROTOCOLS[1], { prePairBudgetBytes: 10 });
    s.send(new Uint8Array(100));
    ws.peerClose(4006);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("SallyportStream: version 2", () => {
  const v2 = (opts: StreamOptions = {}) => {
    const m = make(CLIENT_SUBPROTOCOLS[2], { autoConsume: true, ...opts });
    m.ws.receive(JSON.stringify({ v: 2, t: "opened", maxMessageBytes: MiB }));
    return m;
  };

  it("speaks v2 when the edge selected it, and starts with a mark's interval of credit", () => {
    const { s, ws } = v2();
    expect(s.version).toBe(2);
    s.send(new Uint8Array(2 * MiB));
    expect(ws.dataBytes()).toBe(MiB); // V2_INITIAL_CREDIT_BYTES
    ws.receive(JSON.stringify({ v: 2, t: "credit", upTo: 3 * MiB })); // a cumulative limit, not an increment
    expect(ws.dataBytes()).toBe(2 * MiB);
  });

  it("echoes a mark once the data before it is used, granting one window past it", () => {
    const { ws } = v2();
    ws.receive(new Uint8Array(MiB));
    expect(ws.texts().filter((t) => t.includes("credit"))).toEqual([]);
    ws.receive(JSON.stringify({ v: 2, t: "mark", id: "m1" }));
    expect(ws.texts().at(-1)).toBe(JSON.stringify({ v: 2, t: "credit", upTo: MiB + 8 * MiB, mark: "m1" }));
  });

  it("refuses a v1 message on a v2 socket", () => {
    const m = v2();
    m.ws.receive(credit(1));
    expect(m.ws.closedWith).toEqual({ code: 1002, reason: "protocol error" });
  });
});

describe("liveness: the heartbeat", () => {
  it("beats at once and every SESSION_HEARTBEAT_MS on a Sallyport session, never on a plain one (it would be data)", () => {
    const { ws } = make();
    expect(ws.beats).toBe(1);
    vi.advanceTimersByTime(SESSION_HEARTBEAT_MS);
    expect(ws.beats).toBe(2);
    const plain = make("");
    vi.advanceTimersByTime(SESSION_HEARTBEAT_MS * 5);
    expect(plain.ws.beats).toBe(0);
  });

  it("the runtime's answer is no protocol error, and anything heard keeps the session alive", () => {
    const { ws, closes } = make();
    for (let i = 0; i < 10; i++) {
      vi.advanceTimersByTime(SESSION_HEARTBEAT_MS);
      ws.receive(i % 2 ? HEARTBEAT_RESPONSE : new Uint8Array(1));
    }
    expect(closes).toEqual([]);
    expect(ws.closedWith).toBeUndefined();
  });

  it(`nothing heard for ${HEARTBEAT_MISSES} intervals: reported closed at once (4003, abnormal) and the socket torn down`, () => {
    const { ws, closes } = make();
    vi.advanceTimersByTime(SESSION_HEARTBEAT_MS * HEARTBEAT_MISSES);
    expect(closes).toEqual([]);
    vi.advanceTimersByTime(SESSION_HEARTBEAT_MS);
    expect(closes).toEqual([{ code: 4003, reason: "connector lost", clean: false, byUs: true, description: expect.any(String) }]);
    expect(ws.terminated).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("SallyportStream: version 3, `end` carrying `done`", () => {
  const END_DONE = '{"v":3,"t":"end","done":true}';
  const v3 = () => {
    const m = make(CLIENT_SUBPROTOCOLS[3]);
    const heard: string[] = [];
    m.s.onEnd = () => heard.push("end");
    m.s.onDone = (f) => heard.push(`done ${f.bytesSent}/${f.bytesReceived}`);
    return { ...m, heard };
  };

  it("is the connector's end, then its done: the next session starts on this socket", () => {
    const { ws, s, closes, heard } = v3();
    s.start();
    s.send(new Uint8Array(4));
    ws.receive(new Uint8Array(2));
    s.end();
    ws.receive(END_DONE);
    expect(heard).toEqual(["end", "done 4/2"]);
    expect([s.bytesSent, s.bytesReceived, s.endSent, s.endReceived]).toEqual([0, 0, false, false]);
    expect(closes).toEqual([]);
    expect(ws.closedWith).toBeUndefined();
    s.start();
    s.send(new Uint8Array(3));
    expect(s.bytesSent).toBe(3);
  });

  it("with the checks of each: before our own end it is a protocol error (the end is heard, the done refused)", () => {
    const { ws, heard } = v3();
    ws.receive(new Uint8Array(1));
    ws.receive(END_DONE);
    expect(heard).toEqual(["end"]);
    expect(ws.closedWith).toEqual({ code: 1002, reason: "protocol error" });
  });

  it("is a protocol error on a v2 socket, which knows `end` and `done` only apart", () => {
    const m = make(CLIENT_SUBPROTOCOLS[2]);
    m.s.end();
    m.ws.receive('{"v":2,"t":"end","done":true}');
    expect(m.ws.closedWith).toEqual({ code: 1002, reason: "protocol error" });
  });
});
