import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { MAX_RECEIVE_BYTES as MAX_PAYLOAD } from "../../shared/protocol/constants.ts";
import { MAX_SURPLUS } from "../../connector/pool.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WebSocket } from "ws";
import { encode } from "../../shared/protocol/codec.ts";
import { echoBackend, type EchoBackend } from "../helpers/backends.ts";
import { makePki, type TestPki } from "../helpers/certs.ts";
import { Cleanup } from "../helpers/cleanup.ts";
import { startConnector, type TestConnector } from "../helpers/connector.ts";
import {
  frame,
  startFakeEdge,
  startTripwire,
  text,
  type Behaviour,
  type FakeEdge,
  type FakeRequest,
  type Tripwire,
  type UpgradeContext,
} from "../helpers/fake-edge.ts";
import { msgIs, type LogLine } from "../helpers/processes.ts";
import { within } from "../helpers/wait.ts";

/**
 * T24/T32 and the hostile-edge row of the threat model: the real connector (a child process)
 * dials a fake edge that misbehaves in every way a compromised or spoofed edge could — raw
 * frames no RFC 6455 peer sends, handshake tricks, redirects, malformed or out-of-order control
 * messages, control messages that try to name a destination, floods. Throughout, the connector
 * must not crash, must dial nothing but its configured edge and backend, must send its token
 * nowhere else, must keep its memory bounded, and must answer each misbehaviour by closing that
 * bind (a protocol-error close where the WebSocket is up) and backing off, visibly in its log.
 */

const CANARY = `CANARY-hostile-${randomBytes(12).toString("hex")}`;
const ACCEPT = "ws://sallyport.test/hostile";
const RETRY_MAX_MS = 150;
const MiB = 1024 * 1024;

const file = new Cleanup();
afterAll(() => file.run());

let fake: FakeEdge;
let tripwire: Tripwire;
let backend: EchoBackend;
let connector: TestConnector;

const bindOf = (r: FakeRequest): { bindId: string } | undefined => {
  for (const t of r.from.texts) {
    try {
      const m = JSON.parse(t) as { t?: string; bindId?: string };
      if (m.t === "bind" && typeof m.bindId === "string") return { bindId: m.bindId };
    } catch {
      // not JSON: not a bind message
    }
  }
  return undefined;
};

async function bindMessage(ctx: UpgradeContext): Promise<string> {
  return (await fake.waitFor(() => bindOf(ctx.record), 5000, "the connector's bind message")).bindId;
}

/** Accept through `ws`, wait for the bind message, answer `bound` (a well-behaved edge so far). */
async function parkWs(ctx: UpgradeContext): Promise<{ ws: WebSocket; bindId: string }> {
  const ws = await ctx.acceptWs();
  const bindId = await bindMessage(ctx);
  ws.send(encode({ t: "bound", bindId }, 3));
  return { ws, bindId };
}

/** A hand-written 101, the bind message awaited, `bound` sent as a raw frame. */
async function parkRaw(ctx: UpgradeContext): Promise<string> {
  ctx.acceptRaw();
  const bindId = await bindMessage(ctx);
  await ctx.write(text(encode({ t: "bound", bindId }, 3)));
  return bindId;
}

const behaviour = (name: string, handle: (ctx: UpgradeContext) => void | Promise<void>): Behaviour => ({ name, handle });

/** A bind answered by `b` has ended from the connector's side: a close frame, or the TCP connection gone. */
const endedByConnector = (r: FakeRequest): boolean => r.from.closeCode !== undefined || r.closedAt !== undefined;

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : 0;
}

function alive(): void {
  expect(connector.proc.exit, `connector exited:\n${connector.proc.output()}`).toBeUndefined();
}

const after = (t0: number) => (pred: (l: LogLine) => boolean) => (l: LogLine) => l.at >= t0 && pred(l);

/**
 * Switch the fake edge to `b` (dropping every bind so the connector dials into it) and wait
 * until a bind it answered has been ended by the connector and the connector has logged the
 * failure with its backoff attempt number.
 */
