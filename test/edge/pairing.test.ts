import { describe, expect, it } from "vitest";
import { MAX_PENDING_BYTES } from "../../edge/attachments.ts";
import { CloseCode } from "../../shared/protocol/close-codes.ts";
import { bytes, eventually, objectSockets, openClient, parkedBind, text, upgrade } from "./helpers.ts";
import { QUICK_SOCKS_TIMEOUT_MS, freshService } from "./services.ts";

/** Clients meeting binds: at once, after waiting, in order, one to one, or not at all. */

describe("a client and a parked bind", () => {
  it("are paired at once, and bytes flow both ways", async () => {
    const svc = freshService();
    const bind = await parkedBind(svc);
    const client = await upgrade(svc.path, { "cf-connecting-ip": "198.51.100.7" });

    const paired = await bind.control();
    expect(paired).toMatchObject({ v: 1, t: "paired", clientAddress: "198.51.100.7" });
    expect(paired.sessionId).toMatch(/^[0-9a-f]{32}$/);

    // Client binary reaches the bind unchanged, every byte value included.
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    client.send(all);
    expect(await bind.binaryMessage()).toEqual(all);

    // Client text reaches the bind as binary: its UTF-8 bytes (text on a bind means control).
    client.send("héllo ✓ 𝄞");
    expect(await bind.binaryMessage()).toEqual(bytes("héllo ✓ 𝄞"));

    // Bind binary reaches the client as binary.
    bind.send(bytes("from the backend"));
    expect(text(await client.binaryMessage())).toBe("from the backend");

    // An empty message is a message too.
    client.send(new Uint8Array(0));
    expect((await bind.binaryMessage()).byteLength).toBe(0);

    client.close();
    expect((await bind.closed()).code).toBe(CloseCode.NORMAL);
  });

  it("keeps message order within a session", async () => {
    const svc = freshService();
    const bind = await parkedBind(svc);
    const client = await openClient(svc);
    await bind.control();
    for (let i = 0; i < 50; i++) client.send(bytes(`m${i}`));
    for (let i = 0; i < 50; i++) expect(text(await bind.binaryMessage())).toBe(`m${i}`);
    client.close();
  });
});

describe("a client that arrives first", () => {
  it("waits, and the binds that arrive later serve the waiting clients first come, first served", async () => {
    const svc = freshService();
    const clients = [];
    for (const name of ["first", "second", "third"]) {
      const c = await openClient(svc);
      c.send(name); // held until the client is paired, then replayed to its bind
      clients.push(c);
    }
    await eventually("three waiting clients", async () => {
      const s = await objectSockets(svc);
      return s.filter((x) => x.att?.role === "client" && x.att.state === "waiting" && x.att.pending?.length === 1).length === 3
        ? true
        : undefined;
    });
    for (const name of ["first", "second", "third"]) {
      const bind = await parkedBind(svc);
      expect(await bind.control()).toMatchObject({ t: "paired" });
      expect(text(await bind.binaryMessage())).toBe(name);
      bind.close();
    }
    for (const c of clients) expect((await c.closed()).code).toBe(CloseCode.NORMAL);
  });

  it("has what it sent before pairing delivered first, in order, then the live data", async () => {
    const svc = freshService();
    const client = await openClient(svc);
    client.send(bytes("early-1"));
    client.send("early-2");
    client.send(bytes("early-3"));
    await eventually(
      "three held chunks",
      async () => ((await objectSockets(svc))[0]?.att as { pending?: unknown[] })?.pending?.length === 3 || undefined,
    );

    const bind = await parkedBind(svc);
    expect(await bind.control()).toMatchObject({ t: "paired" });
    client.send(bytes("live"));
    expect(text(await bind.binaryMessage())).toBe("early-1");
    expect(text(await bind.binaryMessage())).toBe("early-2");
    expect(text(await bind.binaryMessage())).toBe("early-3");
    expect(text(await bind.binaryMessage())).toBe("live");
    // The held data is gone from the attachment once delivered.
    const att = (await objectSockets(svc)).find((s) => s.att?.role === "client")!.att!;
    expect(att).toMatchObject({ state: "paired" });
    expect((att as { pending?: unknown }).pending).toBeUndefined();
    client.close();
  });

  it(`may hold exactly ${MAX_PENDING_BYTES} bytes before pairing`, async () => {
    const svc = freshService();
    const client = await openClient(svc);
    client.send(new Uint8Array(MAX_PENDING_BYTES / 2).fill(1));
    client.send(new Uint8Array(MAX_PENDING_BYTES / 2).fill(2));
    await eventually(
      "two held chunks",
      async () => ((await objectSockets(svc))[0]?.att as { pending?: unknown[] })?.pending?.length === 2 || undefined,
    );
    const bind = await parkedBind(svc);
    await bind.control();
    expect(await bind.binaryMessage()).toEqual(new Uint8Array(MAX_PENDING_BYTES / 2).fill(1));
    expect(await bind.binaryMessage()).toEqual(new Uint8Array(MAX_PENDING_BYTES / 2).fill(2));
    client.close();
  });

  it(
    "a plain client may send up to max.message.size before pairing: " + "past the attachment's share it waits in memory, in order",
    async () => {
      const svc = freshService();
      const client = await openClient(svc);
      const chunks = [1, 2, 3, 4].map((n) => new Uint8Array(64 * 1024).fill(n)); // 256 KiB, within the default max.message.size
      for (const c of chunks) client.send(c);
      await eventually("the held flag", async () => ((await objectSockets(svc))[0]?.att as { held?: true })?.held || undefined);
      const bind = await parkedBind(svc);
      await bind.control();
      for (const c of chunks) expect(await bind.binaryMessage()).toEqual(c);
      client.close();
    },
  );

  it("is closed 1009 once it sends more than max.message.size before pairing", async () => {
    const svc = freshService();
    const client = await openClient(svc);
    for (let i = 0; i < 16; i++) client.send(new Uint8Array(64 * 1024)); // 1 MiB, the default max.message.size
    client.send(new Uint8Array(1));
    const closed = await client.closed();
    expect(closed.code).toBe(CloseCode.MESSAGE_TOO_BIG);
    expect(closed.reason).toBe("message too big");
    // And a bind arriving afterwards is not paired with it: it stays parked.
    const bind = await parkedBind(svc);
    const sockets = await objectSockets(svc);
    expect(sockets.map((s) => s.att?.role)).toEqual(["bind"]);
    expect(sockets[0]!.att).toMatchObject({ state: "parked" });
    bind.close();
  });

  it("a Sallyport client (its control and data in the attachment) is closed 1009 past MAX_PENDING_BYTES before pairing", async () => {
    const svc = freshService();
    const client = await openClient(svc, { "Sec-WebSocket-Protocol": "sallyport.client.v1" });
    client.send(new Uint8Array(MAX_PENDING_BYTES + 1));
    expect((await client.closed()).code).toBe(CloseCode.MESSAGE_TOO_BIG);
  });

  it("is closed 4006 when no bind comes within socks.timeout (the alarm)", async () => {
    const svc = freshService("quick");
    const opened = Date.now();
    const client = await openClient(svc);
    const closed = await client.closed(QUICK_SOCKS_TIMEOUT_MS + 5000);
    const waited = Date.now() - opened;
    expect(closed.code).toBe(CloseCode.TTL_EXPIRED);
    expect(closed.reason).toBe("no connector available");
    expect(waited).toBeGreaterThanOrEqual(QUICK_SOCKS_TIMEOUT_MS - 50);
  });

  it("is closed 4013 (busy), not 4006, when connectors are there but every bind is taken", async () => {
    const svc = freshService("quick");
    const bind = await parkedBind(svc);
    const first = await openClient(svc);
    expect(await bind.control()).toMatchObject({ t: "paired" });
    const second = await openClient(svc);
    const closed = await second.closed(QUICK_SOCKS_TIMEOUT_MS + 5000);
    expect(closed.code).toBe(CloseCode.BUSY);
    expect(closed.reason).toBe("busy");
    // The session that holds the bind is untouched.
    first.send(bytes("still relaying"));
    expect(await bind.control()).toMatchObject({ t: "demand" });
    expect(text(await bind.binaryMessage())).toBe("still relaying");
    first.close();
  });

  it("expires a waiting client without harm to the next one, which a bind then serves", async () => {
    const svc = freshService("quick");
    const early = await openClient(svc);
    expect((await early.closed(QUICK_SOCKS_TIMEOUT_MS + 5000)).code).toBe(CloseCode.TTL_EXPIRED);
    const bind = await parkedBind(svc);
    const late = await openClient(svc);
    expect(await bind.control()).toMatchObject({ t: "paired" });
    late.send(bytes("served"));
    expect(text(await bind.binaryMessage())).toBe("served");
    late.close();
    await bind.closed();
  });
});

