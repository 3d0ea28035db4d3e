import net from "node:net";
import { WebSocket, WebSocketServer, createWebSocketStream } from "ws";

/**
 * The bench's reference tunnel: the simplest Node WebSocket relay with Sallyport's shape
 * (TCP -> client-side forwarder -> one WebSocket -> server-side relay -> TCP backend), so
 * what Sallyport costs on top of "a plain WebSocket hop in Node" can be read off.
 *
 *   tsx bench/ws-relay.ts server --backend HOST:PORT   (ws server; each WebSocket -> a TCP connection)
 *   tsx bench/ws-relay.ts client --url ws://HOST:PORT/ (TCP listener; each connection -> a WebSocket)
 *
 * Both listen on 127.0.0.1, port from the kernel, and print `listening on 127.0.0.1:PORT`.
 * Same `ws` settings as Sallyport (no compression, TCP_NODELAY everywhere); backpressure is
 * the stream's (a write completes when `ws` has flushed the frame). No half-close: a FIN on
 * either side closes the WebSocket, which is enough for the bench's workloads.
 */

const [mode, ...rest] = process.argv.slice(2);
const opts = new Map<string, string>();
for (let i = 0; i + 1 < rest.length; i += 2) opts.set(rest[i]!.replace(/^--/, ""), rest[i + 1]!);
const HOST = "127.0.0.1";

function splice(tcp: net.Socket, ws: WebSocket): void {
  const stream = createWebSocketStream(ws);
  const kill = (): void => {
    tcp.destroy();
    stream.destroy();
  };
  stream.on("error", kill);
  tcp.on("error", kill);
  tcp.pipe(stream);
  stream.pipe(tcp);
  tcp.resume();
}

function announce(server: net.Server | WebSocketServer): void {
  const addr = server.address() as net.AddressInfo;
  process.stdout.write(`listening on ${addr.address}:${addr.port}\n`);
}

if (mode === "server") {
  const [bhost, bport] = (opts.get("backend") ?? "").split(":");
  if (!bhost || !bport) throw new Error("--backend HOST:PORT");
  const wss: WebSocketServer = new WebSocketServer(
    { host: HOST, port: 0, perMessageDeflate: false, maxPayload: 16 << 20, backlog: 4096 },
    (): void => announce(wss),
  );
  wss.on("connection", (ws: WebSocket) => {
    const tcp = net.connect({ host: bhost, port: Number(bport) });
    tcp.setNoDelay(true);
    tcp.pause();
    splice(tcp, ws);
  });
} else if (mode === "client") {
  const url = opts.get("url");
  if (!url) throw new Error("--url ws://HOST:PORT/");
  const server = net.createServer({ pauseOnConnect: true }, (tcp) => {
    tcp.setNoDelay(true);
    tcp.on("error", () => {});
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 16 << 20 });
    ws.on("error", () => tcp.destroy());
    ws.once("open", () => splice(tcp, ws));
  });
  server.listen({ host: HOST, port: 0, backlog: 4096 }, () => announce(server));
} else {
  process.stderr.write("usage: ws-relay.ts server --backend HOST:PORT | client --url ws://HOST:PORT/\n");
  process.exit(2);
}
for (const sig of ["SIGTERM", "SIGINT"] as const) process.on(sig, () => process.exit(0));
