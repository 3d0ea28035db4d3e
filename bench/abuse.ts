import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import WebSocket from "ws";
import { startLocalEdge } from "../local-edge/edge.ts";
import { CLIENT_SUBPROTOCOLS, INITIAL_WINDOW_BYTES, MARK_INTERVAL_BYTES } from "../shared/protocol/constants.ts";
import { findDescendant, installCleanup, rssKb, spawnChild, stopAll } from "./lib/proc.ts";

/**
 * What one service's edge object holds under abuse (issue 11): workerd's RSS growth over its
 * idle baseline while each scenario runs, and whether the service keeps serving another client
 * meanwhile (an echo session opened during the attack, its 64 B round trips). A fresh edge and
 * connector per scenario. Memory figures belong here, not in timed tests.
 *
 *   npm run bench:abuse [-- --only plain-default,liars-greedy --seconds 15]
 *
 * Target (issue 11): growth ≤ 64 MiB in every scenario, the echo session answering throughout.
 * Two controls measure the runtime on its own: requests-2000 (the waiting-2000 burst to a path
 * the Worker answers 404) and plain-upload-sink (the uploaders against an object that drops
 * every message).
 */

const MiB = 1024 * 1024;
const SCENARIOS = [
  "plain-default",
  "plain-untrusted",
  "liars-greedy",
  "liars-paced",
  "silent-readers",
  "upload-stuck",
  "waiting-2000",
  "waiting-2000-capped",
  "requests-2000",
  "plain-upload-echo",
  "plain-upload-sink",
] as const;
type Scenario = (typeof SCENARIOS)[number];

const { values: o } = parseArgs({ options: { only: { type: "string" }, seconds: { type: "string" } }, strict: true });
const only = (o.only?.split(",") ?? SCENARIOS) as Scenario[];
for (const s of only) if (!SCENARIOS.includes(s)) throw new Error(`unknown scenario ${s} (${SCENARIOS.join(", ")})`);
const SECONDS = Number(o.seconds ?? 12);
const logDir = mkdtempSync(join(tmpdir(), "sallyport-abuse-"));
installCleanup(() => undefined);

const accept = (name: string): string => `ws://sallyport.localhost/${name}`;
const token = (): string => randomBytes(24).toString("base64url");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A TCP backend on 127.0.0.1:0. */
async function backend(kind: "push" | "stuck" | "echo"): Promise<{ port: number; server: net.Server }> {
  const block = randomBytes(MiB);
  const server = net.createServer((s) => {
    s.on("error", () => s.destroy());
    if (kind === "echo") s.pipe(s);
    else if (kind === "stuck") s.pause();
    else {
      // 1 GiB, written as fast as the socket takes it.
      let left = 1024;
      const more = (): void => {
        while (left > 0 && s.write(block)) left--;
        if (left === 0) s.end();
      };
      s.on("drain", more);
      more();
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { port: (server.address() as net.AddressInfo).port, server };
}

/** The edge's own words for each way it ends a session under abuse (edge/relay.ts). */
const EDGE_ENDS: Record<string, string> = {
  "flow control violated; session ended": "4090",
  "plain client reached client.plain.max.bytes; ended": "1013 cap",
  "plain client kept sending past what the connector takes; ended": "1013 upload",
  "object budget reached: the session holding the most ended": "1013 budget",
};

interface Setup {
  readonly url: string;
  readonly workerd: number;
  /** Sessions the edge ended, by EDGE_ENDS label (clients that do not read never see their close). */
  readonly ended: Map<string, number>;
  stop(): Promise<void>;
}

/**
 * The control for the uploaders: not Sallyport's edge but an object that accepts every
 * WebSocket and drops every message it gets. What workerd grows by then is the runtime's
 * own reading, with nothing held by the object.
 */
const SINK_EDGE = `
import { DurableObject } from "cloudflare:workers";
export class ServiceObject extends DurableObject {
  async fetch() {
    const pair = new WebSocketPair();
    this.ctx.acceptWebSocket(pair[1]);
    return new Response(null, { status: 101, webSocket: pair[0] });
  }
  webSocketMessage() {}
}
export default { fetch: (request, env) => env.SERVICE.get(env.SERVICE.idFromName("sink")).fetch(request) };
`;

async function setup(
  attackKind: "push" | "stuck" | "echo",
  settings: Record<string, unknown>,
  withAttackConnector = true,
  script?: string,
): Promise<Setup> {
  const [attack, echo] = await Promise.all([backend(attackKind), backend("echo")]);
  const t = { attack: token(), echo: token() };
  const ended = new Map<string, number>();
  const edge = await startLocalEdge({
    ...(script ? { script } : {}),
    port: 0,
    services: {
      attack: { accept: accept("attack"), "socks.timeout": "10 seconds", ...settings },
      echo: { accept: accept("echo"), "socks.timeout": "10 seconds" },
    },
    connectorTokens: { attack: [t.attack], echo: [t.echo] },
    onLog: (_level, message) => {
      for (const [msg, label] of Object.entries(EDGE_ENDS))
        if (message.includes(`"msg":"${msg}"`)) ended.set(label, (ended.get(label) ?? 0) + 1);
    },
  });
  const workerd = findDescendant(process.pid, "workerd");
  if (!workerd) throw new Error("no workerd under this process");
  // The sink edge has no binds to offer: no connector at all.
  const services = script
    ? []
    : [
        ...(withAttackConnector ? [{ name: "attack", connect: attack.port, token: t.attack, prepared: 16 }] : []),
        { name: "echo", connect: echo.port, token: t.echo, prepared: 2 },
      ];
  const config = {
    edge: `ws://${edge.url.host}`,
    services: services.map((s) => {
      const file = join(logDir, `${s.name}-${s.token.slice(0, 6)}.token`);
      writeFileSync(file, s.token, { mode: 0o600 });
      return {
        name: s.name,
        accept: accept(s.name),
        connect: `tcp://127.0.0.1:${s.connect}`,
        "token.file": file,
        "prepared.connection.count": s.prepared,
      };
    }),
  };
  const configFile = join(logDir, `connector-${Date.now()}.json`);
  writeFileSync(configFile, JSON.stringify(config), { mode: 0o600 });
  const connector =
    services.length > 0
      ? spawnChild("connector", process.execPath, ["bin/sallyport.mjs", "connector", "--config", configFile, "--log-level", "warn"], {
          logFile: join(logDir, "connector.log"),
        })
      : undefined;
  await sleep(3000); // binds park
  return {
    url: `ws://${edge.url.host}`,
    workerd,
    ended,
    stop: async () => {
      await connector?.stop();
      await edge.stop();
      attack.server.close();
      echo.server.close();
    },
  };
}

function open(url: string, protocols: string[] = []): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { perMessageDeflate: false });
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
    ws.once("unexpected-response", (_q, r) => reject(new Error(`HTTP ${r.statusCode}`)));
  });
}

