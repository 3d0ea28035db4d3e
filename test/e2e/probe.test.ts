import net from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  Cleanup,
  closeServer,
  echoBackend,
  listen,
  msgIs,
  randomToken,
  refusingBackend,
  spawnSallyport,
  startConnectorWithConfig,
  startEdge,
  tempDir,
  writeSecretFile,
  type Proc,
  type TestEdge,
} from "../helpers/index.ts";

/**
 * `sallyport probe` against the real edge (workerd) + real connector: it reports pairing and
 * round trip when a connector answers, and fails (exit 1) naming the reason otherwise.
 */

const accept = (name: string): string => `ws://sallyport.test/${name}`;
const SERVICES = ["echo", "silent", "refused", "unreachable", "lonely"] as const;
const tokens = Object.fromEntries(SERVICES.map((n) => [n, randomToken()])) as Record<(typeof SERVICES)[number], string>;

const file = new Cleanup();
const perTest = new Cleanup();
afterEach(() => perTest.run());
afterAll(() => file.run());

let edge: TestEdge;

/** Accepts and reads, never writes: a backend that neither greets nor echoes. */
async function silentBackend(cleanup: Cleanup): Promise<string> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => s.destroy());
    s.resume();
  });
  const port = await listen(server);
  cleanup.add("silent backend", () => closeServer(server, sockets));
  return `tcp://127.0.0.1:${port}`;
}

async function probe(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; proc: Proc }> {
  const proc = spawnSallyport(["probe", ...args], { name: "probe", cleanup: perTest });
  const exit = await proc.waitForExit(30_000);
  const pick = (stream: "stdout" | "stderr"): string =>
    proc.lines
      .filter((l) => l.stream === stream)
      .map((l) => l.raw)
      .join("\n");
  return { code: exit.code, stdout: pick("stdout"), stderr: pick("stderr"), proc };
}

beforeAll(async () => {
  const [echo, silent, refused] = await Promise.all([echoBackend(file), silentBackend(file), refusingBackend()]);
  edge = await startEdge(file, {
    services: Object.fromEntries(
      SERVICES.map((n) => [n, { accept: accept(n), "socks.timeout": n === "lonely" ? "1 second" : "10 seconds" }]),
    ),
    tokens: Object.fromEntries(SERVICES.map((n) => [n, [tokens[n]]])),
  });
  const connector = await startConnectorWithConfig(file, edge.ws, [
    { name: "echo", accept: accept("echo"), connect: echo.uri, token: tokens.echo, prepared: 2 },
    { name: "silent", accept: accept("silent"), connect: silent, token: tokens.silent },
    { name: "refused", accept: accept("refused"), connect: refused.uri, token: tokens.refused },
    // A name that never resolves (ENOTFOUND): the connector reports the backend unreachable.
    { name: "unreachable", accept: accept("unreachable"), connect: "tcp://backend.invalid:7", token: tokens.unreachable },
  ]);
  for (const name of ["echo", "silent", "refused", "unreachable"]) {
    await connector.proc.waitForLog(msgIs("registered with the edge", { service: name }), 20_000, `service ${name} registered`);
  }
});

describe("sallyport probe", () => {
  it("a connector answers: prints handshake, pairing and round-trip times, exit 0", async () => {
    const r = await probe(["--url", edge.clientUrl("/echo")]);
    expect(r.code, r.stderr).toBe(0);
    const handshake = Number(/^edge handshake ([\d.]+) ms$/m.exec(r.stdout)?.[1]);
    const paired = Number(/^paired in ([\d.]+) ms \(first reply from the backend: it echoes\)$/m.exec(r.stdout)?.[1]);
    const rtt = Number(/^round trip ([\d.]+) ms$/m.exec(r.stdout)?.[1]);
    expect(handshake).toBeGreaterThan(0);
    expect(paired).toBeGreaterThanOrEqual(handshake);
    expect(rtt).toBeGreaterThan(0);
    console.info(`probe: handshake ${handshake} ms, paired in ${paired} ms, round trip ${rtt} ms`);
  });

  it("takes a token file (sent as a header) and still answers", async () => {
    const tokenFile = await writeSecretFile(await tempDir(perTest), "t", randomToken());
    const r = await probe(["--url", edge.clientUrl("/echo"), "--token-file", tokenFile]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^paired in /m);
  });

  it("a backend that neither greets nor echoes: the session opened and stayed open, pairing not claimed", async () => {
    const r = await probe(["--url", edge.clientUrl("/silent"), "--timeout", "1500ms"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^session open for [\d.]+ ms without a reply/m);
    expect(r.stdout).toMatch(/Pairing not confirmed/);
    expect(r.stdout).not.toMatch(/^paired in/m);
  });

  it("no connector within socks.timeout: no connector available (4006), exit 1", async () => {
    const r = await probe(["--url", edge.clientUrl("/lonely")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^sallyport probe: no connector available \(4006\) after [\d.]+ ms$/m);
  });

  it("unknown service path: HTTP 404, exit 1", async () => {
    const r = await probe(["--url", edge.clientUrl("/nothing-here")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/HTTP 404: unknown service path, or this client is not admitted/);
  });

  it("backend refuses: backend refused the connection (4005), exit 1", async () => {
    const r = await probe(["--url", edge.clientUrl("/refused")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/backend refused the connection \(4005\)/);
  });

  it(
    "backend refuses, probed again while the edge knows it is down (closed on arrival): " + "4005 each time, exit 1, before the timeout",
    async () => {
      // Once a connector reported the backend refused and has no bind parked, the edge closes
      // the next clients as they arrive. workerd then sends the close frame but keeps the TCP
      // connection, so a client that waits for the socket to close saw an open session.
      for (let i = 0; i < 3; i++) {
        const r = await probe(["--url", edge.clientUrl("/refused"), "--timeout", "5 seconds"]);
        expect([r.code, r.stdout], `probe ${i}`).toStrictEqual([1, expect.stringMatching(/^edge handshake [\d.]+ ms$/)]);
        const after = Number(/^sallyport probe: backend refused the connection \(4005\) after ([\d.]+) ms$/m.exec(r.stderr)?.[1]);
        expect(after, r.stderr).toBeLessThan(5000);
      }
    },
  );

  it("backend unreachable: backend unreachable (4004), exit 1", async () => {
    const r = await probe(["--url", edge.clientUrl("/unreachable")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/backend unreachable \(4004\)/);
  });

  it("nothing listening at the edge address: cannot reach the edge, exit 1", async () => {
    const port = await (async () => {
      const s = net.createServer();
      const p = await listen(s);
      await closeServer(s, []);
      return p;
    })();
    const r = await probe(["--url", `ws://127.0.0.1:${port}/echo`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot reach the edge at 127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
  });

  it("bad flags: exit 2 with what to fix", async () => {
    const cases: Array<[string[], RegExp]> = [
      [[], /--url is required/],
      [["--url", "wss://x/y", "--timeout", "5"], /--timeout: "5" is not a duration/],
      [["--url", "ws://user:pw@x/y"], /must not have credentials/],
    ];
    await Promise.all(
      cases.map(async ([args, message]) => {
        const r = await probe(args);
        expect(r.code, args.join(" ")).toBe(2);
        expect(r.stderr).toMatch(message);
      }),
    );
  });
});
