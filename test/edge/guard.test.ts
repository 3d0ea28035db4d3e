import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { CloseCode } from "../../shared/protocol/close-codes.ts";
import { bytes, objectSockets, openClient, parkedBind, serviceStub, text, type TestSocket } from "./helpers.ts";
import { freshService, type TestService } from "./services.ts";

/**
 * The service object's runtime entry points never throw: an internal error in one closes the
 * sockets it concerns with 1011 "internal error", and the object goes on serving everyone
 * else. The error is provoked by making one of the object's own steps throw, once.
 */

/** Makes the object's next call of `step` throw (after that, the step works again). */
function breakOnce(svc: TestService, step: string): Promise<void> {
  return runInDurableObject(serviceStub(svc), (instance: DurableObject) => {
    const o = instance as unknown as Record<string, (...args: unknown[]) => unknown>;
    const real = o[step];
    if (typeof real !== "function") throw new Error(`the service object has no step ${step}`);
    o[step] = () => {
      o[step] = real;
      throw new Error("provoked");
    };
  });
}

async function session(svc: TestService): Promise<{ bind: TestSocket; client: TestSocket }> {
  const bind = await parkedBind(svc);
  const client = await openClient(svc);
  expect(await bind.control()).toMatchObject({ t: "paired" });
  return { bind, client };
}

/** The object still pairs and relays. */
async function stillServes(svc: TestService): Promise<void> {
  const { bind, client } = await session(svc);
  client.send(bytes("still here"));
  expect(text(await bind.binaryMessage())).toBe("still here");
  client.close();
  expect((await bind.closed()).code).toBe(CloseCode.NORMAL);
}

const INTERNAL = { code: CloseCode.INTERNAL_ERROR, reason: "internal error" };

describe("an internal error in an entry point", () => {
  it("webSocketMessage: the session's two sockets are closed 1011; other sessions run on", async () => {
    const svc = freshService();
    const other = await session(svc);
    const { bind, client } = await session(svc);
    await breakOnce(svc, "fromClient");
    client.send(bytes("this one fails"));
    expect(await client.closed()).toMatchObject(INTERNAL);
    expect(await bind.closed()).toMatchObject(INTERNAL);
    other.client.send(bytes("unaffected"));
    expect(text(await other.bind.binaryMessage())).toBe("unaffected");
    await stillServes(svc);
  });

  it("fetch: the new client gets its socket, closed 1011; the parked bind stays for the next", async () => {
    const svc = freshService();
    const bind = await parkedBind(svc);
    await breakOnce(svc, "pairWithLiveBind");
    const client = await openClient(svc);
    expect(await client.closed()).toMatchObject(INTERNAL);
    const next = await openClient(svc);
    expect(await bind.control()).toMatchObject({ t: "paired" });
    next.send(bytes("served"));
    expect(text(await bind.binaryMessage())).toBe("served");
    next.close();
  });

  it("webSocketClose: the peer is closed 1011 (never a clean 1000) and nothing of the pair is left", async () => {
    const svc = freshService();
    const { bind, client } = await session(svc);
    await breakOnce(svc, "ended");
    client.close(1000);
    expect(await bind.closed()).toMatchObject(INTERNAL);
    await stillServes(svc);
    expect(await objectSockets(svc)).toEqual([]);
  });

  it("alarm: the socket whose deadline failed is closed 1011, the others' deadlines are still served", async () => {
    const svc = freshService("quick");
    await breakOnce(svc, "expireOne");
    const first = await openClient(svc);
    const second = await openClient(svc);
    // No connector at all: socks.timeout runs out for both in the same alarm.
    expect(await first.closed()).toMatchObject(INTERNAL);
    expect((await second.closed()).code).toBe(CloseCode.TTL_EXPIRED);
    await stillServes(svc);
  });
});
