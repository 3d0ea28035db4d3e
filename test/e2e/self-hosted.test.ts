import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import WebSocket from "ws";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { parseDuration } from "../../shared/config/duration.ts";
import { DEFAULTS } from "../../shared/config/service.ts";
import { makePki, type CertFiles, type TestPki } from "../helpers/certs.ts";
import {
  Cleanup,
  type Proc,
  REGISTERED,
  ROOT,
  echoBackend,
  msgIs,
  once,
  randomToken,
  startConnector,
  tempDir,
  within,
  type Backend,
  type LogPredicate,
  type TestConnector,
} from "../helpers/index.ts";
import { stopPolicy } from "../helpers/systemd-unit.ts";
import { UNIT, UNIT_FILE, WORKERD, startWorkerd, writeEdgeDir } from "../helpers/self-hosted-edge.ts";
import { needTool, skipOrFail, findSystemdAnalyze } from "../helpers/tools.ts";

/**
 * Issue "product": the edge on your own server. deploy/workerd/sallyport.capnp, as shipped,
 * run by the workerd binary itself (no Miniflare) with real certificates made for this run:
 * TLS on both listeners, connector certificates required and verified on the "connectors"
 * listener, and the Worker behind each listener judging socks.ssl.verify-client accordingly.
 */

const CONFIG = readFileSync(join(ROOT, "deploy/workerd/sallyport.capnp"), "utf8");
const accept = (name: string): string => `wss://localhost/${name}`;

const tokens = { mtls: randomToken(), open: randomToken(), pinned: randomToken() };
/** The one binding taken from the environment (fromEnvironment), as the unit's EnvironmentFile gives it. */
const ADMIN_TOKEN = randomToken();

const file = new Cleanup();
const perTest = new Cleanup();
afterEach(() => perTest.run());
afterAll(() => file.run());

let pki: TestPki;
/**
 * Another CA's client certificate: valid, but not signed by the CA the listener trusts. (Both
 * test CAs have the same name, so this is also an issuer name that matches and a signature
 * that does not.)
 */
let stranger: CertFiles;
let echo: Backend;
let workerd: Proc;
/** wss://127.0.0.1:PORT of each listener. */
let https: string;
let connectors: string;

beforeAll(async () => {
  const [ownPki, otherPki, backend, dir] = await Promise.all([makePki(file), makePki(file), echoBackend(file), tempDir(file)]);
  pki = ownPki;
  stranger = otherPki.client;
  echo = backend;
  const services = {
    mtls: { accept: accept("mtls"), "socks.timeout": "10 seconds", "socks.ssl.verify-client": "required" },
    open: { accept: accept("open"), "socks.timeout": "10 seconds", "socks.ssl.verify-client": "none" },
    pinned: {
      accept: accept("pinned"),
      "socks.timeout": "10 seconds",
      "socks.ssl.verify-client": "required",
      "socks.ssl.client-cert-sha256": [pki.client.sha256],
    },
  };
  await writeEdgeDir(dir, { pki, services, tokens: Object.fromEntries(Object.entries(tokens).map(([k, t]) => [k, [t]])) });
  const started = await startWorkerd(file, dir, { env: { SALLYPORT_ADMIN_TOKEN: ADMIN_TOKEN } });
  workerd = started.proc;
  https = `wss://127.0.0.1:${started.ports.https}`;
  connectors = `wss://127.0.0.1:${started.ports.connectors}`;
});

function connector(
  name: string,
  edge: string,
  service: keyof typeof tokens,
  cert: CertFiles | undefined,
  extraArgs: string[] = [],
): Promise<TestConnector> {
  return startConnector(perTest, {
    name,
    edge,
    accept: accept(service),
    connect: echo.uri,
    token: tokens[service],
    retryMax: "2 seconds",
    extraArgs: ["--ca-file", pki.ca.certFile, ...(cert ? ["--cert-file", cert.certFile, "--key-file", cert.keyFile] : []), ...extraArgs],
  });
}

/** A client on the https listener trusting the test CA: sends `text`, resolves with the echo. */
async function echoThrough(service: string, text: string, headers: Record<string, string> = {}): Promise<string> {
  const ws = new WebSocket(`${https}/${service}`, { ca: pki.ca.cert, headers, perMessageDeflate: false, handshakeTimeout: 10_000 });
  perTest.add(`client ${service}`, () => ws.terminate());
  await once(ws, "open", 10_000, `client on ${service} to open`);
  const reply = once<[Buffer]>(ws, "message", 10_000, `the echo on ${service}`);
  ws.send(Buffer.from(text));
  const [data] = await reply;
  ws.close(1000);
  return data.toString("utf8");
}

