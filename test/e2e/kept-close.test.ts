import net from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { echoBackend } from "../helpers/backends.ts";
import { Cleanup } from "../helpers/cleanup.ts";
import { startFaultEdge, startNode } from "../helpers/fault-kit.ts";
import { msgIs, spawnSallyport } from "../helpers/processes.ts";
import { controlType, startWireTap, tapView, type TapConnection } from "../helpers/wire-tap.ts";
import { Condition } from "../helpers/wait.ts";

/**
 * What a kept session's close costs on the wire, with the real connector and `sallyport
 * client --preopen` against the real edge, read from a tap between connector and edge: in
 * version 3 the connector's `end` carries its `done` (docs/protocol.md, "Version 3: `end`
 * carrying `done`"), so each kept session whose backend finishes last costs the connector
 * one message fewer than `end`, then `done`.
 */

const file = new Cleanup();
afterAll(() => file.run());

/** One local connection that sends `text` and its FIN, and reads to EOF: the echo backend finishes last. */
async function exchange(port: number, text: string): Promise<string> {
  const local = net.connect({ port, host: "127.0.0.1", allowHalfOpen: true });
  const chunks: Buffer[] = [];
  const changed = new Condition();
  let ended = false;
  let error: Error | undefined;
  local.on("data", (c: Buffer) => chunks.push(c));
  local.on("end", () => {
    ended = true;
    local.end();
    changed.notify();
  });
  local.on("error", (e) => {
    error = e;
    changed.notify();
  });
  local.end(text);
  await changed.wait(() => ended || error !== undefined || undefined, 10_000, "EOF on the local connection");
  expect(error).toBeUndefined();
  return Buffer.concat(chunks).toString("utf8");
}

/** The control messages a bind's connector sent, parsed, from its first `opened` on. */
const saidAfterOpened = (c: TapConnection): Array<Record<string, unknown>> => {
  const controls = c.fromConnector.filter((f) => controlType(f) !== undefined).map((f) => JSON.parse(f.text!) as Record<string, unknown>);
  return controls.slice(controls.findIndex((m) => m.t === "opened"));
};

describe("a kept session's close, end to end", () => {
  it("v3: the connector's `end` carries `done`, one message per kept session, and the pair carries the next", async () => {
    const edge = await startFaultEdge(file);
    const backend = await echoBackend(file);
    const tap = await startWireTap(file, edge.port);
    const node = await startNode(file, { edge: tap.url, token: edge.token, connect: backend.uri, id: "kept", prepared: 1 });
    await node.registered();
    const client = spawnSallyport(["client", "--url", edge.url, "--listen", "127.0.0.1:0", "--preopen", "1", "--log-level", "debug"], {
      name: "client",
      cleanup: file,
    });
    const port = Number(
      String((await client.waitForLog(msgIs("listening"), 20_000, "the client to listen")).json!.listen)
        .split(":")
        .pop(),
    );
    await client.waitForLogCount(msgIs("pre-opened session open"), 1, 20_000);
    const SESSIONS = 3;
    for (let i = 1; i <= SESSIONS; i++) {
      expect(await exchange(port, `kept ${i}`)).toBe(`kept ${i}`);
      // The pair is back in the pool at the connector's `done`; the next connection takes it.
      await client.waitForLogCount(msgIs("pre-opened session kept"), i, 10_000);
    }
    // One bind carried every session: the pair was kept each time (no new pairing, no new
    // handshake). Another may be paired in standby: the pool refilled when the first connection came.
    const carried = tap.connections.filter((c) => tapView.paired(c) && c.fromEdge.some((f) => controlType(f) === "start"));
    expect(carried).toHaveLength(1);
    const said = saidAfterOpened(carried[0]!);
    // Per kept session: `opened`, and the close as one message. Before v3: `opened`, `end`, `done`.
    expect(said.filter((m) => m.t !== "credit")).toEqual(
      Array.from({ length: SESSIONS }, () => [
        { v: 3, t: "opened" },
        { v: 3, t: "end", done: true },
      ]).flat(),
    );
    expect(said.some((m) => m.t === "done")).toBe(false);
    // The count the edge object pays for: 2 connector messages per kept session (v2: 3).
    expect(said.filter((m) => m.t !== "credit")).toHaveLength(2 * SESSIONS);
    const closes = await client.waitForLogCount(msgIs("connection closed"), SESSIONS, 5000, "every connection's close logged");
    expect(closes.map((c) => c.json)).toMatchObject(Array.from({ length: SESSIONS }, () => ({ clean: true, kept: true })));
    expect(backend.connections()).toBe(SESSIONS);
  });
});
