import { randomBytes } from "node:crypto";
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { readAcceptedInto } from "../../net/accepted-reads.ts";
import { ReusedReadBuffer } from "../../net/reused-reads.ts";
import { FULL_READ_BYTES } from "../../shared/chunks.ts";
import { Cleanup } from "../helpers/cleanup.ts";

/**
 * net/accepted-reads.ts: a socket a server accepted, read through a reused buffer as a dialed one
 * is with `onread` — on real sockets on 127.0.0.1, with Node's own net code.
 */

const KiB = 1024;
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** A server on 127.0.0.1 whose accepted sockets come to `accepted`, paused or not. */
async function server(pauseOnConnect: boolean, accepted: (s: net.Socket) => void): Promise<number> {
  const srv = net.createServer({ pauseOnConnect, allowHalfOpen: true }, (s) => {
    cleanup.add("accepted", () => s.destroy());
    accepted(s);
  });
  cleanup.add("server", () => new Promise((r) => srv.close(r)));
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  return (srv.address() as net.AddressInfo).port;
}

/** Connects to `port`, writes `data` once connected and ends. */
function send(port: number, data: Buffer): void {
  const c = net.connect({ host: "127.0.0.1", port }, () => c.end(data));
  cleanup.add("client", () => c.destroy());
}

/** Everything `socket` reads through `reads` until its end, with each read's size and fullness. */
function readAll(socket: net.Socket, reads: ReusedReadBuffer, each?: () => void): Promise<Array<[Buffer, boolean]>> {
  return new Promise((resolve, reject) => {
    const got: Array<[Buffer, boolean]> = [];
    socket.once("end", () => resolve(got));
    socket.once("error", reject);
    socket.on("data", () => reject(new Error("a 'data' event on a socket read through the reused buffer")));
    reads.listen((chunk, full) => {
      got.push([chunk, full]);
      each?.();
    });
    socket.resume();
  });
}

describe("readAcceptedInto", () => {
  it("reads an accepted socket through the reused buffer: every byte in order, reads up to its size, each copied out", async () => {
    const data = randomBytes(4096 * KiB);
    const buffer = Buffer.alloc(256 * KiB);
    const reads = new ReusedReadBuffer(buffer);
    let adopted: boolean | undefined;
    const received = new Promise<Array<[Buffer, boolean]>>((resolve, reject) => {
      void server(true, (s) => {
        adopted = readAcceptedInto(s, reads);
        readAll(s, reads).then(resolve, reject);
      }).then((port) => send(port, data));
    });
    const got = await received;
    expect(adopted).toBe(true);
    expect(Buffer.concat(got.map(([c]) => c)).equals(data)).toBe(true);
    expect(Math.max(...got.map(([c]) => c.byteLength))).toBeLessThanOrEqual(buffer.byteLength);
    for (const [chunk, full] of got) {
      expect(chunk.buffer).not.toBe(buffer.buffer);
      expect(full).toBe(chunk.byteLength === buffer.byteLength);
    }
  });

  it("takes reads larger than a 'data' event's: the socket really reads into the given buffer", async () => {
    // 1 MiB queued in the kernel before the first read: a read through 'data' stops at 64 KiB.
    const data = randomBytes(1024 * KiB);
    const buffer = Buffer.alloc(512 * KiB);
    const reads = new ReusedReadBuffer(buffer);
    const accepted = new Promise<net.Socket>((resolve) => {
      void server(true, resolve).then((port) => send(port, data));
    });
    const socket = await accepted;
    expect(readAcceptedInto(socket, reads)).toBe(true);
    const got = await readAll(socket, reads);
    expect(Buffer.concat(got.map(([c]) => c)).equals(data)).toBe(true);
    expect(Math.max(...got.map(([c]) => c.byteLength))).toBeGreaterThan(FULL_READ_BYTES);
  });

  it("pause() after every read and resume() a turn later lose nothing and still end", async () => {
    const data = randomBytes(2048 * KiB);
    const reads = new ReusedReadBuffer(Buffer.alloc(64 * KiB));
    const socket = await new Promise<net.Socket>((resolve) => {
      void server(true, resolve).then((port) => send(port, data));
    });
    expect(readAcceptedInto(socket, reads)).toBe(true);
    let pauses = 0;
    const got = await readAll(socket, reads, () => {
      socket.pause();
      pauses++;
      expect(socket.isPaused()).toBe(true);
      setImmediate(() => socket.resume());
    });
    expect(Buffer.concat(got.map(([c]) => c)).equals(data)).toBe(true);
    expect(pauses).toBe(got.length);
  });

  it("leaves a socket that is already reading as it is, with its 'data' events", async () => {
    const data = randomBytes(256 * KiB);
    const reads = new ReusedReadBuffer(Buffer.alloc(64 * KiB));
    const received = new Promise<{ adopted: boolean; bytes: Buffer }>((resolve, reject) => {
      void server(false, (s) => {
        const adopted = readAcceptedInto(s, reads);
        const chunks: Buffer[] = [];
        s.on("data", (c: Buffer) => chunks.push(c));
        s.once("end", () => resolve({ adopted, bytes: Buffer.concat(chunks) }));
        s.once("error", reject);
      }).then((port) => send(port, data));
    });
    const { adopted, bytes } = await received;
    expect(adopted).toBe(false);
    expect(bytes.equals(data)).toBe(true);
  });

  it("leaves a socket of another shape alone (another Node's, or a test's fake)", () => {
    const reads = new ReusedReadBuffer(Buffer.alloc(16));
    const fake = { _handle: { reading: false, useUserBuffer: () => {} } } as unknown as net.Socket;
    expect(readAcceptedInto(fake, reads)).toBe(false);
    // A socket made with `onread` already has its buffer: not set twice.
    const own = new net.Socket({ onread: { buffer: Buffer.alloc(16), callback: () => true } });
    expect(readAcceptedInto(own, reads)).toBe(false);
    own.destroy();
  });
});