async function misbehave(b: Behaviour, logged = true): Promise<{ record: FakeRequest; t0: number; failure: LogLine | undefined }> {
  const t0 = performance.now();
  fake.behave(b);
  fake.dropAll();
  const record = await fake.waitFor(
    (rs) => rs.find((r) => r.behaviour === b.name && endedByConnector(r)),
    15_000,
    `a bind answered by "${b.name}" to be ended by the connector`,
  );
  const failure = logged
    ? await connector.proc.waitForLog(
        (l) => l.at >= record.at && l.json?.msg === "bind to edge failed" && typeof l.json.attempt === "number",
        5000,
        "the failure logged with its backoff attempt",
      )
    : undefined;
  alive();
  return { record, t0, failure };
}

beforeAll(async () => {
  [backend, tripwire, fake] = await Promise.all([echoBackend(file), startTripwire(file), startFakeEdge(file)]);
  fake.behave(behaviour("park", async (ctx) => void (await parkWs(ctx))));
  connector = await startConnector(file, {
    edge: fake.url,
    accept: ACCEPT,
    connect: backend.uri,
    token: CANARY,
    prepared: 1,
    retryMax: `${RETRY_MAX_MS} milliseconds`,
  });
  await fake.waitFor((rs) => rs.find((r) => bindOf(r)), 15_000, "the connector's first bind");
});

describe("a well-behaved edge (the harness's positive control)", () => {
  it("bound then paired: the connector dials its configured backend, whatever clientAddress says", async () => {
    const before = backend.connections();
    const b = behaviour("pair", async (ctx) => {
      const { ws } = await parkWs(ctx);
      ws.send(encode({ t: "paired", sessionId: "s1", clientAddress: `127.0.0.1:${tripwire.port}`, clientProtocol: "plain" }, 3));
    });
    fake.behave(b);
    fake.dropAll();
    const rec = await fake.waitFor(
      (rs) => rs.find((r) => r.behaviour === b.name && r.from.texts.some((t) => t.includes('"opened"'))),
      10_000,
      "opened",
    );
    expect(rec.headers.authorization).toBe(`Bearer ${CANARY}`);
    expect(rec.url).toBe("/_sallyport/bind");
    // `opened` follows the connector's connect callback, which can run before this process accepts.
    await backend.accepted(before + 1, 5000);
    expect(backend.connections()).toBe(before + 1);
    expect(tripwire.connections()).toBe(0);
    fake.behave(behaviour("park", async (ctx) => void (await parkWs(ctx))));
  });
});

describe("frames no edge may send (T24): the bind is closed with the WebSocket error code, the process lives", () => {
  const cases: Array<[string, number, (ctx: UpgradeContext) => Promise<void>]> = [
    [
      "a frame header declaring 2^63-1 payload bytes",
      1009,
      async (ctx) => {
        await parkRaw(ctx);
        await ctx.write(frame(0x2, Buffer.alloc(0), { length: 2n ** 63n - 1n }));
      },
    ],
    [
      "a frame declaring 2^40 bytes (over maxPayload, under 2^53)",
      1009,
      async (ctx) => {
        await parkRaw(ctx);
        await ctx.write(Buffer.concat([frame(0x2, Buffer.alloc(0), { length: 2n ** 40n }), randomBytes(64 * 1024)]));
      },
    ],
    [
      "a message that never ends: 20,000 empty continuation frames",
      1008,
      async (ctx) => {
        await parkRaw(ctx);
        const empty = frame(0x0, Buffer.alloc(0), { fin: false });
        await ctx.write(Buffer.concat([frame(0x1, "{", { fin: false }), Buffer.concat(Array.from({ length: 20_000 }, () => empty))]));
      },
    ],
    [
      "a continuation frame with nothing to continue",
      1002,
      async (ctx) => {
        await parkRaw(ctx);
        await ctx.write(frame(0x0, "x"));
      },
    ],
    [
      "a control frame longer than 125 bytes",
      1002,
      async (ctx) => {
        await parkRaw(ctx);
        await ctx.write(frame(0x9, Buffer.alloc(126)));
      },
    ],
    [
      "a close frame with an invalid status code",
      1002,
      async (ctx) => {
        await parkRaw(ctx);
        const payload = Buffer.alloc(2);
        payload.writeUInt16BE(999);
        await ctx.write(frame(0x8, payload));
      },
    ],
    [
      "a masked frame from the server",
      1002,
      async (ctx) => {
        await parkRaw(ctx);
        const f = frame(0x1, Buffer.from("{}"));
        const masked = Buffer.concat([Buffer.from([f[0]!, f[1]! | 0x80]), Buffer.from([1, 2, 3, 4]), f.subarray(2)]);
        await ctx.write(masked);
      },
    ],
    [
      "a frame with reserved bits set (compression was never negotiated)",
      1002,
      async (ctx) => {
        await parkRaw(ctx);
        const f = frame(0x1, Buffer.from("{}"));
        f[0] = f[0]! | 0x40;
        await ctx.write(f);
      },
    ],
    [
      "a text frame that is not UTF-8",
      1007,
      async (ctx) => {
        await parkRaw(ctx);
        await ctx.write(frame(0x1, Buffer.from([0xff, 0xfe, 0xfd])));
      },
    ],
  ];

  it.each(cases)("%s → close %i, logged with its backoff attempt", async (name, code, act) => {
    const { record, failure } = await misbehave(behaviour(name, act));
    expect(record.from.closeCode).toBe(code);
    expect(failure?.json?.msg).toBe("bind to edge failed");
    expect(backend.connections()).toBe(1);
  });
});

