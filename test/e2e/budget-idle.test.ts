import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { MIN_GRANT_CAP_BYTES } from "../../edge/budget.ts";
import { V2_INITIAL_CREDIT_BYTES } from "../../shared/protocol/constants.ts";
import { serve } from "../helpers/backends.ts";
import { Cleanup } from "../helpers/cleanup.ts";
import { protocolClient, sha256, startFaultEdge, startNode } from "../helpers/fault-kit.ts";
import { listen } from "../helpers/net.ts";

/**
 * The object budget (edge/budget.ts) against many idle sessions: each holds a few bytes it
 * has relayed and nobody has proved yet. Shared among every one of them, the budget left a
 * bulk transfer beside them MIN_GRANT_CAP_BYTES past what its reader proved (one round trip per
 * 64 KiB: 49 against 170 MB/s in `npm run bench -- --only crowd`). Idle sessions are not
 * among those it is shared with: the transfer keeps its whole window.
 */

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** Enough that half the budget shared among them is less than MIN_GRANT_CAP_BYTES each (32 MiB / 4 / 64 KiB = 128). */
const IDLE = 140;
const DOWNLOAD = 8 * 1024 * 1024;

describe("the object budget beside idle sessions", () => {
  it(`${IDLE} idle sessions (64 B echoed each) do not narrow a download beside them to MIN_GRANT_CAP_BYTES`, async () => {
    const edge = await startFaultEdge(cleanup);
    // Echoes, except to a connection whose first byte is "D": that one gets DOWNLOAD bytes.
    const payload = randomBytes(DOWNLOAD);
    const { server } = serve("echo or download", cleanup, (s) => {
      s.once("data", (first: Buffer) => {
        if (first[0] === 0x44) return void s.end(payload);
        s.write(first);
        s.pipe(s);
      });
    });
    const port = await listen(server);
    const node = await startNode(cleanup, {
      edge: edge.ws,
      token: edge.token,
      connect: `tcp://127.0.0.1:${port}`,
      id: "idle",
      prepared: IDLE + 4,
    });
    await node.registered();

    for (let i = 0; i < IDLE; i++) {
      const idle = await protocolClient(cleanup, edge.url);
      idle.stream.send(Buffer.alloc(64, "i"));
      await idle.changed.wait(() => idle.bytes() === 64 || undefined, 10_000, `idle session ${i}'s echo`);
    }

    const download = await protocolClient(cleanup, edge.url);
    // Each data message's size, after the first limit (which no grant narrows).
    const later: number[] = [];
    let at = 0;
    download.ws.on("message", (data: Buffer, isBinary: boolean) => {
      if (!isBinary) return;
      if (at >= V2_INITIAL_CREDIT_BYTES) later.push(data.byteLength);
      at += data.byteLength;
    });
    download.stream.send(Buffer.from("D"));
    await download.ended(30_000);
    expect(download.bytes()).toBe(DOWNLOAD);
    expect(download.hash.digest("hex")).toBe(sha256(payload));
    expect(later.length).toBeGreaterThan(0);
    // Narrowed, no message could be larger than the narrowest grant.
    expect(Math.max(...later)).toBeGreaterThan(MIN_GRANT_CAP_BYTES);
  });
});
