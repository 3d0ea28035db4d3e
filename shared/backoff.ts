/**
 * Reconnect delays as Kaazing documents them for socks.retry.maximum.interval:
 * 100 ms, 200 ms, 400 ms … doubling up to the maximum. Jitter takes up to `jitter` of each
 * delay off (never adds), so a fleet reconnecting after an edge restart spreads out while
 * no delay exceeds the configured maximum.
 */
export interface BackoffOptions {
  readonly initialMs: number;
  readonly maximumMs: number;
  /** Fraction 0..1 of each delay that may be taken off at random. */
  readonly jitter: number;
}

export const DEFAULT_BACKOFF: Omit<BackoffOptions, "maximumMs"> = { initialMs: 100, jitter: 0.2 };

/** A connection that stays up this long resets the backoff (connector binds, pre-opened client sessions). */
export const STABLE_MS = 10_000;

/** Pure: the delay before retry number `attempt` (0-based). `random` returns [0, 1). */
export function nextDelayMs(attempt: number, opts: BackoffOptions, random: () => number): number {
  const exp = Math.min(attempt, 30); // 2^30 × 100 ms already dwarfs any maximum
  const base = Math.min(opts.maximumMs, opts.initialMs * 2 ** exp);
  return Math.round(base * (1 - opts.jitter * random()));
}

export interface Clock {
  now(): number;
}

/**
 * The stateful wrapper: counts failures, and forgets them only after a connection has
 * stayed up for `stableMs` — a link that flaps right after connecting keeps backing off.
 */
export class Backoff {
  private attempt = 0;
  private upSince: number | undefined;

  constructor(
    private readonly opts: BackoffOptions & { readonly stableMs: number },
    private readonly clock: Clock,
    private readonly random: () => number = Math.random,
  ) {}

  /** Call when a connection succeeded. */
  connected(): void {
    this.upSince = this.clock.now();
  }

  /** Call when a connection failed or dropped; returns how long to wait before the next try. */
  failed(): number {
    if (this.upSince !== undefined && this.clock.now() - this.upSince >= this.opts.stableMs) this.attempt = 0;
    this.upSince = undefined;
    return nextDelayMs(this.attempt++, this.opts, this.random);
  }

  get attempts(): number {
    return this.attempt;
  }
}