describe("handshake tricks: the bind fails before it is up, nothing else is dialed", () => {
  const cases: Array<[string, (ctx: UpgradeContext) => void | Promise<void>]> = [
    [
      "101 offering permessage-deflate the connector never asked for",
      (ctx) => void ctx.acceptRaw({ extraHeaders: ["Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover"] }),
    ],
    [
      "101 with garbage server_max_window_bits",
      (ctx) => void ctx.acceptRaw({ extraHeaders: ["Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=abc"] }),
    ],
    ["101 without the bind subprotocol", (ctx) => void ctx.acceptRaw({ protocol: null })],
    ["101 with another subprotocol", (ctx) => void ctx.acceptRaw({ protocol: "sallyport.client.v1" })],
    ["101 with a wrong Sec-WebSocket-Accept", (ctx) => void ctx.acceptRaw({ badAccept: true })],
    [
      "a response head of 100 KiB",
      (ctx) => void ctx.socket.write(`HTTP/1.1 101 Switching Protocols\r\nX-Pad: ${"a".repeat(100 * 1024)}\r\n\r\n`),
    ],
  ];

  it.each(cases)("%s", async (name, act) => {
    const { record, failure } = await misbehave(behaviour(name, act));
    expect(record.closedAt).toBeDefined();
    expect(record.from.texts).toEqual([]); // the connector never got as far as its bind message
    expect(failure?.json?.msg).toBe("bind to edge failed");
    expect(backend.connections()).toBe(1);
    expect(tripwire.connections()).toBe(0);
  });
});

describe("redirects (T32): never followed, the token goes nowhere else", () => {
  it.each([301, 302, 307, 308])("HTTP %i to another local server", async (status) => {
    const { record } = await misbehave(
      behaviour(`redirect ${status}`, (ctx) => ctx.respond(status, { Location: `ws://127.0.0.1:${tripwire.port}/_sallyport/bind` })),
      false, // a refused handshake is logged once a minute, not per attempt (next test)
    );
    expect(record.closedAt).toBeDefined();
    expect(tripwire.connections()).toBe(0);
    expect(tripwire.received()).not.toContain(CANARY);
  });

  it("says so in its log (credentials refused, rate-limited to once a minute)", async () => {
    await connector.proc.waitForLog(msgIs("edge refused the connector's credentials"), 5000);
  });
});

