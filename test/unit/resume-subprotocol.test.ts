import { describe, expect, it } from "vitest";
import { RESUME_SUBPROTOCOL_PREFIX } from "../../shared/protocol/constants.ts";
import { readResumeSubprotocol, resumeSubprotocol } from "../../shared/protocol/resume-subprotocol.ts";

const TICKET = "eyJzIjoiYWJjIn0.c2lnbmF0dXJlLWJ5dGVzLWhlcmUtMzItbG9uZy1lbm91Z2g";
/** RFC 6455 / RFC 7230: a subprotocol is a token. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

describe("the resume subprotocol (browser helper)", () => {
  it("round-trips ticket, received and end, as a token the handshake allows", () => {
    for (const r of [
      { ticket: TICKET, received: 0, end: false },
      { ticket: TICKET, received: Number.MAX_SAFE_INTEGER, end: true },
    ]) {
      const p = resumeSubprotocol(r);
      expect(p.startsWith(RESUME_SUBPROTOCOL_PREFIX)).toBe(true);
      expect(p).toMatch(TOKEN);
      expect(readResumeSubprotocol(["sallyport.client.v3", p])).toEqual({ ...r, received: String(r.received) });
    }
  });

  it("is absent when no subprotocol has the prefix", () => {
    expect(readResumeSubprotocol([])).toBeUndefined();
    expect(readResumeSubprotocol(["sallyport.client.v3", "sallyport.bearer.abc"])).toBeUndefined();
  });

  it.each([
    ["no ticket", `${RESUME_SUBPROTOCOL_PREFIX}5.0`],
    ["a ticket without its MAC", `${RESUME_SUBPROTOCOL_PREFIX}5.0.abc`],
    ["end neither 0 nor 1", `${RESUME_SUBPROTOCOL_PREFIX}5.2.${TICKET}`],
    ["a negative offset", `${RESUME_SUBPROTOCOL_PREFIX}-5.0.${TICKET}`],
    ["an offset that is not decimal", `${RESUME_SUBPROTOCOL_PREFIX}0x5.0.${TICKET}`],
    ["a ticket with three parts", `${RESUME_SUBPROTOCOL_PREFIX}5.0.${TICKET}.x`],
  ])("is malformed with %s", (_what, p) => {
    expect(readResumeSubprotocol([p])).toBe("malformed");
  });

  it("is malformed when two are offered: a resume names one session", () => {
    const p = resumeSubprotocol({ ticket: TICKET, received: 1, end: false });
    expect(readResumeSubprotocol([p, p])).toBe("malformed");
  });
});
