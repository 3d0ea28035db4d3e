import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sourceBackend, type Source } from "../helpers/backends.ts";
import { Cleanup } from "../helpers/cleanup.ts";
import { randomToken } from "../helpers/files.ts";
import { openClient } from "../helpers/ws-client.ts";
import { accept, eventually, startCapturedEdge, startInProcessConnector, type CapturedEdge } from "./security-harness.ts";

/**
 * Backend reads are coalesced into messages up to the edge's max.message.size, which the edge
 * tells the connector in `paired`: larger messages where the edge takes them (fewer billed
 * messages, less work per byte), never larger than it takes. A 4 MiB download, written by
 * the backend at once, through two services that differ only in max.message.size.
 */

const KiB = 1024;
const MiB = 1024 * KiB;
const T = { big: randomToken(), floor: randomToken() };
const file = new Cleanup();
afterAll(() => file.run());

let edge: CapturedEdge;
let source: Source;

beforeAll(async () => {
  source = await sourceBackend(file, 4 * MiB);
  edge = await startCapturedEdge(file, {
    services: {
      big: { accept: accept("big"), "max.message.size": 256 * KiB },
      floor: { accept: accept("floor"), "max.message.size": 64 * KiB },
    },
    tokens: { big: [T.big], floor: [T.floor] },
  });
  const c = startInProcessConnector(file, edge.ws, [
    { name: "big", accept: accept("big"), connect: source.uri, token: T.big, prepared: 1 },
    { name: "floor", accept: accept("floor"), connect: source.uri, token: T.floor, prepared: 1 },
  ]);
  await eventually(() => c.stats("big").parked === 1 && c.stats("floor").parked === 1, 10_000, "binds parked for both services");
});

async function download(path: string): Promise<{ sizes: number[]; sha256: string; code: number }> {
  const client = openClient(file, edge.clientUrl(path));
  await client.opened(5000);
  await client.send(Buffer.from("go"));
  const closed = await client.closed(15_000);
  const data = client.messages.filter((m) => m.binary).map((m) => m.data);
  return { sizes: data.map((d) => d.length), sha256: createHash("sha256").update(Buffer.concat(data)).digest("hex"), code: closed.code };
}

describe("coalescing backend reads", () => {
  it("max.message.size 256 KiB: messages above one 64 KiB read, none above 256 KiB, every byte there", async () => {
    const r = await download("/big");
    expect(r.code).toBe(1000);
    expect(r.sha256).toBe(source.sha256);
    expect(Math.max(...r.sizes)).toBeLessThanOrEqual(256 * KiB);
    // Uncoalesced, 4 MiB in reads of at most 64 KiB is at least 64 messages.
    expect(r.sizes.length, `message sizes ${r.sizes.join(",")}`).toBeLessThan(64);
  });

  it("max.message.size 64 KiB: the connector keeps to it (a larger message would end the session with 1009)", async () => {
    const r = await download("/floor");
    expect(r.code).toBe(1000);
    expect(r.sha256).toBe(source.sha256);
    expect(Math.max(...r.sizes)).toBeLessThanOrEqual(64 * KiB);
  });
});
