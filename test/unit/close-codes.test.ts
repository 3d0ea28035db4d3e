import { describe, expect, it } from "vitest";
import {
  CLOSE_REASONS,
  CloseCode,
  close,
  closeCodeName,
  isCleanClose,
  relayableClose,
  type CloseCodeName,
} from "../../shared/protocol/close-codes.ts";

const NAMES = Object.keys(CloseCode) as CloseCodeName[];

describe("close codes", () => {
  it("pins every code and reason", () => {
    const table = Object.fromEntries(NAMES.map((n) => [n, [CloseCode[n], CLOSE_REASONS[n]]]));
    expect(table).toStrictEqual({
      NORMAL: [1000, ""],
      GOING_AWAY: [1001, "going away"],
      PROTOCOL_ERROR: [1002, "protocol error"],
      MESSAGE_TOO_BIG: [1009, "message too big"],
      INTERNAL_ERROR: [1011, "internal error"],
      TRY_AGAIN_LATER: [1013, "try again later"],
      GENERAL_FAILURE: [4001, "general failure"],
      NOT_ALLOWED: [4002, "not allowed"],
      NETWORK_UNREACHABLE: [4003, "connector lost"],
      HOST_UNREACHABLE: [4004, "backend unreachable"],
      CONNECTION_REFUSED: [4005, "backend refused"],
      TTL_EXPIRED: [4006, "no connector available"],
      COMMAND_NOT_SUPPORTED: [4007, "not supported"],
      BUSY: [4013, "busy"],
      LIMIT: [4029, "limit reached"],
      REPLACED: [4030, "replaced"],
      RESUME: [4032, "resume"],
      RESUME_FAILED: [4034, "resume failed"],
      CREDIT_EXCEEDED: [4090, "credit exceeded"],
      IDLE_TIMEOUT: [4408, "idle timeout"],
    });
  });

  it("has a reason for exactly the codes it has", () => {
    expect(Object.keys(CLOSE_REASONS).sort()).toStrictEqual([...NAMES].sort());
    expect(Object.isFrozen(CLOSE_REASONS)).toBe(true);
  });

  it("keeps reasons short ASCII (RFC 6455 §5.5.1: at most 123 bytes)", () => {
    for (const name of NAMES) {
      const reason = CLOSE_REASONS[name];
      expect(reason, name).toMatch(/^[\x20-\x7e]*$/);
      expect(new TextEncoder().encode(reason).length, name).toBeLessThanOrEqual(123);
    }
  });

  it("never uses a code reserved for the local API (RFC 6455 §7.4.1)", () => {
    const codes = NAMES.map((n) => CloseCode[n]);
    for (const reserved of [1004, 1005, 1006, 1015]) expect(codes).not.toContain(reserved);
    // Only codes an endpoint may send: 1000-1003, 1007-1011, the IANA-registered 1012-1014
    // (1013 "Try Again Later"), or the private range 4000-4999.
    for (const code of codes) {
      const sendable = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 4000 && code <= 4999);
      expect(sendable, String(code)).toBe(true);
    }
  });

  it("has no two names for one code", () => {
    const codes = NAMES.map((n) => CloseCode[n]);
    expect(new Set(codes).size).toBe(codes.length);
  });

  it("mirrors the RFC 1928 §6 REP field as 4000 + REP", () => {
    const rep: Array<[CloseCodeName, number]> = [
      ["GENERAL_FAILURE", 0x01],
      ["NOT_ALLOWED", 0x02],
      ["NETWORK_UNREACHABLE", 0x03],
      ["HOST_UNREACHABLE", 0x04],
      ["CONNECTION_REFUSED", 0x05],
      ["TTL_EXPIRED", 0x06],
      ["COMMAND_NOT_SUPPORTED", 0x07],
    ];
    for (const [name, value] of rep) expect(CloseCode[name] - 4000, name).toBe(value);
  });

  it("builds a close from a name", () => {
    expect(close("TTL_EXPIRED")).toStrictEqual({ code: 4006, reason: "no connector available" });
    expect(close("NORMAL")).toStrictEqual({ code: 1000, reason: "" });
  });

  it("looks names up by code and knows nothing else", () => {
    for (const name of NAMES) expect(closeCodeName(CloseCode[name])).toBe(name);
    for (const code of [0, 999, 1005, 1006, 1015, 3000, 4000, 4008, 4999, 65535, Number.NaN]) {
      expect(closeCodeName(code), String(code)).toBeUndefined();
    }
  });

  describe("relayableClose", () => {
    it.each([
      [1000, 1000, ""],
      [1005, 1000, ""], // a close frame without status: deliberate and clean
      [1001, 1001, "going away"],
      [1002, 1002, "protocol error"],
      [1009, 1009, "message too big"],
      [1011, 1011, "internal error"],
      [4002, 4002, "not allowed"],
      [4005, 4005, "backend refused"],
      [4030, 4030, "replaced"],
      [4013, 4013, "busy"],
      [4006, 4006, "no connector available"],
      [1006, 4003, "connector lost"], // abnormal: no close frame at all
      [1015, 4003, "connector lost"],
      [1003, 4003, "connector lost"],
      [3000, 4003, "connector lost"],
      [4999, 4003, "connector lost"],
      [0, 4003, "connector lost"],
    ])("maps %i to %i", (received, code, reason) => {
      expect(relayableClose(received)).toStrictEqual({ code, reason });
    });

    it("never produces a reserved code, whatever arrives", () => {
      for (let code = 0; code < 5100; code++) {
        const out = relayableClose(code).code;
        expect([1004, 1005, 1006, 1015]).not.toContain(out);
        expect(closeCodeName(out)).toBeDefined();
      }
    });
  });

  it("counts 1000 and a close without a status (1005) as a clean end, as relayableClose and the client stream do", () => {
    for (const code of [1000, 1005]) {
      expect(isCleanClose(code), String(code)).toBe(true);
      expect(relayableClose(code).code, String(code)).toBe(1000);
    }
    for (const code of [1001, 1006, 1011, 4003, 4006]) expect(isCleanClose(code), String(code)).toBe(false);
  });
});
