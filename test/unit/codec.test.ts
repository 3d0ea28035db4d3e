import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as codec from "../../shared/protocol/codec.ts";
import type { ProtocolError } from "../../shared/protocol/codec.ts";
import {
  MAX_ADDRESS_LENGTH,
  MAX_HEARTBEAT_MS,
  MAX_CONTROL_MESSAGE_BYTES,
  MAX_CREDIT_BYTES,
  MAX_ID_LENGTH,
  MAX_URI_LENGTH,
} from "../../shared/protocol/constants.ts";
import type { ClientMessage, ConnectorMessage, ControlMessage, EdgeMessage, StreamMessage } from "../../shared/protocol/messages.ts";
import type { Result } from "../../shared/result.ts";

const BIND = {
  v: 1,
  t: "bind",
  accept: "wss://gateway.example.com/path",
  bindId: "b-1",
  connectorId: "c_1",
  instance: "i1",
  heartbeatMs: 15000,
};
const OPENED = { v: 1, t: "opened" };
const END = { v: 1, t: "end" };
const CREDIT = { v: 1, t: "credit", bytes: 65536 };
const BOUND = { v: 1, t: "bound", bindId: "b-1" };
const PAIRED = { v: 1, t: "paired", sessionId: "s1", clientAddress: "203.0.113.7", clientProtocol: "plain" };
const DEMAND = { v: 1, t: "demand", waiting: 3 };

/* Most of this file pins version 1 (still served); "version 2" below pins what v2 changes. */
const decodeFromConnector = (text: string) => codec.decodeFromConnector(text, 1);
const decodeFromEdge = (text: string) => codec.decodeFromEdge(text, 1);
const decodeFromClient = (text: string) => codec.decodeFromClient(text, 1);
const decodeForClient = (text: string) => codec.decodeForClient(text, 1);
const encode = (m: ControlMessage) => codec.encode(m, 1);

type Decoder = (text: string) => Result<ControlMessage, ProtocolError>;
const fromConnector: Decoder = decodeFromConnector;
const fromEdge: Decoder = decodeFromEdge;
const fromClient: Decoder = decodeFromClient;

/** A decoder that should accept a message of this type. */
const decoderFor = (t: string): Decoder => (t === "bind" || t === "opened" ? fromConnector : fromEdge);

const json = (v: unknown): string => JSON.stringify(v);
const utf8 = (s: string): number => new TextEncoder().encode(s).length;

function errorCode(r: Result<unknown, ProtocolError>): ProtocolError["code"] | "OK" {
  return r.ok ? "OK" : r.error.code;
}

describe("encode", () => {
  it("puts the version first", () => {
    expect(encode({ t: "bound", bindId: "x" })).toBe('{"v":1,"t":"bound","bindId":"x"}');
    expect(encode({ t: "demand", waiting: 0 })).toBe('{"v":1,"t":"demand","waiting":0}');
    expect(encode({ t: "opened" })).toBe('{"v":1,"t":"opened"}');
    expect(encode({ t: "credit", bytes: 1 })).toBe('{"v":1,"t":"credit","bytes":1}');
  });
});

