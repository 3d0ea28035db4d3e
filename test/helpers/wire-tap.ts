import net from "node:net";
import type { Cleanup } from "./cleanup.ts";
import { closeServer, listen } from "./net.ts";
import { Condition } from "./wait.ts";

/**
 * A TCP proxy between a connector and its edge that reads the WebSocket traffic it
 * forwards (RFC 6455 framing; data frames are skipped, never buffered). It lets a test see
 * the connector's bind pool from the wire, without any hook in the connector:
 *   - how many connections it opened (backoff, no hot loop),
 *   - the HTTP status of each upgrade (404 for a wrong token),
 *   - the control messages each way (`bound` = parked, `paired` = taken by a client),
 *   - the close code each side sent (1001 from a connector shutting down).
 */

export interface TapFrame {
  readonly opcode: number;
  /** Text frames: the text. */
  readonly text?: string;
  /** Close frames: the code (1005 when the frame had none). */
  readonly closeCode?: number;
  /** Close frames: the reason (UTF-8). */
  readonly closeReason?: string;
}

export interface TapConnection {
  readonly id: number;
  readonly openedAt: number;
  closedAt: number | undefined;
  /** Status of the edge's answer to the upgrade request. */
  status: number | undefined;
  readonly fromConnector: TapFrame[];
  readonly fromEdge: TapFrame[];
}

/** Control-message type of a text frame, when it is one. */
export function controlType(f: TapFrame): string | undefined {
  if (f.text === undefined || !f.text.startsWith("{")) return undefined;
  try {
    const t = (JSON.parse(f.text) as { t?: unknown }).t;
    return typeof t === "string" ? t : undefined;
  } catch {
    return undefined;
  }
}

const has = (frames: TapFrame[], type: string): boolean => frames.some((f) => controlType(f) === type);
const closeOf = (frames: TapFrame[]): number | undefined => frames.find((f) => f.opcode === 8)?.closeCode;
const closeFrame = (frames: TapFrame[]): TapFrame | undefined => frames.find((f) => f.opcode === 8);

export const tapView = {
  open: (c: TapConnection) => c.closedAt === undefined,
  /** Parked at the edge: bound, not (yet) paired, nobody has closed it. */
  parked: (c: TapConnection) =>
    c.closedAt === undefined &&
    has(c.fromEdge, "bound") &&
    !has(c.fromEdge, "paired") &&
    closeOf(c.fromEdge) === undefined &&
    closeOf(c.fromConnector) === undefined,
  paired: (c: TapConnection) => has(c.fromEdge, "paired"),
  closeFromConnector: (c: TapConnection) => closeOf(c.fromConnector),
  closeFromEdge: (c: TapConnection) => closeOf(c.fromEdge),
  /** The edge's close frame (code and reason), when it sent one. */
  closeFrameFromEdge: (c: TapConnection) => closeFrame(c.fromEdge),
};

