import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  Cleanup,
  echoBackend,
  msgIs,
  randomToken,
  spawnSallyport,
  startConnector,
  startEdge,
  type Backend,
  type TestConnector,
  type TestEdge,
} from "../helpers/index.ts";

/**
 * The connector's admin port as an operator scrapes it: /healthz, /readyz and the Prometheus
 * /metrics, checked against what is really there — prepared binds parked, pairs held in
 * standby by a `sallyport client`, a session in progress — and refusing foreign Host headers.
 */

const file = new Cleanup();
afterAll(() => file.run());

const ACCEPT = "ws://sallyport.test/obs";
const TOKEN = randomToken();
let edge: TestEdge;
let backend: Backend;
let connector: TestConnector;
let admin: string;

beforeAll(async () => {
  backend = await echoBackend(file);
  edge = await startEdge(file, { services: { obs: { accept: ACCEPT, "socks.timeout": "5 seconds" } }, tokens: { obs: [TOKEN] } });
  connector = await startConnector(file, {
    edge: edge.ws,
    accept: ACCEPT,
    connect: backend.uri,
    token: TOKEN,
    prepared: 3,
    extraArgs: ["--admin-port", "0"],
  });
  admin = `http://${String((await connector.proc.waitForLog(msgIs("admin port listening"), 10_000)).json!.admin)}`;
});

async function metric(name: string): Promise<number | undefined> {
  const text = await (await fetch(`${admin}/metrics`)).text();
  const m = new RegExp(`^${name}\\{[^}]*\\} (\\d+(?:\\.\\d+)?)$`, "m").exec(text);
  return m ? Number(m[1]) : undefined;
}

/** Polls an async condition (each poll is an HTTP round trip, no timer race) until it holds. */
async function until(check: () => Promise<boolean>, ms: number, what: string | (() => string)): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${typeof what === "string" ? what : what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Waits until every gauge named has the value given. */
async function gauges(want: Record<string, number>): Promise<void> {
  let last: Record<string, number | undefined> = {};
  await until(
    async () => {
      last = Object.fromEntries(await Promise.all(Object.keys(want).map(async (k) => [k, await metric(k)] as const)));
      return Object.entries(want).every(([k, v]) => last[k] === v);
    },
    10_000,
    () => `${JSON.stringify(want)} (last seen ${JSON.stringify(last)})`,
  );
}

describe("connector admin port", () => {
  it("is healthy, becomes ready once binds park, and reports them", async () => {
    expect((await fetch(`${admin}/healthz`)).status).toBe(200);
    await until(async () => (await fetch(`${admin}/readyz`)).status === 200, 10_000, "ready");
    await gauges({ sallyport_parked_binds: 3, sallyport_active_sessions: 0, sallyport_standby_sessions: 0, sallyport_backend_up: 1 });
  });

  it("tells pairs held in standby from sessions in progress", async () => {
    const client = spawnSallyport(["client", "--url", edge.clientUrl("/obs"), "--listen", "127.0.0.1:0", "--preopen", "2"], {
      name: "client",
      cleanup: file,
    });
    const port = Number(
      String((await client.waitForLog(msgIs("listening"), 20_000)).json!.listen)
        .split(":")
        .pop(),
    );
    // Two pairs held for later, the pool refilled behind them, no backend connection.
    await gauges({ sallyport_standby_sessions: 2, sallyport_parked_binds: 3, sallyport_active_sessions: 0 });
    expect(backend.connections()).toBe(0);

    // A connection in progress (it stays open) is a session; the client's pool refills.
    const local = net.connect({ port, host: "127.0.0.1" });
    file.add("local connection", () => void local.destroy());
    local.write("hi");
    await new Promise((r) => local.once("data", r));
    await gauges({ sallyport_active_sessions: 1, sallyport_standby_sessions: 2 });
    expect(await metric("sallyport_pairings_total")).toBeGreaterThanOrEqual(3);

    // It ends cleanly: the pair goes back to standby (the client keeps it, up to twice --preopen).
    local.end();
    await gauges({ sallyport_active_sessions: 0, sallyport_standby_sessions: 3 });
  });

  it("answers only to a loopback Host (421 otherwise: no DNS rebinding)", async () => {
    const status = await new Promise<string>((resolve, reject) => {
      const u = new URL(admin);
      const s = net.connect({ host: u.hostname, port: Number(u.port) }, () =>
        s.write("GET /metrics HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n"),
      );
      let got = "";
      s.on("data", (d) => (got += d.toString()));
      s.on("end", () => resolve(got.split("\r\n")[0]!));
      s.on("error", reject);
    });
    expect(status).toBe("HTTP/1.1 421 Misdirected Request");
  });
});
