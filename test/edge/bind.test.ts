import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { CloseCode } from "../../shared/protocol/close-codes.ts";
import { HEARTBEAT_REQUEST, HEARTBEAT_RESPONSE } from "../../shared/protocol/constants.ts";
import { bindMessage, bindSockets, bytes, objectSockets, openBind, openClient, parkedBind, serviceStub, text } from "./helpers.ts";
import { freshService } from "./services.ts";

/** A connector's bind socket from upgrade to parked, and what makes the edge drop it. */

describe("registration", () => {
  it("answers a bind message with bound and parks the bind", async () => {
    const svc = freshService();
    const bind = await openBind(svc);
    bind.send(bindMessage(svc, { bindId: "bind-1", connectorId: "conn-a" }));
    expect(await bind.control()).toEqual({ v: 1, t: "bound", bindId: "bind-1" });
    const sockets = await objectSockets(svc);
    expect(sockets).toHaveLength(1);
    expect(sockets[0]!.att).toMatchObject({ role: "bind", state: "parked", bindId: "bind-1", connectorId: "conn-a" });
    bind.close();
  });

  it("closes 4002 when the bind names an accept URI its credential does not cover", async () => {
    const svc = freshService();
    const other = freshService();
    const bind = await openBind(svc);
    bind.send(bindMessage(svc, { accept: other.accept }));
    const closed = await bind.closed();
    expect(closed.code).toBe(CloseCode.NOT_ALLOWED);
    expect(closed.reason).toBe("not allowed");
    // Nothing got parked on either service.
    expect(await objectSockets(other)).toEqual([]);
  });

  // Each is a valid bind message but for one thing.
  const valid = { v: 1, t: "bind", accept: "wss://edge.test/x", bindId: "b", connectorId: "c", instance: "i", heartbeatMs: 15_000 };
  it.each([
    ["not JSON", "{nope"],
    ["not an object", "[1,2]"],
    ["a wrong version", JSON.stringify({ ...valid, v: 2 })],
    ["an edge-only type", JSON.stringify({ v: 1, t: "bound", bindId: "b" })],
    ["an unknown field", JSON.stringify({ ...valid, extra: 1 })],
    ["missing a field", JSON.stringify({ ...valid, connectorId: undefined })],
    ["a bad id", JSON.stringify({ ...valid, bindId: "b b" })],
  ])("closes 1002 on a control message that is %s", async (_what, message) => {
    const svc = freshService();
    const bind = await openBind(svc);
    bind.send(message);
    const closed = await bind.closed();
    expect(closed.code).toBe(CloseCode.PROTOCOL_ERROR);
    expect(closed.reason).toBe("protocol error");
  });

  it("closes 1002 on binary data from a bind that is not paired", async () => {
    const svc = freshService();
    const bind = await parkedBind(svc);
    bind.send(bytes("data before any client"));
    expect((await bind.closed()).code).toBe(CloseCode.PROTOCOL_ERROR);
  });

  it("closes 1002 on a second bind message", async () => {
    const svc = freshService();
    const bind = await parkedBind(svc);
    bind.send(bindMessage(svc, { bindId: "again" }));
    expect((await bind.closed()).code).toBe(CloseCode.PROTOCOL_ERROR);
  });
});

describe("heartbeat", () => {
  it("is answered on a parked bind by the runtime, without a message to the object", async () => {
    const svc = freshService();
    const bind = await parkedBind(svc);
    const before = Date.now();
    bind.send(HEARTBEAT_REQUEST);
    expect(await bind.textMessage()).toBe(HEARTBEAT_RESPONSE);
    // The bind is still parked: the object never saw the ping as a control message.
    const stamp = await runInDurableObject(serviceStub(svc), (_o, state) => {
      const [ws] = bindSockets(state);
      return ws ? state.getWebSocketAutoResponseTimestamp(ws)?.getTime() : undefined;
    });
    expect(stamp).toBeGreaterThanOrEqual(before);
    expect((await objectSockets(svc))[0]!.att).toMatchObject({ state: "parked" });
    bind.close();
  });

  it("is answered on a registering bind and on a paired bind, and never reaches the client", async () => {
    const svc = freshService();
    const bind = await openBind(svc);
    bind.send(HEARTBEAT_REQUEST);
    expect(await bind.textMessage()).toBe(HEARTBEAT_RESPONSE);
    bind.send(bindMessage(svc));
    expect(await bind.control()).toMatchObject({ t: "bound" });

    const client = await openClient(svc);
    expect(await bind.control()).toMatchObject({ t: "paired" });
    bind.send(HEARTBEAT_REQUEST);
    expect(await bind.textMessage()).toBe(HEARTBEAT_RESPONSE);
    // The session still relays, and the first thing the client sees is data, not a pong.
    bind.send(bytes("after ping"));
    expect(text(await client.binaryMessage())).toBe("after ping");
    expect(client.pending).toBe(0);
    client.close();
    await bind.closed();
  });
});