/** Streaming RFC 6455 reader for one direction, after the HTTP head. */
class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  private headDone = false;
  private skip = 0;

  constructor(
    private readonly onHead: (head: string) => void,
    private readonly onFrame: (frame: TapFrame) => void,
  ) {}

  push(chunk: Buffer): void {
    if (this.skip > 0 && this.buf.length === 0) {
      const n = Math.min(this.skip, chunk.length);
      this.skip -= n;
      chunk = chunk.subarray(n);
      if (chunk.length === 0) return;
    }
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      if (!this.headDone) {
        const i = this.buf.indexOf("\r\n\r\n");
        if (i < 0) return;
        this.onHead(this.buf.subarray(0, i).toString("latin1"));
        this.buf = this.buf.subarray(i + 4);
        this.headDone = true;
        continue;
      }
      if (this.skip > 0) {
        const n = Math.min(this.skip, this.buf.length);
        this.skip -= n;
        this.buf = this.buf.subarray(n);
        if (this.skip > 0) return;
        continue;
      }
      if (this.buf.length < 2) return;
      const opcode = this.buf[0]! & 0x0f;
      const masked = (this.buf[1]! & 0x80) !== 0;
      let len = this.buf[1]! & 0x7f;
      let hl = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        hl = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        len = Number(this.buf.readBigUInt64BE(2));
        hl = 10;
      }
      if (masked) hl += 4;
      if (this.buf.length < hl) return;
      if (opcode === 0x2 || opcode === 0x0) {
        // Session data (or its continuation): counted past, never kept.
        this.onFrame({ opcode });
        this.buf = this.buf.subarray(hl);
        this.skip = len;
        continue;
      }
      if (this.buf.length < hl + len) return;
      const payload = Buffer.from(this.buf.subarray(hl, hl + len));
      if (masked) {
        const key = this.buf.subarray(hl - 4, hl);
        for (let i = 0; i < payload.length; i++) payload[i]! ^= key[i % 4]!;
      }
      this.buf = this.buf.subarray(hl + len);
      if (opcode === 0x1) this.onFrame({ opcode, text: payload.toString("utf8") });
      else if (opcode === 0x8)
        this.onFrame({
          opcode,
          closeCode: payload.length >= 2 ? payload.readUInt16BE(0) : 1005,
          closeReason: payload.subarray(2).toString("utf8"),
        });
      else this.onFrame({ opcode });
    }
  }
}

export interface WireTap {
  readonly port: number;
  /** ws://127.0.0.1:PORT — give this to the connector as --edge. */
  readonly url: string;
  readonly connections: TapConnection[];
  count(pred: (c: TapConnection) => boolean): number;
  /** Resolves once `pred` holds over the connections (re-checked on every frame and connection change). */
  waitFor<T>(check: (conns: TapConnection[]) => T | undefined | false, ms: number, what: string): Promise<T>;
  stop(): Promise<void>;
}

/** Listens on 127.0.0.1 port 0 and forwards every connection to 127.0.0.1:`upstreamPort`. */
export async function startWireTap(cleanup: Cleanup, upstreamPort: number): Promise<WireTap> {
  const connections: TapConnection[] = [];
  const sockets = new Set<net.Socket>();
  const changed = new Condition();
  const server = net.createServer((down) => {
    const conn: TapConnection = {
      id: connections.length,
      openedAt: performance.now(),
      closedAt: undefined,
      status: undefined,
      fromConnector: [],
      fromEdge: [],
    };
    connections.push(conn);
    sockets.add(down);
    const up = net.connect({ host: "127.0.0.1", port: upstreamPort });
    sockets.add(up);
    const toEdge = new FrameReader(
      () => {},
      (f) => {
        conn.fromConnector.push(f);
        changed.notify();
      },
    );
    const toConnector = new FrameReader(
      (head) => {
        conn.status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
        changed.notify();
      },
      (f) => {
        conn.fromEdge.push(f);
        changed.notify();
      },
    );
    down.on("data", (d: Buffer) => {
      toEdge.push(d);
      if (!up.write(d)) down.pause();
    });
    up.on("drain", () => down.resume());
    up.on("data", (d: Buffer) => {
      toConnector.push(d);
      if (!down.write(d)) up.pause();
    });
    down.on("drain", () => up.resume());
    const done = (): void => {
      down.destroy();
      up.destroy();
      sockets.delete(down);
      sockets.delete(up);
      if (conn.closedAt === undefined) {
        conn.closedAt = performance.now();
        changed.notify();
      }
    };
    down.on("end", () => up.end());
    up.on("end", () => down.end());
    down.on("close", done);
    up.on("close", done);
    down.on("error", done);
    up.on("error", done);
    changed.notify();
  });
  const port = await listen(server);
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await closeServer(server, sockets);
  };
  cleanup.add("wire tap", stop);
  return {
    port,
    url: `ws://127.0.0.1:${port}`,
    connections,
    count: (pred) => connections.filter(pred).length,
    waitFor: (check, ms, what) => changed.wait(() => check(connections), ms, what),
    stop,
  };
}
