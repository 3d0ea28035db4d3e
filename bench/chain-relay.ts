import net from "node:net";
import { WebSocket } from "ws";
import { tierUpSooner } from "../cli/relay-tiering.ts";

/**
 * The two Node ends of the bench's `chain` tunnel (see bench/chain-edge.ts): Sallyport's
 * topology with the least code that still does what a user sees — pre-opened client
 * sessions, parked binds, the backend dialed on first use, and a finished session's pair kept
 * for the next connection — and nothing else: no credit (only `ws`'s own buffer bounds what
 * is in flight), no errors told apart, no logs, no metrics.
 *
 *   tsx bench/chain-relay.ts client --url ws://HOST:PORT/client [--preopen N]
 *       TCP listener (prints `listening on 127.0.0.1:PORT`); each connection takes a kept or
 *       pre-opened WebSocket (or opens one) and relays until both sides have ended.
 *   tsx bench/chain-relay.ts bind --url ws://HOST:PORT/bind --backend HOST:PORT [--binds N]
 *       keeps N WebSockets parked; the first message of a session dials the backend.
 *
 * A session's end is an empty binary message each way (a FIN); once a side has sent and
 * received one, the WebSocket is ready for the next session — messages are in order, so
 * nothing else needs saying.
 *
 * `--protocol-messages` (both ends, and bench/chain-edge.ts): the same least code, exchanging
 * the messages a kept Sallyport session exchanges (docs/protocol.md, v3): the client says
 * `start` when a connection arrives and the bind dials on it; the bind says `opened` once the
 * backend is connected (the edge keeps it); the FINs stand for `end` and `end`+`done`. Six
 * messages into the object and five out per session, as Sallyport's: what this tunnel measures
 * above `chain` is the cost of those messages, not of Sallyport's code.
 *
 * `--tiered` (both ends): with the V8 tiering settings Sallyport's relaying commands use
 * (cli/relay-tiering.ts), to tell what those settings do from what Sallyport's code costs.
 */

const [mode, ...rest] = process.argv.slice(2);
const opts = new Map<string, string>();
for (let i = 0; i + 1 < rest.length; i += 2) opts.set(rest[i]!.replace(/^--/, ""), rest[i + 1]!);
const HOST = "127.0.0.1";
const WS_OPTIONS = { perMessageDeflate: false, maxPayload: 16 << 20 } as const;
const FIN = Buffer.alloc(0);
const HIGH_WATER = 4 << 20;
const PROTOCOL_MESSAGES = rest.includes("--protocol-messages");
if (rest.includes("--tiered")) tierUpSooner();

/** Relays one TCP connection over `ws` until both sides have ended; then `finished(true)`. */
function relay(tcp: net.Socket, ws: WebSocket, finished: (reusable: boolean) => void): void {
  let sentFin = false;
  let gotFin = false;
  let over = false;
  const end = (reusable: boolean): void => {
    if (over) return;
    over = true;
    ws.off("message", onMessage);
    ws.off("close", onClose);
    if (!reusable) tcp.destroy();
    finished(reusable);
  };
  const onMessage = (data: Buffer): void => {
    if (data.length === 0) {
      gotFin = true;
      tcp.end();
      if (sentFin) end(true);
    } else if (!tcp.write(data)) {
      ws.pause();
      tcp.once("drain", () => ws.resume());
    }
  };
  const onClose = (): void => end(false);
  ws.on("message", onMessage);
  ws.once("close", onClose);
  let paused = false;
  const written = (): void => {
    if (paused && ws.bufferedAmount <= HIGH_WATER) {
      paused = false;
      tcp.resume();
    }
  };
  tcp.on("data", (chunk: Buffer) => {
    ws.send(chunk, written);
    if (ws.bufferedAmount > HIGH_WATER) {
      paused = true;
      tcp.pause();
    }
  });
  tcp.on("end", () => {
    sentFin = true;
    ws.send(FIN);
    if (gotFin) end(true);
  });
  tcp.on("error", () => end(false));
  tcp.on("close", () => !over && !(sentFin && gotFin) && end(false));
  tcp.resume();
}

