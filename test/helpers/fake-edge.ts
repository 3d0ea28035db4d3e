import { createHash } from "node:crypto";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import { WebSocketServer, type WebSocket } from "ws";
import type { Cleanup } from "./cleanup.ts";
import { closeServer, listen } from "./net.ts";
import { Condition } from "./wait.ts";

/**
 * A hostile edge: an HTTP(S) server on 127.0.0.1 port 0 that answers a connector's bind
 * upgrade however the test says — a proper `ws` handshake followed by bad messages, a
 * hand-written 101 followed by raw frames no real edge would send (2^63-byte lengths,
 * endless continuations), a redirect, a compressed-extension offer. It records every TCP
 * connection, every HTTP request (with its headers, so a test can see where the token went)
 * and what the connector sent back on each upgrade (text frames, close code).
 */

const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

export interface FromConnector {
  /** Text frames (control messages), in order. */
  readonly texts: string[];
  binaryFrames: number;
  /** Close code the connector sent (1005 for a close frame without one). */
  closeCode: number | undefined;
}

export interface FakeRequest {
  readonly id: number;
  readonly at: number;
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly upgrade: boolean;
  /** Name of the behaviour that answered it. */
  readonly behaviour: string;
  readonly from: FromConnector;
  /** Bytes the fake edge managed to write on this connection after the handshake. */
  bytesWritten: number;
  /** When the TCP connection ended (performance.now()). */
  closedAt: number | undefined;
}

export interface UpgradeContext {
  readonly req: http.IncomingMessage;
  readonly socket: net.Socket;
  readonly record: FakeRequest;
  /** A normal handshake through `ws`, echoing the first offered subprotocol. */
  acceptWs(): Promise<WebSocket>;
  /**
   * A hand-written 101: `protocol` (default: the first offered; null = none), extra raw header
   * lines, and a wrong Sec-WebSocket-Accept when `badAccept`. Returns the raw socket.
   */
  acceptRaw(opts?: { protocol?: string | null; extraHeaders?: string[]; badAccept?: boolean }): net.Socket;
  /** A plain HTTP answer, then the connection ends. */
  respond(status: number, headers: Record<string, string>, body?: string): void;
  /** Writes raw bytes (counted in record.bytesWritten); resolves when the socket took them, false once it is gone. */
  write(data: Buffer): Promise<boolean>;
}

export type Behaviour = { readonly name: string; handle(ctx: UpgradeContext): void | Promise<void> };

export interface FakeEdge {
  readonly port: number;
  /** ws://127.0.0.1:PORT (wss:// with tls) — the connector's --edge. */
  readonly url: string;
  readonly requests: FakeRequest[];
  /** TCP connections accepted (before any TLS or HTTP). */
  tcpConnections(): number;
  /** TLS handshakes that failed on this server (with tls). */
  tlsFailures(): number;
  /** The behaviour for upgrades from now on. */
  behave(b: Behaviour): void;
  /** Drops every connection (so a connector with parked binds dials again, into the new behaviour). */
  dropAll(): void;
  waitFor<T>(check: (requests: FakeRequest[]) => T | undefined | false, ms: number, what: string): Promise<T>;
  stop(): Promise<void>;
}

/** One server→client frame (unmasked). `length` overrides the declared payload length. */
export function frame(opcode: number, payload: Buffer | string = Buffer.alloc(0), opts: { fin?: boolean; length?: bigint } = {}): Buffer {
  const body = typeof payload === "string" ? Buffer.from(payload) : payload;
  const declared = opts.length ?? BigInt(body.length);
  const first = ((opts.fin ?? true) ? 0x80 : 0) | opcode;
  let head: Buffer;
  if (declared < 126n) head = Buffer.from([first, Number(declared)]);
  else if (declared < 65536n) {
    head = Buffer.alloc(4);
    head[0] = first;
    head[1] = 126;
    head.writeUInt16BE(Number(declared), 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = first;
    head[1] = 127;
    head.writeBigUInt64BE(declared, 2);
  }
  return Buffer.concat([head, body]);
}

export const text = (s: string): Buffer => frame(0x1, s);

/** Reads the connector's (masked, client→server) frames: text, binary count, close code. */
class ClientFrames {
  private buf: Buffer = Buffer.alloc(0);
  constructor(
    private readonly into: FromConnector,
    private readonly notify: () => void,
  ) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    // Bounded: the connector sends small control frames; anything huge is not kept.
    if (this.buf.length > 1 << 20) this.buf = Buffer.alloc(0);
    for (;;) {
      if (this.buf.length < 2) return;
      const opcode = this.buf[0]! & 0x0f;
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
      if ((this.buf[1]! & 0x80) !== 0) hl += 4;
      if (this.buf.length < hl + len) return;
      const payload = Buffer.from(this.buf.subarray(hl, hl + len));
      if ((this.buf[1]! & 0x80) !== 0) {
        const key = this.buf.subarray(hl - 4, hl);
        for (let i = 0; i < payload.length; i++) payload[i]! ^= key[i % 4]!;
      }
      this.buf = this.buf.subarray(hl + len);
      if (opcode === 0x1) this.into.texts.push(payload.toString("utf8"));
      else if (opcode === 0x2) this.into.binaryFrames++;
      else if (opcode === 0x8) this.into.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      this.notify();
    }
  }
}

