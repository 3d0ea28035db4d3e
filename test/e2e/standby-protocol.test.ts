import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CloseCode } from "../../shared/protocol/close-codes.ts";
import { CLIENT_SUBPROTOCOLS, STANDBY_HEADER } from "../../shared/protocol/constants.ts";
import { Cleanup } from "../helpers/cleanup.ts";
import { randomToken } from "../helpers/files.ts";
import { openClient, type TestClient } from "../helpers/ws-client.ts";
import {
  accept,
  bindMessage,
  controls,
  eventually,
  openRawBind,
  startCapturedEdge,
  waitForControl,
  type CapturedEdge,
} from "./security-harness.ts";

/**
 * Standby and kept sessions at the edge, message by message: a hand-driven bind plays the
 * connector and a hand-driven socket the Sallyport client, against the real edge in workerd.
 * What the edge must relay (`start`, `done`), what it adds (`standby` in `paired`,
 * `maxMessageBytes` in `opened`, once per client socket), and which `done` it refuses.
 */

/** These tests speak version 1 on both legs (raw frames), which the edge still serves. */
const V1_CLIENT = CLIENT_SUBPROTOCOLS[1];
const TOKEN = randomToken();
const file = new Cleanup();
const perTest = new Cleanup();
afterEach(() => perTest.run());
afterAll(() => file.run());

let edge: CapturedEdge;

beforeAll(async () => {
  edge = await startCapturedEdge(file, {
    services: { svc: { accept: accept("svc"), "socks.timeout": "5 seconds", "max.message.size": 131_072 } },
    tokens: { svc: [TOKEN] },
  });
});

async function parkedBind(): Promise<TestClient> {
  const bind = openRawBind(perTest, edge, TOKEN);
  await bind.opened(5000);
  await bind.send(bindMessage(accept("svc")));
  await waitForControl(bind, "bound", 5000);
  return bind;
}

const ofType = (c: TestClient, t: string): Array<Record<string, unknown>> => controls(c).filter((m) => m.t === t);
const nth = (c: TestClient, t: string, n: number): Promise<unknown> =>
  eventually(() => ofType(c, t).length >= n || undefined, 5000, `${n} × "${t}" on ${c.url}`);

describe("standby sessions at the edge", () => {
  it("relays start and done, and lets a kept pair carry a second session", async () => {
    const bind = await parkedBind();
    const client = openClient(perTest, edge.clientUrl("/svc"), { protocols: V1_CLIENT, headers: { [STANDBY_HEADER]: "1" } });
    await client.opened(5000);
    const paired = await waitForControl(bind, "paired", 5000);
    expect(paired).toMatchObject({ clientProtocol: "sallyport", standby: true, maxMessageBytes: 131_072 });

    for (let session = 1; session <= 2; session++) {
      await client.send('{"v":1,"t":"start"}');
      await nth(bind, "start", session);
      await bind.send('{"v":1,"t":"opened"}');
      if (session === 1) {
        // The edge speaks for itself to the client: its own limit, whatever the connector said.
        await eventually(
          () => client.messages.filter((m) => !m.binary && m.data.toString().includes('"opened"')).length >= 1 || undefined,
          5000,
          "opened at the client",
        );
        expect(
          client.messages
            .filter((m) => !m.binary)
            .at(-1)!
            .data.toString(),
        ).toBe('{"v":1,"t":"opened","maxMessageBytes":131072}');
      }
      await client.send(Buffer.from(`ping ${session}`));
      const data = await eventually(() => bind.messages.filter((m) => m.binary)[session - 1], 5000, `data of session ${session}`);
      expect(data.data.toString()).toBe(`ping ${session}`);
      await bind.send(Buffer.from(`pong ${session}`));
      await client.send('{"v":1,"t":"end"}');
      await bind.send('{"v":1,"t":"end"}');
      await nth(bind, "end", session);
      await bind.send('{"v":1,"t":"done"}');
      await eventually(
        () => client.messages.filter((m) => !m.binary && m.data.toString() === '{"v":1,"t":"done"}').length >= session || undefined,
        5000,
        "done at the client",
      );
    }
    expect(client.messages.filter((m) => m.binary).map((m) => m.data.toString())).toEqual(["pong 1", "pong 2"]);
    // Once per socket: the kept session's `opened` (already through the edge: its `pong` came
    // after it) is not repeated to the client, whose limits have not changed.
    expect(client.messages.filter((m) => !m.binary).map((m) => JSON.parse(m.data.toString()).t)).toEqual([
      "opened",
      "end",
      "done",
      "end",
      "done",
    ]);
    expect(client.closedWith).toBeUndefined();
    expect(bind.closedWith).toBeUndefined();
  });

  it("refuses done for a client that did not ask for standby (1002), and the client is not left hanging", async () => {
    const bind = await parkedBind();
    const client = openClient(perTest, edge.clientUrl("/svc"), { protocols: V1_CLIENT });
    await client.opened(5000);
    expect(await waitForControl(bind, "paired", 5000)).not.toHaveProperty("standby");
    // The client speaks first: workerd finishes the TCP close of a socket that never sent
    // anything only ~10 s later (docs/operations.md), which would only delay 'close' here.
    await client.send(Buffer.from("x"));
    await bind.send('{"v":1,"t":"opened"}');
    await bind.send('{"v":1,"t":"done"}');
    expect((await bind.closed(5000)).code).toBe(CloseCode.PROTOCOL_ERROR);
    expect((await client.closed(5000)).code).not.toBe(CloseCode.NORMAL);
  });

  it("refuses done before the backend was opened (1002)", async () => {
    const bind = await parkedBind();
    const client = openClient(perTest, edge.clientUrl("/svc"), { protocols: V1_CLIENT, headers: { [STANDBY_HEADER]: "1" } });
    await client.opened(5000);
    await waitForControl(bind, "paired", 5000);
    await bind.send('{"v":1,"t":"done"}');
    expect((await bind.closed(5000)).code).toBe(CloseCode.PROTOCOL_ERROR);
  });

  it("a plain client cannot ask for standby: its header is ignored", async () => {
    const bind = await parkedBind();
    const client = openClient(perTest, edge.clientUrl("/svc"), { headers: { [STANDBY_HEADER]: "1" } });
    await client.opened(5000);
    const paired = await waitForControl(bind, "paired", 5000);
    expect(paired).toMatchObject({ clientProtocol: "plain" });
    expect(paired).not.toHaveProperty("standby");
  });
});
