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

describe("an upload's messages as fragments, end to end", () => {
  it("leave the client as fragments, reach the connector whole, and carry every byte", async () => {
    const edge = await startFaultEdge(file);
    const backend = await echoBackend(file);
    const clientTap = await startWireTap(file, edge.port);
    const connectorTap = await startWireTap(file, edge.port);
    const node = await startNode(file, { edge: connectorTap.url, token: edge.token, connect: backend.uri, id: "frag", prepared: 1 });
    await node.registered();
    const url = new URL(edge.url);
    url.port = String(clientTap.port);
    const { port } = await startForwarder(file, url.href, 1);
    const data = randomBytes(8 * 1024 * 1024);
    const conn = new LocalConn(file, port);
    await echoAll([{ conn, data }], 20_000);
    expect(conn.received).toBe(data.length);
    expect(conn.digest()).toBe(sha256(data));

    const up = dataFrames(clientTap.connections.flatMap((c) => c.fromConnector));
    expect(up.first).toBeGreaterThan(0);
    // Reads gathered into one message: the second and later go as continuations.
    expect(up.continuation).toBeGreaterThan(0);
    const relayed = dataFrames(connectorTap.connections.flatMap((c) => c.fromEdge));
    expect(relayed.first).toBeGreaterThan(0);
    expect(relayed.continuation).toBe(0);
  });

  it("leave the connector as fragments, reach the client whole, and carry every byte", async () => {
    const TOTAL = 16 * 1024 * 1024;
    const edge = await startFaultEdge(file);
    // It writes far faster than a session reads: the connector's reads fill its 256 KiB buffer, and gather.
    const source = await pushSource(file, TOTAL);
    const clientTap = await startWireTap(file, edge.port);
    const connectorTap = await startWireTap(file, edge.port);
    const node = await startNode(file, { edge: connectorTap.url, token: edge.token, connect: source.uri, id: "frag-down", prepared: 1 });
    await node.registered();
    const url = new URL(edge.url);
    url.port = String(clientTap.port);
    const { port } = await startForwarder(file, url.href, 1);
    const conn = new LocalConn(file, port);
    await conn.until(() => conn.ended, 30_000, "the whole download");
    expect(conn.received).toBe(TOTAL);
    expect(conn.digest()).toBe(source.state.sha256);

    const down = dataFrames(connectorTap.connections.flatMap((c) => c.fromConnector));
    expect(down.first).toBeGreaterThan(0);
    expect(down.continuation).toBeGreaterThan(0);
    const relayed = dataFrames(clientTap.connections.flatMap((c) => c.fromEdge));
    expect(relayed.first).toBeGreaterThan(0);
    expect(relayed.continuation).toBe(0);
  });
});