describe("control messages no edge may send: protocol-error close (1002), logged, backed off", () => {
  const tooLong = JSON.stringify({ v: 1, t: "demand", waiting: 1, pad: "x".repeat(5000) });
  const cases: Array<[string, (ctx: UpgradeContext) => Promise<void>]> = [
    ["not JSON", async (ctx) => void (await parkWs(ctx)).ws.send("reconnect ws://127.0.0.1:1")],
    ["a JSON array", async (ctx) => void (await parkWs(ctx)).ws.send("[1,2,3]")],
    ["another protocol version", async (ctx) => void (await parkWs(ctx)).ws.send(JSON.stringify({ v: 2, t: "demand", waiting: 1 }))],
    [
      "an unknown type that names a URL",
      async (ctx) => void (await parkWs(ctx)).ws.send(JSON.stringify({ v: 1, t: "reconnect", url: `ws://127.0.0.1:${tripwire.port}` })),
    ],
    [
      "a message a connector sends (bind) sent by the edge",
      async (ctx) =>
        void (await parkWs(ctx)).ws.send(
          JSON.stringify({ v: 1, t: "bind", accept: ACCEPT, bindId: "x", connectorId: "x", instance: "x", heartbeatMs: 1000 }),
        ),
    ],
    ["a control message over 4 KiB", async (ctx) => void (await parkWs(ctx)).ws.send(tooLong)],
    [
      "bound naming another bind",
      async (ctx) => {
        const ws = await ctx.acceptWs();
        await bindMessage(ctx);
        ws.send(encode({ t: "bound", bindId: "not-yours" }, 3));
      },
    ],
    [
      "bound twice",
      async (ctx) => {
        const { ws, bindId } = await parkWs(ctx);
        ws.send(encode({ t: "bound", bindId }, 3));
      },
    ],
    [
      "paired before bound",
      async (ctx) => {
        const ws = await ctx.acceptWs();
        await bindMessage(ctx);
        ws.send(encode({ t: "paired", sessionId: "s", clientAddress: "192.0.2.1", clientProtocol: "plain" }, 3));
      },
    ],
    ["binary data before pairing", async (ctx) => void (await parkWs(ctx)).ws.send(randomBytes(32), { binary: true })],
    ["end outside a session", async (ctx) => void (await parkWs(ctx)).ws.send(encode({ t: "end" }, 3))],
    ["credit outside a session", async (ctx) => void (await parkWs(ctx)).ws.send(encode({ t: "credit", upTo: 1024 }, 3))],
    [
      "paired with a destination field (connect)",
      async (ctx) => {
        const { ws } = await parkWs(ctx);
        ws.send(
          JSON.stringify({
            v: 1,
            t: "paired",
            sessionId: "s",
            clientAddress: "192.0.2.1",
            clientProtocol: "plain",
            connect: `tcp://127.0.0.1:${tripwire.port}`,
          }),
        );
      },
    ],
    [
      "paired with host and port fields",
      async (ctx) => {
        const { ws } = await parkWs(ctx);
        ws.send(
          JSON.stringify({
            v: 1,
            t: "paired",
            sessionId: "s",
            clientAddress: "192.0.2.1",
            clientProtocol: "plain",
            host: "127.0.0.1",
            port: tripwire.port,
          }),
        );
      },
    ],
    [
      "paired with a client address carrying a line break",
      async (ctx) => {
        const { ws } = await parkWs(ctx);
        ws.send(
          JSON.stringify({ v: 1, t: "paired", sessionId: "s", clientAddress: '1.2.3.4\n{"msg":"auth ok"}', clientProtocol: "plain" }),
        );
      },
    ],
  ];

  it.each(cases)("%s", async (name, act) => {
    const { record, failure, t0 } = await misbehave(behaviour(name, act));
    expect(record.from.closeCode).toBe(1002);
    expect(failure?.json).toMatchObject({ msg: "bind to edge failed", detail: "protocol error" });
    await connector.proc.waitForLog(after(t0)(msgIs("protocol error from edge")), 5000);
    // Nothing the edge said made it dial anything: the backend saw only the positive control.
    expect(backend.connections()).toBe(1);
    expect(tripwire.connections()).toBe(0);
  });

  it("no log line was forged: every line the connector wrote is one JSON record", () => {
    for (const l of connector.proc.lines) {
      expect(l.json, l.raw).toBeDefined();
      expect(l.json!.msg).not.toBe("auth ok");
    }
  });
});

