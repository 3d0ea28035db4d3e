import type { EventEmitter } from "node:events";

/**
 * Every wait in the e2e tier goes through here: each has a deadline and rejects with a
 * message naming what was awaited, so a missing event fails its test instead of hanging it.
 */

export class WaitTimeout extends Error {
  constructor(what: string, ms: number) {
    super(`timed out after ${ms} ms waiting for ${what}`);
    this.name = "WaitTimeout";
  }
}

/** Resolves with `promise`, or rejects after `ms`. The timer never keeps the process alive. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new WaitTimeout(what, ms)), ms);
    timer.unref();
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** The first `event` from `emitter` (its arguments), or a rejection on 'error' or timeout. */
export function once<T extends unknown[] = unknown[]>(emitter: EventEmitter, event: string, ms: number, what = `"${event}"`): Promise<T> {
  let cleanup = (): void => {};
  const p = new Promise<T>((resolve, reject) => {
    const onEvent = (...args: unknown[]): void => {
      cleanup();
      resolve(args as T);
    };
    const onError = (e: Error): void => {
      cleanup();
      reject(e);
    };
    emitter.on(event, onEvent);
    if (event !== "error") emitter.on("error", onError);
    cleanup = () => {
      emitter.off(event, onEvent);
      emitter.off("error", onError);
    };
  });
  return within(p, ms, what).finally(() => cleanup());
}

/**
 * A condition over state that changes on events: `check` runs now and after every `notify`,
 * and the wait resolves with its first non-undefined result.
 */
export class Condition {
  private readonly waiters = new Set<() => void>();

  notify(): void {
    for (const w of [...this.waiters]) w();
  }

  wait<T>(check: () => T | undefined | false, ms: number, what: string): Promise<T> {
    let waiter: (() => void) | undefined;
    const p = new Promise<T>((resolve, reject) => {
      waiter = () => {
        let v: T | undefined | false;
        try {
          v = check();
        } catch (e) {
          this.waiters.delete(waiter!);
          return reject(e);
        }
        if (v !== undefined && v !== false) {
          this.waiters.delete(waiter!);
          resolve(v);
        }
      };
      this.waiters.add(waiter);
      waiter();
    });
    return within(p, ms, what).finally(() => this.waiters.delete(waiter!));
  }
}

/** Elapsed milliseconds since `start` (performance.now()). */
export const since = (start: number): number => performance.now() - start;
