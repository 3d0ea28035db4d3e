import { describe, expect, it } from "vitest";
import { chunkPool, READ_BUFFER_BYTES, ReusedReadBuffer, sharedReadBuffer } from "../../net/reused-reads.ts";

/**
 * net/reused-reads.ts: reads into the shared buffer are copied out; after a full read that left the
 * socket reading, the next read goes into a buffer of the pool and is the chunk itself; any other
 * read sends the socket back to the shared buffer. Node's side is simulated here as onread does it: the callback gets the buffer
 * the read went into, then `buffer()` is asked for the next one. Real sockets read this way:
 * backend-reads.test.ts, accepted-reads.test.ts.
 */

const KiB = 1024;

/** Reads from a socket that is reading unless the test pauses it. */
function reading(buffer: Buffer): { reads: ReusedReadBuffer; socket: { paused: boolean; isPaused(): boolean } } {
  const reads = new ReusedReadBuffer(buffer);
  const socket = {
    paused: false,
    isPaused() {
      return this.paused;
    },
  };
  reads.readFrom(socket);
  return { reads, socket };
}

/** One read of `bytes` into the buffer Node was given; returns that buffer. */
function read(reads: ReusedReadBuffer, bytes: Buffer): Buffer {
  const into = reads.onread.buffer();
  bytes.copy(into);
  reads.onread.callback(bytes.byteLength, into);
  return into;
}

describe("ReusedReadBuffer", () => {
  it("a read into the shared buffer is copied out: the next read overwrites it, the chunk stays intact", () => {
    const { reads } = reading(Buffer.alloc(8));
    const chunks: Buffer[] = [];
    reads.listen((chunk) => chunks.push(chunk));
    expect(read(reads, Buffer.from("aaa"))).toBe(reads.buffer);
    expect(read(reads, Buffer.from("bbb"))).toBe(reads.buffer);
    expect(reads.buffer.toString("latin1", 0, 3)).toBe("bbb"); // the first read's bytes are gone from it
    expect(chunks.map((c) => c.toString("latin1"))).toEqual(["aaa", "bbb"]);
    for (const c of chunks) expect(c.buffer).not.toBe(reads.buffer.buffer);
  });

  it("after a full read the next goes into a buffer of the pool, handed over as it lies; then back to the shared one", () => {
    const { reads } = reading(Buffer.alloc(8));
    const chunks: Buffer[] = [];
    reads.listen((chunk) => chunks.push(chunk));
    read(reads, Buffer.from("aaaaaaaa")); // full: more is waiting
    const bulk = Buffer.alloc(200 * KiB, 0x62);
    const into = read(reads, bulk);
    expect(into).not.toBe(reads.buffer);
    expect(into.byteLength).toBe(READ_BUFFER_BYTES);
    // Uncopied: the chunk is the buffer the read went into.
    expect(chunks[1]!.buffer).toBe(into.buffer);
    expect(chunks[1]!.equals(bulk)).toBe(true);
    // It did not fill that buffer (the socket was drained): the next read goes to the shared one.
    expect(reads.onread.buffer()).toBe(reads.buffer);
    expect(chunks[0]!.toString("latin1")).toBe("aaaaaaaa");
  });

  it("full reads in a row each go into a buffer of their own, and every chunk stays intact", () => {
    const { reads } = reading(Buffer.alloc(8));
    const chunks: Buffer[] = [];
    reads.listen((chunk) => chunks.push(chunk));
    read(reads, Buffer.alloc(8, 1));
    const buffers = [2, 3, 4].map((fill) => read(reads, Buffer.alloc(READ_BUFFER_BYTES, fill)));
    expect(new Set(buffers.map((b) => b.buffer)).size).toBe(3);
    expect(chunks.map((c) => [c.byteLength, c[0], c[c.byteLength - 1]])).toEqual([
      [8, 1, 1],
      [READ_BUFFER_BYTES, 2, 2],
      [READ_BUFFER_BYTES, 3, 3],
      [READ_BUFFER_BYTES, 4, 4],
    ]);
    expect(reads.onread.buffer()).not.toBe(reads.buffer); // the last one was full too
  });

  it("a short read into a buffer of the pool is copied out, and the buffer goes back to the pool", () => {
    const { reads } = reading(Buffer.alloc(8));
    const chunks: Buffer[] = [];
    reads.listen((chunk) => chunks.push(chunk));
    read(reads, Buffer.from("aaaaaaaa"));
    const into = reads.onread.buffer();
    const idle = chunkPool.idle;
    Buffer.from("short").copy(into);
    reads.onread.callback(5, into);
    expect(chunks[1]!.toString("latin1")).toBe("short");
    expect(chunks[1]!.buffer).not.toBe(into.buffer);
    expect(chunkPool.idle).toBe(idle + 1);
    expect(reads.onread.buffer()).toBe(reads.buffer);
  });

  it("a full read after which the session paused the socket: the next read goes into the shared buffer", () => {
    const { reads, socket } = reading(Buffer.alloc(8));
    reads.listen(() => {
      socket.paused = true; // out of credit: the session pauses the socket in its listener
    });
    read(reads, Buffer.from("aaaaaaaa"));
    expect(reads.onread.buffer()).toBe(reads.buffer);
  });

  it("until the socket is known, every read goes into the shared buffer", () => {
    const reads = new ReusedReadBuffer(Buffer.alloc(8));
    read(reads, Buffer.from("aaaaaaaa"));
    expect(reads.onread.buffer()).toBe(reads.buffer);
  });

  it("a read is full when it filled the buffer it went into; a shorter one drained the socket", () => {
    const { reads } = reading(Buffer.alloc(4));
    const full: boolean[] = [];
    reads.listen((_, f) => full.push(f));
    read(reads, Buffer.from("1234")); // fills the shared buffer
    read(reads, Buffer.from("1234")); // four bytes of a pooled buffer: not full
    read(reads, Buffer.from("123"));
    expect(full).toEqual([true, false, false]);
  });

  it("reads before there is a listener are handed to it first, in order", () => {
    const { reads } = reading(Buffer.alloc(4));
    read(reads, Buffer.from("abcd"));
    read(reads, Buffer.from("ef"));
    const got: Array<[string, boolean]> = [];
    reads.listen((c, f) => got.push([c.toString("latin1"), f]));
    read(reads, Buffer.from("g"));
    expect(got).toEqual([
      ["abcd", true],
      ["ef", false],
      ["g", false],
    ]);
  });

  it("the shared buffer is one buffer of one read for the whole process, whatever the number of sockets", () => {
    expect(sharedReadBuffer()).toBe(sharedReadBuffer());
    expect(sharedReadBuffer().byteLength).toBe(READ_BUFFER_BYTES);
    expect(READ_BUFFER_BYTES).toBe(256 * KiB);
    // A new socket reads into it until its first full read.
    expect(new ReusedReadBuffer(sharedReadBuffer()).onread.buffer()).toBe(sharedReadBuffer());
  });
});
