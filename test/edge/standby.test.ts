import { describe, expect, it } from "vitest";
import { CloseCode } from "../../shared/protocol/close-codes.ts";
import { CLIENT_SUBPROTOCOLS, type ProtocolVersion, STANDBY_HEADER } from "../../shared/protocol/constants.ts";
import { bytes, openClient, parkedBind, text, type TestSocket } from "./helpers.ts";
import { freshService, type TestService } from "./services.ts";

/**
 * Kept (standby) sessions inside workerd, v3: a connector's last `end` may carry its `done`,
 * one message instead of two. The edge checks it as `end` then `done`, and tells a v3 client
 * in one message, an older client in the two it knows. Raw frames on both legs.
 */

const END_DONE = '{"v":3,"t":"end","done":true}';
const say = (socket: TestSocket, v: ProtocolVersion, m: Record<string, unknown>): void => socket.send(JSON.stringify({ v, ...m }));

/** A v3 bind paired with a Sallyport client of `clientVersion`, in standby or not. */
async function pair(svc: TestService, clientVersion: ProtocolVersion, standby = true): Promise<{ bind: TestSocket; client: TestSocket }> {
  const bind = await parkedBind(svc, {}, 3);
  const client = await openClient(svc, {
    "Sec-WebSocket-Protocol": CLIENT_SUBPROTOCOLS[clientVersion],
    ...(standby ? { [STANDBY_HEADER]: "1" } : {}),
  });
  expect(await bind.control()).toMatchObject({ v: 3, t: "paired", ...(standby ? { standby: true } : {}) });
  return { bind, client };
}

/** The connector's `opened`; the client hears it only for the first session on its socket. */
async function opened(bind: TestSocket, client: TestSocket, clientVersion: ProtocolVersion, first: boolean): Promise<void> {
  say(bind, 3, { t: "opened" });
  if (first) expect(await client.control()).toMatchObject({ v: clientVersion, t: "opened" });
  // A v1 reader expects its writer to start with a whole window: the edge raises the v3 bind to it.
  if (clientVersion === 1) expect(await bind.control()).toMatchObject({ v: 3, t: "credit" });
}

/**
 * Session `n` on a kept pair: `start`, data each way, the client's `end`, then the connector's
 * `end` carrying `done`. The client's next frame is whatever the edge made of that.
 */
async function keptSession(bind: TestSocket, client: TestSocket, v: ProtocolVersion, n: number): Promise<void> {
  say(client, v, { t: "start" });
  expect(await bind.control()).toEqual({ v: 3, t: "start" });
  await opened(bind, client, v, n === 1);
  client.send(bytes(`ping ${n}`));
  expect(text(await bind.binaryMessage())).toBe(`ping ${n}`);
  bind.send(bytes(`pong ${n}`));
  expect(text(await client.binaryMessage())).toBe(`pong ${n}`);
  say(client, v, { t: "end" });
  expect(await bind.control()).toEqual({ v: 3, t: "end" });
  bind.send(END_DONE);
}

/** What the client is told of the connector's end and done, in its version: one message (v3) or two. */
const TOLD: Record<ProtocolVersion, string[]> = {
  3: [END_DONE],
  2: ['{"v":2,"t":"end"}', '{"v":2,"t":"done"}'],
  1: ['{"v":1,"t":"end"}', '{"v":1,"t":"done"}'],
};

describe("a v3 connector's `end` carrying `done`", () => {
  it.each([3, 2, 1] as const)("reaches a v%i client as it knows it, and the pair carries the next sessions", async (v) => {
    const { bind, client } = await pair(freshService(), v);
    for (let n = 1; n <= 2; n++) {
      await keptSession(bind, client, v, n);
      // Exactly these, then the next session's first bytes: `pong n+1` comes next.
      for (const expected of TOLD[v]) expect(await client.textMessage()).toBe(expected);
    }
    // The last frame the client got before this one was the last of TOLD: nothing more came.
    say(client, v, { t: "start" });
    expect(await bind.control()).toEqual({ v: 3, t: "start" });
    await opened(bind, client, v, false);
    bind.send(bytes("third"));
    expect(text(await client.binaryMessage())).toBe("third");
    expect(client.isClosed || bind.isClosed).toBe(false);
  });

  it("on a session not opened in standby is a protocol error (1002), and the client is not told a clean end", async () => {
    const { bind, client } = await pair(freshService(), 3, false);
    await opened(bind, client, 3, true);
    client.send(bytes("x"));
    expect(text(await bind.binaryMessage())).toBe("x");
    bind.send(END_DONE);
    expect((await bind.closed()).code).toBe(CloseCode.PROTOCOL_ERROR);
    expect((await client.closed()).code).not.toBe(CloseCode.NORMAL);
  });

  it("before the backend was opened is a protocol error (1002), as `done` is", async () => {
    const svc = freshService();
    const bind = await parkedBind(svc, {}, 3);
    await openClient(svc, { "Sec-WebSocket-Protocol": CLIENT_SUBPROTOCOLS[3], [STANDBY_HEADER]: "1" });
    expect(await bind.control()).toMatchObject({ t: "paired", standby: true });
    bind.send(END_DONE);
    expect((await bind.closed()).code).toBe(CloseCode.PROTOCOL_ERROR);
  });

  it("outside a session is a protocol error (1002), as `end` is", async () => {
    const bind = await parkedBind(freshService(), {}, 3);
    bind.send(END_DONE);
    expect((await bind.closed()).code).toBe(CloseCode.PROTOCOL_ERROR);
  });

  it("from a v2 connector is a protocol error (1002): v2 knows `end` and `done` only apart", async () => {
    const svc = freshService();
    const bind = await parkedBind(svc, {}, 2);
    const client = await openClient(svc, { "Sec-WebSocket-Protocol": CLIENT_SUBPROTOCOLS[2], [STANDBY_HEADER]: "1" });
    expect(await bind.control()).toMatchObject({ t: "paired", standby: true });
    say(client, 2, { t: "start" });
    expect(await bind.control()).toEqual({ v: 2, t: "start" });
    say(bind, 2, { t: "opened" });
    say(client, 2, { t: "end" });
    expect(await bind.control()).toEqual({ v: 2, t: "end" });
    bind.send('{"v":2,"t":"end","done":true}');
    expect((await bind.closed()).code).toBe(CloseCode.PROTOCOL_ERROR);
  });
});
