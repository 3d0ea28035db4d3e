import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { echoBackend, sha256 } from "../helpers/backends.ts";
import { Cleanup } from "../helpers/cleanup.ts";
import { REGISTERED, startConnector } from "../helpers/connector.ts";
import { startEdge, type TestEdge } from "../helpers/edge.ts";
import { randomToken } from "../helpers/files.ts";
import { msgIs } from "../helpers/processes.ts";
import { LocalConn, startForwarder } from "../helpers/local-conn.ts";

/**
 * Resume (issue 12, protocol v3): sessions through `sallyport client` survive the edge being
 * replaced — the local edge stopped (its workerd gone, every WebSocket dropped) and a new one
 * started on the same port with the same SALLYPORT_RESUME_SECRET, no state carried over, as a
 * deploy does. Every byte arrives once, in order (SHA-256 both ways), and an interactive
 * session keeps answering. The full size (20 × 256 MiB) runs in `npm run bench`; here
 * RESUME_SESSIONS × RESUME_MIB (default 4 × 16 MiB each way) keeps `npm test` quick on 2 cores.
 */

const cleanup = new Cleanup();
let dump: (() => void) | undefined;
afterEach((ctx) => {
  if (ctx.task.result?.state === "fail") dump?.();
  dump = undefined;
  return cleanup.run();
});

const SESSIONS = Number(process.env.RESUME_SESSIONS ?? 4);
const BYTES = Number(process.env.RESUME_MIB ?? 16) * 1024 * 1024;
const ACCEPT = "ws://127.0.0.1/svc";

const percentile = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

describe("resume: the edge is replaced mid-session", () => {
  it(`the edge restarted on its port: ${SESSIONS} bulk sessions go on (SHA-256 equal both ways), an interactive one too`, async () => {
    const token = randomToken();
    const services = { svc: { accept: ACCEPT, "socks.timeout": "10 seconds" } };
    const first: TestEdge = await startEdge(cleanup, { services, tokens: { svc: [token] } });
    const echo = await echoBackend(cleanup);
    const connector = await startConnector(cleanup, {
      edge: first.ws,
      accept: ACCEPT,
      connect: echo.uri,
      token,
      prepared: SESSIONS + 6,
      retryMax: "500 milliseconds",
    });
    await connector.proc.waitForLog(REGISTERED, 20_000, "the connector to register");
    // As shipped: two sessions pre-opened in standby (the first two connections run on them), the rest opened on demand.
    const client = await startForwarder(cleanup, first.clientUrl("/svc"), 2);
    let second: TestEdge | undefined;
    const pick = (raw: string) => /resum|closed|silent|lost|refused|protocol|warn|error/i.test(raw) && !/bind to edge failed/.test(raw);
    dump = () => {
      console.log(
        `CLIENT\n${client.proc.lines
          .map((l) => l.raw)
          .filter(pick)
          .slice(0, 30)
          .join("\n")}`,
      );
      console.log(
        `CONNECTOR\n${connector.proc.lines
          .map((l) => l.raw)
          .filter(pick)
          .slice(0, 40)
          .join("\n")}`,
      );
      console.log(
        `EDGE1\n${first.logs
          .map((l) => l.raw)
          .filter(pick)
          .slice(0, 30)
          .join("\n")}`,
      );
      console.log(
        `EDGE2\n${(second?.logs ?? [])
          .map((l) => l.raw)
          .filter(pick)
          .slice(0, 40)
          .join("\n")}`,
      );
    };

    const chat = new LocalConn(cleanup, client.port, true);
    const ask = async (line: string): Promise<void> => {
      chat.socket.write(`${line}\n`);
      await chat.until(() => chat.texts.join("").includes(`${line}\n`), 20_000, `the echo of ${line}`);
    };
    await ask("hello before");

    const sessions = Array.from({ length: SESSIONS }, () => ({ conn: new LocalConn(cleanup, client.port), data: randomBytes(BYTES) }));
    const half = BYTES / 2;
    await Promise.all(sessions.map((s) => s.conn.write(s.data.subarray(0, half))));
    // Mid-transfer: every session has data in flight when the edge goes.
    await Promise.all(sessions.map((s) => s.conn.until(() => s.conn.received >= half / 2, 30_000, "a quarter echoed")));
    const inFlight = sessions.map((s) => half - s.conn.received);

    await first.stop();
    const droppedAt = performance.now();
    second = await startEdge(cleanup, { services, tokens: { svc: [token] }, port: first.port, resumeSecret: first.resumeSecret });
    const backAfter = performance.now() - droppedAt;

    await ask("hello after");
    await Promise.all(sessions.map((s) => s.conn.write(s.data.subarray(half))));
    for (const s of sessions) s.conn.socket.end();
    await Promise.all(sessions.map((s) => s.conn.until(() => s.conn.ended, 120_000, "every byte echoed, then EOF")));
    for (const s of sessions) {
      expect(s.conn.received).toBe(BYTES);
      expect(s.conn.digest()).toBe(sha256(s.data));
      expect(s.conn.error).toBeUndefined();
    }
    await ask("hello at the end");
    expect(echo.connections()).toBe(SESSIONS + 1); // every backend connection survived: none was dialed again

    const resumed = await client.proc.waitForLogCount(msgIs("session resumed"), SESSIONS + 1, 5000, "the client's resumes logged");
    expect(resumed).toHaveLength(SESSIONS + 1);
    const connectorResumed = await connector.proc.waitForLogCount(
      msgIs("session resumed"),
      SESSIONS + 1,
      5000,
      "the connector's resumes logged",
    );
    expect(connectorResumed).toHaveLength(SESSIONS + 1);
    expect(second.logs.filter((l) => l.json?.msg === "session resumed")).toHaveLength(SESSIONS + 1);
    const stalls = resumed.map((l) => Number(l.json!.stallMs));
    const resent = connectorResumed.reduce((n, l) => n + Number(l.json!.resentBytes), 0);
    console.log(
      `edge restarted (back after ${Math.round(backAfter)} ms) with ${inFlight.reduce((a, b) => a + b, 0)} bytes in flight: ` +
        `client stall p50 ${Math.round(percentile(stalls, 0.5))} ms, p99 ${Math.round(percentile(stalls, 0.99))} ms; ` +
        `connector resent ${resent} bytes`,
    );
  });
});
