import { describe, expect, it } from "vitest";
import { BACKEND_LINGER_MS, HIGH_WATER, Session, type SessionOutcome } from "../../connector/session.ts";
import { useReusedReadBuffer } from "../../connector/backend-reads.ts";
import { chunkPool, ReusedReadBuffer } from "../../net/reused-reads.ts";
import type { ClientProtocol } from "../../shared/protocol/messages.ts";
import { FULL_READ_BYTES } from "../../shared/chunks.ts";
import { INITIAL_WINDOW_BYTES, type ProtocolVersion, V2_INITIAL_CREDIT_BYTES } from "../../shared/protocol/constants.ts";
import { FakeBackend, FakeClock, FakeWs } from "../helpers/fakes.ts";

/**
 * connector/session.ts over a fake edge socket, a fake backend socket and a manual clock:
 * credit both ways, backpressure, coalescing, half-close and how each end is reported.
 */

const MiB = 1024 * 1024;
const WINDOW = INITIAL_WINDOW_BYTES;

function harness(
  protocol: ClientProtocol = "sallyport",
  opts: { maxMessageBytes?: number; keep?: boolean; version?: ProtocolVersion; reads?: ReusedReadBuffer } = {},
) {
  const ws = new FakeWs();
  const backend = new FakeBackend();
  // A plain TCP backend (connector/backend.ts): read through a reused buffer, not 'data'.
  if (opts.reads) useReusedReadBuffer(backend.asSocket(), opts.reads);
  const clock = new FakeClock();
  const outcomes: SessionOutcome[] = [];
  const session = new Session(
    ws.asWebSocket(),
    backend.asSocket(),
    { protocol, version: opts.version ?? 1, maxMessageBytes: opts.maxMessageBytes ?? MiB, keep: opts.keep ?? false, clock },
    (o) => outcomes.push(o),
  );
  return { ws, backend, clock, outcomes, session };
}

const settle = () => new Promise<void>((r) => setImmediate(r));
const fromBackend = (h: ReturnType<typeof harness>, bytes: number) => h.backend.emit("data", Buffer.alloc(bytes, 0x42));

describe("Session: toward the client", () => {
  it("sends a Sallyport client no more than its credit, pauses the backend, and resumes on credit", async () => {
    const h = harness();
    for (let i = 0; i < WINDOW / MiB + 1; i++) fromBackend(h, MiB);
    expect(h.ws.data().byteLength).toBe(WINDOW);
    expect(h.backend.isPaused()).toBe(true);
    h.session.control({ t: "credit", bytes: MiB });
    expect(h.ws.data().byteLength).toBe(WINDOW + MiB);
    expect(h.backend.isPaused()).toBe(true); // that credit is used up already
    h.session.control({ t: "credit", bytes: MiB });
    await settle();
    expect(h.backend.isPaused()).toBe(false);
  });

  it("pauses the backend while the WebSocket buffers more than HIGH_WATER", () => {
    const h = harness("plain");
    h.ws.bufferedAmount = HIGH_WATER + 1;
    fromBackend(h, 100);
    expect(h.backend.isPaused()).toBe(true);
  });

  it("coalesces full reads of one turn into one message; a short read goes at once", async () => {
    const h = harness("sallyport", { maxMessageBytes: MiB });
    for (let i = 0; i < 3; i++) fromBackend(h, FULL_READ_BYTES);
    expect(h.ws.sent).toHaveLength(0);
    await settle();
    expect(h.ws.sent.map((f) => f.length)).toEqual([3 * FULL_READ_BYTES]);
    fromBackend(h, 10);
    expect(h.ws.sent.map((f) => f.length)).toEqual([3 * FULL_READ_BYTES, 10]);
  });

  it("never sends a message larger than the edge's max.message.size", () => {
    const h = harness("plain", { maxMessageBytes: 1000 });
    fromBackend(h, 2500);
    fromBackend(h, 10); // a short read: the rest goes too
    expect(h.ws.sent.map((f) => f.length)).toEqual([1000, 1000, 510]);
  });
});

