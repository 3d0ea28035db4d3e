// What the connector's two per-session log lines cost in shared/log.ts and cli/line-buffer.ts alone,
// written to a file as the bench's children write stderr: node --import tsx logbench.mts ROOT [V8 FLAGS BEFORE --import]
import { openSync, writeSync, rmSync } from "node:fs";
const root = process.argv[2];
const { createLogger } = await import(`${root}/shared/log.ts`);
const { LineBuffer } = await import(`${root}/cli/line-buffer.ts`);
const { systemClock } = await import(`${root}/shared/clock.ts`);
const file = "/tmp/sallyport-logbench.out";
const fd = openSync(file, "w");
const lines = new LineBuffer((t: string) => writeSync(fd, t), systemClock);
const log = createLogger({ json: true, write: (l: string, at: string) => lines.add(l, at === "warn" || at === "error") }, { service: "svc" });
const bind = log.child({ bindId: "b-123456" });
function session(i: number): void {
  const s = bind.child({ sessionId: `s-${i}` });
  s.log("info", "session started", { clientAddress: "127.0.0.1:5555", clientProtocol: "sallyport", connectMs: 0.42 });
  s.log("info", "session ended", { by: "client", closeCode: 1000, bytesToBackend: 64, bytesToClient: 64, durationMs: 1.2, kept: true });
}
for (let round = 0; round < 5; round++) {
  const n = 20_000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) session(i);
  lines.flush();
  console.log(`round ${round}: ${(((performance.now() - t0) * 1000) / n).toFixed(2)} µs per session (a child logger, 2 lines)`);
}
rmSync(file);
