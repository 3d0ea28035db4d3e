import { randomBytes } from "node:crypto";
import type net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { Cleanup } from "../helpers/cleanup.ts";
import { collectingDial } from "../helpers/collecting-dial.ts";
import { frame, startFakeEdge } from "../helpers/fake-edge.ts";
import { Condition } from "../helpers/wait.ts";

/**
 * A data message's bytes go on as they are read (net/ws-streaming.ts), not once the whole
 * message is in: an edge that sends the first half of a message and then waits must see the
 * client deliver that half. Both Node ends dial through net/edge-socket.ts, where the
 * streaming is switched on; this drives it through client/dial.ts, the forwarder's dial.
 */

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

describe("a data message split across reads", () => {
  it("is delivered as it arrives: the first half before the edge has sent the rest", async () => {
    const payload = randomBytes(512 * 1024);
    const whole = frame(0x2, payload);
    const half = whole.length >> 1;
    const edge = await startFakeEdge(cleanup);
    let socket: net.Socket | undefined;
    const upgraded = new Condition();
    edge.behave({
      name: "half a message, then the rest when told",
      handle: (ctx) => {
        socket = ctx.acceptRaw();
        socket.write(whole.subarray(0, half));
        upgraded.notify();
      },
    });
    const client = collectingDial(cleanup, `${edge.url}/svc`);
    const received = (): number => client.bytes().length;
    const server = await upgraded.wait(() => socket, 5000, "the upgrade");
    // Without streaming, nothing arrives until the frame is whole: this times out.
    await client.changed.wait(() => received() > 0 || undefined, 5000, "the first half of the message");
    expect(received()).toBeLessThan(payload.length);
    expect(client.bytes()).toEqual(payload.subarray(0, received()));
    server.write(whole.subarray(half));
    await client.changed.wait(() => received() >= payload.length || undefined, 5000, "the rest of the message");
    expect(client.bytes()).toEqual(payload);
  });
});
