import { afterEach, describe, expect, it, vi } from "vitest";
import { isLoopbackHostHeader } from "../../connector/admin.ts";
import { createLogger, sanitize } from "../../shared/log.ts";
import { log as edgeLog } from "../../edge/log.ts";

// biome-ignore lint/suspicious/noControlCharactersInRegex: what no log line may contain
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Security hygiene around admission, as pure functions:
 *   T35 log injection — whatever a peer sends, one event is one log line (connector and edge);
 *   T33 the connector's admin port answers only to loopback Host names (DNS rebinding).
 */

const FORGED = 'x\n{"level":"info","msg":"auth ok"}\r\n\u001b[31mred\u001b[0m\u0000end';

describe("connector log (shared/log.ts)", () => {
  it("writes one line per event, control characters escaped, whatever the message and fields hold", () => {
    for (const json of [true, false]) {
      const lines: string[] = [];
      const log = createLogger({ json, write: (l) => lines.push(l) }, { sessionId: FORGED });
      log.log("warn", FORGED, { clientAddress: FORGED, detail: FORGED });
      log.child({ bindId: FORGED }).log("info", "second");
      expect(lines).toHaveLength(2);
      for (const l of lines) {
        expect(l).not.toMatch(CONTROL);
        if (json) expect(() => JSON.parse(l)).not.toThrow();
      }
      if (json) expect(JSON.parse(lines[0]!).msg).not.toBe("auth ok");
    }
  });

  it("truncates long values, so one peer-supplied field cannot flood the log", () => {
    expect(sanitize("a".repeat(10_000)).length).toBeLessThanOrEqual(257);
    expect(sanitize("\n")).toBe("\\x0a");
  });

  it("writes a fix hint whole (the code's own words for the operator), escaped; every other field stays cut", () => {
    const hint = `check that the token in /etc/${"very-long-directory/".repeat(20)}token is right\nand retry`;
    expect(hint.length).toBeGreaterThan(300);
    for (const json of [true, false]) {
      const lines: string[] = [];
      createLogger({ json, write: (l) => lines.push(l) }).log("error", "refused", { fix: hint, detail: hint });
      const line = lines[0]!;
      // biome-ignore lint/suspicious/noControlCharactersInRegex: no control character may reach a log line
      expect(line).not.toMatch(/[\u0000-\u001f\u007f]/);
      const escaped = hint.replace("\n", "\\x0a");
      const fields = json ? (JSON.parse(line) as Record<string, string>) : undefined;
      if (fields) {
        expect(fields.fix).toBe(escaped);
        expect(fields.detail).toBe(`${escaped.slice(0, 256)}…`);
      } else {
        expect(line).toContain(`fix=${JSON.stringify(escaped)}`);
        expect(line).toContain(`detail=${JSON.stringify(`${escaped.slice(0, 256)}…`)}`);
      }
    }
  });
});

describe("edge log (edge/log.ts)", () => {
  afterEach(() => vi.restoreAllMocks());

  it("writes one JSON line per event; string fields are escaped and cut as in the connector's log", () => {
    const out: string[] = [];
    for (const m of ["log", "warn", "error"] as const) vi.spyOn(console, m).mockImplementation((line: string) => void out.push(line));
    edgeLog("warn", "client not admitted", { refusal: FORGED, origin: "o".repeat(5000) });
    expect(out).toHaveLength(1);
    expect(out[0]).not.toMatch(CONTROL);
    const record = JSON.parse(out[0]!) as Record<string, string>;
    expect(record.msg).toBe("client not admitted");
    expect(record.origin).toBe(sanitize("o".repeat(5000)));
    expect(record.origin!.length).toBeLessThanOrEqual(257);
    expect(record.refusal).toBe(sanitize(FORGED));
  });
});

describe("admin port Host check (connector/admin.ts)", () => {
  it("answers loopback names on its own port only", () => {
    for (const h of ["127.0.0.1:9000", "localhost:9000", "[::1]:9000", "LOCALHOST:9000", "127.0.0.1", "127.0.0.2:9000", "a.localhost:9000"])
      expect(isLoopbackHostHeader(h, 9000), h).toBe(true);
    for (const h of [
      undefined,
      "",
      "evil.example:9000",
      "127.0.0.1.evil.example:9000",
      "localhost:9001",
      "127.0.0.256:9000",
      "localhost.evil.example:9000",
      "0.0.0.0:9000",
      "localhost.:9000",
      "[::ffff:127.0.0.1]:9000",
    ]) {
      expect(isLoopbackHostHeader(h, 9000), String(h)).toBe(false);
    }
  });
});