describe("round trip", () => {
  const messages: ControlMessage[] = [
    { t: "bind", accept: BIND.accept, bindId: BIND.bindId, connectorId: BIND.connectorId, instance: "m0a1b2c3-9f", heartbeatMs: 100 },
    { t: "bind", accept: "ws://127.0.0.1:8787/echo", bindId: "b", connectorId: "c", instance: "i", heartbeatMs: MAX_HEARTBEAT_MS },
    { t: "opened" },
    { t: "end" },
    { t: "credit", bytes: 1 },
    { t: "credit", bytes: MAX_CREDIT_BYTES },
    { t: "bound", bindId: "b-1" },
    { t: "paired", sessionId: "0123abcd", clientAddress: "2001:db8::1", clientProtocol: "plain" },
    { t: "paired", sessionId: "s", clientAddress: "unknown", clientProtocol: "sallyport" },
    { t: "demand", waiting: 0 },
    { t: "demand", waiting: 1_000_000 },
  ];
  it.each(messages)("$t survives encode → decode", (m) => {
    const r = decoderFor(m.t)(encode(m));
    expect(r).toStrictEqual({ ok: true, value: m });
    expect(r.ok && Object.isFrozen(r.value)).toBe(true);
  });

  it.each<ControlMessage>([{ t: "end" }, { t: "credit", bytes: 4096 }])("$t passes every hop: connector, edge and client", (m) => {
    for (const decode of [decodeFromConnector, decodeFromEdge, decodeFromClient, decodeForClient]) {
      expect(decode(encode(m))).toStrictEqual({ ok: true, value: m });
    }
  });

  it("decodes the hand-written wire form", () => {
    expect(decodeFromConnector(json(BIND))).toStrictEqual({
      ok: true,
      value: { t: "bind", accept: BIND.accept, bindId: "b-1", connectorId: "c_1", instance: "i1", heartbeatMs: 15000 },
    });
    expect(decodeFromConnector(json(OPENED))).toStrictEqual({ ok: true, value: { t: "opened" } });
    expect(decodeFromClient(json(CREDIT))).toStrictEqual({ ok: true, value: { t: "credit", bytes: 65536 } });
    expect(decodeFromClient(json(END))).toStrictEqual({ ok: true, value: { t: "end" } });
    expect(decodeFromEdge(json(PAIRED))).toStrictEqual({
      ok: true,
      value: { t: "paired", sessionId: "s1", clientAddress: "203.0.113.7", clientProtocol: "plain" },
    });
    // The size limit is optional (absent: the 64 KiB floor) and, when present, bounded.
    expect(decodeFromEdge(json({ ...PAIRED, maxMessageBytes: 262_144 }))).toMatchObject({ ok: true, value: { maxMessageBytes: 262_144 } });
    expect(decodeForClient(json({ ...OPENED, maxMessageBytes: 65_536 }))).toStrictEqual({
      ok: true,
      value: { t: "opened", maxMessageBytes: 65_536 },
    });
    expect(decodeFromClient('{"v":1,"t":"start"}')).toStrictEqual({ ok: true, value: { t: "start" } });
    expect(decodeFromEdge('{"v":1,"t":"start"}')).toStrictEqual({ ok: true, value: { t: "start" } });
    expect(errorCode(decodeFromConnector('{"v":1,"t":"start"}'))).toBe("WRONG_SIDE");
    expect(errorCode(decodeForClient('{"v":1,"t":"start"}'))).toBe("WRONG_SIDE");
    expect(decodeFromEdge(json({ ...PAIRED, standby: true }))).toMatchObject({ ok: true, value: { standby: true } });
    for (const bad of [false, 1, "true"]) expect(errorCode(decodeFromEdge(json({ ...PAIRED, standby: bad })))).toBe("BAD_FIELD");
    for (const bad of [65_535, 1_048_577, 1.5, "262144", null]) {
      expect(errorCode(decodeFromEdge(json({ ...PAIRED, maxMessageBytes: bad })))).toBe("BAD_FIELD");
      expect(errorCode(decodeForClient(json({ ...OPENED, maxMessageBytes: bad })))).toBe("BAD_FIELD");
    }
    expect(decodeFromEdge(json(DEMAND))).toStrictEqual({ ok: true, value: { t: "demand", waiting: 3 } });
    expect(decodeFromEdge(json(BOUND))).toStrictEqual({ ok: true, value: { t: "bound", bindId: "b-1" } });
  });

  it("accepts fields in any order and JSON whitespace", () => {
    const text =
      ' {\n "heartbeatMs": 15000, "instance":"i1", "connectorId" : "c_1", "bindId":"b-1",\t"accept":"wss://gateway.example.com/path", ' +
      '"t":"bind", "v":1 } ';
    expect(decodeFromConnector(text).ok).toBe(true);
  });

  it("accepts ids and strings at their maximum length", () => {
    const id = "a".repeat(MAX_ID_LENGTH);
    expect(decodeFromConnector(json({ ...BIND, accept: "w".repeat(MAX_URI_LENGTH), bindId: id, connectorId: id, instance: id })).ok).toBe(
      true,
    );
    expect(decodeFromEdge(json({ ...PAIRED, sessionId: id, clientAddress: "1".repeat(MAX_ADDRESS_LENGTH) })).ok).toBe(true);
  });
});

