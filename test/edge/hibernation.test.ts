import { evictDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { CloseCode } from "../../shared/protocol/close-codes.ts";
import { HEARTBEAT_REQUEST, HEARTBEAT_RESPONSE } from "../../shared/protocol/constants.ts";
import { bytes, eventually, hibernate, objectSockets, openClient, parkedBind, serviceStub, text } from "./helpers.ts";
import { QUICK_SOCKS_TIMEOUT_MS, freshService } from "./services.ts";

/**
 * The object may be evicted whenever it is idle; its hibernatable sockets stay open and the
 * next event builds a new instance. Everything pairing needs must therefore live in the
 * sockets' attachments. Each test evicts at the points where an in-memory-only
 * state would be lost (evictDurableObject with webSockets "hibernate" keeps the sockets).
 */

describe("pairing survives hibernation", () => {
  it("between parking and pairing, and between pairing and data", async () => {
    const svc = freshService();
    const bind = await parkedBind(svc);
    await hibernate(svc);

    const client = await openClient(svc);
    expect(await bind.control()).toMatchObject({ t: "paired" });
    await hibernate(svc);

    client.send(bytes("to the backend"));
    expect(text(await bind.binaryMessage())).toBe("to the backend");
    bind.send(bytes("to the client"));
    expect(text(await client.binaryMessage())).toBe("to the client");
    client.send("text becomes binary");
    expect(text(await bind.binaryMessage())).toBe("text becomes binary");

    await hibernate(svc);
    bind.close(1000);
    expect((await client.closed()).code).toBe(CloseCode.NORMAL);
  });

  it("closes a waiting plain client cleanly (1013) when what it held in memory went with the object", async () => {
    const svc = freshService();
    const client = await openClient(svc);
    client.send(new Uint8Array(64 * 1024).fill(9)); // past the attachment's share: held in memory
    await eventually("the held flag", async () => ((await objectSockets(svc))[0]?.att as { held?: true })?.held || undefined);
    await hibernate(svc);
    const bind = await parkedBind(svc);
    expect((await client.closed()).code).toBe(CloseCode.TRY_AGAIN_LATER);
    // The bind is not used up by it: it is still parked for the next client.
    const next = await openClient(svc);
    expect(await bind.control()).toMatchObject({ t: "paired" });
    next.close();
  });

  it("for a waiting client's held data, delivered first after a bind arrives", async () => {
    const svc = freshService();
    const client = await openClient(svc);
    client.send(bytes("held-1"));
    client.send("held-2");
    await eventually(
      "two held chunks",
      async () => ((await objectSockets(svc))[0]?.att as { pending?: unknown[] })?.pending?.length === 2 || undefined,
    );
    await hibernate(svc);

    const bind = await parkedBind(svc);
    expect(await bind.control()).toMatchObject({ t: "paired" });
    client.send(bytes("live"));
    expect(text(await bind.binaryMessage())).toBe("held-1");
    expect(text(await bind.binaryMessage())).toBe("held-2");
    expect(text(await bind.binaryMessage())).toBe("live");
    client.close();
  });

  it("for the order of waiting clients", async () => {
    const svc = freshService();
    const clients = [];
    for (const name of ["first", "second", "third"]) {
      const c = await openClient(svc);
      c.send(name);
      clients.push(c);
    }
    await eventually("three held messages", async () => {
      const s = await objectSockets(svc);
      return s.filter((x) => x.att?.role === "client" && x.att.pending?.length === 1).length === 3 || undefined;
    });
    await hibernate(svc);
    for (const name of ["first", "second", "third"]) {
      const bind = await parkedBind(svc);
      expect(await bind.control()).toMatchObject({ t: "paired" });
      expect(text(await bind.binaryMessage())).toBe(name);
      await hibernate(svc);
    }
    for (const c of clients) c.close();
  });

  it("for the limit on held data (a Sallyport client's: all of it in the attachment)", async () => {
    const svc = freshService();
    const client = await openClient(svc, { "Sec-WebSocket-Protocol": "sallyport.client.v1" });
    client.send(new Uint8Array(8000));
    await eventually(
      "the held chunk",
      async () => ((await objectSockets(svc))[0]?.att as { pending?: unknown[] })?.pending?.length === 1 || undefined,
    );
    await hibernate(svc);
    client.send(new Uint8Array(500));
    expect((await client.closed()).code).toBe(CloseCode.MESSAGE_TOO_BIG);
  });

  it("for a bind's one-client rule: a paired bind is not handed out again", async () => {
    const svc = freshService();
    const bind = await parkedBind(svc);
    const first = await openClient(svc);
    expect(await bind.control()).toMatchObject({ t: "paired" });
    await hibernate(svc);

    const second = await openClient(svc);
    second.send("second's data");
    expect(await bind.control()).toMatchObject({ t: "demand", waiting: 1 });
    first.send("first's data");
    expect(text(await bind.binaryMessage())).toBe("first's data");
    const states = (await objectSockets(svc)).filter((s) => s.att?.role === "client").map((s) => s.att!.state);
    expect(states.sort()).toEqual(["paired", "waiting"]);
    first.close();
    second.close();
  });

  it("for socks.timeout: the alarm still closes a waiting client 4006 after eviction", async () => {
    const svc = freshService("quick");
    const client = await openClient(svc);
    await hibernate(svc);
    expect((await client.closed(QUICK_SOCKS_TIMEOUT_MS + 5000)).code).toBe(CloseCode.TTL_EXPIRED);
  });

  it("for heartbeats: answered while the object is evicted, and the bind stays parked", async () => {
    const svc = freshService();
    const bind = await parkedBind(svc);
    await evictDurableObject(serviceStub(svc), { webSockets: "hibernate" });
    bind.send(HEARTBEAT_REQUEST);
    expect(await bind.textMessage()).toBe(HEARTBEAT_RESPONSE);
    expect((await objectSockets(svc))[0]!.att).toMatchObject({ state: "parked" });
    bind.close();
  });
});
