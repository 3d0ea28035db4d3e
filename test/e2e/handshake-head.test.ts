import { afterEach, describe, expect, it } from "vitest";
import { Cleanup } from "../helpers/cleanup.ts";
import { collectingDial } from "../helpers/collecting-dial.ts";
import { protocolClient } from "../helpers/fault-kit.ts";
import { frame, startFakeEdge } from "../helpers/fake-edge.ts";

/**
 * Data that arrives in the same read as the handshake's response. On a loaded machine the
 * edge's first messages (the backend's first bytes: a banner, the start of a download) can
 * sit in the kernel beside the 101 when the client reads it; `ws` then emits them right after
 * 'open', before any promise that awaited 'open' resumes. A stream attached there, rather
 * than inside the open event, loses them (it made faults-flow's slow-reader test wait for
 * bytes that had arrived). Both the product's dial and the test kit's client must keep them.
 */

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const PAYLOAD = Buffer.from("the backend spoke first");

/** An edge that answers an upgrade with the 101 and a binary message, in one write. */
async function eagerServer(): Promise<string> {
  const edge = await startFakeEdge(cleanup);
  edge.behave({
    name: "101 and a message in one write",
    handle: (ctx) => {
      ctx.socket.cork();
      ctx.acceptRaw().write(frame(0x2, PAYLOAD));
      ctx.socket.uncork();
    },
  });
  return `${edge.url}/svc`;
}

describe("data in the same read as the handshake's response", () => {
  it("reaches the stream of client/dial.ts (the forwarder's and the probe's dial)", async () => {
    const url = await eagerServer();
    const client = collectingDial(cleanup, url);
    await client.changed.wait(() => client.bytes().length >= PAYLOAD.length || undefined, 5000, "the early message");
    expect(client.bytes()).toEqual(PAYLOAD);
  });

  it("reaches the test kit's protocol client", async () => {
    const url = await eagerServer();
    const client = await protocolClient(cleanup, url, { keep: true });
    await client.changed.wait(() => client.bytes() >= PAYLOAD.length || undefined, 5000, "the early message");
    expect(Buffer.concat(client.received)).toEqual(PAYLOAD);
  });
});
