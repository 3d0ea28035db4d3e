import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_DURATION_MS, formatDuration, parseDuration } from "../../shared/config/duration.ts";

describe("parseDuration", () => {
  it.each([
    // Kaazing's spelling, as in the Enterprise Shield examples
    ["1 second", 1000],
    ["2 seconds", 2000],
    ["100 milliseconds", 100],
    ["1 millisecond", 1],
    ["30 sec", 30_000],
    ["5 secs", 5000],
    ["1 minute", 60_000],
    ["2 minutes", 120_000],
    ["3 min", 180_000],
    ["4 mins", 240_000],
    ["1 hour", 3_600_000],
    ["2 hours", 7_200_000],
    ["250 msec", 250],
    ["250 msecs", 250],
    // short forms
    ["1s", 1000],
    ["100ms", 100],
    ["1.5m", 90_000],
    ["2h", 7_200_000],
    ["0ms", 0],
    ["0s", 0],
    ["0.5s", 500],
    ["1.0005s", 1001], // rounded to the nearest millisecond
    // spacing and case are forgiving
    ["  1 second  ", 1000],
    ["1   seconds", 1000],
    ["1 Second", 1000],
    ["100MS", 100],
    ["1\tsecond", 1000],
    // the maximum
    ["24 hours", MAX_DURATION_MS],
    ["1440 minutes", MAX_DURATION_MS],
    ["86400000ms", MAX_DURATION_MS],
  ])("%j → %i ms", (input, ms) => {
    expect(parseDuration(input)).toStrictEqual({ ok: true, value: ms });
  });

  it.each([
    "",
    " ",
    "1", // a bare number: its unit would be a guess
    "100",
    "second",
    "s",
    "-1s", // negative
    "+1s",
    "1e3ms",
    "1,5s",
    ".5s",
    "5.s",
    "1 fortnight",
    "1 d",
    "1 days",
    "1 ns",
    "1 us",
    "1s 500ms",
    "1 second.",
    "one second",
    "Infinity s",
    "NaN ms",
    "0x10 ms",
    "1\nsecond\n0",
  ])("refuses %j with a message that shows how to write one", (input) => {
    const r = parseDuration(input);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error).toContain(JSON.stringify(input));
      expect(r.error).toContain('"1 second"');
      expect(r.error).not.toMatch(/[\r\n\0]/); // a report line can never be forged
    }
  });

  it.each(["25 hours", "86400001 ms", "24.001 hours", "99999999999999999999999 s"])("refuses %j as longer than a day", (input) => {
    expect(parseDuration(input)).toStrictEqual({ ok: false, error: `"${input}" is longer than 24 hours` });
  });

  it("never throws and never returns a negative or non-integer", () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const r = parseDuration(s);
        if (r.ok) {
          expect(Number.isSafeInteger(r.value)).toBe(true);
          expect(r.value).toBeGreaterThanOrEqual(0);
          expect(r.value).toBeLessThanOrEqual(MAX_DURATION_MS);
        }
      }),
    );
  });
});

describe("formatDuration", () => {
  it.each([
    [0, "0 milliseconds"],
    [1, "1 millisecond"],
    [100, "100 milliseconds"],
    [1500, "1500 milliseconds"],
    [1000, "1 second"],
    [2000, "2 seconds"],
    [90_000, "90 seconds"],
    [60_000, "1 minute"],
    [120_000, "2 minutes"],
    [3_600_000, "1 hour"],
    [MAX_DURATION_MS, "24 hours"],
  ])("%i ms → %j", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it("is the inverse of parseDuration", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_DURATION_MS }), (ms) => {
        expect(parseDuration(formatDuration(ms))).toStrictEqual({ ok: true, value: ms });
      }),
    );
  });
});
