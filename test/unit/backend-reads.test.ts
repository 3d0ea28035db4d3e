import { randomBytes } from "node:crypto";
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { dialBackend } from "../../connector/backend.ts";
import { readBackend } from "../../connector/backend-reads.ts";
import { READ_BUFFER_BYTES, ReusedReadBuffer, sharedReadBuffer } from "../../net/reused-reads.ts";
import { Cleanup } from "../helpers/cleanup.ts";

/**
 * net/reused-reads.ts: reads through one reused buffer, each copied out once, full when it filled
 * the buffer; and connector/backend-reads.ts: a real backend socket on 127.0.0.1 read that way.
 */

const KiB = 1024;
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** Simulates one read of `bytes` into the reused buffer, as Node's onread does. */
function read(reads: ReusedReadBuffer, bytes: Buffer): void {
  bytes.copy(reads.buffer);
  reads.onread.callback(bytes.byteLength);
}

describe("ReusedReadBuffer", () => {
  it("copies each read out: the next read overwrites the buffer, the first chunk stays intact", () => {
    const reads = new ReusedReadBuffer(Buffer.alloc(8));
    const chunks: Buffer[] = [];
    reads.listen((chunk) => chunks.push(chunk));
    read(reads, Buffer.from("aaaaaaaa"));
    read(reads, Buffer.from("bbb"));
    expect(reads.buffer.toString("latin1", 0, 3)).toBe("bbb"); // the first read's bytes are gone from it
    expect(chunks.map((c) => c.toString("latin1"))).toEqual(["aaaaaaaa", "bbb"]);
    for (const c of chunks) expect(c.buffer).not.toBe(reads.buffer.buffer);
  });

  it("a read is full when it filled the buffer; a shorter one drained the socket", () => {
    const reads = new ReusedReadBuffer(Buffer.alloc(4));
    const full: boolean[] = [];
    reads.listen((_, f) => full.push(f));
    read(reads, Buffer.from("1234"));
    read(reads, Buffer.from("123"));
    read(reads, Buffer.from("1"));
    expect(full).toEqual([true, false, false]);
  });

  it("reads before there is a listener are handed to it first, in order", () => {
    const reads = new ReusedReadBuffer(Buffer.alloc(4));
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

  it("is one buffer of one message for the whole process, whatever the number of sockets", () => {
    expect(sharedReadBuffer()).toBe(sharedReadBuffer());
    expect(sharedReadBuffer().byteLength).toBe(READ_BUFFER_BYTES);
    expect(READ_BUFFER_BYTES).toBe(256 * KiB);
  });
});

/** A backend on 127.0.0.1 that sends `data` as soon as a connection comes, then FIN. */
async function speakingBackend(data: Buffer): Promise<number> {
  const server = net.createServer((s) => s.end(data));
  cleanup.add("backend", () => new Promise((r) => server.close(r)));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as net.AddressInfo).port;
}

describe("dialBackend: a plain TCP backend read through a reused buffer", () => {
  it("hands over every byte in order, in reads no larger than the buffer, each kept intact", async () => {
    const data = randomBytes(1024 * KiB);
    const port = await speakingBackend(data);
    // A 1000-byte buffer (below any max.message.size): many reads, each overwriting the last one.
    const socket = await dialBackend({ scheme: "tcp", host: "127.0.0.1", port }, { readBuffer: Buffer.alloc(1000) });
    cleanup.add("socket", () => socket.destroy());
    // Paused until someone reads it: the backend spoke first, and nothing may be lost.
    expect(socket.isPaused()).toBe(true);
    const chunks: Array<{ chunk: Buffer; full: boolean }> = [];
    const ended = new Promise<void>((resolve, reject) => {
      socket.once("end", resolve);
      socket.once("error", reject);
    });
    readBackend(socket, (chunk, full) => chunks.push({ chunk, full }));
    await ended;
    expect(Buffer.concat(chunks.map((c) => c.chunk)).equals(data)).toBe(true);
    expect(Math.max(...chunks.map((c) => c.chunk.byteLength))).toBeLessThanOrEqual(1000);
    for (const { chunk, full } of chunks) expect(full).toBe(chunk.byteLength === 1000);
    expect(chunks.length).toBeGreaterThanOrEqual(data.byteLength / 1000);
  });

  it("reads many sockets at once through one buffer: each gets its own bytes, intact", async () => {
    const datas = Array.from({ length: 8 }, () => randomBytes(512 * KiB));
    const ports = await Promise.all(datas.map(speakingBackend));
    const buffer = Buffer.alloc(4096); // shared by all eight, as the process's one is
    const sockets = await Promise.all(ports.map((port) => dialBackend({ scheme: "tcp", host: "127.0.0.1", port }, { readBuffer: buffer })));
    for (const s of sockets) cleanup.add("socket", () => s.destroy());
    const received = await Promise.all(
      sockets.map(
        (socket) =>
          new Promise<Buffer>((resolve, reject) => {
            const chunks: Buffer[] = [];
            socket.once("end", () => resolve(Buffer.concat(chunks)));
            socket.once("error", reject);
            readBackend(socket, (chunk) => chunks.push(chunk));
          }),
      ),
    );
    for (const [i, data] of datas.entries()) expect(received[i]!.equals(data), `socket ${i}`).toBe(true);
  });
});
