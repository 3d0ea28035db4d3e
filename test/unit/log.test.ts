import { execFile } from "node:child_process";
import { describe, expect, it } from "vitest";
import { LineBuffer } from "../../cli/line-buffer.ts";
import { createLogger, type Level } from "../../shared/log.ts";
import { FakeClock } from "../helpers/fakes.ts";

/**
 * shared/log.ts builds a record from a logger's base fields serialised once (a session's
 * logger says them on each line) and the line's own; cli/line-buffer.ts writes lines together.
 * What the operator reads must not change with either: field order, overrides, escaping.
 */

function logged(json: boolean, level?: Level) {
  const lines: Array<[string, Level]> = [];
  const log = createLogger({ json, level, write: (line, at) => lines.push([line, at]) }, { service: "svc", skipped: undefined });
  return { log, lines };
}

const keysOf = (line: string): string[] => Object.keys(JSON.parse(line) as object);
const count = (line: string, key: string): number => line.split(`"${key}":`).length - 1;

describe("log records (shared/log.ts)", () => {
  it("JSON: time, level and msg, then the base fields in the order they were given, then the line's own", () => {
    const { log, lines } = logged(true);
    log
      .child({ bindId: "b1" })
      .child({ sessionId: "s1", n: 3, ok: true })
      .log("info", "session started", { connectMs: 1.5, gone: undefined });
    const [line, level] = lines[0]!;
    expect(level).toBe("info");
    expect(keysOf(line)).toEqual(["time", "level", "msg", "service", "bindId", "sessionId", "n", "ok", "connectMs"]);
    const r = JSON.parse(line) as Record<string, unknown>;
    expect(r).toMatchObject({
      level: "info",
      msg: "session started",
      service: "svc",
      bindId: "b1",
      sessionId: "s1",
      n: 3,
      ok: true,
      connectMs: 1.5,
    });
    expect(Date.parse(r.time as string)).toBeGreaterThan(0);
  });

  it("a field named as a base field takes its place and value, once — in a child or in a line", () => {
    const { log, lines } = logged(true);
    const child = log.child({ sessionId: "old", bindId: "b" }).child({ sessionId: "new" });
    child.log("info", "a");
    child.log("info", "b", { bindId: "b2", extra: 1 });
    expect(keysOf(lines[0]![0])).toEqual(["time", "level", "msg", "service", "sessionId", "bindId"]);
    expect(JSON.parse(lines[0]![0]).sessionId).toBe("new");
    expect(count(lines[0]![0], "sessionId")).toBe(1);
    expect(keysOf(lines[1]![0])).toEqual(["time", "level", "msg", "service", "sessionId", "bindId", "extra"]);
    expect(JSON.parse(lines[1]![0]).bindId).toBe("b2");
    expect(count(lines[1]![0], "bindId")).toBe(1);
  });

  it("a field named time, level or msg replaces the record's own, in a line or a base, never a second key", () => {
    const { log, lines } = logged(true);
    log.log("info", "real", { msg: "field" });
    log.child({ level: "custom" }).log("warn", "x");
    expect(JSON.parse(lines[0]![0]).msg).toBe("field");
    expect(count(lines[0]![0], "msg")).toBe(1);
    expect(JSON.parse(lines[1]![0]).level).toBe("custom");
    expect(count(lines[1]![0], "level")).toBe(1);
    expect(lines[1]![1]).toBe("warn");
  });

  it("escapes and cuts a base field once, when the logger is made, as a line's field", () => {
    const { log, lines } = logged(true);
    const long = `a\nb${"c".repeat(400)}`;
    log.child({ clientAddress: long }).log("info", "x", { detail: long });
    const r = JSON.parse(lines[0]![0]) as Record<string, string>;
    expect(r.clientAddress).toBe(`a\\x0ab${"c".repeat(250)}…`);
    expect(r.detail).toBe(r.clientAddress);
  });

  it("text: HH:MM:SS.mmm, the level padded, msg, then k=v with values holding spaces quoted", () => {
    const { log, lines } = logged(false);
    log.child({ sessionId: "s1" }).log("warn", "backend connection failed", { error: "connect ECONNREFUSED", code: 1006 });
    expect(lines[0]![0]).toMatch(
      /^\d\d:\d\d:\d\d\.\d{3} WARN {2}backend connection failed service=svc sessionId=s1 error="connect ECONNREFUSED" code=1006$/,
    );
    log.child({ service: "other" }).log("info", "x");
    expect(lines[1]![0]).toMatch(/ INFO {2}x service=other$/);
  });

  it("writes nothing below its level, and says each line's level to the sink", () => {
    const { log, lines } = logged(true, "warn");
    log.log("info", "quiet");
    log.child({ a: 1 }).log("debug", "quieter");
    log.log("error", "loud");
    expect(lines.map(([l, at]) => [JSON.parse(l).msg, at])).toEqual([["loud", "error"]]);
  });
});

describe("LineBuffer (cli/line-buffer.ts)", () => {
  function buffered(maxChars = 1 << 20) {
    const writes: string[] = [];
    const clock = new FakeClock();
    return { writes, clock, lines: new LineBuffer((t) => writes.push(t), clock, 50, maxChars) };
  }

  it("writes the lines of many events together, at most delayMs after the first", () => {
    const { writes, clock, lines } = buffered();
    lines.add("one", false);
    clock.advance(30);
    lines.add("two", false);
    expect(writes).toEqual([]);
    clock.advance(19);
    expect(writes).toEqual([]);
    clock.advance(1);
    expect(writes).toEqual(["one\ntwo\n"]);
    expect(clock.pending).toBe(0);
    lines.add("three", false);
    clock.advance(50);
    expect(writes).toEqual(["one\ntwo\n", "three\n"]);
  });

  it("writes a warning at once, behind the lines that waited, and leaves no timer", () => {
    const { writes, clock, lines } = buffered();
    lines.add("info", false);
    lines.add("warn", true);
    expect(writes).toEqual(["info\nwarn\n"]);
    expect(clock.pending).toBe(0);
  });

  it("writes when maxChars are waiting, and on flush(); an empty flush writes nothing", () => {
    const { writes, clock, lines } = buffered(10);
    lines.add("12345", false);
    lines.add("6789", false);
    expect(writes).toEqual(["12345\n6789\n"]);
    lines.add("x", false);
    lines.flush();
    lines.flush();
    expect(writes).toEqual(["12345\n6789\n", "x\n"]);
    expect(clock.pending).toBe(0);
  });
});

describe("stderrLogger (cli/log.ts): waiting lines reach stderr however the process ends", () => {
  const fixture = new URL("../fixtures/log-exit.ts", import.meta.url).pathname;
  const ends = (how: string) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) =>
      execFile(process.execPath, ["--import", "tsx", fixture, how], (e, _out, stderr) =>
        resolve({ code: e ? ((e as { code?: number }).code ?? null) : 0, stderr }),
      ),
    );

  for (const [how, code] of [
    ["exit", 3],
    ["drain", 0],
    ["throw", 1],
  ] as const) {
    it(`${how}: exit code ${code}, the three lines in order`, async () => {
      const r = await ends(how);
      expect(r.code).toBe(code);
      const msgs = r.stderr
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l).msg);
      expect(msgs).toEqual(["line 1", "line 2", "line 3"]);
      if (how === "throw") expect(r.stderr.indexOf("thrown after the lines")).toBeGreaterThan(r.stderr.indexOf("line 3"));
    });
  }
});
