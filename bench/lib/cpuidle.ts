import { readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * How the machine's CPUs idle, kept with each run's results. A round trip through the tunnel
 * wakes five processes in turn; on a VM whose idle vCPUs halt at once (cpuidle's `haltpoll`
 * driver with `guest_halt_poll_ns` 0, as on the project machine) each wake-up onto an idle vCPU
 * waits for the hypervisor, and the 64-byte RTT was ~3 × what it is with the vCPUs polling for
 * 200 µs first: docs/performance.md, "A round trip on a halting VM". Two runs are comparable
 * only with the same settings.
 */
export interface CpuIdle {
  readonly driver?: string;
  readonly governor?: string;
  /** haltpoll's longest poll before a vCPU halts; 0: it halts at once. */
  readonly haltPollNs?: number;
}

/** Reads the settings from sysfs; what the machine does not have is undefined. */
export function readCpuIdle(): CpuIdle {
  const read = (path: string): string | undefined => {
    try {
      return readFileSync(join("/sys", path), "utf8").trim() || undefined;
    } catch {
      return undefined;
    }
  };
  const driver = read("devices/system/cpu/cpuidle/current_driver");
  const governor = read("devices/system/cpu/cpuidle/current_governor") ?? read("devices/system/cpu/cpuidle/current_governor_ro");
  const poll = read("module/haltpoll/parameters/guest_halt_poll_ns");
  const haltPollNs = poll !== undefined && /^\d+$/.test(poll) ? Number(poll) : undefined;
  // run-info.json leaves out what is undefined (JSON.stringify).
  return { driver, governor, haltPollNs };
}

/** A line for the run's progress when idle vCPUs halt at once: the latency figures include it. */
export function haltNote(idle: CpuIdle): string | undefined {
  if (idle.driver !== "haltpoll" || idle.haltPollNs !== 0) return undefined;
  return (
    "note: idle vCPUs halt at once here (cpuidle haltpoll, guest_halt_poll_ns 0): every round trip and new session waits " +
    "for vCPUs to wake, and the latency figures are ~3 × those of polling vCPUs; compare runs with the same setting (run-info.json)"
  );
}
