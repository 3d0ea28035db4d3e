import http from "node:http";
import net from "node:net";
import tls from "node:tls";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { makePki, type TestPki } from "../helpers/certs.ts";
import {
  Cleanup,
  REGISTERED,
  echoBackend,
  freePort,
  listen,
  msgIs,
  randomToken,
  spawnSallyport,
  startConnector,
  startEdge,
  startTinyproxy,
  tempDir,
  tinyproxyMissing,
  within,
  writeSecretFile,
  type Backend,
  type LogLine,
  type LogPredicate,
  type Proc,
  type TestConnector,
  type TestEdge,
} from "../helpers/index.ts";

/**
 * Issue 14: egress through an HTTP proxy. A real proxy (Debian's tinyproxy, started per test on
 * a free port with a generated config) between real connector / probe processes and the real
 * edge (workerd through Miniflare) serving TLS with a certificate made for this run; the
 * edge's certificate is verified end to end through the tunnel.
 *
 * Two proxies here are the test's own, where no real one can play the part: a TLS-intercepting
 * proxy (tinyproxy cannot intercept, and Debian's squid is built without ssl-bump) and the TLS
 * layer of an https:// proxy (tinyproxy speaks plain HTTP only: the test puts TLS in front of a
 * real tinyproxy, which still does the CONNECT).
 */

const MISSING = tinyproxyMissing();
const ACCEPT = "wss://localhost/proxied";
const TOKEN = randomToken();

const file = new Cleanup();
const perTest = new Cleanup();
afterEach(() => perTest.run());
afterAll(() => file.run());

let pki: TestPki;
/** Another CA, as a TLS-inspecting corporate proxy's. */
let corporate: TestPki;
let edge: TestEdge;
let echo: Backend;
/** "127.0.0.1:PORT": what the connector asks the proxy to CONNECT to. */
let edgeHostPort: string;

beforeAll(async () => {
  [pki, corporate, echo] = await Promise.all([makePki(file), makePki(file), echoBackend(file)]);
  edge = await startEdge(file, {
    services: { proxied: { accept: ACCEPT, "socks.timeout": "10 seconds" } },
    tokens: { proxied: [TOKEN] },
    https: { cert: pki.server.cert.toString(), key: pki.server.key.toString() },
  });
  edgeHostPort = `127.0.0.1:${edge.port}`;
});

function connector(name: string, args: string[], env: Record<string, string> = {}, token = TOKEN): Promise<TestConnector> {
  return startConnector(perTest, {
    name,
    edge: edge.ws,
    accept: ACCEPT,
    connect: echo.uri,
    token,
    retryMax: "1 second",
    extraArgs: ["--ca-file", pki.ca.certFile, ...args],
    env,
  });
}

const CANNOT_REACH: LogPredicate = msgIs("cannot reach the edge");
const failedWith =
  (detail: RegExp): LogPredicate =>
  (l) =>
    l.json?.msg === "bind to edge failed" && detail.test(String(l.json.detail));

/** No line the process wrote holds `secret`. */
function neverLogged(proc: Proc, secret: string): void {
  expect(proc.lines.filter((l: LogLine) => l.raw.includes(secret)).map((l) => l.raw)).toEqual([]);
}

async function probe(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string; proc: Proc }> {
  const proc = spawnSallyport(["probe", "--timeout", "10 seconds", ...args], { name: "probe", cleanup: perTest, env });
  const exit = await proc.waitForExit(30_000);
  return { code: exit.code, out: proc.output(), proc };
}

