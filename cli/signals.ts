import type { Logger } from "../shared/log.ts";

/** Resolves on the first SIGTERM or SIGINT; a second one exits at once. */
export function onStopSignals(log: Logger): Promise<string> {
  return new Promise((resolve) => {
    let stopping = false;
    const handler = (signal: string): void => {
      if (stopping) {
        log.log("warn", "second signal: exiting now", { signal });
        process.exit(130);
      }
      stopping = true;
      log.log("info", "stopping", { signal });
      resolve(signal);
    };
    process.on("SIGTERM", handler);
    process.on("SIGINT", handler);
  });
}
