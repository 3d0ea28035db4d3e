import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_BACKOFF, nextDelayMs } from "../../shared/backoff.ts";
import { parseDuration } from "../../shared/config/duration.ts";
import { makePki, type TestPki } from "../helpers/certs.ts";
import { startTinyproxy, type TestProxy } from "../helpers/proxy.ts";
import {
  Cleanup,
  type Finished,
  type LogLine,
  type Proc,
  REGISTERED,
  randomToken,
  SALLYPORT_BIN,
  tempDir,
  writeSecretFile,
} from "../helpers/index.ts";
import {
  EDGE_ADDR,
  type EdgeInNetns,
  echoInNetns,
  edgeInNetns,
  INSIDE_ADDR,
  LINK_ADDR,
  lockDown,
  makeTopology,
  netnsUnavailable,
  runInNetns,
  sallyportInNetns,
  type Topology,
  tryConnect,
} from "../helpers/netns.ts";

/**
 * The promise "every inbound port closed", kept with a real firewall. Two network namespaces
 * (test/helpers/netns.ts): the inside holds the backend and the connector, drops every new
 * inbound connection (nftables) and reaches nothing but an HTTP proxy (Debian's tinyproxy,
 * outside); the edge (workerd, TLS) runs outside on an address the inside has no route to.
 * A client outside reaches the backend inside through Sallyport, while direct connections
 * from outside to the inside's addresses go unanswered; the proxy's log shows the connector's
 * CONNECT; the same through a proxy demanding credentials; a wrong password is a clear error,
 * retried with backoff.
 *
 * Needs root, iproute2, nftables and tinyproxy (.ci/install-system-deps.sh). Elsewhere it
 * skips and says why; under CI=true it fails instead, since CI can make namespaces.
 */

const UNAVAILABLE = netnsUnavailable();
const CI = process.env.CI === "true";
if (UNAVAILABLE && !CI) console.warn(`\n*** test/e2e/firewall.test.ts SKIPPED: cannot make network namespaces here: ${UNAVAILABLE} ***\n`);

/** An answer from the inside within this long would have come by now: silence means dropped. */
const DROPPED_AFTER_MS = 1500;
const ANON_PROXY_PORT = 3128;
const RETRY_MAX = "1 second";
const RETRY_MAX_MS = (parseDuration(RETRY_MAX) as { value: number }).value;
const AUTH_PROXY_PORT = 3129;
const ORIGIN = "wss://sallyport.test";
const SERVICES = ["env", "auth", "wrong"] as const;
const USER = "connector";
const PASSWORD = `pw-${randomBytes(9).toString("base64url")}`;
const WRONG_PASSWORD = `wrong-${randomBytes(9).toString("base64url")}`;

const file = new Cleanup();
const perTest = new Cleanup();
afterEach(() => perTest.run());
afterAll(() => file.run());

let topo: Topology;
let dir: string;
let pki: TestPki;
/** Service → the connector's token file. */
let tokenFiles: Record<(typeof SERVICES)[number], string>;
let backend: { proc: Proc; port: number };
let edge: EdgeInNetns;
let anonProxy: TestProxy;
let authProxy: TestProxy;
/** What a direct connection from outside to the backend did before the firewall went up. */
let beforeFirewall: string;

/** EDGE_ADDR:PORT, as the proxy's log names the CONNECT target. */
const edgeTarget = (): string => new URL(edge.url).host;

function startConnector(service: (typeof SERVICES)[number], extraArgs: string[], env?: Record<string, string>): Proc {
  const args = ["connector", "--edge", edge.url, "--accept", `${ORIGIN}/${service}`, "--connect", `tcp://127.0.0.1:${backend.port}`];
  args.push("--token-file", tokenFiles[service], "--ca-file", pki.ca.certFile, "--prepared", "1", "--retry-max", RETRY_MAX, ...extraArgs);
  return sallyportInNetns(perTest, topo.inside, `connector (${service})`, args, env);
}

