import { systemClock } from "../shared/clock.ts";
import { createLogger, type Level, type Logger } from "../shared/log.ts";
import { LineBuffer } from "./line-buffer.ts";

let stderrLines: LineBuffer | undefined;

/** The process's one buffer of stderr lines (every logger of the process shares it, so lines keep their order). */
function stderrBuffer(): LineBuffer {
  if (!stderrLines) {
    const lines = new LineBuffer((text) => process.stderr.write(text), systemClock);
    // 'exit' comes with process.exit(), an empty event loop and an uncaught exception alike.
    process.on("exit", () => lines.flush());
    stderrLines = lines;
  }
  return stderrLines;
}

/** The commands' log on stderr: JSON lines for journald and files, readable lines on a terminal. */
export function stderrLogger(level?: Level): Logger {
  const lines = stderrBuffer();
  return createLogger({ level, json: !process.stderr.isTTY, write: (line, at) => lines.add(line, at === "warn" || at === "error") });
}
