import { parseDuration } from "../../shared/config/duration.ts";
import type { Exit, Proc } from "./processes.ts";
import { since } from "./wait.ts";

/**
 * Reading a shipped systemd unit the way systemd does, for tests that check what it says or
 * act out what it makes systemd do (stopping the service: systemd.kill(5), systemd.service(5)).
 */

/** Directive → every value it is given, comments and section headers left out. */
export function directives(unit: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const line of unit.split("\n")) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) map.set(m[1]!, [...(map.get(m[1]!) ?? []), m[2]!]);
  }
  return map;
}

/** How `systemctl stop` (and so `restart`) ends the service's process. */
export interface StopPolicy {
  /** KillSignal= (systemd's default SIGTERM): sent first. */
  readonly killSignal: NodeJS.Signals;
  /** TimeoutStopSec= (default 90 s): how long systemd waits after it before the final signal. */
  readonly timeoutMs: number;
  /** SendSIGKILL= (default yes): whether FinalKillSignal= (SIGKILL) follows the timeout at all. */
  readonly sendSigkill: boolean;
}

export function stopPolicy(unit: string): StopPolicy {
  const d = directives(unit);
  const one = (key: string): string | undefined => d.get(key)?.at(-1);
  const timeout = parseDuration(one("TimeoutStopSec") ?? "90s");
  if (!timeout.ok) throw new Error(`TimeoutStopSec: ${timeout.error}`);
  const finalSignal = one("FinalKillSignal") ?? "SIGKILL";
  if (finalSignal !== "SIGKILL") throw new Error(`FinalKillSignal=${finalSignal}: only SIGKILL is acted out`);
  return {
    killSignal: (one("KillSignal") ?? "SIGTERM") as NodeJS.Signals,
    timeoutMs: timeout.value,
    sendSigkill: (one("SendSIGKILL") ?? "yes") !== "no",
  };
}

export interface Stopped {
  readonly exit: Exit;
  /** From the kill signal to the process's end. */
  readonly ms: number;
  /** The kill signal did not end it within the timeout: systemd's "State 'stop-sigterm' timed out. Killing." */
  readonly timedOut: boolean;
}

/**
 * Stops `proc` as systemd stops the unit: the kill signal to its PID, then, if it has not
 * exited within the timeout, SIGKILL (systemd then reports the stop as failed with result
 * 'timeout'). Without SendSIGKILL it waits no longer than the timeout and throws.
 */
export async function stopAsUnit(proc: Proc, policy: StopPolicy): Promise<Stopped> {
  const start = performance.now();
  proc.signal(policy.killSignal);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    proc.exited.then(() => false),
    new Promise<true>((resolve) => {
      timer = setTimeout(() => resolve(true), policy.timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  if (timedOut) {
    if (!policy.sendSigkill)
      throw new Error(`${proc.name} (pid ${proc.pid}) still running ${policy.timeoutMs} ms after ${policy.killSignal}`);
    proc.signal("SIGKILL");
  }
  const exit = await proc.waitForExit(5000);
  return { exit, ms: since(start), timedOut };
}