describe("one bind, one client", () => {
  it("never gives one bind to two clients, even when they arrive together", async () => {
    const svc = freshService();
    const bind = await parkedBind(svc, { connectorId: "conn-x" });
    const [a, b] = await Promise.all([openClient(svc), openClient(svc)]);
    a.send("I am a");
    b.send("I am b");

    expect(await bind.control()).toMatchObject({ t: "paired" });
    // The other client waits, and the connector is asked for more binds on its live socket.
    expect(await bind.control()).toEqual({ v: 1, t: "demand", waiting: 1 });
    const winner = text(await bind.binaryMessage());
    expect(["I am a", "I am b"]).toContain(winner);

    const sockets = await objectSockets(svc);
    const clients = sockets.filter((s) => s.att?.role === "client").map((s) => s.att!);
    expect(clients.map((c) => c.state).sort()).toEqual(["paired", "waiting"]);
    const bindAtt = sockets.find((s) => s.att?.role === "bind")!.att!;
    expect(bindAtt).toMatchObject({ state: "paired", peer: clients.find((c) => c.state === "paired")!.id });

    // A second bind serves the other client, and gets only that client's data.
    const bind2 = await parkedBind(svc, { connectorId: "conn-x" });
    expect(await bind2.control()).toMatchObject({ t: "paired" });
    const loser = text(await bind2.binaryMessage());
    expect(new Set([winner, loser])).toEqual(new Set(["I am a", "I am b"]));
    expect(bind.pending).toBe(0);

    a.close();
    b.close();
    await bind.closed();
    await bind2.closed();
  });

  it("does not pair a new client with a bind that already closed", async () => {
    const svc = freshService("quick");
    const bind = await parkedBind(svc);
    bind.close(1000);
    await bind.closed();
    await eventually("the bind gone from the object", async () =>
      (await objectSockets(svc)).some((s) => s.att?.role === "bind") ? undefined : true,
    );
    const client = await openClient(svc);
    expect((await client.closed(QUICK_SOCKS_TIMEOUT_MS + 5000)).code).toBe(CloseCode.TTL_EXPIRED);
  });

  it("after a session ends, its bind is not reused for the next client", async () => {
    const svc = freshService("quick");
    const bind = await parkedBind(svc);
    const first = await openClient(svc);
    await bind.control();
    first.close(1000);
    expect((await bind.closed()).code).toBe(CloseCode.NORMAL);
    const second = await openClient(svc);
    expect((await second.closed(QUICK_SOCKS_TIMEOUT_MS + 5000)).code).toBe(CloseCode.TTL_EXPIRED);
  });
});