describe("malformed input", () => {
  const long = (n: number): string => "a".repeat(n);
  type Row = [label: string, decoder: Decoder, text: string, expected: ProtocolError["code"]];
  const rows: Row[] = [
    // not a message at all
    ["empty string", fromConnector, "", "NOT_JSON"],
    ["not JSON", fromConnector, "bind me", "NOT_JSON"],
    ["truncated JSON", fromConnector, json(BIND).slice(0, -1), "NOT_JSON"],
    ["heartbeat text", fromConnector, "\u0000sallyport:ping:1", "NOT_JSON"],
    ["JSON with trailing garbage", fromEdge, `${json(BOUND)}x`, "NOT_JSON"],
    ["array", fromConnector, json([BIND]), "NOT_OBJECT"],
    ["null", fromConnector, "null", "NOT_OBJECT"],
    ["number", fromEdge, "1", "NOT_OBJECT"],
    ["string", fromEdge, '"bound"', "NOT_OBJECT"],
    ["boolean", fromEdge, "true", "NOT_OBJECT"],
    // version
    ["missing v", fromConnector, json({ ...BIND, v: undefined }), "BAD_VERSION"],
    ["v = 0", fromConnector, json({ ...BIND, v: 0 }), "BAD_VERSION"],
    ["v = 2", fromConnector, json({ ...BIND, v: 2 }), "BAD_VERSION"],
    ['v = "1"', fromConnector, json({ ...BIND, v: "1" }), "BAD_VERSION"],
    ["v = 1.5", fromConnector, json({ ...BIND, v: 1.5 }), "BAD_VERSION"],
    ["v = null", fromConnector, json({ ...BIND, v: null }), "BAD_VERSION"],
    ["v = [1]", fromConnector, json({ ...BIND, v: [1] }), "BAD_VERSION"],
    ["v = object", fromConnector, json({ ...BIND, v: { major: 1 } }), "BAD_VERSION"],
    // An object whose toString is not callable must not make the decoder throw.
    ["v = {toString: 1}", fromConnector, '{"v":{"toString":1,"valueOf":1},"t":"bind"}', "BAD_VERSION"],
    ["v = [{toString: 1}]", fromEdge, '{"v":[{"toString":1}],"t":"bound"}', "BAD_VERSION"],
    // type
    ["missing t", fromConnector, json({ ...BIND, t: undefined }), "UNKNOWN_TYPE"],
    ["unknown t", fromConnector, json({ ...BIND, t: "connect" }), "UNKNOWN_TYPE"],
    ["t with wrong case", fromConnector, json({ ...BIND, t: "Bind" }), "UNKNOWN_TYPE"],
    ["t = number", fromEdge, json({ ...BOUND, t: 1 }), "UNKNOWN_TYPE"],
    ["t = prototype key", fromEdge, json({ ...BOUND, t: "constructor" }), "UNKNOWN_TYPE"],
    ["t = __proto__", fromEdge, '{"v":1,"t":"__proto__"}', "UNKNOWN_TYPE"],
    // wrong side
    ["connector sends bound", fromConnector, json(BOUND), "WRONG_SIDE"],
    ["connector sends paired", fromConnector, json(PAIRED), "WRONG_SIDE"],
    ["connector sends demand", fromConnector, json(DEMAND), "WRONG_SIDE"],
    ["edge sends bind", fromEdge, json(BIND), "WRONG_SIDE"],
    ["edge sends opened", fromEdge, json(OPENED), "WRONG_SIDE"],
    ["client sends bind", fromClient, json(BIND), "WRONG_SIDE"],
    ["client sends opened", fromClient, json(OPENED), "WRONG_SIDE"],
    ["client sends bound", fromClient, json(BOUND), "WRONG_SIDE"],
    ["client sends paired", fromClient, json(PAIRED), "WRONG_SIDE"],
    ["client sends demand", fromClient, json(DEMAND), "WRONG_SIDE"],
    ["edge relays bound to a client", decodeForClient, json(BOUND), "WRONG_SIDE"],
    // fields
    ["unknown extra field", fromConnector, json({ ...BIND, service: "echo" }), "BAD_FIELD"],
    ["extra field on bound", fromEdge, json({ ...BOUND, sessionId: "s1" }), "BAD_FIELD"],
    ["extra field on opened", fromConnector, json({ ...OPENED, bindId: "b" }), "BAD_FIELD"],
    ["extra field on end", fromClient, json({ ...END, reason: "done" }), "BAD_FIELD"],
    ["own __proto__ field", fromEdge, '{"v":1,"t":"bound","bindId":"b","__proto__":{}}', "BAD_FIELD"],
    ["missing accept", fromConnector, json({ ...BIND, accept: undefined }), "BAD_FIELD"],
    ["missing bindId", fromConnector, json({ ...BIND, bindId: undefined }), "BAD_FIELD"],
    ["missing connectorId", fromConnector, json({ ...BIND, connectorId: undefined }), "BAD_FIELD"],
    ["missing instance", fromConnector, json({ ...BIND, instance: undefined }), "BAD_FIELD"],
    ["missing heartbeatMs", fromConnector, json({ ...BIND, heartbeatMs: undefined }), "BAD_FIELD"],
    ["missing clientProtocol", fromEdge, json({ ...PAIRED, clientProtocol: undefined }), "BAD_FIELD"],
    ["missing bytes", fromClient, json({ ...CREDIT, bytes: undefined }), "BAD_FIELD"],
    ["missing sessionId", fromEdge, json({ ...PAIRED, sessionId: undefined }), "BAD_FIELD"],
    ["missing clientAddress", fromEdge, json({ ...PAIRED, clientAddress: undefined }), "BAD_FIELD"],
    ["missing waiting", fromEdge, json({ ...DEMAND, waiting: undefined }), "BAD_FIELD"],
    // wrong types
    ["accept = number", fromConnector, json({ ...BIND, accept: 1 }), "BAD_FIELD"],
    ["accept = null", fromConnector, json({ ...BIND, accept: null }), "BAD_FIELD"],
    ["accept = array", fromConnector, json({ ...BIND, accept: [BIND.accept] }), "BAD_FIELD"],
    ["bindId = number", fromConnector, json({ ...BIND, bindId: 7 }), "BAD_FIELD"],
    ["connectorId = object", fromConnector, json({ ...BIND, connectorId: {} }), "BAD_FIELD"],
    ["bound.bindId = bool", fromEdge, json({ ...BOUND, bindId: true }), "BAD_FIELD"],
    ["sessionId = number", fromEdge, json({ ...PAIRED, sessionId: 1 }), "BAD_FIELD"],
    ["clientAddress = null", fromEdge, json({ ...PAIRED, clientAddress: null }), "BAD_FIELD"],
    ["waiting = string", fromEdge, json({ ...DEMAND, waiting: "3" }), "BAD_FIELD"],
    ["waiting = null", fromEdge, json({ ...DEMAND, waiting: null }), "BAD_FIELD"],
    ["instance = number", fromConnector, json({ ...BIND, instance: 1 }), "BAD_FIELD"],
    ["heartbeatMs = string", fromConnector, json({ ...BIND, heartbeatMs: "15000" }), "BAD_FIELD"],
    ["clientProtocol = other", fromEdge, json({ ...PAIRED, clientProtocol: "socks" }), "BAD_FIELD"],
    ["clientProtocol wrong case", fromEdge, json({ ...PAIRED, clientProtocol: "Plain" }), "BAD_FIELD"],
    ["clientProtocol = true", fromEdge, json({ ...PAIRED, clientProtocol: true }), "BAD_FIELD"],
    ["bytes = string", fromClient, json({ ...CREDIT, bytes: "1" }), "BAD_FIELD"],
    // empty
    ["accept empty", fromConnector, json({ ...BIND, accept: "" }), "BAD_FIELD"],
    ["bindId empty", fromConnector, json({ ...BIND, bindId: "" }), "BAD_FIELD"],
    ["connectorId empty", fromConnector, json({ ...BIND, connectorId: "" }), "BAD_FIELD"],
    ["instance empty", fromConnector, json({ ...BIND, instance: "" }), "BAD_FIELD"],
    ["clientProtocol empty", fromEdge, json({ ...PAIRED, clientProtocol: "" }), "BAD_FIELD"],
    ["sessionId empty", fromEdge, json({ ...PAIRED, sessionId: "" }), "BAD_FIELD"],
    ["clientAddress empty", fromEdge, json({ ...PAIRED, clientAddress: "" }), "BAD_FIELD"],
    // too long
    ["accept too long", fromConnector, json({ ...BIND, accept: long(MAX_URI_LENGTH + 1) }), "BAD_FIELD"],
    ["bindId too long", fromConnector, json({ ...BIND, bindId: long(MAX_ID_LENGTH + 1) }), "BAD_FIELD"],
    ["connectorId too long", fromConnector, json({ ...BIND, connectorId: long(MAX_ID_LENGTH + 1) }), "BAD_FIELD"],
    ["instance too long", fromConnector, json({ ...BIND, instance: long(MAX_ID_LENGTH + 1) }), "BAD_FIELD"],
    ["sessionId too long", fromEdge, json({ ...PAIRED, sessionId: long(MAX_ID_LENGTH + 1) }), "BAD_FIELD"],
    ["clientAddress too long", fromEdge, json({ ...PAIRED, clientAddress: long(MAX_ADDRESS_LENGTH + 1) }), "BAD_FIELD"],
    // control characters and other bytes that would end up in logs
    ["accept with LF", fromConnector, json({ ...BIND, accept: "wss://a/\nb" }), "BAD_FIELD"],
    ["accept with CR", fromConnector, json({ ...BIND, accept: "wss://a/\rb" }), "BAD_FIELD"],
    ["accept with NUL", fromConnector, json({ ...BIND, accept: "wss://a/\u0000" }), "BAD_FIELD"],
    ["accept with space", fromConnector, json({ ...BIND, accept: "wss://a/ b" }), "BAD_FIELD"],
    ["accept with DEL", fromConnector, json({ ...BIND, accept: "wss://a/\u007f" }), "BAD_FIELD"],
    ["accept non-ASCII", fromConnector, json({ ...BIND, accept: "wss://exämple.com/" }), "BAD_FIELD"],
    ["accept with quote", fromConnector, json({ ...BIND, accept: 'wss://a/"' }), "BAD_FIELD"],
    ["accept with backslash", fromConnector, json({ ...BIND, accept: "wss://a/\\" }), "BAD_FIELD"],
    ["clientAddress with LF", fromEdge, json({ ...PAIRED, clientAddress: "1.2.3.4\n" }), "BAD_FIELD"],
    ["clientAddress with tab", fromEdge, json({ ...PAIRED, clientAddress: "1.2.3.4\t" }), "BAD_FIELD"],
    ["clientAddress with ESC", fromEdge, json({ ...PAIRED, clientAddress: "\u001b[31m" }), "BAD_FIELD"],
    // ids with bad characters
    ["bindId with space", fromConnector, json({ ...BIND, bindId: "b 1" }), "BAD_FIELD"],
    ["bindId with dot", fromConnector, json({ ...BIND, bindId: "b.1" }), "BAD_FIELD"],
    ["bindId with slash", fromConnector, json({ ...BIND, bindId: "../b" }), "BAD_FIELD"],
    ["bindId with LF", fromConnector, json({ ...BIND, bindId: "b\n" }), "BAD_FIELD"],
    ["connectorId with colon", fromConnector, json({ ...BIND, connectorId: "id:x" }), "BAD_FIELD"],
    ["instance with dot", fromConnector, json({ ...BIND, instance: "1.2" }), "BAD_FIELD"],
    ["connectorId non-ASCII letter", fromConnector, json({ ...BIND, connectorId: "café" }), "BAD_FIELD"],
    ["sessionId with lone surrogate", fromEdge, json({ ...PAIRED, sessionId: "s\ud800" }), "BAD_FIELD"],
    // counts
    ["waiting negative", fromEdge, json({ ...DEMAND, waiting: -1 }), "BAD_FIELD"],
    ["waiting float", fromEdge, json({ ...DEMAND, waiting: 1.5 }), "BAD_FIELD"],
    ["waiting 2^53", fromEdge, json({ ...DEMAND, waiting: 2 ** 53 }), "BAD_FIELD"],
    ["waiting over a million", fromEdge, json({ ...DEMAND, waiting: 1_000_001 }), "BAD_FIELD"],
    ["waiting 1e400", fromEdge, '{"v":1,"t":"demand","waiting":1e400}', "BAD_FIELD"],
    ["heartbeatMs below 100", fromConnector, json({ ...BIND, heartbeatMs: 99 }), "BAD_FIELD"],
    ["heartbeatMs over a minute", fromConnector, json({ ...BIND, heartbeatMs: 60_001 }), "BAD_FIELD"],
    ["heartbeatMs of an hour", fromConnector, json({ ...BIND, heartbeatMs: 3_600_000 }), "BAD_FIELD"],
    ["heartbeatMs float", fromConnector, json({ ...BIND, heartbeatMs: 1000.5 }), "BAD_FIELD"],
    ["bytes 0", fromClient, json({ ...CREDIT, bytes: 0 }), "BAD_FIELD"],
    ["bytes negative", fromEdge, json({ ...CREDIT, bytes: -1 }), "BAD_FIELD"],
    ["bytes float", fromConnector, json({ ...CREDIT, bytes: 1.5 }), "BAD_FIELD"],
    ["bytes over the maximum", fromClient, json({ ...CREDIT, bytes: MAX_CREDIT_BYTES + 1 }), "BAD_FIELD"],
    ["bytes 2^53", fromClient, json({ ...CREDIT, bytes: 2 ** 53 }), "BAD_FIELD"],
    // size
    ["oversized message", fromConnector, json({ ...BIND, accept: long(MAX_CONTROL_MESSAGE_BYTES) }), "TOO_LARGE"],
    ["oversized garbage", fromEdge, "x".repeat(MAX_CONTROL_MESSAGE_BYTES + 1), "TOO_LARGE"],
  ];

  it.each(rows)("%s → %s", (_label, decode, text, expected) => {
    const r = decode(text);
    expect(errorCode(r)).toBe(expected);
    if (!r.ok) expect(typeof r.error.detail).toBe("string");
  });

  it("checks size before anything else (a huge non-JSON frame is TOO_LARGE, not NOT_JSON)", () => {
    expect(errorCode(decodeFromConnector("{".repeat(MAX_CONTROL_MESSAGE_BYTES + 1)))).toBe("TOO_LARGE");
  });

  it("never echoes field values in the error detail", () => {
    const r = decodeFromConnector(json({ ...BIND, bindId: "secret value\n" }));
    expect(!r.ok && r.error.detail).toBe("bind.bindId must be an id of 1-64 characters [A-Za-z0-9_-]");
    const v = decodeFromConnector(json({ ...BIND, v: "x".repeat(100) }));
    expect(!v.ok && v.error.detail.length).toBeLessThan(60);
  });
});