/** `sallyport probe` from outside, straight to the edge (no proxy there), trusting the test CA. */
const probeFromOutside = (service: string): Promise<Finished> =>
  runInNetns(perTest, topo.outside, process.execPath, [SALLYPORT_BIN, "probe", "--url", `${edge.url}/${service}`], 30_000, {
    NODE_EXTRA_CA_CERTS: pki.ca.certFile,
    NO_PROXY: "*",
  });

async function expectPairsThroughSallyport(service: string): Promise<void> {
  const viaConnector = (l: { raw: string }): boolean => l.raw === "accepted 127.0.0.1";
  const accepted = backend.proc.logs(viaConnector).length;
  const r = await probeFromOutside(service);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout).toMatch(/^paired in [\d.]+ ms \(first reply from the backend: it echoes\)$/m);
  // The connector dialled the backend on the inside's loopback: the bytes came through it.
  await backend.proc.waitForLogCount(viaConnector, accepted + 1, 5000, "the backend's new connection");
}

const secretsIn = (proc: Proc): string[] => [PASSWORD, WRONG_PASSWORD].filter((s) => proc.output().includes(s));

describe.runIf(UNAVAILABLE && CI)("firewall (CI)", () => {
  it("can make network namespaces", () => {
    throw new Error(`CI=true but network namespaces cannot be made here: ${UNAVAILABLE}`);
  });
});

