import { randomBytes } from "node:crypto";
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { dialBackend } from "../../connector/backend.ts";
import { readBackend } from "../../connector/backend-reads.ts";
import { READ_BUFFER_BYTES } from "../../net/reused-reads.ts";
import { Cleanup } from "../helpers/cleanup.ts";

/**
 * connector/backend-reads.ts: a real backend socket on 127.0.0.1 read through the process's reused
 * buffer and the pool's (net/reused-reads.ts, unit-tested in reused-reads.test.ts).
 */

const KiB = 1024;
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** A backend on 127.0.0.1 that sends `data` as soon as a connection comes, then FIN. */
async function speakingBackend(data: Buffer): Promise<number> {
  const server = net.createServer((s) => s.end(data));
  cleanup.add("backend", () => new Promise((r) => server.close(r)));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as net.AddressInfo).port;
}

describe("dialBackend: a plain TCP backend read through a reused buffer", () => {
  it("hands over every byte in order, each kept intact: after a full read, the next ones go into the pool's buffers", async () => {
    const data = randomBytes(1024 * KiB);
    const port = await speakingBackend(data);
    // A 1000-byte shared buffer: the first read fills it, so the rest go into buffers of the pool.
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
    expect(chunks[0]).toMatchObject({ full: true });
    expect(chunks[0]!.chunk.byteLength).toBe(1000);
    expect(Math.max(...chunks.map((c) => c.chunk.byteLength))).toBeGreaterThan(1000);
    expect(Math.max(...chunks.map((c) => c.chunk.byteLength))).toBeLessThanOrEqual(READ_BUFFER_BYTES);
    for (const { chunk, full } of chunks) if (full) expect([1000, READ_BUFFER_BYTES]).toContain(chunk.byteLength);
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
