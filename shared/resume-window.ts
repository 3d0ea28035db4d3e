import { nextDelayMs } from "./backoff.ts";
import type { Clock } from "./clock.ts";
import { CloseCode } from "./protocol/close-codes.ts";

/**
 * v3: how an end of a dropped session tries to resume it (docs/protocol.md, "Resume"), shared by
 * the connector's bind and the client's stream: the first attempt at once, then backing off
 * (100 ms doubling to 1 s, some jitter), until the ticket's timeoutMs (session.resume.timeout)
 * has passed since the drop. Then the session is over.
 */

/** A dropped link, not an ending: closed without a close frame, or told by the edge to resume. */
export function linkLost(code: number): boolean {
  return code === 1006 || code === CloseCode.RESUME;
}

const RETRY = { initialMs: 100, maximumMs: 1000, jitter: 0.2 };

export class ResumeWindow {
  private attempt = 0;
  readonly droppedAt: number;

  constructor(
    private readonly clock: Clock,
    readonly timeoutMs: number,
  ) {
    this.droppedAt = clock.now();
  }

  /** Milliseconds since the drop. */
  get elapsed(): number {
    return this.clock.now() - this.droppedAt;
  }

  /** How long until the next attempt; undefined once the window has passed (give up). */
  nextDelay(): number | undefined {
    if (this.elapsed >= this.timeoutMs) return undefined;
    const delay = this.attempt === 0 ? 0 : nextDelayMs(this.attempt - 1, RETRY, Math.random);
    this.attempt++;
    return Math.min(delay, Math.max(0, this.timeoutMs - this.elapsed));
  }

  get attempts(): number {
    return this.attempt;
  }
}
