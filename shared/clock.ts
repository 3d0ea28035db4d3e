/**
 * Time as the modules that schedule see it: every time read and timer goes through a Clock,
 * so a unit test drives backoff, heartbeats and lingering with a manual clock instead of
 * sleeping. `systemClock` is the real one.
 */
export interface Timer {
  /** Node: do not keep the process alive for this timer alone. */
  unref(): unknown;
}

export interface Clock {
  now(): number;
  setTimeout(run: () => void, ms: number): Timer;
  setInterval(run: () => void, ms: number): Timer;
  /** Cancels a timeout or an interval; undefined is a no-op. */
  clear(timer: Timer | undefined): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (run, ms) => setTimeout(run, ms),
  setInterval: (run, ms) => setInterval(run, ms),
  clear: (timer) => clearTimeout(timer as NodeJS.Timeout | undefined),
};
