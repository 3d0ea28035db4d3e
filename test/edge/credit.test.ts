import { describe, expect, it } from "vitest";
import { CloseCode } from "../../shared/protocol/close-codes.ts";
import { CLIENT_SUBPROTOCOLS, INITIAL_WINDOW_BYTES as W, MARK_INTERVAL_BYTES as MI } from "../../shared/protocol/constants.ts";
import type { BindAttachment } from "../../edge/attachments.ts";
import { edgeFetch, eventually, hibernate, objectSockets, openClient, parkedBind, type TestSocket } from "./helpers.ts";
import { freshService, PLAIN_CAPPED, PLAIN_DENIED, type TestService } from "./services.ts";

/**
 * Version 2 inside workerd: negotiation, marks, cumulative credit checked by the edge, and
 * the limits on plain clients. Raw frames on both legs, so every byte and grant is the test's.
 */

const V2_CLIENT = { "Sec-WebSocket-Protocol": `${CLIENT_SUBPROTOCOLS[2]}, ${CLIENT_SUBPROTOCOLS[1]}` };
const V1_CLIENT = { "Sec-WebSocket-Protocol": CLIENT_SUBPROTOCOLS[1] };

/** A paired session: a v2 bind (unless asked) and a client with the given offer. */
async function session(svc: TestService, clientHeaders: Record<string, string>, bindVersion: 1 | 2 = 2) {
  const bind = await parkedBind(svc, {}, bindVersion);
  const client = await openClient(svc, clientHeaders);
  expect(await bind.control()).toMatchObject({ v: bindVersion, t: "paired" });
  bind.send(JSON.stringify({ v: bindVersion, t: "opened" }));
  return { bind, client };
}

/** Reads frames until `n` data bytes arrived; returns the marks seen, at their offsets. */
async function readData(socket: TestSocket, n: number): Promise<Array<{ id: string; at: number }>> {
  const marks: Array<{ id: string; at: number }> = [];
  let got = 0;
  while (got < n) {
    const f = await socket.message();
    if (f.kind === "binary") got += f.data.byteLength;
    else {
      const m = JSON.parse(f.data) as { t: string; id?: string };
      if (m.t === "mark") marks.push({ id: m.id!, at: got });
    }
  }
  return marks;
}

/** The close, after whatever data and marks were still on their way. */
const closeOf = (socket: TestSocket) => socket.closedAfterMessages();

const chunk = (n: number): Uint8Array => new Uint8Array(n).fill(7);

/** Sends `total` bytes in 256 KiB frames (within the default max.message.size, 1 MiB). */
function sendData(socket: TestSocket, total: number): void {
  for (let sent = 0; sent < total; sent += 262_144) socket.send(chunk(Math.min(262_144, total - sent)));
}

describe("version negotiation", () => {
  it("selects the newest version both offer, for binds and clients", async () => {
    const svc = freshService();
    const { bind, client } = await session(svc, V2_CLIENT);
    expect(bind.response.headers.get("sec-websocket-protocol")).toBe("sallyport.bind.v2");
    expect(client.response.headers.get("sec-websocket-protocol")).toBe("sallyport.client.v2");
    expect(await client.control()).toStrictEqual({ v: 2, t: "opened", maxMessageBytes: 1_048_576 });
  });

  it("translates between a v1 client and a v2 connector: increments in, cumulative limits out", async () => {
    const svc = freshService();
    const { bind, client } = await session(svc, V1_CLIENT);
    expect(client.response.headers.get("sec-websocket-protocol")).toBe("sallyport.client.v1");
    expect(await client.control()).toStrictEqual({ v: 1, t: "opened", maxMessageBytes: 1_048_576 });
    // The v2 connector starts with less than the whole window the v1 client expects it to have: raised at once.
    expect(await bind.control()).toStrictEqual({ v: 2, t: "credit", upTo: W });
    sendData(bind, MI);
    await readData(client, MI);
    client.send(JSON.stringify({ v: 1, t: "credit", bytes: MI }));
    expect(await bind.control()).toStrictEqual({ v: 2, t: "credit", upTo: W + MI });
    client.send(JSON.stringify({ v: 1, t: "end" }));
    expect(await bind.control()).toStrictEqual({ v: 2, t: "end" });
  });
});