describe.skipIf(UNAVAILABLE)(`a connector behind a real firewall${UNAVAILABLE ? ` — skipped: ${UNAVAILABLE}` : ""}`, () => {
  beforeAll(async () => {
    dir = await tempDir(file);
    topo = await makeTopology(file);
    const tokens = SERVICES.map(() => randomToken());
    tokenFiles = Object.fromEntries(
      await Promise.all(SERVICES.map(async (name, i) => [name, await writeSecretFile(dir, `${name}.token`, tokens[i]!)])),
    );
    [pki, backend] = await Promise.all([makePki(file, [`IP:${EDGE_ADDR}`]), echoInNetns(file, topo.inside, "0.0.0.0")]);
    beforeFirewall = await tryConnect(file, topo.outside, INSIDE_ADDR, backend.port, DROPPED_AFTER_MS);
    await lockDown(file, topo.inside, dir, [ANON_PROXY_PORT, AUTH_PROXY_PORT]);
    edge = await edgeInNetns(file, topo.outside, {
      tokenFile: await writeSecretFile(dir, "edge-tokens", tokens.join("\n")),
      services: SERVICES,
      acceptOrigin: ORIGIN,
      cert: pki.server.certFile,
      key: pki.server.keyFile,
    });
    const connectPort = Number(new URL(edge.url).port);
    const netns = (port: number) => ({ name: topo.outside, listen: LINK_ADDR, allow: INSIDE_ADDR, port });
    [anonProxy, authProxy] = await Promise.all([
      startTinyproxy(file, { connectPorts: [connectPort], netns: netns(ANON_PROXY_PORT) }),
      startTinyproxy(file, { connectPorts: [connectPort], basicAuth: { user: USER, password: PASSWORD }, netns: netns(AUTH_PROXY_PORT) }),
    ]);
  }, 90_000);

  it(
    "the inside is closed: outside reaches the backend before the firewall, nothing after; " + "the inside has no route to the edge",
    async () => {
      expect(beforeFirewall).toBe("connected"); // the control: the address and port are right
      const [toBackend, toEdge, toProxyHostElsewhere] = await Promise.all([
        tryConnect(perTest, topo.outside, INSIDE_ADDR, backend.port, DROPPED_AFTER_MS),
        tryConnect(perTest, topo.inside, EDGE_ADDR, Number(new URL(edge.url).port), DROPPED_AFTER_MS),
        tryConnect(perTest, topo.inside, LINK_ADDR, Number(new URL(edge.url).port), DROPPED_AFTER_MS),
      ]);
      expect(toBackend).toBe("timeout"); // dropped, not refused: the firewall, not a missing listener
      expect(toEdge).toBe("failed ENETUNREACH");
      expect(["timeout", "failed EPERM"]).toContain(toProxyHostElsewhere);
    },
  );

  it(
    "HTTPS_PROXY: the connector registers through the proxy's CONNECT; a client outside reaches the backend; " +
      "the connector's own address stays closed",
    async () => {
      const proxy = `http://${LINK_ADDR}:${ANON_PROXY_PORT}`;
      const connector = startConnector("env", [], { HTTPS_PROXY: proxy, HTTP_PROXY: proxy });
      await connector.waitForLog(REGISTERED, 30_000, "registered with the edge");
      expect(anonProxy.connects(edgeTarget())).toBeGreaterThanOrEqual(1);
      await expectPairsThroughSallyport("env");

      // The connector's end of its one connection (to the proxy): a SYN to that port from
      // outside would draw a reset from an open host; here it is dropped.
      const ss = await runInNetns(perTest, topo.inside, "ss", ["-Htn", "state", "established", "dst", LINK_ADDR], 10_000);
      const local = ss.stdout
        .split("\n")
        .map((l) => l.trim().split(/\s+/)[2])
        .find((a) => a?.startsWith(`${INSIDE_ADDR}:`));
      expect(local, ss.stdout).toBeDefined();
      expect(await tryConnect(perTest, topo.outside, INSIDE_ADDR, Number(local!.split(":")[1]), DROPPED_AFTER_MS)).toBe("timeout");
    },
  );

  it("a proxy demanding credentials: --proxy with user and password in the URL, never logged", async () => {
    const connector = startConnector("auth", ["--proxy", `http://${USER}:${PASSWORD}@${LINK_ADDR}:${AUTH_PROXY_PORT}`]);
    await connector.waitForLog(REGISTERED, 30_000, "registered with the edge");
    expect(authProxy.connects(edgeTarget())).toBeGreaterThanOrEqual(1);
    await expectPairsThroughSallyport("auth");
    expect(secretsIn(connector)).toStrictEqual([]);
  });

  it("a wrong password: a clear error naming the proxy's refusal, retried with backoff, never registered, never logged", async () => {
    const before = authProxy.connects(edgeTarget());
    const connector = startConnector("wrong", ["--proxy", `http://${USER}:${WRONG_PASSWORD}@${LINK_ADDR}:${AUTH_PROXY_PORT}`]);
    const attempts = 5;
    const seen = await authProxy.proc.waitForLogCount(
      authProxy.connectTo(edgeTarget()),
      before + attempts,
      20_000,
      `${attempts} CONNECT attempts`,
    );
    const at = seen.slice(before).map((l) => l.at);
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    // The connector's backoff (shared/backoff.ts): each gap at least the shortest delay it may
    // draw (the full 20 % jitter taken off): 80, 160, 320, 640 ms. Load only lengthens gaps; a
    // retry loop without backoff would make them a few milliseconds. (Tolerance: log lines
    // reach this process a few milliseconds apart from when tinyproxy wrote them.)
    const backoff = { ...DEFAULT_BACKOFF, maximumMs: RETRY_MAX_MS };
    const shortest = gaps.map((_, i) => nextDelayMs(i, backoff, () => 1) - 50);
    expect(
      gaps.map((g, i) => g >= shortest[i]!),
      `gaps ${gaps.map(Math.round).join(", ")} ms, shortest ${shortest.join(", ")}`,
    ).toStrictEqual(gaps.map(() => true));
    // tinyproxy answers a wrong password with 401 (407 only when credentials are missing).
    // Read in what the line says, not its pid or time: a connector numbered 401 is no answer from the proxy.
    const said = (l: LogLine): string => JSON.stringify({ ...l.json, pid: undefined, time: undefined, instance: undefined });
    const error = await connector.waitForLog((l) => /\b40[17]\b/.test(said(l)), 5000, "an error naming the proxy's 401/407");
    expect(error.raw).toMatch(/proxy/i);
    expect(error.raw).toMatch(/credentials|password/i);
    expect(connector.logs(REGISTERED)).toStrictEqual([]);
    expect(secretsIn(connector)).toStrictEqual([]);
  });
});
