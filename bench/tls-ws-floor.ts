import { fork } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import type { TLSSocket } from "node:tls";
import { join } from "node:path";
import WebSocket, { WebSocketServer } from "ws";
import { selfSignedCertificate } from "./lib/certificate.ts";

/**
 * What a Node process pays just to be one end of a WebSocket over TLS, with none of Sallyport's
 * code: the floor under the connector's and the client's CPU per GiB (issue 15, "where the user
 * pays"). One process sends GiB in messages of --message bytes to another over wss:// on
 * 127.0.0.1 (ws, no compression, as our ends use it), and each reports its own CPU-seconds per
 * GiB: the sender with the all-zero mask our ends use (shared/masking.ts) and with a random one,
 * the receiver for both. A connector's down direction pays at least the send plus a TCP read of
 * the backend; its up direction the receive plus a TCP write.
 *
 *   npx tsx bench/tls-ws-floor.ts [--gib 1] [--message 262144]
 */

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const BYTES = arg("gib", 1) * 1024 ** 3;
const MESSAGE = arg("message", 262_144);
const cpu = (from: NodeJS.CpuUsage): number => {
  const c = process.cpuUsage(from);
  return (c.user + c.system) / 1e6;
};
const perGiB = (s: number): string => (s / (BYTES / 1024 ** 3)).toFixed(2);

if (process.argv.includes("--receiver")) {
  // The receiving end, in its own process so its CPU is its own; reports per transfer to the parent.
  const server = https.createServer({ cert: readFileSync(process.env.CERT!), key: readFileSync(process.env.KEY!) });
  const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
  wss.on("connection", (ws) => {
    let n = 0;
    let from: NodeJS.CpuUsage | undefined;
    ws.on("message", (d: Buffer) => {
      from ??= process.cpuUsage();
      n += d.length;
      if (n < BYTES) return;
      process.send!({ receiveCpu: cpu(from) });
      ws.send("done");
    });
  });
  server.listen(0, "127.0.0.1", () => process.send!({ port: (server.address() as import("node:net").AddressInfo).port }));
} else {
  const dir = mkdtempSync(join(tmpdir(), "sallyport-tls-floor-"));
  const cert = await selfSignedCertificate(dir, "floor");
  const child = fork(new URL(import.meta.url).pathname, ["--receiver", ...process.argv.slice(2)], {
    env: { ...process.env, CERT: cert.certFile, KEY: cert.keyFile },
    execArgv: ["--import", "tsx"],
  });
  const next = () => new Promise<{ port?: number; receiveCpu?: number }>((r) => child.once("message", r));
  try {
    const { port } = await next();
    for (const mask of ["zero", "random", "zero", "random"] as const) {
      const ws = new WebSocket(`wss://127.0.0.1:${port}/`, {
        ca: readFileSync(cert.certFile),
        perMessageDeflate: false,
        ...(mask === "zero" ? { generateMask: (m: Uint8Array) => void m.fill(0) } : {}),
      });
      let socket: TLSSocket | undefined;
      ws.once("upgrade", (res) => (socket = res.socket as TLSSocket));
      await new Promise((r) => ws.once("open", r));
      const payload = Buffer.alloc(MESSAGE, 7);
      const from = process.cpuUsage();
      const t0 = performance.now();
      const received = next();
      await new Promise<void>((resolve) => {
        let sent = 0;
        ws.once("message", () => resolve());
        const pump = (): void => {
          while (sent < BYTES) {
            ws.send(payload);
            sent += MESSAGE;
            // ws has no backpressure of its own: wait for the socket to drain below 8 MiB.
            if (ws.bufferedAmount > 8 * 1024 * 1024) return void socket!.once("drain", pump);
          }
        };
        pump();
      });
      const sendCpu = cpu(from);
      const { receiveCpu } = await received;
      const mibs = BYTES / 1024 ** 2 / ((performance.now() - t0) / 1000);
      console.log(
        `${mask} mask, ${MESSAGE} B messages: send ${perGiB(sendCpu)} CPU-s/GiB, receive ${perGiB(receiveCpu!)} CPU-s/GiB, ` +
          `${mibs.toFixed(0)} MiB/s (${socket!.getCipher().name}, ${socket!.getProtocol()})`,
      );
      ws.close();
    }
  } finally {
    child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}