describe("size limit in bytes", () => {
  /** A valid `bound` padded with JSON whitespace to exactly `bytes` bytes. */
  const padded = (bytes: number): string => {
    const base = json(BOUND);
    return `${base.slice(0, -1) + " ".repeat(bytes - utf8(base))}}`;
  };

  it("accepts exactly MAX_CONTROL_MESSAGE_BYTES", () => {
    const text = padded(MAX_CONTROL_MESSAGE_BYTES);
    expect(utf8(text)).toBe(MAX_CONTROL_MESSAGE_BYTES);
    expect(errorCode(decodeFromEdge(text))).toBe("OK");
  });

  it("refuses one byte more", () => {
    expect(errorCode(decodeFromEdge(padded(MAX_CONTROL_MESSAGE_BYTES + 1)))).toBe("TOO_LARGE");
  });

  it("counts UTF-8 bytes, not characters", () => {
    // 2-byte characters: well under the limit in UTF-16 units, over it in bytes.
    const twoByte = json({ ...BIND, accept: "é".repeat(2100) });
    expect(twoByte.length).toBeLessThan(MAX_CONTROL_MESSAGE_BYTES);
    expect(utf8(twoByte)).toBeGreaterThan(MAX_CONTROL_MESSAGE_BYTES);
    expect(errorCode(decodeFromConnector(twoByte))).toBe("TOO_LARGE");

    // 4-byte characters (surrogate pairs) filling the limit exactly: not too large, but
    // the field is not ASCII, so BAD_FIELD.
    const skeleton = json({ ...BIND, accept: "" });
    const room = MAX_CONTROL_MESSAGE_BYTES - utf8(skeleton);
    const exact = json({ ...BIND, accept: "😀".repeat(Math.floor(room / 4)) + "a".repeat(room % 4) });
    expect(utf8(exact)).toBe(MAX_CONTROL_MESSAGE_BYTES);
    expect(errorCode(decodeFromConnector(exact))).toBe("BAD_FIELD");
    expect(errorCode(decodeFromConnector(exact.replace("a", "aa")))).toBe(room % 4 === 0 ? "BAD_FIELD" : "TOO_LARGE");

    // 3-byte characters one byte over the limit.
    const three = json({ ...BIND, accept: "€".repeat(Math.ceil((room + 1) / 3)) });
    expect(utf8(three)).toBeGreaterThan(MAX_CONTROL_MESSAGE_BYTES);
    expect(errorCode(decodeFromConnector(three))).toBe("TOO_LARGE");
  });

  it("fits the largest valid bind, whatever printable characters its URI holds", () => {
    // A URI may repeat any allowed character; none may need a JSON escape, or a URI of
    // MAX_URI_LENGTH could encode to more than MAX_CONTROL_MESSAGE_BYTES.
    for (let c = 0x21; c <= 0x7e; c++) {
      const ch = String.fromCharCode(c);
      if (ch === '"' || ch === "\\") continue;
      const id = "x".repeat(MAX_ID_LENGTH);
      const m: ConnectorMessage = {
        t: "bind",
        accept: ch.repeat(MAX_URI_LENGTH),
        bindId: id,
        connectorId: id,
        instance: id,
        heartbeatMs: MAX_HEARTBEAT_MS,
      };
      expect(utf8(encode(m)), ch).toBeLessThanOrEqual(MAX_CONTROL_MESSAGE_BYTES);
      expect(decodeFromConnector(encode(m)), ch).toStrictEqual({ ok: true, value: m });
    }
  });
});

