import { describe, expect, it } from "vitest";
import { CloseCode } from "../../shared/protocol/close-codes.ts";
import {
  CLIENT_SUBPROTOCOLS,
  HEARTBEAT_MISSES,
  HEARTBEAT_REQUEST,
  HEARTBEAT_RESPONSE,
  SESSION_HEARTBEAT_MS,
} from "../../shared/protocol/constants.ts";
import { bytes, openClient, parkedBind, refusedFull, text, upgrade, type TestSocket } from "./helpers.ts";
import { freshService, type TestService } from "./services.ts";

/**
 * What one service holds at most, and how long a session may sit: max.clients, a session's
 * silent legs (heartbeats), session.idle.timeout. Issue 11, items 3 and liveness.
 */

async function session(
  svc: TestService,
  opts: { heartbeatMs?: number; sallyport?: boolean } = {},
): Promise<{ bind: TestSocket; client: TestSocket }> {
  const bind = await parkedBind(svc, opts.heartbeatMs ? { heartbeatMs: opts.heartbeatMs } : {});
  const client = opts.sallyport ? await upgrade(svc.path, { "Sec-WebSocket-Protocol": CLIENT_SUBPROTOCOLS[1] }) : await openClient(svc);
  expect(await bind.control()).toMatchObject({ t: "paired" });
  return { bind, client };
}

/** Sends a heartbeat every `ms` and takes the runtime's answers off the socket, until stopped. */
function keepBeating(s: TestSocket, ms: number): () => void {
  const timer = setInterval(() => s.send(HEARTBEAT_REQUEST), ms);
  return () => clearInterval(timer);
}

async function relays(bind: TestSocket, client: TestSocket, what: string): Promise<void> {
  client.send(bytes(what));
  // A heartbeating bind also holds the runtime's answers: skip them.
  for (;;) {
    const f = await bind.message();
    if (f.kind === "text" && f.data === HEARTBEAT_RESPONSE) continue;
    expect(f.kind === "binary" && text(f.data)).toBe(what);
    return;
  }
}

describe("max.clients (2 on this service)", () => {
  const title =
    "refuses a client beyond it with HTTP 503 and Retry-After before the upgrade (workerd would keep a socket accepted only to be " +
    "closed), counting waiting and paired clients, and admits again once one leaves";
  it(title, async () => {
    const svc = freshService("capped");
    const first = await openClient(svc);
    const second = await openClient(svc);
    await refusedFull(svc);
    // The first is paired now, the second still waits: still two.
    const bind = await parkedBind(svc);
    expect(await bind.control()).toMatchObject({ t: "paired" });
    await refusedFull(svc);
    first.close();
    expect((await bind.closed()).code).toBe(CloseCode.NORMAL);
    const fifth = await openClient(svc);
    const bind2 = await parkedBind(svc);
    expect(await bind2.control()).toMatchObject({ t: "paired" }); // the second client, first come
    expect(fifth.pending).toBe(0); // waiting, not refused
    for (const s of [second, fifth, bind2]) s.close();
  });
});

describe("a session in progress whose leg goes silent", () => {
  const connectorLeg =
    "connector leg: its heartbeats stop for three of its declared intervals, and the edge ends the session (4003 both ways); " +
    "a heartbeating one runs on";
  it(connectorLeg, async () => {
    const svc = freshService();
    const live = await session(svc, { heartbeatMs: 1000 });
    const stop = keepBeating(live.bind, 300);
    const silent = await session(svc, { heartbeatMs: 1000 });
    const started = Date.now();
    expect(await silent.client.closed(3 * 1000 + 3000)).toMatchObject({ code: CloseCode.NETWORK_UNREACHABLE, reason: "connector lost" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(3 * 1000 - 100);
    expect((await silent.bind.closed()).code).toBe(CloseCode.NETWORK_UNREACHABLE);
    await relays(live.bind, live.client, "still on");
    stop();
    live.client.close();
  });

  const clientLeg =
    `Sallyport client leg: once it heartbeats, ${HEARTBEAT_MISSES} missed intervals of ${SESSION_HEARTBEAT_MS} ms end the session; ` +
    "plain clients and beating ones run on";
  it(clientLeg, async () => {
    const svc = freshService();
    const plain = await session(svc);
    const beating = await session(svc, { sallyport: true });
    const stop = keepBeating(beating.client, 500);
    const silent = await session(svc, { sallyport: true });
    silent.client.send(HEARTBEAT_REQUEST);
    expect(await silent.client.textMessage()).toBe(HEARTBEAT_RESPONSE);
    const started = Date.now();
    const limit = SESSION_HEARTBEAT_MS * HEARTBEAT_MISSES;
    expect((await silent.bind.closed(limit + 3000)).code).toBe(CloseCode.NETWORK_UNREACHABLE);
    expect(Date.now() - started).toBeGreaterThanOrEqual(limit - 100);
    expect(plain.bind.pending + plain.client.pending).toBe(0);
    await relays(plain.bind, plain.client, "plain runs on");
    await relays(beating.bind, beating.client, "beating runs on");
    stop();
    plain.client.close();
    beating.client.close();
  });
});

describe("session.idle.timeout (1 s on this service)", () => {
  it("closes both legs with 4408 once no data moved either way for the timeout; data keeps a session open", async () => {
    const svc = freshService("idle");
    const busy = await session(svc);
    const idle = await session(svc);
    const started = Date.now();
    const feed = setInterval(() => busy.bind.send(bytes("tick")), 250);
    expect(await idle.client.closed(3000)).toMatchObject({ code: CloseCode.IDLE_TIMEOUT, reason: "idle timeout" });
    expect((await idle.bind.closed()).code).toBe(CloseCode.IDLE_TIMEOUT);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000 - 100);
    // The busy one is still open after twice the timeout.
    for (let n = 0; n < 8; n++) expect(text(await busy.client.binaryMessage())).toBe("tick");
    clearInterval(feed);
    expect((await busy.client.closed(3000)).code).toBe(CloseCode.IDLE_TIMEOUT);
  });
});
