import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Backoff, DEFAULT_BACKOFF, nextDelayMs, type BackoffOptions, type Clock } from "../../shared/backoff.ts";

const noJitter = () => 0;

/** A clock the test moves by hand: backoff tests never sleep. */
class FakeClock implements Clock {
  constructor(private t = 1_000_000) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

describe("nextDelayMs", () => {
  it("defaults to Kaazing's first step and a fifth of jitter", () => {
    expect(DEFAULT_BACKOFF).toStrictEqual({ initialMs: 100, jitter: 0.2 });
  });

  it("doubles from 100 ms as Kaazing documents: 100, 200, 400, 800 … up to the maximum", () => {
    const opts: BackoffOptions = { ...DEFAULT_BACKOFF, maximumMs: 5000 };
    const delays = Array.from({ length: 10 }, (_, attempt) => nextDelayMs(attempt, opts, noJitter));
    expect(delays).toStrictEqual([100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000]);
  });

  it("stops at socks.retry.maximum.interval = 1 second (the Enterprise Shield example)", () => {
    const opts: BackoffOptions = { ...DEFAULT_BACKOFF, maximumMs: 1000 };
    const delays = Array.from({ length: 6 }, (_, attempt) => nextDelayMs(attempt, opts, noJitter));
    expect(delays).toStrictEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it("stays at the maximum for any number of attempts, without overflow", () => {
    const opts: BackoffOptions = { ...DEFAULT_BACKOFF, maximumMs: 86_400_000 };
    for (const attempt of [30, 31, 64, 1024, 1e6, Number.MAX_SAFE_INTEGER]) {
      expect(nextDelayMs(attempt, opts, noJitter), String(attempt)).toBe(86_400_000);
    }
  });

  it("never starts above the maximum", () => {
    expect(nextDelayMs(0, { initialMs: 100, maximumMs: 50, jitter: 0 }, noJitter)).toBe(50);
  });

  it("takes off jitter × random of the delay, never adds", () => {
    const opts: BackoffOptions = { initialMs: 100, maximumMs: 10_000, jitter: 0.2 };
    expect(nextDelayMs(3, opts, () => 0.5)).toBe(720); // 800 × (1 − 0.2 × 0.5)
    expect(nextDelayMs(3, opts, () => 0.999_999)).toBe(640); // just above 800 × 0.8
    expect(nextDelayMs(0, { ...opts, jitter: 1 }, () => 0.5)).toBe(50);
  });

  it("returns whole milliseconds", () => {
    expect(nextDelayMs(0, { initialMs: 100, maximumMs: 1000, jitter: 0.3 }, () => 0.123)).toBe(96);
  });

  it("never exceeds the maximum and never takes off more than the jitter fraction", () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 80 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 100, max: 86_400_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, initialMs, maximumMs, jitter, r) => {
          const opts = { initialMs, maximumMs, jitter };
          const base = nextDelayMs(attempt, { ...opts, jitter: 0 }, noJitter);
          const delay = nextDelayMs(attempt, opts, () => r);
          expect(base).toBe(Math.min(maximumMs, initialMs * 2 ** Math.min(attempt, 30)));
          expect(delay).toBeLessThanOrEqual(maximumMs);
          expect(delay).toBeLessThanOrEqual(base);
          // Rounding may move it half a millisecond, no more.
          expect(delay).toBeGreaterThanOrEqual(base * (1 - jitter) - 0.5);
          expect(Number.isInteger(delay)).toBe(true);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("grows monotonically without jitter", () => {
    fc.assert(
      fc.property(fc.nat({ max: 60 }), fc.integer({ min: 100, max: 86_400_000 }), (attempt, maximumMs) => {
        const opts = { ...DEFAULT_BACKOFF, maximumMs };
        expect(nextDelayMs(attempt + 1, opts, noJitter)).toBeGreaterThanOrEqual(nextDelayMs(attempt, opts, noJitter));
      }),
    );
  });
});

describe("Backoff", () => {
  const opts = { ...DEFAULT_BACKOFF, maximumMs: 1000, stableMs: 10_000 };
  const make = (clock: Clock) => new Backoff(opts, clock, noJitter);

  it("backs off further with each failure that never connected", () => {
    const b = make(new FakeClock());
    expect([b.failed(), b.failed(), b.failed(), b.failed(), b.failed(), b.failed()]).toStrictEqual([100, 200, 400, 800, 1000, 1000]);
    expect(b.attempts).toBe(6);
  });

  it("starts with no attempts", () => {
    expect(make(new FakeClock()).attempts).toBe(0);
  });

  it("keeps backing off when a connection drops before stableMs", () => {
    const clock = new FakeClock();
    const b = make(clock);
    b.failed();
    b.failed();
    b.failed(); // next would be 800
    b.connected();
    clock.advance(opts.stableMs - 1);
    expect(b.failed()).toBe(800);
    expect(b.attempts).toBe(4);
  });

  it("resets after a connection stayed up for stableMs", () => {
    const clock = new FakeClock();
    const b = make(clock);
    for (let i = 0; i < 5; i++) b.failed();
    b.connected();
    clock.advance(opts.stableMs);
    expect(b.failed()).toBe(100);
    expect(b.failed()).toBe(200);
  });

  it("does not reset merely because time passed while disconnected", () => {
    const clock = new FakeClock();
    const b = make(clock);
    for (let i = 0; i < 3; i++) b.failed();
    clock.advance(opts.stableMs * 10);
    expect(b.failed()).toBe(800);
  });

  it("measures stability from the latest connection, once per connection", () => {
    const clock = new FakeClock();
    const b = make(clock);
    for (let i = 0; i < 3; i++) b.failed();
    b.connected();
    clock.advance(opts.stableMs);
    expect(b.failed()).toBe(100); // stable run: reset
    clock.advance(opts.stableMs * 5); // disconnected for long: no second reset
    expect(b.failed()).toBe(200);
  });

  it("a flapping link never resets", () => {
    const clock = new FakeClock();
    const b = make(clock);
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      b.connected();
      clock.advance(opts.stableMs / 2);
      delays.push(b.failed());
    }
    expect(delays).toStrictEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it("uses the random source it is given", () => {
    const b = new Backoff(opts, new FakeClock(), () => 0.5);
    expect([b.failed(), b.failed()]).toStrictEqual([90, 180]);
  });

  it("defaults to Math.random, within the jitter bounds", () => {
    const b = new Backoff(opts, new FakeClock());
    for (const base of [100, 200, 400, 800, 1000, 1000]) {
      const d = b.failed();
      expect(d).toBeLessThanOrEqual(base);
      expect(d).toBeGreaterThanOrEqual(base * (1 - DEFAULT_BACKOFF.jitter));
    }
  });
});