/** Keeps `count` WebSockets to `url` open (refused ones are retried after 100 ms). */
class Pool {
  private readonly ready: WebSocket[] = [];
  constructor(
    private readonly url: string,
    count: number,
    private readonly onOpen: (ws: WebSocket) => void = () => {},
  ) {
    for (let i = 0; i < count; i++) this.open();
  }
  /** The newest open one; a socket given back may have closed since (those opened on demand are not replaced). */
  take(): WebSocket | undefined {
    let ws = this.ready.pop();
    while (ws && ws.readyState !== WebSocket.OPEN) ws = this.ready.pop();
    return ws;
  }
  giveBack(ws: WebSocket): void {
    this.ready.push(ws);
  }
  private open(): void {
    const ws = new WebSocket(this.url, WS_OPTIONS);
    let opened = false;
    ws.on("error", () => {});
    ws.once("open", () => {
      opened = true;
      this.ready.push(ws);
      this.onOpen(ws);
    });
    ws.once("close", () => {
      const i = this.ready.indexOf(ws);
      if (i >= 0) this.ready.splice(i, 1);
      setTimeout(() => this.open(), opened ? 0 : 100); // replaced, whether it was used or refused
    });
  }
}

const url = opts.get("url");
if (!url || (mode !== "client" && mode !== "bind")) {
  process.stderr.write(
    "usage: chain-relay.ts client --url ws://HOST:PORT/client [--preopen N] | bind --url ws://HOST:PORT/bind --backend HOST:PORT " +
      "[--binds N]; either with --protocol-messages, --tiered\n",
  );
  process.exit(2);
}
if (mode === "bind") {
  const [host, port] = (opts.get("backend") ?? "").split(":");
  if (!host || !port) throw new Error("--backend HOST:PORT");
  // A parked (or kept) bind waits for a session's first message, then dials the backend and
  // relays; messages that come while it dials are kept, in order.
  const park = (ws: WebSocket): void => {
    ws.once("message", (first: Buffer) => {
      // With protocol messages the first is `start`, which carries no data.
      const early: Buffer[] = PROTOCOL_MESSAGES ? [] : [first];
      const keep = (data: Buffer): void => void early.push(data);
      ws.on("message", keep);
      const tcp = net.connect({ host, port: Number(port), allowHalfOpen: true });
      tcp.setNoDelay(true);
      tcp.once("connect", () => {
        ws.off("message", keep);
        if (PROTOCOL_MESSAGES) ws.send("opened");
        relay(tcp, ws, (reusable) => (reusable ? park(ws) : ws.terminate()));
        for (const data of early) ws.emit("message", data, true);
      });
      tcp.once("error", () => ws.terminate());
    });
  };
  new Pool(url, Number(opts.get("binds") ?? 32), park);
  process.stdout.write("parking\n");
} else {
  const pool = new Pool(url, Number(opts.get("preopen") ?? 16));
  const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (tcp) => {
    tcp.setNoDelay(true);
    tcp.on("error", () => {});
    const start = (ws: WebSocket): void => {
      if (PROTOCOL_MESSAGES) ws.send("start");
      relay(tcp, ws, (reusable) => (reusable ? pool.giveBack(ws) : ws.terminate()));
    };
    const ready = pool.take();
    if (ready) return start(ready);
    const ws = new WebSocket(url, WS_OPTIONS);
    ws.on("error", () => tcp.destroy());
    ws.once("open", () => start(ws));
  });
  server.listen({ host: HOST, port: 0, backlog: 4096 }, () =>
    process.stdout.write(`listening on ${HOST}:${(server.address() as net.AddressInfo).port}\n`),
  );
}
for (const sig of ["SIGTERM", "SIGINT"] as const) process.on(sig, () => process.exit(0));
