import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TOKEN_SUBPROTOCOL_PREFIX } from "../../edge/admission.ts";
import { parseConnectorConfig } from "../../shared/config/connector-config.ts";
import { parseEdgeConfig } from "../../shared/config/edge-config.ts";
import { BIND_PATH, STATUS_PATH } from "../../shared/protocol/constants.ts";
import { echoBackend, refusingBackend, type Backend } from "../helpers/backends.ts";
import { Cleanup } from "../helpers/cleanup.ts";
import { startConnector, type TestConnector } from "../helpers/connector.ts";
import { tempDir, writeSecretFile } from "../helpers/files.ts";
import { msgIs, spawnSallyport, type Proc } from "../helpers/processes.ts";
import { startWireTap } from "../helpers/wire-tap.ts";
import { openClient } from "../helpers/ws-client.ts";
import { UPGRADE, accept, edgeLogged, rawRequest, startCapturedEdge, type CapturedEdge } from "./security-harness.ts";

/**
 * T37, the secret canary: one scenario with every secret set to a marked value — connector
 * tokens, a client token, a wrong connector token, the edge's admin token — runs a good
 * connector, a connector whose backend refuses, a connector with a wrong token, a config
 * reload with a broken token file, every config mistake the CLI reports, clients admitted and
 * refused. Everything anyone could read afterwards is collected: every line every process
 * wrote (connector children, CLI runs), every line the Worker logged (workerd via Miniflare),
 * every HTTP response head and body, every close reason and frame a client got, the
 * connector's admin endpoints. No 8-character piece of any secret may appear in any of it.
 *
 * And T30: configuration values with CR, LF or NUL are refused when loaded.
 */

const MARK = randomBytes(6).toString("hex");
const S = {
  conn: `CANARY-${MARK}-conn-${randomBytes(6).toString("hex")}`,
  connFail: `CANARY-${MARK}-fail-${randomBytes(6).toString("hex")}`,
  client: `CANARY-${MARK}-client-${randomBytes(6).toString("hex")}`,
  wrong: `CANARY-${MARK}-wrong-${randomBytes(6).toString("hex")}`,
  admin: `CANARY-${MARK}-admin-${randomBytes(6).toString("hex")}`,
};
const SECRETS = Object.values(S);

const file = new Cleanup();
afterAll(() => file.run());

/** Everything observable, by where it came from. */
const seen: Array<[string, string]> = [];
const observe = (where: string, text: string): void => void seen.push([where, text]);

/** Every 8-character window of every secret: a partial leak counts. */
function leaks(text: string): string[] {
  const found = new Set<string>();
  for (const s of SECRETS) for (let i = 0; i + 8 <= s.length; i++) if (text.includes(s.slice(i, i + 8))) found.add(s.slice(i, i + 8));
  return [...found];
}

let edge: CapturedEdge;
let badEdge: CapturedEdge;
let echo: Backend;
const procs: Proc[] = [];

async function cli(name: string, args: string[], env: Record<string, string> = {}): Promise<Proc> {
  const p = spawnSallyport(args, { name, cleanup: file, env });
  procs.push(p);
  await p.waitForExit(20_000);
  return p;
}

beforeAll(async () => {
  echo = await echoBackend(file);
  [edge, badEdge] = await Promise.all([
    startCapturedEdge(file, {
      services: {
        canary: { accept: accept("canary"), "client.auth": "token" },
        failing: { accept: accept("failing") },
      },
      tokens: { canary: [S.conn], failing: [S.connFail] },
      clientTokens: { canary: [S.client] },
      bindings: { SALLYPORT_ADMIN_TOKEN: S.admin },
    }),
    // An edge whose secrets are wrong in ways that get reported: a token under two services, one too short.
    startCapturedEdge(file, {
      services: { a: { accept: accept("a") }, b: { accept: accept("b") }, c: { accept: accept("c") } },
      tokens: { a: [S.conn], b: [S.conn], c: [`${S.wrong.slice(0, 10)}`] },
    }),
  ]);
});

