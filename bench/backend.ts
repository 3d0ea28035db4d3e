import net from "node:net";
import { startEchoServer } from "../local-edge/echo-server.ts";

/**
 * The bench's TCP backends, in a process of their own so the load generator and the tunnel
 * do not share its event loop. Loopback only, ports picked by the kernel; prints
 * `{"echo":PORT,"bulk":PORT}` once both listen, and exits by itself after --max-seconds.
 *
 *   echo: every byte back (TCP_NODELAY).
 *   bulk: 9-byte header 'U' + uint64be N -> read N bytes, then write 'K';
 *                       'D' + uint64be N -> write N bytes (zeros), then FIN.
 */

const args = new Map<string, string>();
for (let i = 2; i + 1 < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ""), process.argv[i + 1]!);
const maxSeconds = Number(args.get("max-seconds") ?? 3600);
const HOST = "127.0.0.1";
const ZERO = Buffer.alloc(1 << 20);

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port: 0, host: HOST, backlog: 4096 }, () => resolve((server.address() as net.AddressInfo).port));
  });
}

const bulk = net.createServer((c) => {
  c.setNoDelay(true);
  c.on("error", () => {});
  let head = Buffer.alloc(0);
  let mode: string | undefined;
  let left = 0;
  const pump = (): void => {
    while (left > 0) {
      const chunk = left >= ZERO.length ? ZERO : ZERO.subarray(0, left);
      left -= chunk.length;
      if (!c.write(chunk)) return void c.once("drain", pump);
    }
    c.end();
  };
  c.on("data", (d: Buffer) => {
    if (mode === "U") {
      left -= d.length;
      if (left <= 0) {
        mode = "done";
        c.end("K");
      }
      return;
    }
    if (mode) return;
    head = Buffer.concat([head, d]);
    if (head.length < 9) return;
    mode = String.fromCharCode(head[0]!);
    left = Number(head.readBigUInt64BE(1));
    if (mode === "U") {
      left -= head.length - 9;
      if (left <= 0) {
        mode = "done";
        c.end("K");
      }
    } else if (mode === "D") pump();
    else c.destroy();
  });
});

const [echo, bulkPort] = await Promise.all([startEchoServer({ backlog: 4096 }), listen(bulk)]);
const echoPort = echo.port;
process.stdout.write(`${JSON.stringify({ echo: echoPort, bulk: bulkPort })}\n`);
setTimeout(() => process.exit(0), maxSeconds * 1000).unref();
for (const sig of ["SIGTERM", "SIGINT"] as const) process.on(sig, () => process.exit(0));
setInterval(() => {}, 1 << 30);
