/**
 * Medians over repetitions and the Markdown table (one column per tunnel, ratios against
 * the floor, `direct`).
 */

export type Line = Record<string, unknown> & { tunnel: string; test: string; rep: number; ok: boolean };

export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const a = [...values].sort((x, y) => x - y);
  const m = Math.floor(a.length / 2);
  return a.length % 2 ? a[m] : (a[m - 1]! + a[m]!) / 2;
}

/** Value at a dotted path, e.g. "cpu_s.total". */
export function pick(line: Record<string, unknown>, path: string): number | undefined {
  let v: unknown = line;
  for (const k of path.split(".")) v = v && typeof v === "object" ? (v as Record<string, unknown>)[k] : undefined;
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

export interface Stat {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly n: number;
}

export function stat(lines: readonly Line[], tunnel: string, test: string, path: string, okOnly = true): Stat | undefined {
  const vals = lines
    .filter((l) => l.tunnel === tunnel && l.test === test && (!okOnly || l.ok))
    .map((l) => pick(l, path))
    .filter((v): v is number => v !== undefined);
  const m = median(vals);
  return m === undefined ? undefined : { median: m, min: Math.min(...vals), max: Math.max(...vals), n: vals.length };
}

export function fmt(v: number | undefined, digits = 0): string {
  if (v === undefined) return "–";
  const abs = Math.abs(v);
  const d = abs >= 100 ? 0 : abs >= 10 ? Math.min(digits, 1) : digits;
  return v.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
}

export interface Row {
  readonly label: string;
  readonly test: string;
  readonly path: string;
  readonly digits?: number;
  /** "higher" (throughput) or "lower" (time, memory): how the ratio to the floor reads. */
  readonly better?: "higher" | "lower";
  /** Show the ratio against direct (default true when better is set). */
  readonly ratio?: boolean;
  /** Tunnels this row does not apply to. */
  readonly skip?: readonly string[];
}

export function table(lines: readonly Line[], tunnels: readonly string[], rows: readonly Row[], reps: number): string {
  const out: string[] = [];
  out.push(`| metric (median of reps${reps > 1 ? "; [min–max]" : ""}) | ${tunnels.join(" | ")} |`);
  out.push(`|---|${tunnels.map(() => "---:").join("|")}|`);
  for (const r of rows) {
    const floor = stat(lines, "direct", r.test, r.path)?.median;
    const cells = tunnels.map((t) => {
      if (r.skip?.includes(t)) return "n/a";
      const s = stat(lines, t, r.test, r.path);
      const failed = lines.filter((l) => l.tunnel === t && l.test === r.test && !l.ok).length;
      if (!s) return failed ? `FAIL (${failed})` : "–";
      let cell = fmt(s.median, r.digits ?? 0);
      if (s.n > 1 && s.min !== s.max) cell += ` [${fmt(s.min, r.digits ?? 0)}–${fmt(s.max, r.digits ?? 0)}]`;
      if (r.better && r.ratio !== false && t !== "direct" && floor !== undefined && floor > 0) cell += ` (${fmt(s.median / floor, 2)}×)`;
      if (failed) cell += ` ⚠${failed} failed`;
      return cell;
    });
    out.push(`| ${r.label} | ${cells.join(" | ")} |`);
  }
  return out.join("\n");
}
