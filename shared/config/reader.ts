import { parseDuration } from "./duration.ts";
import type { IssueList } from "./issues.ts";

/**
 * Reads one raw object field by field, recording every problem in `issues` and every key
 * it was asked about, so that `rejectUnknown` can name the keys nobody asked for.
 */
export class FieldReader {
  private readonly seen = new Set<string>();
  constructor(
    readonly raw: Record<string, unknown>,
    readonly path: string,
    readonly issues: IssueList,
  ) {}

  at(key: string): string {
    return this.path ? `${this.path}.${key}` : key;
  }

  private take(key: string): unknown {
    this.seen.add(key);
    return this.raw[key];
  }

  /** Marks a key as known when its value is read by other means (nested lists). */
  claim(key: string): unknown {
    return this.take(key);
  }

  has(key: string): boolean {
    return this.raw[key] !== undefined;
  }

  string(key: string, fallback?: string): string | undefined {
    const v = this.take(key);
    if (v === undefined) {
      if (fallback === undefined) this.issues.add(this.at(key), "is required");
      return fallback;
    }
    if (typeof v !== "string" || v.length === 0) {
      this.issues.add(this.at(key), "must be a non-empty string");
      return undefined;
    }
    if (hasLineBreakOrNul(v)) {
      this.issues.add(this.at(key), "must not contain CR, LF or NUL");
      return undefined;
    }
    return v;
  }

  optionalString(key: string): string | undefined {
    if (this.has(key)) return this.string(key);
    this.take(key);
    return undefined;
  }

  /** A list given as an array of strings or as one comma-separated string. */
  stringList(key: string): string[] | undefined {
    const v = this.take(key);
    if (v === undefined) return undefined;
    const items =
      typeof v === "string"
        ? v
            .split(",")
            .map((x) => x.trim())
            .filter(Boolean)
        : v;
    if (!Array.isArray(items) || items.length === 0 || !items.every((x) => typeof x === "string" && x.length > 0 && !/[\r\n\0]/.test(x))) {
      this.issues.add(this.at(key), "must be a non-empty list of strings (an array, or one comma-separated string)");
      return undefined;
    }
    return items as string[];
  }

  oneOf<T extends string>(key: string, allowed: readonly T[], fallback: T): T {
    const v = this.string(key, fallback);
    if (v === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(v)) {
      this.issues.add(this.at(key), `must be one of ${allowed.map((a) => `"${a}"`).join(", ")}`);
      return fallback;
    }
    return v as T;
  }

  duration(key: string, fallback: string, minMs = 0): number {
    const v = this.take(key);
    const text = v === undefined ? fallback : v;
    if (typeof text !== "string") {
      this.issues.add(this.at(key), 'must be a duration string such as "1 second"');
      return 0;
    }
    // parseDuration forgives whitespace, and \s matches CR and LF: hold durations to the rule.
    if (hasLineBreakOrNul(text)) {
      this.issues.add(this.at(key), "must not contain CR, LF or NUL");
      return 0;
    }
    const r = parseDuration(text);
    if (!r.ok) {
      this.issues.add(this.at(key), r.error);
      return 0;
    }
    if (r.value < minMs) this.issues.add(this.at(key), `must be at least ${minMs} milliseconds`);
    return r.value;
  }

  /** true or false; "true" and "false" too, as the environment and flags give them. */
  boolean(key: string, fallback: boolean): boolean {
    const v = this.take(key);
    if (v === undefined) return fallback;
    if (v === true || v === "true") return true;
    if (v === false || v === "false") return false;
    this.issues.add(this.at(key), "must be true or false");
    return fallback;
  }

  /** A duration that may be left out: undefined then (no limit, typically). */
  optionalDuration(key: string, minMs = 0): number | undefined {
    if (this.has(key)) return this.duration(key, "", minMs);
    this.take(key);
    return undefined;
  }

  integer(key: string, fallback: number, min: number, max: number): number {
    const v = this.take(key);
    const n = v === undefined ? fallback : typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v;
    if (!Number.isSafeInteger(n) || (n as number) < min || (n as number) > max) {
      this.issues.add(this.at(key), `must be a whole number from ${min} to ${max}`);
      return fallback;
    }
    return n as number;
  }

  /** Reports keys present in the raw object that no reader asked for. */
  rejectUnknown(): void {
    for (const key of Object.keys(this.raw)) {
      if (!this.seen.has(key)) this.issues.add(this.at(key), "is not a known setting");
    }
  }
}

/** CR, LF and NUL let a value forge log lines or headers; nothing legitimate needs them. */
function hasLineBreakOrNul(v: string): boolean {
  return /[\r\n\0]/.test(v);
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
