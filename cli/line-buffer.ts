import type { Clock, Timer } from "../shared/clock.ts";

/**
 * Log lines written together. A relaying process logs a line or two per session, and each line
 * was a write of its own to stderr (a file, a pipe to journald or a terminal; synchronous on
 * Linux either way): the largest single item of the connector's own code per session
 * (docs/performance.md, "Log lines cheaper, and written together"). Lines wait at most
 * `delayMs`, or until `maxChars` characters are waiting (counted as JavaScript counts them, not
 * as bytes: the threshold only sizes the writes); a warning or an error goes at once, behind what
 * waits, so the order holds and problems are never late. The owner flushes on exit.
 */
export class LineBuffer {
  private pending: string[] = [];
  private chars = 0;
  private timer: Timer | undefined;

  constructor(
    private readonly write: (text: string) => void,
    private readonly clock: Clock,
    private readonly delayMs = LINE_DELAY_MS,
    private readonly maxChars = LINE_BUFFER_CHARS,
  ) {}

  add(line: string, urgent: boolean): void {
    this.pending.push(line);
    this.chars += line.length + 1;
    if (urgent || this.chars >= this.maxChars) return this.flush();
    if (!this.timer) {
      this.timer = this.clock.setTimeout(() => this.flush(), this.delayMs);
      // Waiting lines never keep a process alive: the owner's exit hook writes them.
      this.timer.unref();
    }
  }

  flush(): void {
    this.clock.clear(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const text = `${this.pending.join("\n")}\n`;
    this.pending = [];
    this.chars = 0;
    this.write(text);
  }
}

/** Long enough to gather the lines of many sessions, short enough that a watcher sees them at once. */
export const LINE_DELAY_MS = 50;
/** A burst of lines goes out in writes of about this many characters (bytes, for ASCII lines). */
export const LINE_BUFFER_CHARS = 16 << 10;
