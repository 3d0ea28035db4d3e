import { describe, expect, it } from "vitest";
import { signTicket, usableSecret, verifyTicket, type TicketClaims } from "../../edge/ticket.ts";
import { decodeForClient, decodeFromEdge, encode } from "../../shared/protocol/codec.ts";
import { INITIAL_WINDOW_BYTES } from "../../shared/protocol/constants.ts";
import { ResendBuffer } from "../../shared/protocol/resend.ts";
import { linkLost } from "../../shared/resume-window.ts";
import { initialState, type StreamState, step } from "../../client/stream-state.ts";

/** Protocol v3 (docs/protocol.md, "Resume"): its messages, the edge's tickets, and a writer's resend buffer. */

const SECRET = "s".repeat(40);
const CLAIMS: TicketClaims = { sessionId: "a1b2c3", epoch: 0, service: "echo", objectName: "echo", side: "client" };

describe("v3 messages", () => {
  const ticket = "eyJzIjoxfQ.AAAA_-";
  it("round-trips ticket and resumed, to a connector and to a client", () => {
    for (const msg of [
      { t: "ticket", ticket, timeoutMs: 30_000 },
      { t: "resumed", offset: 123_456 },
      { t: "resumed", offset: 0, end: true },
    ] as const) {
      expect(decodeFromEdge(encode(msg, 3), 3)).toEqual({ ok: true, value: msg });
      expect(decodeForClient(encode(msg, 3), 3)).toEqual({ ok: true, value: msg });
    }
  });

  it.each([
    ["ticket in v2", '{"v":2,"t":"ticket","ticket":"a.b","timeoutMs":30000}', "UNKNOWN_TYPE"],
    ["resumed in v2", '{"v":2,"t":"resumed","offset":1}', "UNKNOWN_TYPE"],
    ["a ticket that is not base64url.base64url", '{"v":3,"t":"ticket","ticket":"a b","timeoutMs":30000}', "BAD_FIELD"],
    ["a ticket without its MAC", '{"v":3,"t":"ticket","ticket":"abc","timeoutMs":30000}', "BAD_FIELD"],
    ["an over-long ticket", `{"v":3,"t":"ticket","ticket":"${"a".repeat(600)}.b","timeoutMs":30000}`, "BAD_FIELD"],
    ["a timeout under a second", '{"v":3,"t":"ticket","ticket":"a.b","timeoutMs":10}', "BAD_FIELD"],
    ["a negative offset", '{"v":3,"t":"resumed","offset":-1}', "BAD_FIELD"],
    ["end other than true", '{"v":3,"t":"resumed","offset":1,"end":false}', "BAD_FIELD"],
    ["an unknown field", '{"v":3,"t":"resumed","offset":1,"x":1}', "BAD_FIELD"],
  ])("refuses %s", (_what, text, code) => {
    const d = decodeFromEdge(text, text.includes('"v":2') ? 2 : 3);
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.error.code).toBe(code);
  });
});

describe("resume tickets", () => {
  it("verifies what it signed, with every claim", async () => {
    const t = await signTicket(SECRET, CLAIMS);
    expect(t).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(await verifyTicket(SECRET, t)).toEqual(CLAIMS);
    const bind = await signTicket(SECRET, { ...CLAIMS, side: "bind", epoch: 7, objectName: "echo#3" });
    expect(await verifyTicket(SECRET, bind)).toEqual({ ...CLAIMS, side: "bind", epoch: 7, objectName: "echo#3" });
  });

  it("refuses another secret's ticket, a changed payload, a changed MAC, and garbage", async () => {
    const t = await signTicket(SECRET, CLAIMS);
    const [payload, mac] = t.split(".") as [string, string];
    expect(await verifyTicket("t".repeat(40), t)).toBeUndefined();
    const forged = Buffer.from(JSON.stringify({ s: "a1b2c3", e: 1, v: "echo", o: "echo", r: "c" })).toString("base64url");
    expect(await verifyTicket(SECRET, `${forged}.${mac}`)).toBeUndefined();
    const flipped = (mac[0] === "A" ? "B" : "A") + mac.slice(1);
    expect(await verifyTicket(SECRET, `${payload}.${flipped}`)).toBeUndefined();
    for (const junk of ["", ".", "a.b", `${payload}.`, `${payload}.${mac}.x`, `${payload}${mac}`, "é.é"]) {
      expect(await verifyTicket(SECRET, junk), junk).toBeUndefined();
    }
  });

  it("carries standby for a pair opened in standby, and only then", async () => {
    const t = await signTicket(SECRET, { ...CLAIMS, standby: true });
    expect(await verifyTicket(SECRET, t)).toEqual({ ...CLAIMS, standby: true });
    expect(await verifyTicket(SECRET, await signTicket(SECRET, CLAIMS))).not.toHaveProperty("standby");
  });

  it("needs a secret of at least 32 characters", () => {
    expect(usableSecret(undefined)).toBe(false);
    expect(usableSecret("short")).toBe(false);
    expect(usableSecret(SECRET)).toBe(true);
  });
});

