import net from "node:net";

/**
 * A TCP proxy that counts WebSocket messages (RFC 6455 frames) in both directions without
 * changing a byte: put it between a WebSocket client and server (plain ws://) and read what
 * each side sent. Used for "WebSocket messages per GiB" — what Cloudflare bills a Durable
 * Object for (incoming messages; the edge relays 1:1, so the frames on the client leg are
 * the messages the object receives from both client and connector).
 */

export interface FrameCounts {
  /** Complete data messages (a fragmented message counts once). */
  binary: number;
  text: number;
  /** Ping/pong/close frames. */
  control: number;
  /** Payload bytes of binary messages. */
  binaryBytes: number;
}

const zero = (): FrameCounts => ({ binary: 0, text: 0, control: 0, binaryBytes: 0 });

class FrameParser {
  private inHeaders = true;
  private headerTail = "";
  private hdr = Buffer.alloc(14);
  private hdrHave = 0;
  private skip = 0;
  private opcode = 0;
  private fin = false;
  private msgOpcode = 0;
  private payloadLen = 0;

  constructor(private readonly counts: FrameCounts) {}

  feed(chunk: Buffer): void {
    let i = 0;
    if (this.inHeaders) {
      // The HTTP upgrade request/response ends with an empty line.
      const text = this.headerTail + chunk.toString("latin1");
      const end = text.indexOf("\r\n\r\n");
      if (end < 0) {
        this.headerTail = text.slice(-3);
        return;
      }
      this.inHeaders = false;
      i = end + 4 - this.headerTail.length;
    }
    while (i < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
        if (this.skip === 0) this.frameDone();
        continue;
      }
      this.hdr[this.hdrHave++] = chunk[i++]!;
      const need = this.headerLength();
      if (need === undefined || this.hdrHave < need) continue;
      this.startFrame(need);
    }
  }

  private headerLength(): number | undefined {
    if (this.hdrHave < 2) return undefined;
    const b1 = this.hdr[1]!;
    const masked = (b1 & 0x80) !== 0;
    const len7 = b1 & 0x7f;
    return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (masked ? 4 : 0);
  }

  private startFrame(headerLen: number): void {
    const b0 = this.hdr[0]!;
    const b1 = this.hdr[1]!;
    this.fin = (b0 & 0x80) !== 0;
    this.opcode = b0 & 0x0f;
    const len7 = b1 & 0x7f;
    this.payloadLen = len7 === 126 ? this.hdr.readUInt16BE(2) : len7 === 127 ? Number(this.hdr.readBigUInt64BE(2)) : len7;
    this.hdrHave = 0;
    void headerLen;
    this.skip = this.payloadLen;
    if (this.skip === 0) this.frameDone();
  }

  private frameDone(): void {
    const op = this.opcode;
    if (op >= 0x8) {
      this.counts.control++;
      return;
    }
    if (op !== 0) this.msgOpcode = op;
    if (this.msgOpcode === 2) this.counts.binaryBytes += this.payloadLen;
    if (!this.fin) return;
    if (this.msgOpcode === 2) this.counts.binary++;
    else if (this.msgOpcode === 1) this.counts.text++;
  }
}

export class FrameCountingProxy {
  /** Client -> server and server -> client, summed over every connection. */
  readonly up = zero();
  readonly down = zero();
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {
    this.server = net.createServer((inbound) => this.accept(inbound));
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen({ host: "127.0.0.1", port: 0, backlog: 4096 }, () => {
        this.port = (this.server.address() as net.AddressInfo).port;
        resolve(this.port);
      });
    });
  }

  snapshot(): { up: FrameCounts; down: FrameCounts } {
    return { up: { ...this.up }, down: { ...this.down } };
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(inbound: net.Socket): void {
    inbound.setNoDelay(true);
    const outbound = net.connect(this.target);
    outbound.setNoDelay(true);
    this.sockets.add(inbound);
    this.sockets.add(outbound);
    const upParser = new FrameParser(this.up);
    const downParser = new FrameParser(this.down);
    const done = (): void => {
      inbound.destroy();
      outbound.destroy();
      this.sockets.delete(inbound);
      this.sockets.delete(outbound);
    };
    inbound.on("error", done).on("close", done);
    outbound.on("error", done).on("close", done);
    inbound.on("data", (d: Buffer) => {
      upParser.feed(d);
      if (!outbound.write(d)) {
        inbound.pause();
        outbound.once("drain", () => inbound.resume());
      }
    });
    outbound.on("data", (d: Buffer) => {
      downParser.feed(d);
      if (!inbound.write(d)) {
        outbound.pause();
        inbound.once("drain", () => outbound.resume());
      }
    });
    inbound.on("end", () => outbound.end());
    outbound.on("end", () => inbound.end());
  }
}