/** GET `path` over TLS, trusting the test CA; resolves with the status. */
function get(base: string, path: string, opts: { cert?: Buffer; key?: Buffer; headers?: Record<string, string> } = {}): Promise<number> {
  const url = new URL(path, base.replace(/^wss:/, "https:"));
  const req = httpsRequest(url, { ca: pki.ca.cert, ...opts, agent: false });
  perTest.add(`GET ${path}`, () => req.destroy());
  const status = new Promise<number>((resolve, reject) => {
    req.on("response", (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", (e: NodeJS.ErrnoException) => reject(new Error(e.code ?? e.message)));
  });
  req.end();
  return within(status, 10_000, `GET ${url.href}`);
}

const HEALTH = "/_sallyport/health";

const bindFailed =
  (detail: RegExp): LogPredicate =>
  (l) =>
    l.json?.msg === "bind to edge failed" && detail.test(String(l.json.detail));
const REFUSED = msgIs("edge refused the connector's credentials");
/** Refused, or (the failure this guards against) registered: whichever comes first, so a wrong outcome fails at once. */
const REFUSED_OR_REGISTERED: LogPredicate = (l) => REFUSED(l) || REGISTERED(l);

const HAS_ANALYZE = needTool("test/e2e/self-hosted.test.ts", findSystemdAnalyze());

function analyze(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("systemd-analyze", args, { timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

describe("the shipped config and unit", () => {
  it("agree on the secrets: each absolute embed of the config is a credential of the unit", () => {
    const embeds = new Set([...CONFIG.matchAll(/embed "\/([^"]+)"/g)].map((m) => m[1]));
    const credentials = new Set([...UNIT.matchAll(/^LoadCredential=([^:]+):/gm)].map((m) => m[1]));
    expect([...embeds].sort()).toEqual(["client-tokens.json", "connector-tokens.json", "edge.key"]);
    expect([...credentials].sort()).toEqual([...embeds].sort());
    // The optional one has a fallback, so a site without client tokens needs no file.
    expect(UNIT).toMatch(/^SetCredential=client-tokens\.json:\{\}$/m);
  });

  it("stops workerd within session.resume.timeout even when SIGKILL has to: sessions outlive a restart", () => {
    // The signal itself ending workerd at once is test/e2e/self-hosted-restart.test.ts's to show.
    const policy = stopPolicy(UNIT);
    const resume = parseDuration(DEFAULTS["session.resume.timeout"]);
    expect(policy.sendSigkill).toBe(true);
    expect(resume.ok && policy.timeoutMs < resume.value / 2).toBe(true);
  });

  it.skipIf(!HAS_ANALYZE)("systemd-analyze verify accepts the unit (workerd where it is installed here)", async () => {
    const dir = await tempDir(file);
    const copy = join(dir, "sallyport-edge.service");
    await writeFile(copy, UNIT.replace("ExecStart=/usr/local/bin/workerd ", `ExecStart=${WORKERD} `));
    const r = await analyze(["verify", copy]);
    expect({ code: r.code, warnings: r.stderr.split("\n").filter((l) => l.includes("sallyport-edge.service")) }).toStrictEqual({
      code: 0,
      warnings: [],
    });
  });

  it.skipIf(!HAS_ANALYZE)("systemd-analyze security rates the sandbox's exposure low", async (ctx) => {
    const r = await analyze(["security", "--offline=true", UNIT_FILE]);
    if (r.code !== 0 && /offline/.test(r.stderr)) skipOrFail(ctx, "systemd-analyze security has no --offline (systemd < 250)");
    const level = /Overall exposure level for sallyport-edge\.service: ([\d.]+)/.exec(r.stdout);
    expect(level, r.stdout + r.stderr).not.toBeNull();
    expect(Number(level![1])).toBeLessThanOrEqual(2);
  });
});

describe("self-hosted edge (workerd serve sallyport.capnp, as the unit starts it)", () => {
  it("serves over TLS on both listeners; the connectors listener only to a client certificate", async () => {
    // 200 {"status":"ok"}: the configuration parsed (a misconfigured edge answers 503).
    expect(await get(https, HEALTH)).toBe(200);
    expect(await get(connectors, HEALTH, { cert: pki.client.cert, key: pki.client.key })).toBe(200);
    await expect(get(connectors, HEALTH)).rejects.toThrow(/CERTIFICATE_REQUIRED|ECONNRESET|socket hang up/);
  });

  it("takes the admin token from the environment: status with it, the usual 404 without", async () => {
    expect(await get(https, "/_sallyport/status", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).toBe(200);
    expect(await get(https, "/_sallyport/status")).toBe(404);
  });

  it(
    "a connector with a certificate from the trusted CA registers on the connectors listener; a client on https echoes through " + "it",
    async () => {
      // Its edge pin is right too: the edge certificate is the one it expects.
      const c = await connector("connector-mtls", connectors, "mtls", pki.client, ["--edge-cert-sha256", pki.server.sha256]);
      await c.proc.waitForLog(REGISTERED, 20_000, "registration");
      const before = echo.connections();
      // cf-connecting-ip means nothing off Cloudflare: the listener strips a client's own.
      expect(await echoThrough("mtls", "hello through workerd", { "cf-connecting-ip": "203.0.113.9" })).toBe("hello through workerd");
      expect(echo.connections()).toBe(before + 1);
      const started = await c.proc.waitForLog(msgIs("session started"), 10_000, "the session");
      expect(started.json?.clientAddress).toBe("unknown");
    },
  );

  it("a connector without a client certificate fails the TLS handshake on the connectors listener and backs off", async () => {
    const c = await connector("connector-no-cert", connectors, "mtls", undefined);
    const failures = await c.proc.waitForLogCount(bindFailed(/CERTIFICATE_REQUIRED|ECONNRESET/), 2, 15_000, "two refused handshakes");
    expect(failures.slice(0, 2).map((l) => l.json?.attempt)).toEqual([0, 1]);
    expect(c.proc.logs(REGISTERED)).toEqual([]);
    await workerd.waitForLog((l) => /peer sent no certificates/.test(l.raw), 5_000, "workerd to log the refused handshake");
  });

  it("a connector without a certificate is refused by the edge on the https listener when its service requires one", async () => {
    const c = await connector("connector-https-no-cert", https, "mtls", undefined);
    const refused = await c.proc.waitForLog(REFUSED_OR_REGISTERED, 15_000, "the edge's refusal");
    expect(refused.msg).toBe("edge refused the connector's credentials");
    expect(refused.json?.status).toBe(404);
    expect(c.proc.logs(REGISTERED)).toEqual([]);
    await workerd.waitForLog(msgIs("connector rejected: client certificate not verified", { service: "mtls" }), 5_000, "the edge's reason");
  });

  it("a connector of a service without verify-client needs no certificate on the https listener", async () => {
    const c = await connector("connector-open", https, "open", undefined);
    await c.proc.waitForLog(REGISTERED, 20_000, "registration");
    expect(await echoThrough("open", "no certificate needed")).toBe("no certificate needed");
  });

  it("a connector whose certificate another CA signed fails the TLS handshake", async () => {
    const c = await connector("connector-stranger", connectors, "mtls", stranger);
    await c.proc.waitForLog(bindFailed(/UNKNOWN_CA|DECRYPT_ERROR|BAD_CERTIFICATE|ECONNRESET/), 15_000, "a refused handshake");
    expect(c.proc.logs(REGISTERED)).toEqual([]);
    await workerd.waitForLog(
      (l) => /TLS handshake failed: invalid peer certificate/.test(l.raw),
      5_000,
      "workerd to log the failed verification",
    );
  });

  it("a service with client-cert pins admits no connector: workerd does not show the Worker the certificate", async () => {
    const c = await connector("connector-pinned", connectors, "pinned", pki.client);
    const refused = await c.proc.waitForLog(REFUSED_OR_REGISTERED, 15_000, "the edge's refusal");
    expect(refused.msg).toBe("edge refused the connector's credentials");
    expect(refused.json?.status).toBe(404);
    expect(c.proc.logs(REGISTERED)).toEqual([]);
  });

  it("a connector pinned to another edge certificate refuses the edge before sending its token", async () => {
    const c = await connector("connector-wrong-pin", connectors, "mtls", pki.client, ["--edge-cert-sha256", pki.rogue.sha256]);
    await c.proc.waitForLog(bindFailed(/does not match edge\.cert\.sha256/), 15_000, "the pin mismatch");
    expect(c.proc.logs(REGISTERED)).toEqual([]);
  });

  it("workerd is still serving after all that", async () => {
    expect(workerd.exit).toBeUndefined();
    expect(await get(https, HEALTH)).toBe(200);
  });
});
