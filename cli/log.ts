import { createLogger, type Level, type Logger } from "../shared/log.ts";

/** The commands' log on stderr: JSON lines for journald and files, readable lines on a terminal. */
export function stderrLogger(level?: Level): Logger {
  return createLogger({ level, json: !process.stderr.isTTY, write: (line) => process.stderr.write(`${line}\n`) });
}
