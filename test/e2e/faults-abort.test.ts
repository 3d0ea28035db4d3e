import WebSocket from "ws";
import { afterEach, describe, expect, it } from "vitest";
import { Cleanup } from "../helpers/cleanup.ts";
import { startFaultRelay } from "../helpers/fault-relay.ts";
import { CLIENT_OPTIONS, protocolClient, pushSource, randomBytes, recordingSink, startFaultEdge, startNode } from "../helpers/fault-kit.ts";
import { msgIs } from "../helpers/processes.ts";
import { within } from "../helpers/wait.ts";

/**
 * A session cut in the middle never looks complete at either end: the client gets a close
 * other than 1000, and the backend a TCP reset rather than the FIN of a finished stream.
 * The fault relay cuts the client↔edge and connector↔backend legs with RSTs.
 */

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

describe("faults: cut sessions", () => {
  it("client↔edge reset mid-upload: the backend sees a reset, not a clean end of stream", async () => {
    const edge = await startFaultEdge(cleanup);
    const sink = await recordingSink(cleanup);
    const node = await startNode(cleanup, { edge: edge.ws, token: edge.token, connect: sink.uri, id: "cut-client", prepared: 1 });
    await node.registered();
    const relay = await startFaultRelay(cleanup, { target: edge.port, name: "client↔edge" });
    const ws = new WebSocket(`${relay.url}/svc`, CLIENT_OPTIONS);
    cleanup.add("client", () => ws.terminate());
    ws.on("error", () => {});
    await within(new Promise((r) => ws.once("open", r)), 10_000, "open");
    const pump = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send(randomBytes(8 * 1024)), 5);
    cleanup.add("pump", () => clearInterval(pump));
    await sink.wait(() => (sink.records[0]?.received ?? 0) > 256 * 1024 || undefined, 10_000, "the upload under way");
    relay.resetAll();
    const rec = await sink.wait(() => sink.records[0]!.ended, 10_000, "the backend connection to end");
    expect(rec).toBe("reset");
  });

  it("connector↔backend reset mid-download: the client gets an abnormal close, never 1000", async () => {
    const edge = await startFaultEdge(cleanup);
    const source = await pushSource(cleanup, 64 * 1024 * 1024);
    const relay = await startFaultRelay(cleanup, { target: source.port, name: "connector↔backend" });
    relay.setBandwidth(2 * 1024 * 1024, "down");
    const node = await startNode(cleanup, { edge: edge.ws, token: edge.token, connect: relay.uri, id: "cut-backend", prepared: 1 });
    await node.registered();
    const client = await protocolClient(cleanup, edge.url);
    await client.changed.wait(() => client.bytes() > 512 * 1024 || undefined, 10_000, "the download under way");
    relay.resetAll();
    const closed = await client.closed(10_000);
    expect(closed.code).not.toBe(1000);
    expect(closed.clean).toBe(false);
    expect(client.stream.endReceived).toBe(false);
    expect(closed.code).toBe(4001);
    await node.proc.waitForLog(msgIs("session ended", { closeCode: 4001 }), 2000, "the connector's record of it");
  });

  it("a Sallyport client that aborts mid-upload: the backend sees a reset", async () => {
    const edge = await startFaultEdge(cleanup);
    const sink = await recordingSink(cleanup);
    const node = await startNode(cleanup, { edge: edge.ws, token: edge.token, connect: sink.uri, id: "abort", prepared: 1 });
    await node.registered();
    const client = await protocolClient(cleanup, edge.url);
    for (let i = 0; i < 64; i++) client.stream.send(randomBytes(16 * 1024));
    await sink.wait(() => (sink.records[0]?.received ?? 0) >= 512 * 1024 || undefined, 10_000, "the upload under way");
    client.stream.close(4000, "aborted");
    expect(await sink.wait(() => sink.records[0]!.ended, 10_000, "the backend connection to end")).toBe("reset");
  });
});