// ---- properties ----

const idArb = fc.stringMatching(new RegExp(`^[A-Za-z0-9_-]{1,${MAX_ID_LENGTH}}$`));
const printable = (exclude: string) =>
  fc
    .integer({ min: 0x21, max: 0x7e })
    .map((c) => String.fromCharCode(c))
    .filter((c) => !exclude.includes(c));
const uriArb = fc.string({ unit: printable('"\\'), minLength: 1, maxLength: MAX_URI_LENGTH });
const addressArb = fc.string({ unit: printable(""), minLength: 1, maxLength: MAX_ADDRESS_LENGTH });

const streamMessageArb: fc.Arbitrary<StreamMessage> = fc.oneof(
  fc.record({ t: fc.constant("end" as const) }, { noNullPrototype: true }),
  fc.record({ t: fc.constant("credit" as const), bytes: fc.integer({ min: 1, max: MAX_CREDIT_BYTES }) }, { noNullPrototype: true }),
);
const connectorMessageArb: fc.Arbitrary<ConnectorMessage> = fc.oneof(
  fc.record(
    {
      t: fc.constant("bind" as const),
      accept: uriArb,
      bindId: idArb,
      connectorId: idArb,
      instance: idArb,
      heartbeatMs: fc.integer({ min: 100, max: MAX_HEARTBEAT_MS }),
    },
    { noNullPrototype: true },
  ),
  fc.record({ t: fc.constant("opened" as const) }, { noNullPrototype: true }),
  streamMessageArb,
);
const clientMessageArb: fc.Arbitrary<ClientMessage> = fc.oneof(
  streamMessageArb,
  fc.record({ t: fc.constant("start" as const) }, { noNullPrototype: true }),
);
const edgeMessageArb: fc.Arbitrary<EdgeMessage> = fc.oneof(
  clientMessageArb,
  fc.record({ t: fc.constant("bound" as const), bindId: idArb }, { noNullPrototype: true }),
  fc.record(
    {
      t: fc.constant("paired" as const),
      sessionId: idArb,
      clientAddress: addressArb,
      clientProtocol: fc.constantFrom("plain" as const, "sallyport" as const),
    },
    { noNullPrototype: true },
  ),
  fc.record(
    {
      t: fc.constant("paired" as const),
      sessionId: idArb,
      clientAddress: addressArb,
      clientProtocol: fc.constant("sallyport" as const),
      maxMessageBytes: fc.integer({ min: 65_536, max: 1_048_576 }),
      standby: fc.constant(true as const),
    },
    { noNullPrototype: true },
  ),
  fc.record({ t: fc.constant("demand" as const), waiting: fc.integer({ min: 0, max: 1_000_000 }) }, { noNullPrototype: true }),
);

