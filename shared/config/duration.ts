import { err, ok, type Result } from "../result.ts";

/**
 * Durations as the Kaazing gateway spells them ("1 second", "2 seconds", "100 milliseconds")
 * and in the short form ("1s", "100ms", "1.5m"). A bare number is rejected: its unit would
 * be a guess.
 */
const UNITS: ReadonlyMap<string, number> = new Map([
  ["ms", 1],
  ["millisecond", 1],
  ["milliseconds", 1],
  ["msec", 1],
  ["msecs", 1],
  ["s", 1000],
  ["sec", 1000],
  ["secs", 1000],
  ["second", 1000],
  ["seconds", 1000],
  ["m", 60_000],
  ["min", 60_000],
  ["mins", 60_000],
  ["minute", 60_000],
  ["minutes", 60_000],
  ["h", 3_600_000],
  ["hour", 3_600_000],
  ["hours", 3_600_000],
]);

const DURATION = /^(\d+(?:\.\d+)?)\s*([a-z]+)$/;

/** Longest duration accepted anywhere: a day. Beyond that a value is a typo. */
export const MAX_DURATION_MS = 86_400_000;

export function parseDuration(input: string): Result<number, string> {
  const m = DURATION.exec(input.trim().toLowerCase());
  const factor = m ? UNITS.get(m[2]!) : undefined;
  if (!m || factor === undefined) {
    // JSON-quoted: a CR or LF in the value must not start a new line in the report.
    return err(`${JSON.stringify(input)} is not a duration; write e.g. "1 second", "500 milliseconds", "2s" or "100ms"`);
  }
  const ms = Math.round(Number(m[1]) * factor);
  if (ms > MAX_DURATION_MS) return err(`${JSON.stringify(input)} is longer than 24 hours`);
  return ok(ms);
}

/** The inverse for messages and docs: the largest whole unit. */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ["hours", 3_600_000],
    ["minutes", 60_000],
    ["seconds", 1000],
  ] as const) {
    if (ms >= size && ms % size === 0) {
      const n = ms / size;
      return `${n} ${n === 1 ? unit.slice(0, -1) : unit}`;
    }
  }
  return `${ms} ${ms === 1 ? "millisecond" : "milliseconds"}`;
}