describe("the canary scenario", () => {
  let good: TestConnector;

  it("runs: a good connector serves, a failing backend and a wrong token are reported, config mistakes are refused", async () => {
    const refused = await refusingBackend();
    let failing: TestConnector;
    let wrong: TestConnector;
    [good, failing, wrong] = await Promise.all([
      startConnector(file, {
        edge: edge.ws,
        accept: accept("canary"),
        connect: echo.uri,
        token: S.conn,
        prepared: 2,
        logLevel: "debug",
        extraArgs: ["--admin-port", "0"],
        name: "good",
      }),
      startConnector(file, {
        edge: edge.ws,
        accept: accept("failing"),
        connect: refused.uri,
        token: S.connFail,
        prepared: 1,
        logLevel: "debug",
        name: "failing",
      }),
      startConnector(file, {
        edge: edge.ws,
        accept: accept("canary"),
        connect: echo.uri,
        token: S.wrong,
        retryMax: "200 milliseconds",
        logLevel: "debug",
        name: "wrong",
      }),
    ]);
    procs.push(good.proc, failing.proc, wrong.proc);
    await Promise.all([
      good.proc.waitForLog(msgIs("registered with the edge"), 15_000),
      failing.proc.waitForLog(msgIs("registered with the edge"), 15_000),
      wrong.proc.waitForLog(msgIs("edge refused the connector's credentials"), 15_000),
    ]);

    // An admitted client, by header and by subprotocol.
    const c = openClient(file, edge.clientUrl("/canary"), { headers: { Authorization: `Bearer ${S.client}` } });
    await c.opened(5000);
    await c.send(Buffer.from("ping\n"));
    expect(await c.takeLine(5000)).toBe("ping");
    c.close();
    observe("admitted client close", JSON.stringify(await c.closed(5000)));
    const viaProtocol = await rawRequest(edge.port, "GET", "/canary", {
      ...UPGRADE,
      "Sec-WebSocket-Protocol": `${TOKEN_SUBPROTOCOL_PREFIX}${S.client}`,
    });
    expect(viaProtocol.status).toBe(101);
    observe("101 for a subprotocol token", viaProtocol.text);

    // Refused clients and connectors, with secrets in every place a request can carry them.
    const probes: Array<[string, string, Record<string, string>]> = [
      ["/canary", "GET", { ...UPGRADE, Authorization: `Bearer ${S.wrong}` }],
      ["/canary", "GET", { ...UPGRADE, "Sec-WebSocket-Protocol": `${TOKEN_SUBPROTOCOL_PREFIX}${S.wrong}` }],
      ["/canary", "GET", { ...UPGRADE, Authorization: `Bearer ${S.conn}` }],
      [`/canary?token=${S.client}`, "GET", { ...UPGRADE }],
      [BIND_PATH, "GET", { ...UPGRADE, Authorization: `Bearer ${S.wrong}`, "Sec-WebSocket-Protocol": "sallyport.bind.v1" }],
      [
        BIND_PATH,
        "GET",
        { ...UPGRADE, Authorization: `Bearer ${S.conn}`, Origin: "https://evil.example", "Sec-WebSocket-Protocol": "sallyport.bind.v1" },
      ],
      [`${BIND_PATH}?token=${S.conn}`, "GET", { ...UPGRADE, "Sec-WebSocket-Protocol": "sallyport.bind.v1" }],
      [STATUS_PATH, "GET", { Authorization: `Bearer ${S.wrong}` }],
      [STATUS_PATH, "GET", { Authorization: `Bearer ${S.admin}` }],
      [`/${S.conn}`, "GET", {}],
    ];
    for (const [path, method, headers] of probes)
      observe(`${method} ${path.slice(0, 20)}`, (await rawRequest(edge.port, method, path, headers)).text);
    observe("bad edge bind", (await rawRequest(badEdge.port, "GET", BIND_PATH, { ...UPGRADE, Authorization: `Bearer ${S.conn}` })).text);

    // A client of the failing service: everything it is sent, on the wire.
    const tap = await startWireTap(file, edge.port);
    const f = openClient(file, `${tap.url}/failing`);
    await f.opened(5000).catch(() => undefined);
    const closeFrame = await tap.waitFor((cs) => cs[0]?.fromEdge.find((x) => x.opcode === 8), 10_000, "the failing client's close frame");
    expect(closeFrame.closeCode).toBe(4005);
    observe("failing client frames", JSON.stringify(tap.connections.map((x) => x.fromEdge)));
    await failing.proc.waitForLog(msgIs("backend connection failed"), 5000);

    // The connector's admin port.
    const admin = await good.proc.waitForLog(msgIs("admin port listening"), 5000);
    const base = `http://${String(admin.json!.admin)}`;
    for (const path of ["/metrics", "/readyz", "/healthz"]) observe(`admin ${path}`, await (await fetch(new URL(path, base))).text());

    // A reload with a token file gone bad: refused, the running configuration kept.
    await writeFile(good.tokenFile, `${S.conn}\n${S.conn}\n`);
    good.proc.signal("SIGHUP");
    await good.proc.waitForLog(msgIs("reload refused; keeping the running configuration"), 10_000);

    // Configuration mistakes, each reported by the CLI and the process exits.
    const dir = await tempDir(file);
    const tokenFile = await writeSecretFile(dir, "token", S.conn);
    const twoLines = await writeSecretFile(dir, "two-lines", `${S.conn}\n${S.wrong}`);
    const edgeVars = join(dir, "edge-vars.json");
    await writeFile(
      edgeVars,
      JSON.stringify({
        SALLYPORT_SERVICES: { a: { accept: accept("a") }, b: { accept: accept("b") } },
        SALLYPORT_CONNECTOR_TOKENS: { a: [S.conn], b: [S.conn, `${S.wrong} x`] },
      }),
    );
    // One file, every URL mistake at once (the connector reports every problem in one run).
    const urls = join(dir, "urls.json");
    await writeFile(
      urls,
      JSON.stringify({
        edge: `wss://sallyport:${S.conn}@[edge`,
        "token.file": tokenFile,
        services: [
          { name: "a", accept: accept("a"), connect: echo.uri, edge: `wss://sallyport:${S.conn}@edge.example.com` },
          { name: "b", accept: accept("b"), connect: echo.uri, edge: `wss://edge.example.com/?token=${S.conn}` },
          { name: "c", accept: `wss://u:${S.conn}@[gateway/c`, connect: echo.uri },
        ],
      }),
    );
    const runs = await Promise.all([
      cli("config=token file", ["connector", "--config", tokenFile]),
      cli("check token file", ["config", "check", tokenFile]),
      cli("check edge vars", ["config", "check", edgeVars]),
      cli("two-line token", [
        "connector",
        "--edge",
        edge.ws,
        "--accept",
        accept("canary"),
        "--connect",
        echo.uri,
        "--token-file",
        twoLines,
      ]),
      cli("urls with credentials", ["connector", "--config", urls]),
      cli(
        "CR/LF in flags and environment",
        ["connector", "--edge", edge.ws, "--accept", `${accept("canary")}\r\nAuthorization: Bearer ${S.conn}`, "--token-file", tokenFile],
        { SALLYPORT_CONNECT: `${echo.uri}\n${S.conn}` },
      ),
    ]);
    expect(runs.find((r) => r.name === "urls with credentials")!.output()).toMatch(
      /problems[\s\S]*edge[\s\S]*services\[0\]\.edge[\s\S]*services\[1\]\.edge[\s\S]*services\[2\]\.accept/,
    );
    for (const r of runs) expect(r.exit?.code, `${r.name}:\n${r.output()}`).not.toBe(0);
  });

  it("no piece of any secret appears in anything anyone could read", async () => {
    // Let late log lines arrive.
    await new Promise((r) => setTimeout(r, 300));
    // The harness captured something from each source (the check is not vacuous).
    await edgeLogged(edge, "client not admitted");
    await edgeLogged(badEdge, "token already used by");
    expect(procs.every((p) => p.lines.length > 0)).toBe(true);
    for (const p of procs) observe(`process ${p.name}`, p.output());
    observe("edge log", edge.logs.join("\n"));
    observe("misconfigured edge log", badEdge.logs.join("\n"));
    const found = seen.map(([where, text]) => [where, leaks(text)] as const).filter(([, l]) => l.length > 0);
    expect(found, found.map(([w]) => `${w}: ${seen.find(([x]) => x === w)![1].slice(0, 400)}`).join("\n")).toEqual([]);
  });
});