describe("ResendBuffer", () => {
  const bytes = (from: number, n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (from + i) % 251);
  const joined = (chunks: Uint8Array[]): number[] => chunks.flatMap((c) => [...c]);

  it("keeps references, drops what is acknowledged, and rewinds to any offset it holds", () => {
    const b = new ResendBuffer();
    const a = bytes(0, 10);
    b.sent(a);
    b.sent(bytes(10, 10));
    b.sent(bytes(20, 5));
    expect(b.bytes).toBe(25);
    b.acknowledge(4);
    expect(b.bytes).toBe(21);
    const again = b.rewind(13)!;
    expect(joined(again)).toEqual([...bytes(13, 12)]);
    expect(again[0]!.buffer).not.toBe(a.buffer); // from the second chunk, a view of it
    expect(b.bytes).toBe(0);
    expect(b.sentOffset).toBe(13);
    for (const c of again) b.sent(c); // sent again through the usual path
    expect(b.sentOffset).toBe(25);
    expect(joined(b.rewind(20)!)).toEqual([...bytes(20, 5)]);
  });

  it("holds views of the caller's chunks, not copies", () => {
    const b = new ResendBuffer();
    const a = bytes(0, 100);
    b.sent(a);
    const [again] = b.rewind(40)!;
    expect(again!.buffer).toBe(a.buffer);
    expect(again!.byteOffset).toBe(40);
  });

  it("cannot resume from before what it dropped or past what it sent", () => {
    const b = new ResendBuffer();
    b.sent(bytes(0, 10));
    b.acknowledge(5);
    expect(b.rewind(4)).toBeUndefined();
    expect(b.rewind(11)).toBeUndefined();
    expect(b.rewind(10)).toEqual([]);
  });

  it("takes a limit from the edge as proof the reader read one window less, so it holds at most a window past it", () => {
    const b = new ResendBuffer();
    const chunk = 1024 * 1024;
    let limit = chunk; // a v2/v3 writer's first limit
    for (let sent = 0; sent < 40 * chunk; ) {
      while (sent < limit) {
        b.sent(new Uint8Array(chunk));
        sent += chunk;
      }
      expect(b.bytes).toBeLessThanOrEqual(INITIAL_WINDOW_BYTES);
      limit += 3 * chunk; // the reader grants as it reads
      b.limitSeen(limit);
    }
    expect(b.bytes).toBeLessThanOrEqual(INITIAL_WINDOW_BYTES);
  });
});

describe("the client stream's resuming phase", () => {
  const go = (s: StreamState, t: Parameters<typeof step>[1]["t"], extra = {}): StreamState => {
    const r = step(s, { t, ...extra } as Parameters<typeof step>[1]);
    if (!r.ok) throw new Error(r.error);
    return r.state;
  };

  it("open → resuming → open, keeping both directions; an end queued meanwhile waits for the socket", () => {
    let s = go(initialState("sallyport"), "paired");
    s = go(s, "socket-lost");
    expect(s.phase).toBe("resuming");
    s = go(s, "end-queued");
    expect(s.out).toBe("ending");
    s = go(s, "resumed");
    expect(s).toMatchObject({ phase: "open", out: "ending", in: "open", pairing: "paired" });
  });

  it("a close while resuming ends the session; `resumed` outside a resume is the peer's error", () => {
    const resuming = go(go(initialState("sallyport"), "paired"), "socket-lost");
    const closing = go(resuming, "close", { code: 4034, reason: "resume failed" });
    const closed = go(closing, "socket-closed", { code: 4034, reason: "resume failed" });
    expect(closed.phase === "closed" && closed.info).toMatchObject({ code: 4034, clean: false, byUs: true });
    expect(step(initialState("sallyport"), { t: "resumed" }).ok).toBe(false);
  });

  it("resumes on a dropped link (1006) or the edge's 4032, never on a deliberate close", () => {
    expect([1006, 4032].map(linkLost)).toEqual([true, true]);
    expect([1000, 1001, 1002, 4003, 4034, 4090].map(linkLost)).toEqual([false, false, false, false, false, false]);
  });
});
