import { Miniflare, convertV4MiniflareOptions } from "miniflare";
import WebSocket from "ws";
import { COMPATIBILITY_DATE } from "../local-edge/compatibility-date.ts";
import { percentile } from "./lib/load.ts";
import { cpuSeconds, findDescendant } from "./lib/proc.ts";

/**
 * What workerd itself costs, with none of Sallyport's code: a minimal Durable Object that
 * accepts hibernatable WebSockets and echoes, behind Miniflare's own listener (as `sallyport
 * dev` runs the edge). Two figures bound what any design of ours can reach here:
 *   - per new session: workerd CPU and wall time for one WebSocket upgrade to the object, one
 *     64 B echo, and the close — a Sallyport session needs two such sockets (client and bind);
 *   - per message: 64 B echo round trip through the object (one hop; Sallyport's path crosses
 *     the object twice per round trip, plus two Node processes).
 *
 *   npm run bench:floor [-- --sessions 1000 --echoes 10000]
 */

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const SESSIONS = arg("sessions", 1000);
const ECHOES = arg("echoes", 10_000);

const script = `
import { DurableObject } from "cloudflare:workers";
export class Echo extends DurableObject {
  async fetch() {
    const { 0: outside, 1: inside } = new WebSocketPair();
    this.ctx.acceptWebSocket(inside, ["client"]);
    inside.serializeAttachment({ role: "client" });
    return new Response(null, { status: 101, webSocket: outside });
  }
  webSocketMessage(ws, message) { ws.send(message); }
  webSocketClose(ws, code) { try { ws.close(code, ""); } catch {} }
}
export default { fetch(request, env) { return env.ECHO.get(env.ECHO.idFromName("floor")).fetch(request); } };
`;

const mf = new Miniflare(
  convertV4MiniflareOptions({
    modules: true,
    script,
    compatibilityDate: COMPATIBILITY_DATE,
    durableObjects: { ECHO: "Echo" },
    host: "127.0.0.1",
    port: 0,
  }),
);
const url = (await mf.ready).href.replace(/^http/, "ws");
const workerdPid = findDescendant(process.pid, "workerd");
if (workerdPid === undefined) throw new Error("no workerd process under this one");
const cpu = (): number => cpuSeconds([workerdPid]);

function open(): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}
function echo(ws: WebSocket, payload: Buffer): Promise<void> {
  return new Promise((resolve) => {
    ws.once("message", () => resolve());
    ws.send(payload);
  });
}

try {
  const payload = Buffer.alloc(64, 1);
  const cpu0 = cpu();
  const t0 = performance.now();
  for (let i = 0; i < SESSIONS; i++) {
    const ws = await open();
    await echo(ws, payload);
    ws.close(1000);
  }
  const wallMs = (performance.now() - t0) / SESSIONS;
  const cpuMs = ((cpu() - cpu0) * 1000) / SESSIONS;

  const ws = await open();
  for (let i = 0; i < 500; i++) await echo(ws, payload);
  const rtts: number[] = [];
  for (let i = 0; i < ECHOES; i++) {
    const t = performance.now();
    await echo(ws, payload);
    rtts.push((performance.now() - t) * 1000);
  }
  ws.close(1000);
  const r = { p50: percentile(rtts, 50) ?? NaN, p99: percentile(rtts, 99) ?? NaN };
  const result = {
    sessions: SESSIONS,
    session_wall_ms: +wallMs.toFixed(3),
    session_workerd_cpu_ms: +cpuMs.toFixed(3),
    echoes: ECHOES,
    rtt_p50_us: +r.p50.toFixed(1),
    rtt_p99_us: +r.p99.toFixed(1),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.stdout.write(
    `workerd floor: one WebSocket session (upgrade + 64 B echo + close) ${wallMs.toFixed(2)} ms wall, ${cpuMs.toFixed(2)} ms workerd ` +
      `CPU; ` +
      `64 B echo through the object p50 ${r.p50.toFixed(0)} µs, p99 ${r.p99.toFixed(0)} µs\n`,
  );
} finally {
  await mf.dispose();
}