export async function startFakeEdge(cleanup: Cleanup, opts: { tls?: { cert: Buffer; key: Buffer } } = {}): Promise<FakeEdge> {
  const changed = new Condition();
  const requests: FakeRequest[] = [];
  const sockets = new Set<net.Socket>();
  let tcp = 0;
  let tlsFailures = 0;
  let behaviour: Behaviour = { name: "refuse", handle: (ctx) => ctx.respond(404, { "content-type": "text/plain" }, "Not Found") };
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, handleProtocols: (offered) => [...offered][0] ?? false });

  const server = opts.tls ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key }) : http.createServer();
  server.on("connection", (s: net.Socket) => {
    tcp++;
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    changed.notify();
  });
  server.on("tlsClientError", () => {
    tlsFailures++;
    changed.notify();
  });
  const newRecord = (req: http.IncomingMessage, upgrade: boolean): FakeRequest => {
    const record: FakeRequest = {
      id: requests.length,
      at: performance.now(),
      method: req.method ?? "",
      url: req.url ?? "",
      headers: req.headers,
      upgrade,
      behaviour: behaviour.name,
      from: { texts: [], binaryFrames: 0, closeCode: undefined },
      bytesWritten: 0,
      closedAt: undefined,
    };
    requests.push(record);
    changed.notify();
    return record;
  };
  server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    newRecord(req, false);
    res.writeHead(404, { "content-type": "text/plain" }).end("Not Found");
  });
  server.on("upgrade", (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    const record = newRecord(req, true);
    const current = behaviour;
    socket.on("error", () => {});
    // The http server allows half-open sockets: a connector that hung up is closed here too.
    socket.on("end", () => socket.end());
    socket.on("close", () => {
      record.closedAt = performance.now();
      changed.notify();
    });
    const parser = new ClientFrames(record.from, () => changed.notify());
    const ctx: UpgradeContext = {
      req,
      socket,
      record,
      acceptWs: () =>
        new Promise<WebSocket>((resolve) => {
          wss.handleUpgrade(req, socket, head, (ws) => {
            ws.on("message", (data: Buffer, isBinary: boolean) => {
              if (isBinary) record.from.binaryFrames++;
              else record.from.texts.push(data.toString("utf8"));
              changed.notify();
            });
            ws.on("close", (code: number) => {
              record.from.closeCode ??= code;
              changed.notify();
            });
            ws.on("error", () => {});
            resolve(ws);
          });
        }),
      acceptRaw: (o = {}) => {
        const key = req.headers["sec-websocket-key"] ?? "";
        const accept = createHash("sha1")
          .update(o.badAccept ? `${key}x` : key + WS_GUID)
          .digest("base64");
        const offered = String(req.headers["sec-websocket-protocol"] ?? "")
          .split(",")[0]!
          .trim();
        const protocol = o.protocol === undefined ? offered : o.protocol;
        const lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", `Sec-WebSocket-Accept: ${accept}`];
        if (protocol) lines.push(`Sec-WebSocket-Protocol: ${protocol}`);
        lines.push(...(o.extraHeaders ?? []));
        socket.write(`${lines.join("\r\n")}\r\n\r\n`);
        socket.on("data", (d: Buffer) => parser.push(d));
        if (head.length) parser.push(head);
        return socket;
      },
      respond: (status, headers, body = "") => {
        const lines = [
          `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? "Status"}`,
          ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
          `Content-Length: ${Buffer.byteLength(body)}`,
          "Connection: close",
        ];
        socket.end(`${lines.join("\r\n")}\r\n\r\n${body}`);
      },
      write: (data) =>
        new Promise<boolean>((resolve) => {
          if (socket.destroyed || !socket.writable) return resolve(false);
          socket.write(data, (e) => {
            if (!e) record.bytesWritten += data.length;
            resolve(!e);
          });
        }),
    };
    void Promise.resolve()
      .then(() => current.handle(ctx))
      .catch(() => socket.destroy());
  });
  const port = await listen(server as unknown as net.Server);
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    for (const c of wss.clients) c.terminate();
    await closeServer(server as unknown as net.Server, sockets);
  };
  cleanup.add(`fake edge :${port}`, stop);
  return {
    port,
    url: `${opts.tls ? "wss" : "ws"}://127.0.0.1:${port}`,
    requests,
    tcpConnections: () => tcp,
    tlsFailures: () => tlsFailures,
    behave: (b) => {
      behaviour = b;
    },
    dropAll: () => {
      for (const c of wss.clients) c.terminate();
      for (const s of sockets) s.destroy();
    },
    waitFor: (check, ms, what) => changed.wait(() => check(requests), ms, what),
    stop,
  };
}

/** A listener that only counts: nothing should ever connect to it. */
export interface Tripwire {
  readonly port: number;
  connections(): number;
  /** Everything any connection sent it (should stay empty). */
  received(): string;
  stop(): Promise<void>;
}

export async function startTripwire(cleanup: Cleanup): Promise<Tripwire> {
  let count = 0;
  let data = "";
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    count++;
    sockets.add(s);
    s.on("data", (d: Buffer) => (data += d.toString("latin1")));
    s.on("error", () => {});
    s.on("close", () => sockets.delete(s));
  });
  const port = await listen(server);
  const stop = (): Promise<void> => closeServer(server, sockets);
  cleanup.add(`tripwire :${port}`, stop);
  return { port, connections: () => count, received: () => data, stop };
}
