import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { echoBackend, sha256 } from "../helpers/backends.ts";
import { Cleanup } from "../helpers/cleanup.ts";
import { pushSource, startFaultEdge, startNode } from "../helpers/fault-kit.ts";
import { echoAll, LocalConn, startForwarder } from "../helpers/local-conn.ts";
import { startWireTap, type TapConnection } from "../helpers/wire-tap.ts";

/**
 * Both Node ends send the reads they gather for one message as that message's fragments
 * (net/ws-fragments.ts) instead of copying them into one array. With the real client, edge and
 * connector, read from two taps (client ↔ edge, connector ↔ edge): an upload leaves the client
 * with continuation frames, a download leaves the connector with them; the edge hands the other
 * end whole messages, and every byte arrives in order.
 */

const file = new Cleanup();
afterAll(() => file.run());

const dataFrames = (frames: TapConnection["fromEdge"]) => ({
  first: frames.filter((f) => f.opcode === 2).length,
  continuation: frames.filter((f) => f.opcode === 0).length,
});

/** The real edge, connector (toward `backend`) and `sallyport client`, each Node end behind a wire tap. */
async function tapped(backend: string, id: string) {
  const edge = await startFaultEdge(file);
  const clientTap = await startWireTap(file, edge.port);
  const connectorTap = await startWireTap(file, edge.port);
  const node = await startNode(file, { edge: connectorTap.url, token: edge.token, connect: backend, id, prepared: 1 });
  await node.registered();
  const url = new URL(edge.url);
  url.port = String(clientTap.port);
  const { port } = await startForwarder(file, url.href, 1);
  return {
    conn: new LocalConn(file, port),
    /** What each Node end sent the edge, and what the edge sent it. */
    frames: {
      fromClient: () => dataFrames(clientTap.connections.flatMap((c) => c.fromConnector)),
      toClient: () => dataFrames(clientTap.connections.flatMap((c) => c.fromEdge)),
      fromConnector: () => dataFrames(connectorTap.connections.flatMap((c) => c.fromConnector)),
      toConnector: () => dataFrames(connectorTap.connections.flatMap((c) => c.fromEdge)),
    },
  };
}

/** The sender's messages went out as fragments where it gathered reads; the edge relayed them whole. */
function sentAsFragmentsRelayedWhole(sent: ReturnType<typeof dataFrames>, relayed: ReturnType<typeof dataFrames>): void {
  expect(sent.first).toBeGreaterThan(0);
  // Reads gathered into one message: the second and later go as continuations.
  expect(sent.continuation).toBeGreaterThan(0);
  expect(relayed.first).toBeGreaterThan(0);
  expect(relayed.continuation).toBe(0);
}

describe("a message of several reads as fragments, end to end", () => {
  it("an upload leaves the client as fragments, reaches the connector whole, and carries every byte", async () => {
    const backend = await echoBackend(file);
    const { conn, frames } = await tapped(backend.uri, "frag-up");
    const data = randomBytes(8 * 1024 * 1024);
    await echoAll([{ conn, data }], 20_000);
    expect(conn.received).toBe(data.length);
    expect(conn.digest()).toBe(sha256(data));

    sentAsFragmentsRelayedWhole(frames.fromClient(), frames.toConnector());
  });

  it("a download leaves the connector as fragments, reaches the client whole, and carries every byte", async () => {
    const TOTAL = 16 * 1024 * 1024;
    // It writes far faster than a session reads: the connector's reads fill its 256 KiB buffer, and gather.
    const source = await pushSource(file, TOTAL);
    const { conn, frames } = await tapped(source.uri, "frag-down");
    await conn.until(() => conn.ended, 30_000, "the whole download");
    expect(conn.received).toBe(TOTAL);
    expect(conn.digest()).toBe(source.state.sha256);

    sentAsFragmentsRelayedWhole(frames.fromConnector(), frames.toClient());
  });
});