describe("Session: backend reads through a reused buffer", () => {
  /** One read of `n` bytes of `fill` into the reused buffer, as Node's onread makes it. */
  const readInto = (reads: ReusedReadBuffer, n: number, fill: number) => {
    const into = reads.onread.buffer();
    into.fill(fill, 0, n);
    reads.onread.callback(n, into);
  };

  it("a read that filled the buffer waits for the turn's others; a shorter one (even 64 KiB) goes at once", async () => {
    const reads = new ReusedReadBuffer(Buffer.alloc(256 * 1024));
    const h = harness("sallyport", { maxMessageBytes: MiB, reads });
    expect(h.backend.isPaused()).toBe(false); // the session reads it
    readInto(reads, 256 * 1024, 1);
    readInto(reads, 256 * 1024, 2);
    expect(h.ws.sent).toHaveLength(0);
    await settle();
    expect(h.ws.sent.map((f) => f.length)).toEqual([512 * 1024]);
    // 64 KiB fills Node's own read ('data'), not this buffer: it drained the socket.
    readInto(reads, FULL_READ_BYTES, 3);
    expect(h.ws.sent.map((f) => f.length)).toEqual([512 * 1024, FULL_READ_BYTES]);
  });

  it("a large read's chunk goes back to the pool once ws wrote it and the client acknowledged it (v3)", async () => {
    const reads = new ReusedReadBuffer(Buffer.alloc(256 * 1024));
    const h = harness("sallyport", { maxMessageBytes: 256 * 1024, reads, version: 3 });
    readInto(reads, 256 * 1024, 7);
    // What the pool has idle once the read took its chunk (earlier tests may have left buffers there).
    const idle = chunkPool.idle;
    expect(h.ws.sent.map((f) => f.length)).toEqual([256 * 1024]); // a whole message: sent at once
    await settle(); // ws wrote it
    expect(chunkPool.idle).toBe(idle); // the resend buffer still holds it
    h.session.control({ t: "credit", upTo: 256 * 1024 + WINDOW }); // the client has read it all
    expect(chunkPool.idle).toBe(idle + 1);
    // The next large read takes that buffer again.
    readInto(reads, 256 * 1024, 8);
    expect(chunkPool.idle).toBe(idle);
  });

  it("reads stay intact when the buffer they were read into is read into again", () => {
    const reads = new ReusedReadBuffer(Buffer.alloc(1000));
    const h = harness("plain", { maxMessageBytes: MiB, reads });
    readInto(reads, 1000, 0x61); // full: held for the turn's others; the next read goes into a pooled buffer
    readInto(reads, 10, 0x62); // short: both go now, as one message; the next read goes into the shared buffer
    readInto(reads, 1000, 0x63); // overwrites the shared buffer the first read was copied from
    expect(h.ws.sent).toHaveLength(1);
    expect(h.ws.data().toString("latin1")).toBe(`${"a".repeat(1000)}${"b".repeat(10)}`);
  });

  it("a message of several reads goes as one fragment per read, uncopied; a single read goes whole", async () => {
    const reads = new ReusedReadBuffer(Buffer.alloc(256 * 1024));
    const h = harness("sallyport", { maxMessageBytes: MiB, reads });
    readInto(reads, 256 * 1024, 1); // copied from the shared buffer into a pooled chunk
    readInto(reads, 256 * 1024, 2); // read into a pooled buffer: the chunk itself
    const idle = chunkPool.idle;
    readInto(reads, 100, 3); // short: the three go now, as one message; its pooled buffer goes back at once
    expect(chunkPool.idle).toBe(idle + 1);
    expect(h.ws.fragments.map((m) => m.map((f) => f.byteLength))).toEqual([[256 * 1024, 256 * 1024, 100]]);
    expect(h.ws.data()).toEqual(Buffer.concat([Buffer.alloc(256 * 1024, 1), Buffer.alloc(256 * 1024, 2), Buffer.alloc(100, 3)]));
    readInto(reads, 10, 4);
    expect(h.ws.fragments.map((m) => m.length)).toEqual([3, 1]);
    // Once written, the two large reads' pooled buffers are back for the next reads (a copy
    // gathering them would have left them to the collector).
    await settle();
    expect(chunkPool.idle).toBe(idle + 3);
  });
});