/** JSON objects shaped like messages but with anything in any field, prototype keys included. */
const keyArb = fc.oneof(
  fc.constantFrom(
    "v",
    "t",
    "accept",
    "bindId",
    "connectorId",
    "instance",
    "heartbeatMs",
    "sessionId",
    "clientAddress",
    "clientProtocol",
    "waiting",
    "bytes",
    "__proto__",
    "toString",
    "valueOf",
    "constructor",
  ),
  fc.string(),
);
const messyArb = fc.dictionary(
  keyArb,
  fc.oneof(fc.jsonValue(), fc.constantFrom(1, "bind", "opened", "end", "credit", "bound", "paired", "demand", "plain", "sallyport")),
  { maxKeys: 8 },
);

function expectTotal(r: Result<unknown, ProtocolError>): void {
  expect(typeof r.ok).toBe("boolean");
  if (!r.ok) expect(typeof r.error.code).toBe("string");
}

describe("properties", () => {
  it("decoding never throws on arbitrary strings", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: "grapheme" }), fc.string({ unit: "binary" })), (text) => {
        expectTotal(decodeFromConnector(text));
        expectTotal(decodeFromEdge(text));
        expectTotal(decodeFromClient(text));
      }),
      { numRuns: 500 },
    );
  });

  it("decoding never throws on arbitrary JSON values", () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), messyArb), (value) => {
        const text = JSON.stringify(value);
        expectTotal(decodeFromConnector(text));
        expectTotal(decodeFromEdge(text));
        expectTotal(decodeFromClient(text));
      }),
      { numRuns: 1000 },
    );
  });

  it("decoding never throws when v is anything JSON can say", () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), messyArb, fc.array(messyArb)), (v) => {
        expectTotal(decodeFromConnector(JSON.stringify({ v, t: "bind" })));
      }),
      { numRuns: 500 },
    );
  });

  it("encode → decode is the identity for valid connector messages", () => {
    fc.assert(
      fc.property(connectorMessageArb, (m) => {
        expect(decodeFromConnector(encode(m))).toStrictEqual({ ok: true, value: m });
        if (m.t === "bind" || m.t === "opened") expect(errorCode(decodeFromEdge(encode(m)))).toBe("WRONG_SIDE");
      }),
      { numRuns: 300 },
    );
  });

  it("encode → decode is the identity for valid edge messages", () => {
    fc.assert(
      fc.property(edgeMessageArb, (m) => {
        expect(decodeFromEdge(encode(m))).toStrictEqual({ ok: true, value: m });
        if (m.t !== "end" && m.t !== "credit") expect(errorCode(decodeFromConnector(encode(m)))).toBe("WRONG_SIDE");
      }),
      { numRuns: 300 },
    );
  });

  it("encode → decode is the identity for valid client messages", () => {
    fc.assert(
      fc.property(streamMessageArb, (m) => {
        expect(decodeFromClient(encode(m))).toStrictEqual({ ok: true, value: m });
      }),
      { numRuns: 100 },
    );
  });

  it("an extra field always makes a valid message invalid", () => {
    fc.assert(
      fc.property(fc.oneof(connectorMessageArb, edgeMessageArb), fc.string({ minLength: 1 }), fc.jsonValue(), (m, key, value) => {
        fc.pre(!Object.hasOwn(m, key) && key !== "v");
        const text = JSON.stringify({ v: 1, ...m, [key]: value });
        expect(errorCode(decoderFor(m.t)(text))).toBe(utf8(text) > MAX_CONTROL_MESSAGE_BYTES ? "TOO_LARGE" : "BAD_FIELD");
      }),
      { numRuns: 300 },
    );
  });
});