describe("T30: CR, LF and NUL in configuration values are refused at load", () => {
  const bad = ["\r", "\n", "\0", "\r\nX-Injected: 1"];

  it.each(["edge", "token.file", "ca.file", "ssl.cert.file", "connector.id", "edge.cert.sha256", "drain.timeout"])(
    "connector top-level %s",
    (key) => {
      for (const b of bad) {
        const raw = {
          edge: "wss://edge.example.com",
          "token.file": "/etc/sallyport/token",
          services: [{ accept: accept("x"), connect: "tcp://127.0.0.1:5432" }],
          [key]: `value${b}`,
        };
        if (key === "ssl.cert.file") Object.assign(raw, { "ssl.key.file": "/k" });
        const r = parseConnectorConfig(raw);
        expect(r.ok, `${key} ${JSON.stringify(b)}`).toBe(false);
      }
    },
  );

  it.each(["accept", "connect", "name", "edge", "token.file", "socks.retry.maximum.interval", "heartbeat.interval"])(
    "connector service %s",
    (key) => {
      const good: Record<string, string> = { accept: accept("x"), connect: "tcp://127.0.0.1:5432" };
      for (const b of bad) {
        const service: Record<string, unknown> = {
          accept: accept("x"),
          connect: "tcp://127.0.0.1:5432",
          [key]: `${good[key] ?? (key.endsWith("interval") ? "1 second" : "v")}${b}`,
        };
        const r = parseConnectorConfig({ "token.file": "/t", services: [service] });
        expect(r.ok, `${key} ${JSON.stringify(b)}`).toBe(false);
      }
    },
  );

  it.each(["accept", "client.jwt.jwks", "client.jwt.issuer", "client.jwt.audience", "socks.timeout"])("edge service %s", (key) => {
    for (const b of bad) {
      const svc: Record<string, unknown> = {
        accept: accept("x"),
        "client.auth": key.startsWith("client.jwt") ? "jwt" : "none",
        "client.jwt.jwks": "https://t.example/certs",
        "client.jwt.issuer": "https://t.example",
        "client.jwt.audience": "aud",
      };
      if (!key.startsWith("client.jwt")) {
        delete svc["client.jwt.jwks"];
        delete svc["client.jwt.issuer"];
        delete svc["client.jwt.audience"];
      }
      // Positive control: the same service with the value as it should be loads.
      expect(parseEdgeConfig({ x: svc }, JSON.stringify({ x: ["token-0123456789abcdef"] })).ok).toBe(true);
      if (key === "socks.ssl.client-cert-sha256") svc["socks.ssl.verify-client"] = "required";
      const good: Record<string, string> = { accept: accept("x"), "client.origins": "https://a.example", "socks.timeout": "1 second" };
      svc[key] = `${good[key] ?? "ab".repeat(32)}${b}`;
      const r = parseEdgeConfig({ x: svc }, JSON.stringify({ x: ["token-0123456789abcdef"] }));
      expect(r.ok, `${key} ${JSON.stringify(b)}`).toBe(false);
    }
  });

  it.each<[string, string]>([
    ["client.origins", "https://a.example"],
    ["socks.ssl.client-cert-sha256", "ab".repeat(32)],
  ])("edge service list %s: refused inside an item or in an array; a comma list's surrounding whitespace is trimmed off", (key, value) => {
    const parse = (v: unknown) =>
      parseEdgeConfig(
        { x: { accept: accept("x"), "socks.ssl.verify-client": "required", [key]: v } },
        JSON.stringify({ x: ["token-0123456789abcdef"] }),
      );
    for (const b of bad) {
      expect(parse([`${value}${b}`]).ok, `array ${JSON.stringify(b)}`).toBe(false);
      expect(parse(`${value}${b}x, ${value}`).ok, `inside ${JSON.stringify(b)}`).toBe(false);
      const trimmed = parse(`${value}${b}`);
      // Either refused, or the value kept is the clean one.
      if (trimmed.ok) expect(JSON.stringify(trimmed.value.services[0])).not.toMatch(/\\[rn]|\\u0000/);
    }
  });

  it("edge tokens (connector and client) with CR, LF, NUL or spaces are refused, and never quoted", () => {
    for (const b of [...bad, " "]) {
      const token = `token-0123456789${b}abcdef-${MARK}`;
      const r = parseEdgeConfig(
        { x: { accept: accept("x"), "client.auth": "token" } },
        JSON.stringify({ x: [token] }),
        JSON.stringify({ x: [token.replace("token", "client")] }),
      );
      expect(r.ok).toBe(false);
      if (!r.ok) expect(JSON.stringify(r.error)).not.toContain(MARK);
    }
  });
});