describe("Session: toward the backend", () => {
  it("grants the client credit in half-window steps, only for bytes the backend has taken", () => {
    const h = harness();
    h.ws.binary(Buffer.alloc(WINDOW / 2 - 1));
    h.backend.ack();
    expect(h.ws.controls()).toEqual([]);
    h.ws.binary(Buffer.alloc(1));
    expect(h.ws.controls()).toEqual([]); // written, not yet taken
    h.backend.ack();
    expect(h.ws.controls()).toEqual([{ v: 1, t: "credit", bytes: WINDOW / 2 }]);
  });

  it("a client that sends beyond its credit is cut with 1002 and the backend reset", () => {
    const h = harness();
    h.ws.binary(Buffer.alloc(WINDOW));
    expect(h.ws.closedWith).toBeUndefined();
    h.ws.binary(Buffer.alloc(1));
    expect(h.ws.closedWith).toEqual({ code: 1002, reason: "protocol error" });
    expect(h.backend.reset).toBe(true);
    expect(h.outcomes).toMatchObject([{ by: "backend", close: { code: 1002 }, bytesToBackend: WINDOW + 1 }]);
  });

  it("pauses the WebSocket while the backend's buffer is full, until it drains", () => {
    const h = harness("plain");
    h.backend.full = true;
    h.ws.binary(Buffer.alloc(10));
    expect(h.ws.paused).toBe(true);
    h.backend.emit("drain");
    expect(h.ws.paused).toBe(false);
  });

  /**
   * An echoing backend through small windows (bench/resume.ts, 20 sessions): the client's bytes
   * fill the backend's buffer while the backend waits for us to read its echo, and we wait for
   * the client's credit to send it. That credit comes on the WebSocket, after the client's data:
   * a paused WebSocket never delivers it, and both directions wait for ever.
   */
  it.each([
    ["v3", 3],
    ["v2", 2],
    ["v1", 1],
  ] as const)("%s Sallyport client: a full backend buffer leaves the WebSocket read, so credit behind the data arrives", (_, version) => {
    const h = harness("sallyport", { version });
    const allowance = version === 1 ? WINDOW : V2_INITIAL_CREDIT_BYTES;
    h.backend.full = true;
    h.ws.binary(Buffer.alloc(64 * 1024));
    fromBackend(h, allowance + MiB);
    expect(h.ws.data().byteLength).toBe(allowance);
    expect(h.backend.isPaused()).toBe(true); // out of credit toward the client
    // A paused socket reads nothing, the credit included: this is where it would stop.
    expect(h.ws.paused).toBe(false);
    h.session.control(version === 1 ? { t: "credit", bytes: 2 * MiB } : { t: "credit", upTo: allowance + 2 * MiB });
    expect(h.ws.data().byteLength).toBe(allowance + MiB);
    expect(h.backend.isPaused()).toBe(false); // the echo is read again, so the backend reads on
  });

  it("a plain client's text frames are not data; `end` or `credit` from it is a protocol error", () => {
    const h = harness("plain");
    h.ws.text("hello");
    expect(h.backend.written).toEqual([]);
    h.session.control({ t: "end" });
    expect(h.ws.closedWith?.code).toBe(1002);
  });
});

