import { randomBytes } from "node:crypto";
import { type EventEmitter, once } from "node:events";
import * as wsModule from "ws";
import type WebSocket from "ws";
import { describe, expect, it } from "vitest";
import { streamBinary } from "../../net/ws-streaming.ts";
import { frame } from "../helpers/fake-edge.ts";

/**
 * `ws`'s real Receiver, fed the bytes of frames in the chunks a socket would deliver, with
 * `streamBinary` applied as the edge socket applies it once open.
 */

/** `ws`'s Receiver (a Writable), which its typings leave out. */
type Receiver = EventEmitter & { write(chunk: Buffer): boolean };
const Receiver = (wsModule as unknown as { Receiver: new (options: object) => Receiver }).Receiver;

const BINARY = 0x2;
const TEXT = 0x1;
const CONTINUATION = 0x0;
const PING = 0x9;
const READ = 64 * 1024;

interface Heard {
  data: Buffer;
  binary: boolean;
}

function receiver(opts: { isServer?: boolean; maxPayload?: number } = {}) {
  const r = new Receiver({ binaryType: "nodebuffer", maxPayload: opts.maxPayload ?? 0, isServer: opts.isServer ?? false });
  const heard: Heard[] = [];
  const pings: Buffer[] = [];
  const errors: Error[] = [];
  r.on("message", (data: Buffer, binary: boolean) => heard.push({ data, binary }));
  r.on("ping", (data: Buffer) => pings.push(data));
  r.on("error", (e: Error) => errors.push(e));
  const streaming = streamBinary({ _receiver: r } as unknown as WebSocket);
  return { r, heard, pings, errors, streaming, feed: (bytes: Buffer, size = READ) => feed(r, bytes, size) };
}

/** Write `bytes` as a socket would deliver them: reads of `size` bytes. */
function feed(r: Receiver, bytes: Buffer, size: number): Buffer[] {
  const reads: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) {
    // Copies, so that each read has its own memory, as a socket's reads have.
    const read = Buffer.from(bytes.subarray(at, at + size));
    reads.push(read);
    r.write(read);
  }
  return reads;
}

function joined(heard: Heard[]): Buffer {
  return Buffer.concat(heard.map((h) => h.data));
}