describe("version 2", () => {
  const v2 = {
    fromConnector: (text: string) => codec.decodeFromConnector(text, 2),
    fromEdge: (text: string) => codec.decodeFromEdge(text, 2),
    fromClient: (text: string) => codec.decodeFromClient(text, 2),
    forClient: (text: string) => codec.decodeForClient(text, 2),
  };

  it("stamps the negotiated version", () => {
    expect(codec.encode({ t: "credit", upTo: 9, mark: "m1" }, 2)).toBe('{"v":2,"t":"credit","upTo":9,"mark":"m1"}');
    expect(codec.encode({ t: "mark", id: "m1" }, 2)).toBe('{"v":2,"t":"mark","id":"m1"}');
    expect(codec.encode({ t: "end" }, 2)).toBe('{"v":2,"t":"end"}');
  });

  it("takes a cumulative credit with an optional mark from readers, and marks only from the edge", () => {
    expect(v2.fromClient('{"v":2,"t":"credit","upTo":0}')).toStrictEqual({ ok: true, value: { t: "credit", upTo: 0 } });
    expect(v2.fromConnector('{"v":2,"t":"credit","upTo":16777216,"mark":"a_b-1"}')).toStrictEqual({
      ok: true,
      value: { t: "credit", upTo: 16_777_216, mark: "a_b-1" },
    });
    expect(v2.fromEdge('{"v":2,"t":"mark","id":"x"}')).toStrictEqual({ ok: true, value: { t: "mark", id: "x" } });
    expect(v2.forClient('{"v":2,"t":"mark","id":"x"}')).toStrictEqual({ ok: true, value: { t: "mark", id: "x" } });
    expect(errorCode(v2.fromConnector('{"v":2,"t":"mark","id":"x"}'))).toBe("WRONG_SIDE");
    expect(errorCode(v2.fromClient('{"v":2,"t":"mark","id":"x"}'))).toBe("WRONG_SIDE");
  });

  it.each([
    ["a v1 credit in v2", '{"v":2,"t":"credit","bytes":1}', "BAD_FIELD"],
    ["a negative offset", '{"v":2,"t":"credit","upTo":-1}', "BAD_FIELD"],
    ["a fractional offset", '{"v":2,"t":"credit","upTo":1.5}', "BAD_FIELD"],
    ["an offset past 2^53", `{"v":2,"t":"credit","upTo":${2 ** 53}}`, "BAD_FIELD"],
    ["a mark that is not an id", '{"v":2,"t":"credit","upTo":1,"mark":"a b"}', "BAD_FIELD"],
    ["v1 on a v2 socket", '{"v":1,"t":"credit","upTo":1}', "BAD_VERSION"],
  ])("refuses %s", (_name, text, code) => {
    expect(errorCode(v2.fromClient(text))).toBe(code);
  });

  it("keeps v1 as it was: no mark, credit by increments, v2 text refused", () => {
    expect(errorCode(decodeForClient('{"v":1,"t":"mark","id":"x"}'))).toBe("UNKNOWN_TYPE");
    expect(errorCode(decodeFromClient('{"v":1,"t":"credit","upTo":1}'))).toBe("BAD_FIELD");
    expect(errorCode(decodeFromClient('{"v":2,"t":"end"}'))).toBe("BAD_VERSION");
  });

  it("encode → decode is the identity for v2 credit and mark", () => {
    fc.assert(
      fc.property(fc.nat({ max: Number.MAX_SAFE_INTEGER }), fc.option(idArb, { nil: undefined }), (upTo, mark) => {
        const m = mark === undefined ? { t: "credit" as const, upTo } : { t: "credit" as const, upTo, mark };
        expect(v2.fromConnector(codec.encode(m, 2))).toStrictEqual({ ok: true, value: m });
        if (mark)
          expect(v2.forClient(codec.encode({ t: "mark", id: mark }, 2))).toStrictEqual({ ok: true, value: { t: "mark", id: mark } });
      }),
      { numRuns: 200 },
    );
  });
});

