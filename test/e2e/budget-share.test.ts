import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { echoBackend, sha256 } from "../helpers/backends.ts";
import { Cleanup } from "../helpers/cleanup.ts";
import { REGISTERED, startConnector } from "../helpers/connector.ts";
import { startEdge } from "../helpers/edge.ts";
import { randomToken } from "../helpers/files.ts";
import { echoAll, LocalConn, startForwarder } from "../helpers/local-conn.ts";

/**
 * The object budget (edge/budget.ts) against honest load: many bulk sessions at once through
 * `sallyport client`, every reader proving what it reads. The edge narrows each session to
 * its share of the budget; it must not cut any (before: about half of 20 ended with 1013
 * within a second, "object budget reached").
 */

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const SESSIONS = 20;
const BYTES = 16 * 1024 * 1024;
const ACCEPT = "ws://127.0.0.1/svc";

describe("the object budget under honest load", () => {
  it(`${SESSIONS} bulk echo sessions at once: all finish, SHA-256 equal both ways, none ended by the budget`, async () => {
    const token = randomToken();
    const edge = await startEdge(cleanup, {
      services: { svc: { accept: ACCEPT, "socks.timeout": "10 seconds" } },
      tokens: { svc: [token] },
    });
    const echo = await echoBackend(cleanup);
    const connector = await startConnector(cleanup, { edge: edge.ws, accept: ACCEPT, connect: echo.uri, token, prepared: SESSIONS + 2 });
    await connector.proc.waitForLog(REGISTERED, 20_000, "the connector to register");
    const client = await startForwarder(cleanup, edge.clientUrl("/svc"));
    const sessions = Array.from({ length: SESSIONS }, () => ({ conn: new LocalConn(cleanup, client.port), data: randomBytes(BYTES) }));
    await echoAll(sessions, 120_000);
    for (const s of sessions) {
      expect(s.conn.error).toBeUndefined();
      expect(s.conn.received).toBe(BYTES);
      expect(s.conn.digest()).toBe(sha256(s.data));
    }
    expect(edge.logs.filter((l) => String(l.json?.msg ?? "").startsWith("object budget reached"))).toEqual([]);
    expect(echo.connections()).toBe(SESSIONS);
  });
});