describe("Session: ending", () => {
  it("half-close: the client's end is a FIN to the backend; the backend's FIN an `end` after its data; both close with 1000", async () => {
    const h = harness();
    h.session.control({ t: "end" });
    expect(h.backend.ended).toBe(true);
    expect(h.ws.closedWith).toBeUndefined();
    fromBackend(h, 5);
    h.backend.emit("end");
    expect(h.ws.sent.map((f) => (typeof f === "string" ? f : f.length))).toEqual([5, '{"v":1,"t":"end"}']);
    expect(h.ws.closedWith).toEqual({ code: 1000, reason: "" });
    expect(h.outcomes).toEqual([{ by: "backend", close: { code: 1000, reason: "" }, bytesToBackend: 0, bytesToClient: 5 }]);
  });

  it("holds the backend's `end` behind data still waiting for credit", () => {
    const h = harness();
    for (let i = 0; i < WINDOW / MiB + 1; i++) fromBackend(h, MiB);
    h.backend.emit("end");
    expect(h.ws.controls()).toEqual([]);
    h.session.control({ t: "credit", bytes: MiB });
    expect(h.ws.controls()).toEqual([{ v: 1, t: "end" }]);
  });

  it("data from the client after its end is a protocol error", () => {
    const h = harness();
    h.session.control({ t: "end" });
    h.ws.binary(Buffer.alloc(1));
    expect(h.ws.closedWith?.code).toBe(1002);
  });

  it("plain: the backend's FIN closes the session with 1000", () => {
    const h = harness("plain");
    h.backend.emit("end");
    expect(h.ws.closedWith).toEqual({ code: 1000, reason: "" });
  });

  it("in standby, a clean end is reported as kept and the socket stays open and no longer listened to", () => {
    const h = harness("sallyport", { keep: true });
    h.session.control({ t: "end" });
    h.backend.emit("end");
    expect(h.ws.closedWith).toBeUndefined();
    expect(h.outcomes).toMatchObject([{ kept: true, close: { code: 1000 } }]);
    expect(h.ws.listenerCount("message") + h.ws.listenerCount("close")).toBe(0);
  });

  it("in standby, v3, when the backend finishes last: its `end` is left to go with the bind's `done` (one message)", () => {
    const h = harness("sallyport", { keep: true, version: 3 });
    h.session.control({ t: "end" });
    h.backend.emit("end");
    expect(h.ws.controls()).toEqual([]);
    expect(h.outcomes).toMatchObject([{ kept: true, endWithDone: true, close: { code: 1000 } }]);
  });

  it("sends its own `end` when the client finishes last, before v3, or when the session is not kept", () => {
    const cases: Array<[string, { keep: boolean; version: ProtocolVersion }, "client" | "backend"]> = [
      ["v3, kept, the client last", { keep: true, version: 3 }, "client"],
      ["v2, kept, the backend last", { keep: true, version: 2 }, "backend"],
      ["v3, not kept, the backend last", { keep: false, version: 3 }, "backend"],
    ];
    for (const [name, opts, last] of cases) {
      const h = harness("sallyport", opts);
      if (last === "backend") h.session.control({ t: "end" });
      h.backend.emit("end");
      if (last === "client") h.session.control({ t: "end" });
      expect(
        h.ws.controls().filter((m) => m.t === "end"),
        name,
      ).toEqual([{ v: opts.version, t: "end" }]);
      expect(h.outcomes[0], name).not.toHaveProperty("endWithDone");
    }
  });

  it("the client's 1000 lets the backend finish, destroyed after BACKEND_LINGER_MS; any other close resets it", () => {
    const a = harness();
    a.ws.emit("close", 1000);
    expect(a.backend.ended).toBe(true);
    expect(a.outcomes).toMatchObject([{ by: "client", close: { code: 1000 } }]);
    a.clock.advance(BACKEND_LINGER_MS - 1);
    expect(a.backend.destroyed).toBe(false);
    a.clock.advance(1);
    expect(a.backend.destroyed).toBe(true);
    expect(a.backend.reset).toBe(false);

    const b = harness();
    b.ws.emit("close", 1006);
    expect(b.backend.reset).toBe(true);
  });

  it("a backend error fails the session with 4001, reported once", () => {
    const h = harness();
    h.backend.emit("error", new Error("ECONNRESET"));
    h.backend.emit("close");
    expect(h.ws.closedWith?.code).toBe(4001);
    expect(h.outcomes).toHaveLength(1);
  });
});
