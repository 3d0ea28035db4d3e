import { randomBytes } from "node:crypto";
import net from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { echoBackend } from "../helpers/backends.ts";
import { Cleanup } from "../helpers/cleanup.ts";
import { startFaultEdge, startNode } from "../helpers/fault-kit.ts";
import { msgIs, spawnSallyport } from "../helpers/processes.ts";
import { Condition } from "../helpers/wait.ts";
import { startWireTap, type TapConnection } from "../helpers/wire-tap.ts";

/**
 * `sallyport client` sends the reads it gathers for one message as that message's fragments
 * (client/fragments.ts) instead of copying them into one array. With the real client, edge and
 * connector, read from two taps (client ↔ edge, connector ↔ edge): the upload leaves the client
 * with continuation frames, the edge hands the connector whole messages, and every byte comes
 * back in order.
 */

const file = new Cleanup();
afterAll(() => file.run());

/** Writes `data` and its FIN on a local connection and reads to EOF. */
async function roundTrip(port: number, data: Buffer): Promise<Buffer> {
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
  local.end(data);
  await changed.wait(() => ended || error !== undefined || undefined, 20_000, "EOF on the local connection");
  expect(error).toBeUndefined();
  return Buffer.concat(chunks);
}

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
    const client = spawnSallyport(["client", "--url", url.href, "--listen", "127.0.0.1:0", "--preopen", "1"], {
      name: "client",
      cleanup: file,
    });
    const port = Number(
      String((await client.waitForLog(msgIs("listening"), 20_000, "the client to listen")).json!.listen)
        .split(":")
        .pop(),
    );
    const data = randomBytes(8 * 1024 * 1024);
    const echoed = await roundTrip(port, data);
    expect(echoed.length).toBe(data.length);
    expect(echoed.equals(data)).toBe(true);

    const up = dataFrames(clientTap.connections.flatMap((c) => c.fromConnector));
    expect(up.first).toBeGreaterThan(0);
    // Reads gathered into one message: the second and later go as continuations.
    expect(up.continuation).toBeGreaterThan(0);
    const relayed = dataFrames(connectorTap.connections.flatMap((c) => c.fromEdge));
    expect(relayed.first).toBeGreaterThan(0);
    expect(relayed.continuation).toBe(0);
  });
});
