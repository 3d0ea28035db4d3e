import type { Clock, Timer } from "./clock.ts";
import { HEARTBEAT_MISSES } from "./protocol/constants.ts";

/**
 * One socket's heartbeat, as its sender keeps it: a beat every interval, and a verdict once
 * nothing was heard for HEARTBEAT_MISSES intervals. Platform-neutral (time through a Clock), so
 * the connector's binds and the client's session sockets (Node and browser) share it. What counts
 * as heard is the owner's to say (any frame from the peer, not only the answer).
 *
 * Detection only: the owner decides what a silent path means (today: end the session).
 * While the owner is not reading the socket (`listening` false: it paused it for
 * backpressure, or while dialing the backend), silence is no evidence and is not counted.
 */
export class Heartbeat {
  private timer: Timer | undefined;
  private lastHeard: number;
  private intervalMs = 0;

  constructor(
    private readonly clock: Clock,
    private readonly beat: () => void,
    private readonly silent: (silentMs: number) => void,
    private readonly listening: () => boolean = () => true,
  ) {
    this.lastHeard = clock.now();
  }

  /** Starts, or changes the interval; the silence counted so far starts over. */
  every(ms: number): void {
    if (ms === this.intervalMs && this.timer !== undefined) return;
    this.stop();
    this.intervalMs = ms;
    this.lastHeard = this.clock.now();
    this.timer = this.clock.setInterval(() => this.tick(), ms);
    // Node: a heartbeat alone must not keep the process alive. Browsers have no unref.
    (this.timer as { unref?: () => void }).unref?.();
  }

  get interval(): number {
    return this.intervalMs;
  }

  heard(): void {
    this.lastHeard = this.clock.now();
  }

  stop(): void {
    this.clock.clear(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    if (!this.listening()) this.lastHeard = this.clock.now();
    const silentMs = this.clock.now() - this.lastHeard;
    if (silentMs > this.intervalMs * HEARTBEAT_MISSES) {
      this.stop();
      this.silent(silentMs);
    } else this.beat();
  }
}
