import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { BATCHED_FROM_BYTES, WriteBatch } from "../../net/write-batch.ts";

/** A stream that records how its writes reach it: one by one, or gathered (`writev`). */
function recorder() {
  const calls: number[][] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      calls.push([chunk.length]);
      cb();
    },
    writev(chunks, cb) {
      calls.push(chunks.map((c) => (c.chunk as Buffer).length));
      cb();
    },
  });
  return { calls, batch: new WriteBatch(stream) };
}

const big = (n = BATCHED_FROM_BYTES): Buffer => Buffer.alloc(n);
const written = (batch: WriteBatch, chunk: Buffer): Promise<void> =>
  new Promise((resolve, reject) => batch.write(chunk, (e) => (e ? reject(e) : resolve())));

describe("WriteBatch", () => {
  it("gathers the big writes of one turn into one writev, in order", async () => {
    const { calls, batch } = recorder();
    const done = [written(batch, big()), written(batch, big(BATCHED_FROM_BYTES + 1)), written(batch, Buffer.alloc(10))];
    expect(calls).toEqual([]); // corked until the turn ends
    await Promise.all(done);
    expect(calls).toEqual([[BATCHED_FROM_BYTES, BATCHED_FROM_BYTES + 1, 10]]);
  });

  it("writes a small write at once when nothing is gathered", () => {
    const { calls, batch } = recorder();
    batch.write(Buffer.alloc(BATCHED_FROM_BYTES - 1), () => {});
    expect(calls).toEqual([[BATCHED_FROM_BYTES - 1]]);
  });

  it("starts a new gathering each turn", async () => {
    const { calls, batch } = recorder();
    await Promise.all([written(batch, big()), written(batch, big())]);
    await Promise.all([written(batch, big()), written(batch, big())]);
    expect(calls).toEqual([
      [BATCHED_FROM_BYTES, BATCHED_FROM_BYTES],
      [BATCHED_FROM_BYTES, BATCHED_FROM_BYTES],
    ]);
  });
});