describe("streamBinary", () => {
  it("emits a frame spanning many reads as views of those reads, in order, nothing copied", () => {
    const { heard, streaming, feed } = receiver();
    expect(streaming).toBe(true);
    const payload = randomBytes(1024 * 1024);
    const reads = feed(frame(BINARY, payload));
    expect(joined(heard).equals(payload)).toBe(true);
    expect(heard.every((h) => h.binary)).toBe(true);
    // One piece per read the payload is in; each one lies in its read's memory.
    expect(heard.length).toBe(reads.length);
    for (const [i, h] of heard.entries()) expect(h.data.buffer).toBe(reads[i]!.buffer);
  });

  it("splits a read between frames: the end of one, whole small ones, the start of the next", () => {
    const { heard, feed } = receiver();
    const a = randomBytes(100_000);
    const b = randomBytes(10);
    const c = randomBytes(70_000);
    feed(Buffer.concat([frame(BINARY, a), frame(BINARY, b), frame(BINARY, c)]), 50_000);
    expect(joined(heard).equals(Buffer.concat([a, b, c]))).toBe(true);
    // A frame whose payload is in one read is one piece, as ws emits it.
    expect(heard.some((h) => h.data.equals(b))).toBe(true);
  });

  it("carries header bytes split across reads, one byte at a time", () => {
    const { heard, feed } = receiver();
    const payload = randomBytes(70_000); // a 64-bit length: a 10-byte header
    feed(Buffer.concat([frame(BINARY, payload), frame(TEXT, "after")]), 1);
    const binary = heard.filter((h) => h.binary);
    expect(joined(binary).equals(payload)).toBe(true);
    expect(heard.at(-1)).toEqual({ data: Buffer.from("after"), binary: false });
  });

  it("leaves text messages whole, however many reads they span", () => {
    const { heard, feed } = receiver();
    const message = "é".repeat(100_000);
    feed(frame(TEXT, message), 1000);
    expect(heard).toHaveLength(1);
    expect(heard[0]!.binary).toBe(false);
    expect(heard[0]!.data.toString("utf8")).toBe(message);
  });

  it("streams a fragmented binary message, with a ping between its fragments, then goes on", () => {
    const { heard, pings, errors, feed } = receiver();
    const first = randomBytes(200_000);
    const last = randomBytes(150_000);
    feed(
      Buffer.concat([
        frame(BINARY, first, { fin: false }),
        frame(PING, "hi"),
        frame(CONTINUATION, last),
        frame(TEXT, "next"),
        frame(BINARY, Buffer.from("tail")),
      ]),
      30_000,
    );
    expect(errors).toEqual([]);
    expect(pings.map(String)).toEqual(["hi"]);
    const textAt = heard.findIndex((h) => !h.binary);
    expect(joined(heard.slice(0, textAt)).equals(Buffer.concat([first, last]))).toBe(true);
    expect(heard.slice(textAt).map((h) => [String(h.data), h.binary])).toEqual([
      ["next", false],
      ["tail", true],
    ]);
  });

  it("still emits an empty binary message (ws's own path)", () => {
    const { heard, feed } = receiver();
    feed(Buffer.concat([frame(BINARY), frame(TEXT, "x")]));
    expect(heard.map((h) => [h.data.length, h.binary])).toEqual([
      [0, true],
      [1, false],
    ]);
  });

  it("leaves masked frames to ws, which unmasks them whole", () => {
    const { heard, feed } = receiver({ isServer: true });
    const payload = randomBytes(200_000);
    const key = Buffer.from([1, 2, 3, 4]);
    const masked = Buffer.from(payload);
    for (let i = 0; i < masked.length; i++) masked[i]! ^= key[i % 4]!;
    const head = frame(BINARY, Buffer.alloc(0), { length: BigInt(payload.length) });
    head[1]! |= 0x80;
    feed(Buffer.concat([head, key, masked]));
    expect(heard).toHaveLength(1);
    expect(heard[0]!.data.equals(payload)).toBe(true);
  });

  it("keeps ws's maxPayload: a frame longer than it is refused before any of it is emitted", async () => {
    const { r, heard, feed } = receiver({ maxPayload: 1000 });
    const failed = once(r, "error");
    feed(frame(BINARY, randomBytes(1001)), 100);
    const [e] = (await failed) as [Error & { code?: string }];
    expect(e.code).toBe("WS_ERR_UNSUPPORTED_MESSAGE_LENGTH");
    expect(heard).toEqual([]);
  });

  it("counts a streamed message's fragments together against maxPayload", async () => {
    const { r, heard, feed } = receiver({ maxPayload: 1000 });
    const failed = once(r, "error");
    const first = randomBytes(600);
    feed(Buffer.concat([frame(BINARY, first, { fin: false }), frame(CONTINUATION, randomBytes(600))]), 100);
    const [e] = (await failed) as [Error & { code?: string }];
    expect(e.code).toBe("WS_ERR_UNSUPPORTED_MESSAGE_LENGTH");
    // Only bytes from before the limit went on (the first fragment's, as far as it streamed).
    const out = joined(heard);
    expect(out.length).toBeGreaterThan(0);
    expect(out.length).toBeLessThanOrEqual(first.length);
    expect(out.equals(first.subarray(0, out.length))).toBe(true);
  });

  it("leaves alone what is not ws's receiver", () => {
    expect(streamBinary({} as WebSocket)).toBe(false);
    expect(streamBinary({ _receiver: { getData: () => undefined } } as unknown as WebSocket)).toBe(false);
  });
});
