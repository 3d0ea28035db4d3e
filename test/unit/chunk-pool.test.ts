import { describe, expect, it } from "vitest";
import { ChunkPool } from "../../net/chunk-pool.ts";
import { ResendBuffer } from "../../shared/protocol/resend.ts";

/**
 * net/chunk-pool.ts: a large read's buffer is used again only once every holder let go of
 * the whole chunk; small reads, views of a chunk and what is past `keep` never come back.
 */

const B = 1024;

describe("ChunkPool", () => {
  it("gives a large chunk's buffer to a later read once every holder let go, not before", () => {
    const pool = new ChunkPool(8 * B, 4);
    const a = pool.take(8 * B);
    pool.hold(a); // the resend buffer
    pool.hold(a); // ws, until written
    pool.letGo(a);
    expect(pool.idle).toBe(0);
    const b = pool.take(6 * B);
    expect(b.buffer).not.toBe(a.buffer); // a is still held
    pool.letGo(a);
    expect(pool.idle).toBe(1);
    const c = pool.take(5 * B);
    expect(c.buffer).toBe(a.buffer);
    expect(c.byteLength).toBe(5 * B);
  });

  it("a buffer read into is claimed as the chunk itself when the read is at least half of it, and pooled again once let go", () => {
    const pool = new ChunkPool(8 * B, 4);
    const into = pool.readBuffer();
    expect(into.byteLength).toBe(8 * B);
    into.fill(7, 0, 5 * B);
    const chunk = pool.claim(into, 5 * B);
    expect(chunk.buffer).toBe(into.buffer);
    expect(chunk.byteLength).toBe(5 * B);
    expect(chunk.every((x) => x === 7)).toBe(true);
    pool.hold(chunk);
    expect(pool.idle).toBe(0);
    pool.letGo(chunk);
    expect(pool.idle).toBe(1);
    expect(pool.readBuffer().buffer).toBe(into.buffer);
  });

  it("a short read into a pooled buffer is copied out, and the buffer is pooled again at once", () => {
    const pool = new ChunkPool(8 * B, 4);
    const into = pool.readBuffer();
    into.write("short");
    const chunk = pool.claim(into, 5);
    expect(chunk.toString()).toBe("short");
    expect(chunk.buffer).not.toBe(into.buffer);
    expect(pool.idle).toBe(1);
    pool.hold(chunk);
    pool.letGo(chunk); // not a chunk of the pool: nothing comes back
    expect(pool.idle).toBe(1);
  });

  it("never pools a read shorter than half a buffer, nor one longer than a buffer", () => {
    const pool = new ChunkPool(8 * B, 4);
    for (const n of [1, 4 * B - 1, 8 * B + 1]) {
      const chunk = pool.take(n);
      expect(chunk.byteLength).toBe(n);
      pool.hold(chunk);
      pool.letGo(chunk);
    }
    expect(pool.idle).toBe(0);
  });

  it("never takes back a view of a chunk (its memory has other views), nor a chunk twice", () => {
    const pool = new ChunkPool(8 * B, 4);
    const a = pool.take(8 * B);
    const head = a.subarray(0, 4 * B);
    pool.hold(head);
    pool.letGo(head);
    expect(pool.idle).toBe(0);
    pool.hold(a);
    pool.letGo(a);
    pool.letGo(a); // a second let-go of a chunk already given back changes nothing
    expect(pool.idle).toBe(1);
  });

  it("keeps at most `keep` buffers; the rest go to the collector", () => {
    const pool = new ChunkPool(8 * B, 2);
    const chunks = [pool.take(8 * B), pool.take(8 * B), pool.take(8 * B)];
    for (const c of chunks) {
      pool.hold(c);
      pool.letGo(c);
    }
    expect(pool.idle).toBe(2);
  });
});

describe("ResendBuffer's dropped", () => {
  it("is told of each chunk acknowledged as the buffer holds it (a trimmed one as its view), not of one rewound or reset", () => {
    const dropped: Uint8Array[] = [];
    const out = new ResendBuffer((c) => dropped.push(c));
    const [a, b, c, d] = [new Uint8Array(10), new Uint8Array(10), new Uint8Array(10), new Uint8Array(10)];
    for (const x of [a, b, c, d]) out.sent(x);
    out.acknowledge(15); // a whole, b trimmed
    expect(dropped).toEqual([a]);
    out.acknowledge(20); // what is left of b: a view, which a pool does not know
    expect(dropped).toHaveLength(2);
    expect(dropped[1]).not.toBe(b);
    expect(out.rewind(25)).toHaveLength(2); // c trimmed, d: handed back to send again, not dropped
    expect(dropped).toHaveLength(2);
    out.sent(d);
    out.reset();
    expect(dropped).toHaveLength(2);
  });
});