describe.skipIf(MISSING !== undefined)(`through tinyproxy${MISSING ? ` (skipped: ${MISSING})` : ""}`, () => {
  it(
    "a connector reaches the TLS edge through --proxy, the edge pin holding; " + "the proxy logged its CONNECT; probe pairs through it too",
    async () => {
      const proxy = await startTinyproxy(perTest);
      const c = await connector("connector-proxied", ["--proxy", proxy.url, "--edge-cert-sha256", pki.server.sha256]);
      await c.proc.waitForLog(REGISTERED, 20_000, "registration through the proxy");
      expect(c.proc.logs(msgIs("reaching the edge through a proxy", { proxy: proxy.url, from: "proxy" }))).toHaveLength(1);
      await proxy.proc.waitForLog(proxy.connectTo(edgeHostPort), 5_000, "the proxy to log the connector's CONNECT");
      const before = proxy.connects(edgeHostPort);
      const r = await probe(["--url", `${edge.ws}/proxied`, "--ca-file", pki.ca.certFile, "--proxy", proxy.url]);
      expect(r.code, r.out).toBe(0);
      expect(r.out).toMatch(/paired in [\d.]+ ms \(first reply from the backend: it echoes\)/);
      // The probe's own CONNECT (and the bind the connector opened to replace the one it used).
      await proxy.proc.waitForLogCount(proxy.connectTo(edgeHostPort), before + 1, 5_000, "the probe's CONNECT");
      await c.proc.waitForLog(msgIs("session started"), 10_000, "the probe's session at the connector");
    },
  );

  it(
    "HTTPS_PROXY from the environment is used; NO_PROXY naming the edge's host bypasses it; " + "an explicit --proxy wins over both",
    async () => {
      const proxy = await startTinyproxy(perTest);
      const fromEnv = await connector("connector-env", [], { HTTPS_PROXY: proxy.url });
      await fromEnv.proc.waitForLog(REGISTERED, 20_000, "registration through HTTPS_PROXY");
      expect(fromEnv.proc.logs(msgIs("reaching the edge through a proxy", { from: "HTTPS_PROXY" }))).toHaveLength(1);
      await proxy.proc.waitForLog(proxy.connectTo(edgeHostPort), 5_000, "the CONNECT from HTTPS_PROXY");

      const other = await startTinyproxy(perTest);
      const bypass = await connector("connector-no-proxy", [], { HTTPS_PROXY: other.url, NO_PROXY: "localhost,127.0.0.1" });
      await bypass.proc.waitForLog(REGISTERED, 20_000, "registration, direct");
      expect(bypass.proc.logs(msgIs("reaching the edge through a proxy"))).toEqual([]);
      expect(other.connects(edgeHostPort)).toBe(0);

      const explicit = await connector("connector-explicit", ["--proxy", other.url], { NO_PROXY: "*", HTTPS_PROXY: "http://127.0.0.1:9" });
      await explicit.proc.waitForLog(REGISTERED, 20_000, "registration through --proxy despite NO_PROXY=*");
      await other.proc.waitForLog(other.connectTo(edgeHostPort), 5_000, "the CONNECT through --proxy");
    },
  );

  it(
    "407 without credentials: the fix is said, the binds back off (no hot loop); " +
      "wrong ones name the file; right ones in the URL work and are never logged",
    async () => {
      const user = "sallyport";
      const password = `pw-${randomToken().slice(0, 12)}`;
      const proxy = await startTinyproxy(perTest, { basicAuth: { user, password } });
      const none = await connector("connector-no-credentials", ["--proxy", proxy.url]);
      const said = await none.proc.waitForLog(CANNOT_REACH, 20_000, "the clear error");
      expect(said.json).toMatchObject({ level: "error", detail: expect.stringMatching(/requires credentials \(HTTP 407/) });
      expect(String(said.json?.fix)).toMatch(/--proxy-credentials-file/);
      // Backoff: 100, 200, 400, 800 ms (at most 20 % less) between five attempts; a hot loop makes them in milliseconds.
      const attempts = await proxy.proc.waitForLogCount(proxy.connectTo(edgeHostPort), 5, 20_000, "five CONNECT attempts");
      expect(attempts[4]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(1200);
      const failures = none.proc.logs(failedWith(/requires credentials/));
      expect(failures.slice(0, 3).map((l) => l.json?.attempt)).toEqual([0, 1, 2]);
      // Said once, not once per attempt.
      expect(none.proc.logs(CANNOT_REACH)).toHaveLength(1);
      expect(none.proc.logs(REGISTERED)).toEqual([]);

      const dir = await tempDir(perTest);
      const wrongFile = await writeSecretFile(dir, "proxy-wrong", `${user}:not-${password}\n`);
      const wrong = await connector("connector-wrong-credentials", ["--proxy", proxy.url, "--proxy-credentials-file", wrongFile]);
      const refused = await wrong.proc.waitForLog(CANNOT_REACH, 20_000, "the clear error for wrong credentials");
      expect(refused.json?.detail).toMatch(/refused the credentials \(HTTP 40[17]/);
      expect(refused.json?.fix).toBe(`check the user and password in ${wrongFile}`);
      neverLogged(wrong.proc, `not-${password}`);

      const url = new URL(proxy.url);
      url.username = user;
      url.password = password;
      const right = await connector("connector-credentials-in-url", ["--proxy", url.href]);
      await right.proc.waitForLog(REGISTERED, 20_000, "registration with the right credentials");
      expect(
        right.proc.logs(msgIs("reaching the edge through a proxy", { proxy: `http://${user}:***@127.0.0.1:${proxy.port}` })),
      ).toHaveLength(1);
      neverLogged(right.proc, password);
    },
  );

  it("403: the proxy forbids the edge's port, and the error names the host:port to allow", async () => {
    const proxy = await startTinyproxy(perTest, { connectPorts: [443] });
    const c = await connector("connector-forbidden", ["--proxy", proxy.url]);
    const said = await c.proc.waitForLog(CANNOT_REACH, 20_000, "the clear error");
    expect(said.json?.detail).toBe(`the proxy ${proxy.url} forbids CONNECT to ${edgeHostPort} (HTTP 403 Access violation)`);
    expect(said.json?.fix).toMatch(new RegExp(`allow CONNECT to ${edgeHostPort}.*ConnectPort ${edge.port}`));
    await proxy.proc.waitForLog((l) => /Refused CONNECT method on port/.test(l.raw), 5_000, "tinyproxy to log its refusal");
  });

  it("a proxy that accepts and never answers (tinyproxy stopped): the CONNECT times out with a clear error", async () => {
    const proxy = await startTinyproxy(perTest);
    proxy.proc.signal("SIGSTOP");
    perTest.add("SIGCONT tinyproxy", () => proxy.proc.signal("SIGCONT"));
    const c = await connector("connector-silent-proxy", ["--proxy", proxy.url]);
    const said = await c.proc.waitForLog(CANNOT_REACH, 30_000, "the CONNECT timeout");
    expect(said.json?.detail).toMatch(new RegExp(`did not answer the CONNECT to ${edgeHostPort} within 10000 ms`));
  });

  it("sallyport client through HTTPS_PROXY: a local TCP connection echoes, its sessions' CONNECTs in the proxy's log", async () => {
    const c = await connector("connector-for-client", ["--prepared", "2"]);
    await c.proc.waitForLog(REGISTERED, 20_000, "registration");
    const proxy = await startTinyproxy(perTest);
    const client = spawnSallyport(
      ["client", "--url", `${edge.ws}/proxied`, "--listen", "127.0.0.1:0", "--ca-file", pki.ca.certFile, "--preopen", "1"],
      { name: "client", cleanup: perTest, env: { HTTPS_PROXY: proxy.url } },
    );
    const listening = await client.waitForLog(msgIs("listening"), 20_000, "the client to listen");
    expect(client.logs(msgIs("reaching the edge through a proxy", { from: "HTTPS_PROXY" }))).toHaveLength(1);
    const port = Number(String(listening.json?.listen).split(":").pop());
    const local = net.connect({ port, host: "127.0.0.1" });
    perTest.add("local socket", () => void local.destroy());
    const echoed = new Promise<string>((resolve, reject) => {
      let got = "";
      local.on("data", (d) => {
        got += d.toString();
        if (got.includes("\n")) resolve(got);
      });
      local.on("error", reject);
    });
    local.write("through the proxy\n");
    expect(await within(echoed, 10_000, "the echo")).toBe("through the proxy\n");
    await proxy.proc.waitForLog(proxy.connectTo(edgeHostPort), 5_000, "the client's CONNECT");
  });

  it("an https:// proxy (TLS to the proxy itself), trusted through --proxy-ca-file", async () => {
    const proxy = await startTinyproxy(perTest);
    // The TLS layer of the proxy: terminated here, the CONNECT handled by tinyproxy behind it.
    const front = tls.createServer({ cert: corporate.server.cert, key: corporate.server.key }, (s) => {
      const back = net.connect(proxy.port, "127.0.0.1");
      s.pipe(back).pipe(s);
      s.on("error", () => back.destroy());
      back.on("error", () => s.destroy());
    });
    const port = await listen(front);
    perTest.add("tls proxy front", () => new Promise<void>((resolve) => front.close(() => resolve())));
    const untrusted = await connector("connector-https-proxy-untrusted", ["--proxy", `https://127.0.0.1:${port}`]);
    const said = await untrusted.proc.waitForLog(CANNOT_REACH, 20_000, "the proxy's certificate refused");
    expect(said.json?.detail).toMatch(/the proxy https:\/\/127\.0\.0\.1:\d+'s own certificate did not verify/);
    expect(said.json?.fix).toMatch(/--proxy-ca-file/);
    const trusted = await connector("connector-https-proxy", [
      "--proxy",
      `https://127.0.0.1:${port}`,
      "--proxy-ca-file",
      corporate.ca.certFile,
    ]);
    await trusted.proc.waitForLog(REGISTERED, 20_000, "registration through the https:// proxy");
  });
});

describe("trust, and failures that need no real proxy", () => {
  it("ca.file adds to Node's default CAs; ca.file.only replaces them", async () => {
    // The edge's CA is one of Node's defaults here (NODE_EXTRA_CA_CERTS); --ca-file names an unrelated one.
    const env = { NODE_EXTRA_CA_CERTS: pki.ca.certFile };
    const base = { edge: edge.ws, accept: ACCEPT, connect: echo.uri, token: TOKEN, retryMax: "1 second", env };
    const adds = await startConnector(perTest, { ...base, name: "connector-ca-adds", extraArgs: ["--ca-file", corporate.ca.certFile] });
    await adds.proc.waitForLog(REGISTERED, 20_000, "registration: the defaults still trusted");
    const only = await startConnector(perTest, {
      ...base,
      name: "connector-ca-only",
      extraArgs: ["--ca-file", corporate.ca.certFile, "--ca-file-only"],
    });
    const said = await only.proc.waitForLog(CANNOT_REACH, 20_000, "the edge's certificate refused");
    expect(said.json?.detail).toMatch(new RegExp(`the edge's certificate for ${edgeHostPort} did not verify`));
    expect(said.json?.fix).toMatch(/--ca-file/);
    expect(only.proc.logs(REGISTERED)).toEqual([]);
  });

  it("client and probe refuse a ws:// URL to another host unless --allow-insecure-edge, which warns", async () => {
    const refused = await probe(["--url", "ws://edge.invalid/proxied"]);
    expect(refused.code).toBe(2);
    expect(refused.out).toMatch(/--url is ws:\/\/ to edge\.invalid: .*clear text.*--allow-insecure-edge/);
    const allowed = await probe(["--url", "ws://edge.invalid/proxied", "--allow-insecure-edge", "--timeout", "2 seconds"]);
    expect(allowed.out).toMatch(/warning: ws:\/\/edge\.invalid\/proxied is ws:\/\/ to another host/);
    expect(allowed.code).toBe(1);
    const client = spawnSallyport(["client", "--url", "ws://edge.invalid/proxied", "--listen", "127.0.0.1:0"], {
      name: "client",
      cleanup: perTest,
    });
    expect((await client.waitForExit(20_000)).code).toBe(2);
    expect(client.output()).toMatch(/--allow-insecure-edge/);
  });

  it("nothing listening at the proxy's address: cannot reach the proxy, with the fix", async () => {
    const port = await freePort();
    const c = await connector("connector-proxy-down", ["--proxy", `http://127.0.0.1:${port}`]);
    const said = await c.proc.waitForLog(CANNOT_REACH, 20_000, "the clear error");
    expect(said.json?.detail).toBe(`cannot reach the proxy http://127.0.0.1:${port} (ECONNREFUSED)`);
    expect(said.json?.fix).toMatch(/NO_PROXY/);
    await c.proc.waitForLogCount(failedWith(/cannot reach the proxy/), 3, 10_000, "retries with backoff");
  });

  it(
    "a TLS-intercepting proxy: the certificate is not the edge's, and the fix is " +
      "to trust the corporate CA (which then works) — or, pinned, never",
    async () => {
      const mitm = await interceptingProxy(perTest, corporate, pki);
      const c = await connector("connector-intercepted", ["--proxy", mitm]);
      const said = await c.proc.waitForLog(CANNOT_REACH, 20_000, "the interception named");
      expect(said.json?.detail).toMatch(new RegExp(`certificate presented for ${edgeHostPort} through the proxy .* is not the edge's`));
      expect(said.json?.fix).toMatch(/--ca-file/);
      expect(c.proc.logs(REGISTERED)).toEqual([]);

      // Following the fix: the corporate CA added (ca.file adds to the trusted CAs).
      const dir = await tempDir(perTest);
      const bundle = join(dir, "with-corporate.pem");
      await writeFile(bundle, Buffer.concat([pki.ca.cert, corporate.ca.cert]));
      const fixed = await connector("connector-trusts-corporate", ["--proxy", mitm, "--ca-file", bundle]);
      await fixed.proc.waitForLog(REGISTERED, 20_000, "registration through the inspecting proxy");

      const pinned = await connector("connector-pinned", ["--proxy", mitm, "--ca-file", bundle, "--edge-cert-sha256", pki.server.sha256]);
      const refused = await pinned.proc.waitForLog(CANNOT_REACH, 20_000, "the pin refusing the interception");
      expect(refused.json?.fix).toMatch(/exempted from inspection/);
    },
  );
});

/**
 * A TLS-inspecting CONNECT proxy: answers 200, then terminates the client's TLS with a
 * certificate for the same host signed by `own`'s CA, and talks TLS to the real target itself.
 */
async function interceptingProxy(cleanup: Cleanup, own: TestPki, upstream: TestPki): Promise<string> {
  const sockets = new Set<net.Socket>();
  const server = http.createServer((_req, res) => res.writeHead(405).end());
  server.on("connect", (req: http.IncomingMessage, client: net.Socket) => {
    sockets.add(client);
    const [host, port] = (req.url ?? "").split(":");
    client.write("HTTP/1.1 200 Connection established\r\n\r\n");
    const inner = new tls.TLSSocket(client, { isServer: true, cert: own.server.cert, key: own.server.key });
    const outer = tls.connect({ host, port: Number(port), ca: upstream.ca.cert });
    inner.pipe(outer).pipe(inner);
    const all = [client, inner, outer];
    for (const s of all) s.on("error", () => all.forEach((x) => void x.destroy()));
  });
  const port = await listen(server as unknown as net.Server);
  cleanup.add("intercepting proxy", () => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return `http://127.0.0.1:${port}`;
}