describe("meters across hibernation", () => {
  it(
    "keeps offsets, limits and outstanding marks in the attachment: " + "a fresh object checks the next grant as the old one would",
    async () => {
      const svc = freshService();
      const { bind, client } = await session(svc, V2_CLIENT);
      await client.control(); // opened
      sendData(bind, MI);
      await readData(client, MI);
      const mark = (await client.control()) as { id: string };
      await hibernate(svc);
      client.send(JSON.stringify({ v: 2, t: "credit", upTo: MI + W, mark: mark.id }));
      expect(await bind.control()).toStrictEqual({ v: 2, t: "credit", upTo: MI + W });
      await hibernate(svc);
      client.send(JSON.stringify({ v: 2, t: "credit", upTo: MI + W + 1, mark: mark.id })); // spent before the eviction
      expect((await closeOf(client)).code).toBe(CloseCode.CREDIT_EXCEEDED);
    },
  );
});

describe("the flow in the attachment", () => {
  /** What the attachment of the service's one bind says the connector has sent (the down meter). */
  async function savedDown(svc: TestService): Promise<number | undefined> {
    const bind = (await objectSockets(svc)).find((s) => s.att?.role === "bind")?.att as BindAttachment | undefined;
    return bind?.flow?.down.received;
  }

  it("is written within FLOW_SAVE_DELAY_MS of the messages that moved it, not for each message", async () => {
    const svc = freshService();
    const { bind, client } = await session(svc, V2_CLIENT);
    await client.control(); // opened
    sendData(bind, MI);
    await readData(client, MI);
    // Relayed, and the attachment not yet written: no serializeAttachment per message.
    expect(await savedDown(svc)).toBe(0);
    // The timer writes it, with no further message.
    expect(await eventually("the flow written", async () => ((await savedDown(svc)) === MI ? true : undefined))).toBe(true);
  });
});

describe("a v2 client with a v1 connector", () => {
  it("raises the client to the window the v1 connector expects, and hands the client's proven grants on as increments", async () => {
    const svc = freshService();
    const { bind, client } = await session(svc, V2_CLIENT, 1);
    expect(await client.control()).toStrictEqual({ v: 2, t: "opened", maxMessageBytes: 1_048_576 });
    expect(await client.control()).toStrictEqual({ v: 2, t: "credit", upTo: W });
    sendData(bind, MI); // the v1 connector has a whole window from the start
    const marks = await readData(client, MI);
    const mark = marks[0] ?? ((await client.control()) as { id: string; at?: number });
    client.send(JSON.stringify({ v: 2, t: "credit", upTo: MI + W, mark: mark.id }));
    expect(await bind.control()).toStrictEqual({ v: 1, t: "credit", bytes: MI });
  });
});

describe("marks and credit (v2)", () => {
  it("lets a v2 writer send a mark's interval unproven; marks the stream; a grant echoing a mark opens the window", async () => {
    const svc = freshService();
    const { bind, client } = await session(svc, V2_CLIENT);
    await client.control(); // opened
    sendData(bind, MI); // the v2 connector's first limit (V2_INITIAL_CREDIT_BYTES)
    await readData(client, MI);
    const first = (await client.control()) as { t: string; id: string };
    expect(first.t).toBe("mark"); // at the limit
    client.send(JSON.stringify({ v: 2, t: "credit", upTo: MI + W, mark: first.id }));
    expect(await bind.control()).toStrictEqual({ v: 2, t: "credit", upTo: MI + W });
    sendData(bind, 2 * MI);
    const marks = await readData(client, 2 * MI);
    const atTheEnd = (await client.control()) as { t: string; id: string };
    marks.push({ id: atTheEnd.id, at: 2 * MI });
    expect(marks.map((m) => m.at)).toEqual([MI, 2 * MI]); // offsets of this direction: 2 and 3 MiB
    client.send(JSON.stringify({ v: 2, t: "credit", upTo: 3 * MI + W, mark: atTheEnd.id }));
    expect(await bind.control()).toStrictEqual({ v: 2, t: "credit", upTo: 3 * MI + W });
  });

  it.each([
    ["a greedy liar (grants itself 2^31)", () => ({ upTo: 2 ** 31 })],
    ["a paced liar (grants what arrived, naming no mark)", () => ({ upTo: MI / 2 + W })],
    ["a guessed mark", () => ({ upTo: W, mark: "guessed" })],
  ])("closes %s with 4090 on both legs", async (_name, grant) => {
    const svc = freshService();
    const { bind, client } = await session(svc, V2_CLIENT);
    await client.control();
    sendData(bind, MI / 2);
    await readData(client, MI / 2);
    client.send(JSON.stringify({ v: 2, t: "credit", ...grant() }));
    expect((await closeOf(client)).code).toBe(CloseCode.CREDIT_EXCEEDED);
    expect((await closeOf(bind)).code).toBe(CloseCode.CREDIT_EXCEEDED);
  });

  it.each(["bind", "client"] as const)("closes both legs when the %s sends past the limit it was given", async (writer) => {
    const svc = freshService();
    const legs = await session(svc, V2_CLIENT);
    sendData(legs[writer], MI + 1); // a v2 writer's first limit is one mark's interval
    expect((await closeOf(legs.bind)).code).toBe(CloseCode.CREDIT_EXCEEDED);
    expect((await closeOf(legs.client)).code).toBe(CloseCode.CREDIT_EXCEEDED);
  });
});