describe("backoff under a persistently hostile edge", () => {
  it("dials at most a handful of times in 2 s, spaced by growing delays up to the maximum", async () => {
    const b = behaviour("persistently hostile", async (ctx) => void (await parkWs(ctx)).ws.send("garbage"));
    fake.behave(b);
    fake.dropAll();
    const first = await fake.waitFor((rs) => rs.find((r) => r.behaviour === b.name), 10_000, "a dial");
    await new Promise((r) => setTimeout(r, 2000));
    const dials = fake.requests.filter((r) => r.id >= first.id);
    // 150 ms maximum (minus up to 20 % jitter): at most ~16 in 2 s; a hot loop would be hundreds.
    expect(dials.length).toBeLessThanOrEqual(20);
    expect(dials.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < dials.length; i++) expect(dials[i]!.at - dials[i - 1]!.at).toBeGreaterThan(60);
    alive();
  });
});

describe("floods: memory stays bounded", () => {
  async function sampleRss(during: () => Promise<void>): Promise<{ baseline: number; peak: number }> {
    const baseline = rssBytes(connector.proc.pid);
    let peak = baseline;
    let stop = false;
    const sampler = (async () => {
      while (!stop) {
        peak = Math.max(peak, rssBytes(connector.proc.pid));
        await new Promise((r) => setTimeout(r, 25));
      }
    })();
    try {
      await during();
    } finally {
      // Also when `during` fails: the sampler must not outlive the connector it reads.
      stop = true;
      await sampler;
    }
    return { baseline, peak };
  }

  // A data message's bytes reach the bind as they are read (net/ws-streaming.ts). ws still
  // counts the whole message against maxPayload, so an endless one is cut off there (1009);
  // before pairing, the bind's own check (no data yet) cuts it off first (1002).
  const endless = async (ctx: UpgradeContext, chunk: Buffer, cap: number): Promise<void> => {
    await ctx.write(frame(0x2, chunk, { fin: false }));
    // Writes until the connector cuts it off; the cap only ends the loop if it never does
    // (then the bind is not closed and the assertions below say so).
    while (ctx.record.bytesWritten < cap) {
      if (!(await ctx.write(frame(0x0, chunk, { fin: false })))) break;
    }
  };

  it("an edge streaming one endless message into a parked bind: cut off as data before pairing", async () => {
    const chunk = randomBytes(64 * 1024);
    const flood = behaviour("endless message, unpaired", async (ctx) => {
      await parkRaw(ctx);
      await endless(ctx, chunk, 4 * MAX_PAYLOAD);
    });
    const { record } = await misbehave(flood, false);
    await fake.waitFor(() => record.from.closeCode !== undefined || undefined, 10_000, "the close");
    expect(record.from.closeCode).toBe(1002);
    fake.behave(behaviour("park", async (ctx) => void (await parkWs(ctx))));
    alive();
  });

  it("an edge streaming one endless message into every session: each is cut off at maxPayload, RSS stays bounded", async () => {
    const park = behaviour("park", async (ctx) => void (await parkWs(ctx)));
    fake.behave(park);
    await new Promise((r) => setTimeout(r, RETRY_MAX_MS * 2));
    const chunk = randomBytes(256 * 1024);
    const cap = 8 * MAX_PAYLOAD;
    const flood = behaviour("endless message", async (ctx) => {
      await parkRaw(ctx);
      await ctx.write(
        text(encode({ t: "paired", sessionId: `s${ctx.record.id}`, clientAddress: "192.0.2.1", clientProtocol: "plain" }, 3)),
      );
      await endless(ctx, chunk, cap);
    });
    const FLOODED = 5;
    const flooded = () => fake.requests.filter((r) => r.behaviour === flood.name);
    const { baseline, peak } = await sampleRss(async () => {
      fake.behave(flood);
      fake.dropAll();
      await fake.waitFor(() => flooded().filter(endedByConnector).length >= FLOODED || undefined, 15_000, `${FLOODED} flooded binds ended`);
      fake.behave(park);
    });
    const all = flooded();
    await fake.waitFor(() => all.every(endedByConnector) || undefined, 10_000, "every flooded bind ended by the connector");
    // Every session the flood reached, not only those that happened to get far: each was sent
    // more than maxPayload of one message, and the connector closed it with 1009 (too big).
    for (const r of all) {
      expect(r.bytesWritten, `bind ${r.id}: bytes written`).toBeGreaterThan(MAX_PAYLOAD);
      expect(r.from.closeCode, `bind ${r.id}`).toBe(1009);
    }
    console.log(`RSS ${baseline / MiB} → ${peak / MiB} MiB over ${all.length} flooded binds`);
    expect(peak - baseline, `RSS grew from ${baseline / MiB} MiB to ${peak / MiB} MiB`).toBeLessThan(160 * MiB);
    alive();
  });

  it("demand cannot make it open more than MAX_SURPLUS extra binds", async () => {
    const t0 = performance.now();
    const demanding = behaviour("demanding", async (ctx) => {
      const { ws } = await parkWs(ctx);
      ws.send(encode({ t: "demand", waiting: 1_000_000 }, 3));
    });
    fake.behave(demanding);
    fake.dropAll();
    await fake.waitFor((rs) => rs.filter((r) => r.at >= t0).length >= MAX_SURPLUS || undefined, 10_000, "surplus binds");
    await new Promise((r) => setTimeout(r, 1000));
    const open = fake.requests.filter((r) => r.at >= t0 && r.closedAt === undefined).length;
    expect(open).toBeGreaterThanOrEqual(MAX_SURPLUS);
    expect(open).toBeLessThanOrEqual(MAX_SURPLUS + 1);
    alive();
    fake.behave(behaviour("park", async (ctx) => void (await parkWs(ctx))));
    fake.dropAll();
  });
});

