import { describe, expect, it } from "vitest";
import * as constants from "../../shared/protocol/constants.ts";
import { CLIENT_TYPES, CONNECTOR_TYPES, EDGE_TYPES, STREAM_TYPES } from "../../shared/protocol/messages.ts";

/**
 * The wire vocabulary, pinned literal by literal. A failure here means a protocol break:
 * bump PROTOCOL_VERSION and update docs/protocol.md before touching these expectations.
 */
describe("protocol constants", () => {
  it("pins every exported literal", () => {
    expect({ ...constants }).toStrictEqual({
      PROTOCOL_VERSIONS: [3, 2, 1],
      PROTOCOL_VERSION: 3,
      BIND_SUBPROTOCOLS: { 1: "sallyport.bind.v1", 2: "sallyport.bind.v2", 3: "sallyport.bind.v3" },
      BIND_PATH: "/_sallyport/bind",
      HEALTH_PATH: "/_sallyport/health",
      STATUS_PATH: "/_sallyport/status",
      STATUS_PAGE_PATH: "/_sallyport/status.html",
      RESERVED_PATH_PREFIX: "/_sallyport/",
      SERVICE_FULL_STATUS: 503,
      AUTHORIZATION_HEADER: "authorization",
      STANDBY_HEADER: "sallyport-standby",
      SHARD_HEADER: "sallyport-shard",
      SHARDS_HEADER: "sallyport-shards",
      MAX_SHARDS: 64,
      BEARER_PREFIX: "Bearer ",
      HEARTBEAT_REQUEST: "\u0000sallyport:ping:1",
      HEARTBEAT_RESPONSE: "\u0000sallyport:pong:1",
      HEARTBEAT_MISSES: 3,
      HANDSHAKE_TIMEOUT_MS: 10_000,
      MIN_HEARTBEAT_MS: 100,
      MAX_HEARTBEAT_MS: 60_000,
      SESSION_HEARTBEAT_MS: 2000,
      CLIENT_SUBPROTOCOLS: { 1: "sallyport.client.v1", 2: "sallyport.client.v2", 3: "sallyport.client.v3" },
      INITIAL_WINDOW_BYTES: 8_388_608,
      MAX_CREDIT_BYTES: 2_147_483_648,
      MARK_INTERVAL_BYTES: 1_048_576,
      V2_INITIAL_CREDIT_BYTES: 1_048_576,
      MAX_OFFSET: Number.MAX_SAFE_INTEGER,
      MAX_CONTROL_MESSAGE_BYTES: 4096,
      MAX_RECEIVE_BYTES: 1_052_672,
      MIN_MESSAGE_BYTES: 65_536,
      MAX_MESSAGE_BYTES: 1_048_576,
      MAX_ID_LENGTH: 64,
      MAX_URI_LENGTH: 2048,
      MAX_ADDRESS_LENGTH: 64,
      RESUME_HEADER: "sallyport-resume",
      RESUME_RECEIVED_HEADER: "sallyport-resume-received",
      RESUME_END_HEADER: "sallyport-resume-end",
      RESUME_SUBPROTOCOL_PREFIX: "sallyport.resume.",
      MAX_TICKET_LENGTH: 512,
      DEFAULT_RESUME_TIMEOUT_MS: 30_000,
    });
  });

  it("keeps the Sallyport endpoints under the reserved prefix", () => {
    for (const path of [constants.BIND_PATH, constants.HEALTH_PATH, constants.STATUS_PATH, constants.STATUS_PAGE_PATH]) {
      expect(path.startsWith(constants.RESERVED_PATH_PREFIX), path).toBe(true);
    }
  });

  it("names each protocol version in both subprotocols, newest first, and keeps them apart", () => {
    expect(constants.PROTOCOL_VERSIONS[0]).toBe(constants.PROTOCOL_VERSION);
    for (const v of constants.PROTOCOL_VERSIONS) {
      expect(constants.BIND_SUBPROTOCOLS[v].endsWith(`.v${v}`)).toBe(true);
      expect(constants.CLIENT_SUBPROTOCOLS[v].endsWith(`.v${v}`)).toBe(true);
      expect(constants.CLIENT_SUBPROTOCOLS[v]).not.toBe(constants.BIND_SUBPROTOCOLS[v]);
    }
  });

  it("uses valid RFC 6455 subprotocol tokens (RFC 2616 token characters)", () => {
    for (const v of constants.PROTOCOL_VERSIONS)
      for (const p of [constants.BIND_SUBPROTOCOLS[v], constants.CLIENT_SUBPROTOCOLS[v]])
        expect(p).toMatch(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/);
  });

  it("lets one credit message grant at least the initial window", () => {
    expect(constants.MAX_CREDIT_BYTES).toBeGreaterThanOrEqual(constants.INITIAL_WINDOW_BYTES);
    expect(Number.isSafeInteger(constants.MAX_CREDIT_BYTES)).toBe(true);
  });

  it("keeps the header name lower-case, as the Fetch API reports it", () => {
    expect(constants.AUTHORIZATION_HEADER).toBe(constants.AUTHORIZATION_HEADER.toLowerCase());
  });

  it("makes heartbeats distinct, NUL-prefixed and never valid JSON", () => {
    expect(constants.HEARTBEAT_REQUEST).not.toBe(constants.HEARTBEAT_RESPONSE);
    for (const beat of [constants.HEARTBEAT_REQUEST, constants.HEARTBEAT_RESPONSE]) {
      expect(beat.charCodeAt(0)).toBe(0);
      expect(() => JSON.parse(beat)).toThrow();
    }
  });

  it("splits the message types between the sides: only the stream messages go both ways", () => {
    expect([...CONNECTOR_TYPES]).toStrictEqual(["bind", "opened", "end", "credit", "done"]);
    expect([...EDGE_TYPES]).toStrictEqual(["bound", "paired", "demand", "end", "credit", "start", "mark", "ticket", "resumed"]);
    expect([...STREAM_TYPES]).toStrictEqual(["end", "credit"]);
    // A client's `start` reaches the connector through the edge; nothing answers it in kind.
    expect([...CLIENT_TYPES]).toStrictEqual(["end", "credit", "start"]);
    const both = [...CONNECTOR_TYPES].filter((t) => EDGE_TYPES.has(t));
    expect(both).toStrictEqual([...STREAM_TYPES]);
  });

  it("bounds ids and addresses well inside a control message", () => {
    expect(constants.MAX_URI_LENGTH + 2 * constants.MAX_ID_LENGTH).toBeLessThan(constants.MAX_CONTROL_MESSAGE_BYTES);
  });
});
