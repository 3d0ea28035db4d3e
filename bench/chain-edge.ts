import { readFileSync } from "node:fs";
import { Miniflare, convertV4MiniflareOptions } from "miniflare";
import { COMPATIBILITY_DATE } from "../local-edge/compatibility-date.ts";
import { serveUntilSignal } from "./lib/proc.ts";

/**
 * The floor of Sallyport's topology on this runtime: the least code that has its shape.
 * A bare Durable Object behind Miniflare's listener (as `sallyport dev` runs the edge), with
 * the same hibernatable-WebSocket API as edge/service-object.ts, parks every WebSocket on
 * /bind and pairs each WebSocket on /client with the oldest parked one, then forwards every
 * message and the close, nothing else: no protocol, no credit, no attachments, no alarms,
 * no logs, pairing kept in memory only. With bench/ws-relay.ts `bind` (the connector's shape)
 * and `client --preopen` (the forwarder's) it makes the `chain` tunnel of `npm run bench`:
 * whatever Sallyport measures above `chain` is Sallyport's; whatever `chain` measures is the
 * floor any design with this topology starts from here.
 *
 *   tsx bench/chain-edge.ts [--protocol-messages]   prints `edge http://127.0.0.1:PORT/` then `ready`
 */

// --protocol-messages: the bind's \`opened\` stays here, as Sallyport's edge keeps a kept pair's (bench/chain-relay.ts).
const KEEP_OPENED = process.argv.includes("--protocol-messages") ? 'if (message === "opened") return; ' : "";

const script = `
import { DurableObject } from "cloudflare:workers";
export class Pair extends DurableObject {
  parked = [];
  peers = new Map();
  async fetch(request) {
    const role = new URL(request.url).pathname;
    const bind = role === "/bind" ? undefined : this.parked.shift();
    if (role !== "/bind" && !bind) return new Response("no bind parked", { status: 503 });
    const { 0: outside, 1: inside } = new WebSocketPair();
    this.ctx.acceptWebSocket(inside);
    if (bind) {
      this.peers.set(inside, bind);
      this.peers.set(bind, inside);
    } else this.parked.push(inside);
    return new Response(null, { status: 101, webSocket: outside });
  }
  webSocketMessage(ws, message) { ${KEEP_OPENED}this.peers.get(ws)?.send(message); }
  webSocketClose(ws) { this.drop(ws); }
  webSocketError(ws) { this.drop(ws); }
  drop(ws) {
    const peer = this.peers.get(ws);
    this.peers.delete(ws);
    this.peers.delete(peer);
    const i = this.parked.indexOf(ws);
    if (i >= 0) this.parked.splice(i, 1);
    for (const s of [ws, peer]) try { s?.close(1000, ""); } catch {}
  }
}
export default { fetch(request, env) { return env.PAIR.get(env.PAIR.idFromName("chain")).fetch(request); } };
`;

// --tls-cert FILE --tls-key FILE: serve TLS (the bench's chain-tls), as a deployed edge does.
const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const [tlsCert, tlsKey] = [arg("tls-cert"), arg("tls-key")];
const https = tlsCert && tlsKey ? { httpsCert: readFileSync(tlsCert, "utf8"), httpsKey: readFileSync(tlsKey, "utf8") } : {};

const mf = new Miniflare(
  convertV4MiniflareOptions({
    modules: true,
    script,
    compatibilityDate: COMPATIBILITY_DATE,
    durableObjects: { PAIR: "Pair" },
    host: "127.0.0.1",
    port: 0,
    ...https,
  }),
);
process.stdout.write(`edge ${(await mf.ready).href}\nready\n`);
serveUntilSignal(() => mf.dispose());