/** A client that stops reading at once: its socket is paused (the kernel buffers fill, then the edge's). */
const stopReading = (ws: WebSocket): void => void (ws as unknown as { _socket: net.Socket })._socket.pause();

/** The interactive probe: an echo session opened during the attack, 64 B round trips until `until`. */
async function interactive(url: string, until: number): Promise<{ ok: boolean; rtts: number[] }> {
  const rtts: number[] = [];
  try {
    const ws = await open(`${url}/echo`);
    const payload = Buffer.alloc(64, 7);
    while (Date.now() < until) {
      const t0 = performance.now();
      const got = new Promise<void>((resolve, reject) => {
        let n = 0;
        const on = (d: Buffer) => {
          n += d.length;
          if (n >= 64) {
            ws.off("message", on);
            resolve();
          }
        };
        ws.on("message", on);
        setTimeout(() => reject(new Error("no echo within 5 s")), 5000).unref();
      });
      ws.send(payload);
      await got;
      rtts.push(performance.now() - t0);
      await sleep(50);
    }
    ws.close();
    return { ok: true, rtts };
  } catch {
    return { ok: false, rtts };
  }
}

type Attack = (url: string, closes: Map<number, number>) => Promise<void>;

const count = (closes: Map<number, number>, ws: WebSocket): void =>
  void ws.on("close", (code) => closes.set(code, (closes.get(code) ?? 0) + 1));

/** A plain client that stops reading at once. */
const plainNonReader: Attack = async (url, closes) => {
  const ws = await open(`${url}/attack`);
  count(closes, ws);
  stopReading(ws);
};

/** `n` v2 Sallyport clients, each handed to `each` once open. */
const v2Clients =
  (n: number, each: (ws: WebSocket) => void): Attack =>
  async (url, closes) => {
    for (let i = 0; i < n; i++) {
      const ws = await open(`${url}/attack`, [CLIENT_SUBPROTOCOLS[2]]);
      count(closes, ws);
      each(ws);
    }
  };

/** `n` plain clients uploading as fast as their sockets take it. */
const plainUploaders =
  (n: number): Attack =>
  async (url, closes) => {
    for (let i = 0; i < n; i++) {
      const ws = await open(`${url}/attack`);
      count(closes, ws);
      const chunk = Buffer.alloc(256 * 1024, 1);
      const pump = (): void => {
        while (ws.readyState === WebSocket.OPEN && ws.bufferedAmount < 4 * MiB) ws.send(chunk);
        if (ws.readyState === WebSocket.OPEN) setTimeout(pump, 1);
      };
      pump();
    }
  };

/** `n` plain clients asking for `path` all at once; those the edge refuses (an HTTP answer) count as "refused". */
const clientsAtOnce =
  (n: number, path: string): Attack =>
  async (url, closes) => {
    await Promise.all(
      Array.from({ length: n }, () =>
        open(`${url}/${path}`).then(
          (ws) => count(closes, ws),
          () => closes.set(-1, (closes.get(-1) ?? 0) + 1),
        ),
      ),
    );
  };