describe("plain clients", () => {
  it("holds a plain upload past the connector's grant, and forwards it as the connector grants", async () => {
    const svc = freshService();
    const { bind, client } = await session(svc, {});
    sendData(client, W + MI);
    const marks = await readData(bind, W); // a whole window goes on to the connector at once…
    const last = (await bind.control()) as { t: string; id: string }; // …with a mark at its end
    expect(last.t).toBe("mark");
    expect(marks.length).toBe(7);
    bind.send(JSON.stringify({ v: 2, t: "credit", upTo: W + W, mark: last.id }));
    await readData(bind, MI); // the held megabyte follows
  });

  it("ends a plain upload that keeps going past what the edge holds for it, with 1013", async () => {
    const svc = freshService();
    const { client } = await session(svc, {});
    sendData(client, 17 * MI); // past the window that goes on to the connector and the 8 MiB the edge holds
    expect((await closeOf(client)).code).toBe(CloseCode.TRY_AGAIN_LATER);
  });

  it("shares what it holds of plain uploads across sessions: past 8 MiB in all, the session holding the most ends (1013)", async () => {
    const svc = freshService();
    const a = await session(svc, {});
    const b = await session(svc, {});
    // 5 MiB each past the window that goes on to the connector: alone, each would be held.
    sendData(a.client, W + 5 * MI);
    sendData(b.client, W + 5 * MI);
    const first = await Promise.race([
      closeOf(a.client).then((c) => ({ c, ended: a, kept: b })),
      closeOf(b.client).then((c) => ({ c, ended: b, kept: a })),
    ]);
    expect(first.c.code).toBe(CloseCode.TRY_AGAIN_LATER);
    expect((await closeOf(first.ended.bind)).code).toBe(CloseCode.TRY_AGAIN_LATER);
    // The other session keeps everything it sent, in order.
    await readData(first.kept.bind, W);
    const last = (await first.kept.bind.control()) as { t: string; id: string };
    first.kept.bind.send(JSON.stringify({ v: 2, t: "credit", upTo: W + W, mark: last.id }));
    await readData(first.kept.bind, 5 * MI);
    expect(first.kept.client.pending).toBe(0);
  });

  it("ends a plain download at client.plain.max.bytes with 1013", async () => {
    const { bind, client } = await session(PLAIN_CAPPED, {});
    bind.send(chunk(65_536));
    await readData(client, 65_536);
    bind.send(chunk(1));
    expect((await closeOf(client)).code).toBe(CloseCode.TRY_AGAIN_LATER);
    expect((await closeOf(bind)).code).toBe(CloseCode.TRY_AGAIN_LATER);
  });

  it("refuses a plain client where client.plain is deny, and serves a Sallyport client there", async () => {
    const res = await edgeFetch(PLAIN_DENIED.path, { headers: { Upgrade: "websocket" } });
    expect(res.status).toBe(404);
    const { client } = await session(PLAIN_DENIED, V2_CLIENT);
    expect(await client.control()).toMatchObject({ t: "opened" });
  });

  it("counts text in UTF-8 bytes against max.message.size", async () => {
    const svc = freshService();
    const { client } = await session(svc, {});
    client.send("€".repeat(1_048_576 / 3 + 1)); // 349,526 characters, 1,048,578 bytes
    expect((await client.closed()).code).toBe(CloseCode.MESSAGE_TOO_BIG);
  });
});
