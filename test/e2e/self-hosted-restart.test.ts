import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { makePki } from "../helpers/certs.ts";
import { Cleanup, REGISTERED, echoBackend, msgIs, randomToken, sha256, since, startConnector, tempDir } from "../helpers/index.ts";
import { LocalConn, startForwarder } from "../helpers/local-conn.ts";
import { UNIT, startWorkerd, writeEdgeDir } from "../helpers/self-hosted-edge.ts";
import { stopAsUnit, stopPolicy } from "../helpers/systemd-unit.ts";

/**
 * Issue 12 on the self-hosted edge: `systemctl restart sallyport-edge` as the shipped unit
 * makes systemd do it — its KillSignal to workerd's PID, SIGKILL if TimeoutStopSec passes
 * first — with WebSockets open (parked binds, sessions streaming), then a new workerd on the
 * same ports with the same SALLYPORT_RESUME_SECRET. The stop must not need the SIGKILL (workerd
 * drains forever on SIGTERM while a WebSocket is open, keeping its ports), the new workerd must
 * bind, and every session goes on where it stopped (SHA-256 equal both ways).
 */

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const POLICY = stopPolicy(UNIT);
const SESSIONS = 3;
const BYTES = 4 * 1024 * 1024;
const ACCEPT = "wss://localhost/svc";

describe("self-hosted edge restarted the way its unit restarts it", () => {
  it(
    `${POLICY.killSignal} (the unit's KillSignal) ends workerd with WebSockets open, inside TimeoutStopSec; the new workerd binds ` +
      `the same ports; ${SESSIONS} sessions resume with SHA-256 equal both ways`,
    async () => {
      const [pki, echo, dir] = await Promise.all([makePki(cleanup), echoBackend(cleanup), tempDir(cleanup)]);
      const token = randomToken();
      // The connector on the connectors listener with its certificate, as the README sets a site up.
      const services = { svc: { accept: ACCEPT, "socks.timeout": "10 seconds", "socks.ssl.verify-client": "required" } };
      await writeEdgeDir(dir, { pki, services, tokens: { svc: [token] } });
      // From the unit's EnvironmentFile, the same for both processes.
      const env = { SALLYPORT_RESUME_SECRET: randomToken() };
      const first = await startWorkerd(cleanup, dir, { env });

      const connector = await startConnector(cleanup, {
        edge: `wss://127.0.0.1:${first.ports.connectors}`,
        accept: ACCEPT,
        connect: echo.uri,
        token,
        prepared: SESSIONS + 4,
        retryMax: "500 milliseconds",
        extraArgs: ["--ca-file", pki.ca.certFile, "--cert-file", pki.client.certFile, "--key-file", pki.client.keyFile],
      });
      await connector.proc.waitForLog(REGISTERED, 20_000, "the connector to register");
      const clientUrl = `wss://127.0.0.1:${first.ports.https}/svc`;
      const client = await startForwarder(cleanup, clientUrl, 0, ["--ca-file", pki.ca.certFile]);

      const chat = new LocalConn(cleanup, client.port, true);
      const ask = async (conn: LocalConn, line: string): Promise<void> => {
        conn.socket.write(`${line}\n`);
        await conn.until(() => conn.texts.join("").includes(`${line}\n`), 20_000, `the echo of ${line}`);
      };
      await ask(chat, "hello before");
      const sessions = Array.from({ length: SESSIONS }, () => ({ conn: new LocalConn(cleanup, client.port), data: randomBytes(BYTES) }));
      const half = BYTES / 2;
      await Promise.all(sessions.map((s) => s.conn.write(s.data.subarray(0, half))));
      // Mid-transfer: every session has bytes in flight, and the connector's spare binds are parked.
      await Promise.all(sessions.map((s) => s.conn.until(() => s.conn.received >= half / 2, 30_000, "a quarter echoed")));

      const stopped = await stopAsUnit(first.proc, POLICY);
      const restartStart = performance.now() - stopped.ms;
      // Without the SIGKILL: a stop that times out is one systemd reports as failed, after new clients hung all along.
      expect(stopped, `workerd ignored ${POLICY.killSignal} with WebSockets open`).toMatchObject({ timedOut: false });
      expect(stopped.ms).toBeLessThan(POLICY.timeoutMs);

      const second = await startWorkerd(cleanup, dir, { env, ports: first.ports });
      expect(second.ports).toStrictEqual(first.ports);
      const backAfter = since(restartStart);

      await ask(chat, "hello after");
      await Promise.all(sessions.map((s) => s.conn.write(s.data.subarray(half))));
      for (const s of sessions) s.conn.socket.end();
      await Promise.all(sessions.map((s) => s.conn.until(() => s.conn.ended, 60_000, "every byte echoed, then EOF")));
      for (const s of sessions) {
        expect(s.conn.error).toBeUndefined();
        expect(s.conn.received).toBe(BYTES);
        expect(s.conn.digest()).toBe(sha256(s.data));
      }
      // A session opened after the restart is served by the new process too.
      await ask(new LocalConn(cleanup, client.port, true), "a new session");

      // Every backend connection of the sessions survived: none was dialled again (+1: the new session).
      expect(echo.connections()).toBe(SESSIONS + 2);
      const resumed = await client.proc.waitForLogCount(msgIs("session resumed"), SESSIONS + 1, 5000, "the client's resumes logged");
      expect(resumed).toHaveLength(SESSIONS + 1);
      expect(
        await connector.proc.waitForLogCount(msgIs("session resumed"), SESSIONS + 1, 5000, "the connector's resumes logged"),
      ).toHaveLength(SESSIONS + 1);
      expect(second.proc.logs(msgIs("session resumed"))).toHaveLength(SESSIONS + 1);
      console.log(
        `workerd stopped by ${POLICY.killSignal} in ${Math.round(stopped.ms)} ms (${JSON.stringify(stopped.exit)}), ` +
          `new workerd listening ${Math.round(backAfter)} ms after the signal; ` +
          `client stalls ${resumed.map((l) => Number(l.json!.stallMs)).join(", ")} ms`,
      );
    },
  );
});