const ATTACKS: Record<
  Scenario,
  {
    kind: "push" | "stuck" | "echo";
    settings?: Record<string, unknown>;
    noConnector?: boolean;
    /** Another Worker in place of the edge (a control): no connector, no echo session. */
    script?: string;
    /** A control: what the runtime grows by on its own, not a scenario held to the target. */
    control?: true;
    attack: Attack;
  }
> = {
  "plain-default": { kind: "push", attack: plainNonReader },
  "plain-untrusted": { kind: "push", settings: { "client.plain.max.bytes": MiB }, attack: plainNonReader },
  "liars-greedy": {
    kind: "push",
    attack: v2Clients(16, (ws) =>
      ws.once("message", () => {
        ws.send(JSON.stringify({ v: 2, t: "credit", upTo: 2 ** 31 }));
        stopReading(ws);
      }),
    ),
  },
  "liars-paced": {
    kind: "push",
    attack: v2Clients(16, (ws) => {
      stopReading(ws);
      // Grants what would have arrived, a mark's worth at a time, never having read a mark.
      let upTo = INITIAL_WINDOW_BYTES;
      const timer = setInterval(() => {
        if (ws.readyState !== WebSocket.OPEN) return clearInterval(timer);
        upTo += MARK_INTERVAL_BYTES;
        ws.send(JSON.stringify({ v: 2, t: "credit", upTo }));
      }, 100);
    }),
  },
  // Honest-looking v2 clients that never read and never grant: each pins its first limit.
  "silent-readers": { kind: "push", attack: v2Clients(16, stopReading) },
  "upload-stuck": { kind: "stuck", attack: plainUploaders(1) },
  // Beyond max.clients (default 512) the edge answers HTTP 503 before the upgrade: "refused".
  "waiting-2000": { kind: "echo", noConnector: true, attack: clientsAtOnce(2000, "attack") },
  // The setting docs/security.md suggests for a service open to anonymous clients.
  "waiting-2000-capped": { kind: "echo", settings: { "max.clients": 128 }, noConnector: true, attack: clientsAtOnce(2000, "attack") },
  // The control: the same burst to a path the Worker answers 404, never reaching the object —
  // what the runtime itself grows by for 2,000 requests at once.
  "requests-2000": { kind: "echo", noConnector: true, control: true, attack: clientsAtOnce(2000, "nowhere") },
  "plain-upload-echo": { kind: "echo", attack: plainUploaders(8) },
  // The control: the same uploaders against an object that drops every message (SINK_EDGE).
  "plain-upload-sink": { kind: "echo", script: SINK_EDGE, control: true, attack: plainUploaders(8) },
};

const p = (xs: number[], q: number): number => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

const rows: string[] = [];
for (const name of only) {
  const a = ATTACKS[name];
  const env = await setup(a.kind, a.settings ?? {}, !a.noConnector, a.script);
  await sleep(1000);
  const base = rssKb([env.workerd]);
  const closes = new Map<number, number>();
  let peak = base;
  const sampler = setInterval(() => (peak = Math.max(peak, rssKb([env.workerd]))), 100);
  const until = Date.now() + SECONDS * 1000;
  await a.attack(env.url, closes);
  const probe = a.script ? await sleep(until - Date.now()).then(() => undefined) : await interactive(env.url, until);
  clearInterval(sampler);
  const growth = (peak - base) / 1024;
  const closed = [...closes].map(([code, n]) => `${n}×${code === -1 ? "refused" : code}`).join(" ") || "none";
  const byEdge = [...env.ended].map(([label, n]) => `${n}×${label}`).join(" ") || "none";
  rows.push(
    `| ${name} | ${(base / 1024).toFixed(0)} | ${growth.toFixed(1)} | ${a.control ? "(control)" : growth <= 64 ? "yes" : "NO"} | ` +
      `${byEdge} | ${closed} | ${probe ? (probe.ok ? "yes" : "NO") : "— (control)"} | ` +
      `${probe ? p(probe.rtts, 0.5).toFixed(1) : "—"} | ${probe ? p(probe.rtts, 0.99).toFixed(1) : "—"} |`,
  );
  process.stdout.write(`${rows.at(-1)}\n`);
  await env.stop();
  await stopAll();
}

process.stdout.write(
  `\nworkerd RSS over ${SECONDS} s per scenario (MiB), target growth ≤ 64 MiB; logs in ${logDir}\n\n` +
    "| scenario | baseline | peak growth | ≤ 64 MiB | ended by the edge | closes the attackers saw | " +
    "echo session served | echo RTT p50 ms | p99 ms |\n" +
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n" +
    `${rows.join("\n")}\n`,
);
process.exit(0);
