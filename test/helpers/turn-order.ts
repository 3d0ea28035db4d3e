/**
 * The tunnels' order in one repetition of an `npm run bench -- --interleave` run (bench/run.ts).
 * In a pair run back to back the second ran a few per cent ahead in both TTFB and bulk
 * (docs/performance.md, "Streamed messages and gathered writes"), so a fixed order leans every
 * A/B towards the tunnel listed last. Repetition r starts at the r-th tunnel instead: over as
 * many repetitions as tunnels (or a multiple), each runs in every position equally often.
 */
export function turnOrder<T>(items: readonly T[], rep: number): T[] {
  if (items.length === 0) return [];
  const at = (((rep - 1) % items.length) + items.length) % items.length;
  return [...items.slice(at), ...items.slice(0, at)];
}
