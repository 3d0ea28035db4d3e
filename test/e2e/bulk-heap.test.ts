import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { echoBackend, sha256 } from "../helpers/backends.ts";
import { Cleanup } from "../helpers/cleanup.ts";
import { startFaultEdge, startNode } from "../helpers/fault-kit.ts";
import { echoAll, LocalConn, startForwarder } from "../helpers/local-conn.ts";
import { msgIs } from "../helpers/processes.ts";

/**
 * cli/relay-heap.ts: while a relaying process moves bulk bytes, V8's heap may grow 4 × per
 * collection; QUIET_MS after the bytes stop, V8 sizes it again (cli/bulk-gauge.ts). With the
 * real client, edge and connector at debug level, a bulk echo switches both Node ends into the
 * bulk mode and back, and says so; idle, nothing switches.
 */

const file = new Cleanup();
afterAll(() => file.run());

const BULK = "bulk transfer: heap may grow 4x per collection";
const OVER = "bulk transfer over: V8's heap sizing again";

describe("the heap while bytes flow in bulk", () => {
  it("grows more per collection during a bulk echo, in the client and the connector, and goes back after", async () => {
    const edge = await startFaultEdge(file);
    const backend = await echoBackend(file);
    const node = await startNode(file, { edge: edge.ws, token: edge.token, connect: backend.uri, id: "heap", logLevel: "debug" });
    await node.registered();
    const { proc: client, port } = await startForwarder(file, edge.url, 1, ["--log-level", "debug"]);
    // Started and registered, nothing relayed yet: no process is in the bulk mode.
    expect(client.lines.filter(msgIs(BULK))).toHaveLength(0);
    expect(node.proc.lines.filter(msgIs(BULK))).toHaveLength(0);

    const data = randomBytes(256 * 1024 * 1024);
    const conn = new LocalConn(file, port);
    await echoAll([{ conn, data }], 60_000);
    expect(conn.digest()).toBe(sha256(data));

    for (const proc of [client, node.proc]) {
      await proc.waitForLog(msgIs(BULK), 10_000, "the bulk mode");
      await proc.waitForLog(msgIs(OVER), 15_000, "the bulk mode's end");
    }
  });
});