describe.concurrent("TLS to the edge (T32): a man in the middle never receives the token", () => {
  let pki: TestPki;
  beforeAll(async () => {
    pki = await makePki(file);
  });

  async function tlsCase(
    serverCert: { cert: Buffer; key: Buffer },
    pin: string | undefined,
  ): Promise<{ edge: FakeEdge; c: TestConnector }> {
    const edge = await startFakeEdge(file, { tls: serverCert });
    edge.behave(behaviour("park", async (ctx) => void (await parkWs(ctx))));
    const extraArgs = ["--ca-file", pki.ca.certFile, ...(pin ? ["--edge-cert-sha256", pin] : [])];
    const c = await startConnector(file, {
      edge: edge.url,
      accept: ACCEPT,
      connect: backend.uri,
      token: CANARY,
      prepared: 1,
      retryMax: `${RETRY_MAX_MS} milliseconds`,
      extraArgs,
      name: "tls-connector",
    });
    return { edge, c };
  }

  it("trusted certificate with the pinned fingerprint: the bind goes through (positive control)", async () => {
    const { edge } = await tlsCase(pki.server, pki.server.sha256);
    const r = await edge.waitFor((rs) => rs.find((x) => bindOf(x)), 15_000, "a bind over TLS");
    expect(r.headers.authorization).toBe(`Bearer ${CANARY}`);
  });

  it("a certificate no trusted CA signed: TLS fails, no HTTP request is ever made", async () => {
    const { edge, c } = await tlsCase(pki.rogue, undefined);
    await edge.waitFor(() => edge.tcpConnections() >= 2 || undefined, 15_000, "two TLS attempts");
    expect(edge.requests).toEqual([]);
    expect(c.proc.exit).toBeUndefined();
  });

  it("a trusted certificate with another fingerprint than edge.cert.sha256: no HTTP request, no token", async () => {
    const { edge, c } = await tlsCase(pki.server, pki.rogue.sha256);
    await edge.waitFor(() => edge.tcpConnections() >= 2 || undefined, 15_000, "two TLS attempts");
    expect(edge.requests).toEqual([]);
    expect(c.proc.exit).toBeUndefined();
  });
});

describe("after all of it", () => {
  it("the connector is still running, sent its token only to its edge, and never printed it", async () => {
    alive();
    for (const r of fake.requests) expect(r.url).toBe("/_sallyport/bind");
    expect(tripwire.connections()).toBe(0);
    expect(connector.proc.output()).not.toContain(CANARY);
    for (const l of connector.proc.lines) expect(l.raw).not.toMatch(/Uncaught|TypeError|RangeError|at .*\.ts:\d+/);
    await within(Promise.resolve(), 10, "noop");
  });
});
