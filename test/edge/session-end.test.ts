import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { CloseCode } from "../../shared/protocol/close-codes.ts";
import { bindSockets, bytes, eventually, objectSockets, openClient, parkedBind, serviceStub, text, type TestSocket } from "./helpers.ts";
import { freshService, type TestService } from "./services.ts";

/**
 * How a session ends on one leg is how it ends on the other: a clean end stays clean
 * (1000), and an abnormal one never reaches the other side looking clean.
 */

async function session(svc: TestService): Promise<{ bind: TestSocket; client: TestSocket }> {
  const bind = await parkedBind(svc);
  const client = await openClient(svc);
  expect(await bind.control()).toMatchObject({ t: "paired" });
  // Prove the pair relays before ending it.
  client.send(bytes("ping"));
  expect(text(await bind.binaryMessage())).toBe("ping");
  return { bind, client };
}

/**
 * Runs one of the service object's runtime event handlers by hand, with the arguments the
 * runtime passes (typed by the global DurableObject interface, not by the override).
 */
function onBind(svc: TestService, event: (o: DurableObject, ws: WebSocket) => void | Promise<void>): Promise<void> {
  return runInDurableObject(serviceStub(svc), async (instance: DurableObject, state) => {
    const [ws] = bindSockets(state);
    if (!ws) throw new Error("no bind socket in the object");
    await event(instance, ws);
  });
}

describe("the bind ends the session", () => {
  it("cleanly (1000): the client is closed 1000", async () => {
    const { bind, client } = await session(freshService());
    bind.close(1000);
    expect((await client.closed()).code).toBe(CloseCode.NORMAL);
    expect((await bind.closed()).code).toBe(CloseCode.NORMAL);
  });

  it("without a status code (1005 on the edge): the client is closed 1000", async () => {
    const { bind, client } = await session(freshService());
    bind.ws.close();
    expect((await client.closed()).code).toBe(CloseCode.NORMAL);
  });

  it("by vanishing (the runtime reports 1006): the client is closed 4003, not 1000", async () => {
    const svc = freshService();
    const { bind, client } = await session(svc);
    // A connection dropped without a close frame cannot be produced from inside workerd;
    // the runtime reports it to the object as webSocketClose(ws, 1006), so deliver that.
    await onBind(svc, (o, ws) => o.webSocketClose?.(ws, 1006, "", false));
    const closed = await client.closed();
    expect(closed.code).toBe(CloseCode.NETWORK_UNREACHABLE);
    expect(closed.reason).toBe("connector lost");
    await bind.closed();
  });

  it("with a socket error: the client is closed 4003", async () => {
    const svc = freshService();
    const { client } = await session(svc);
    await onBind(svc, (o, ws) => o.webSocketError?.(ws, new Error("connection reset")));
    expect((await client.closed()).code).toBe(CloseCode.NETWORK_UNREACHABLE);
  });

  it("with a code outside the table: the client is closed 4003", async () => {
    const { bind, client } = await session(freshService());
    bind.close(4999, "whatever the connector says");
    const closed = await client.closed();
    expect(closed.code).toBe(CloseCode.NETWORK_UNREACHABLE);
    // The reason is the edge's own, never the peer's text.
    expect(closed.reason).toBe("connector lost");
  });

  it.each([
    ["backend refused", CloseCode.CONNECTION_REFUSED],
    ["backend unreachable", CloseCode.HOST_UNREACHABLE],
    ["internal error", CloseCode.INTERNAL_ERROR],
  ])("with a relayable failure (%s): the client gets that code", async (reason, code) => {
    const { bind, client } = await session(freshService());
    bind.close(code, "connector's own words");
    const closed = await client.closed();
    expect(closed.code).toBe(code);
    expect(closed.reason).toBe(reason);
  });

  it("by breaking protocol (text while paired): the bind is closed 1002 and the client is not left open", async () => {
    const { bind, client } = await session(freshService());
    bind.send("not a heartbeat");
    expect((await bind.closed()).code).toBe(CloseCode.PROTOCOL_ERROR);
    const closed = await client.closed();
    expect(closed.code).not.toBe(CloseCode.NORMAL);
  });
});

describe("the client ends the session", () => {
  it("cleanly (1000): the bind is closed 1000 and leaves the object", async () => {
    const svc = freshService();
    const { bind, client } = await session(svc);
    client.close(1000);
    expect((await bind.closed()).code).toBe(CloseCode.NORMAL);
    await eventually("no sockets left", async () => ((await objectSockets(svc)).length === 0 ? true : undefined));
  });

  it("going away (1001): the bind is closed 1001", async () => {
    const { bind, client } = await session(freshService());
    client.close(1001, "tab closed");
    expect((await bind.closed()).code).toBe(CloseCode.GOING_AWAY);
  });

  it("while still waiting: nothing reaches any bind, and the object forgets it", async () => {
    const svc = freshService();
    const client = await openClient(svc);
    client.send(bytes("never delivered"));
    client.close(1000);
    await client.closed();
    await eventually("no sockets left", async () => ((await objectSockets(svc)).length === 0 ? true : undefined));
    const bind = await parkedBind(svc);
    expect((await objectSockets(svc)).map((s) => s.att?.state)).toEqual(["parked"]);
    bind.close();
  });
});