describe("version 3: `end` carrying `done`", () => {
  const decoders = {
    fromConnector: codec.decodeFromConnector,
    fromEdge: codec.decodeFromEdge,
    fromClient: codec.decodeFromClient,
    forClient: codec.decodeForClient,
  } as const;
  type Hop = keyof typeof decoders;
  /** Only a connector says `done`, and the edge relays it to a Sallyport client: those two hops, in v3. */
  const carriesDone = (hop: Hop, v: 1 | 2 | 3): boolean => v === 3 && (hop === "fromConnector" || hop === "forClient");
  const hops = Object.keys(decoders) as Hop[];
  const versions = [1, 2, 3] as const;

  it("encodes as one message", () => {
    expect(codec.encode({ t: "end", done: true }, 3)).toBe('{"v":3,"t":"end","done":true}');
  });

  describe.each(versions)("v%i", (v) => {
    it.each(hops)("a plain `end` still passes %s", (hop) => {
      expect(decoders[hop](`{"v":${v},"t":"end"}`, v)).toStrictEqual({ ok: true, value: { t: "end" } });
    });

    it.each(hops)("`done: true` on `end` %s: accepted only from a connector and for a client, in v3", (hop) => {
      const r = decoders[hop](`{"v":${v},"t":"end","done":true}`, v);
      if (carriesDone(hop, v)) expect(r).toStrictEqual({ ok: true, value: { t: "end", done: true } });
      else expect(errorCode(r)).toBe("BAD_FIELD");
    });

    it.each(hops.flatMap((hop) => ["false", "1", '"true"', "null", "{}", "[true]"].map((value) => [hop, value] as const)))(
      "refuses `done` %s as %s: only the boolean true",
      (hop, value) => {
        expect(errorCode(decoders[hop](`{"v":${v},"t":"end","done":${value}}`, v))).toBe("BAD_FIELD");
      },
    );
  });

  it("`done` rides on `end` only: a v3 `done` takes no fields, other types take no `done`", () => {
    expect(errorCode(codec.decodeFromConnector('{"v":3,"t":"done","done":true}', 3))).toBe("BAD_FIELD");
    expect(errorCode(codec.decodeFromConnector('{"v":3,"t":"credit","upTo":1,"done":true}', 3))).toBe("BAD_FIELD");
    expect(errorCode(codec.decodeFromConnector('{"v":3,"t":"opened","done":true}', 3))).toBe("BAD_FIELD");
    expect(codec.decodeFromConnector('{"v":3,"t":"done"}', 3)).toStrictEqual({ ok: true, value: { t: "done" } });
  });
});

describe("messages that carry no value, decoded once", () => {
  const decoders = [codec.decodeFromConnector, codec.decodeFromEdge, codec.decodeFromClient, codec.decodeForClient];
  const versions = [1, 2, 3] as const;
  const constants = ["start", "opened", "end", "done"].map((t) => ({ t }) as ControlMessage).concat([{ t: "end", done: true }]);
  // Every decoder × version × constant message's text in every version: hits, wrong sides, other versions.
  const cases = decoders.flatMap((decode) =>
    versions.flatMap((v) => versions.flatMap((sent) => constants.map((m) => [decode, v, codec.encode(m, sent)] as const))),
  );
  /** The same message spelled another way (a space after a comma), which is parsed. */
  const respelled = (text: string) => text.replace(",", ", ");

  it("decodes each text exactly as parsing it would, accepted or refused", () => {
    for (const [decode, v, text] of cases)
      expect(decode(text, v), `${decode.name} v${v} ${text}`).toStrictEqual(decode(respelled(text), v));
  });

  it("returns one frozen message per text, not a new one per frame", () => {
    const hits = cases.filter(([decode, v, text]) => decode(text, v).ok);
    expect(hits.length).toBeGreaterThan(20);
    for (const [decode, v, text] of hits) {
      const first = decode(text, v);
      expect(first.ok && Object.isFrozen(first.value)).toBe(true);
      expect(decode(text, v)).toBe(first);
      expect(decode(respelled(text), v)).not.toBe(first);
    }
  });

  it("still refuses a constant message from the wrong side or in another version", () => {
    expect(errorCode(codec.decodeFromClient('{"v":3,"t":"opened"}', 3))).toBe("WRONG_SIDE");
    expect(errorCode(codec.decodeFromClient('{"v":3,"t":"end","done":true}', 3))).toBe("BAD_FIELD");
    expect(errorCode(codec.decodeFromConnector('{"v":2,"t":"end","done":true}', 2))).toBe("BAD_FIELD");
    expect(errorCode(codec.decodeFromConnector('{"v":2,"t":"opened"}', 3))).toBe("BAD_VERSION");
  });
});
