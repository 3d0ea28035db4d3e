import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { connect, type Addr } from "./load.ts";
import { FrameCountingProxy } from "./wsframes.ts";
import { findDescendant, spawnChild, type Child } from "./proc.ts";
import { type CertificateFiles, selfSignedCertificate } from "./certificate.ts";

/**
 * The tunnels under test. `up()` starts one instance in front of a backend port and returns
 * the address clients dial, the processes to account CPU and memory to (by role), and
 * `down()`. Every process is a tracked Child (killed by PID on exit).
 */

export interface Role {
  /** Root PIDs; their descendants count too, except the subtrees of `exclude`. */
  readonly pids: readonly number[];
  readonly exclude?: readonly number[];
}

export interface RunningTunnel {
  readonly addr: Addr;
  /** Role name -> processes, e.g. client, edge (workerd), edge-host, connector. */
  readonly roles: Readonly<Record<string, Role>>;
  /** What the tunnel's encryption negotiated, e.g. "TLSv1.3 TLS_AES_256_GCM_SHA384" (to pin ssh's cipher to its class). */
  readonly encryption?: string;
  /** Set when started with countFrames: the proxy on the WebSocket leg. */
  readonly frames?: FrameCountingProxy;
  down(): Promise<void>;
}

export interface UpOptions {
  readonly backendPort: number;
  /** "echo" or "bulk": how to check the path end to end before returning. */
  readonly backendKind: "echo" | "bulk";
  /** Put a frame-counting proxy on the client's WebSocket leg. */
  readonly countFrames?: boolean;
}

export interface BenchEnv {
  readonly repoRoot: string;
  readonly node: string;
  readonly logDir: string;
  readonly env: NodeJS.ProcessEnv;
  readonly logLevel: string;
  readonly preopen: number;
  readonly prepared: number;
  readonly socksTimeout: string;
  /** The edge's max.message.size; undefined: the default. */
  readonly maxMessage?: number;
  /** After the path works, how long to let pre-opened sessions settle. */
  readonly settleMs: number;
}

export interface TunnelSpec {
  readonly name: string;
  readonly kind: "direct" | "wsrelay" | "chain" | "sallyport" | "ssh";
  /** Roles beyond the kind's own, reported apart (the proxy of `proxied`). */
  readonly extraRoles?: readonly string[];
  up(env: BenchEnv, opts: UpOptions): Promise<RunningTunnel>;
}

let instance = 0;

/**
 * What one up() starts: its processes and the frame-counting proxy, stopped in reverse order
 * of start (the client first, then the connector, then the edge: nobody reconnects to a
 * stopped peer). `launch` stops everything if starting fails halfway.
 */
class Launch {
  readonly n = ++instance;
  private readonly started: Child[] = [];
  frames: FrameCountingProxy | undefined;

  constructor(
    private readonly env: BenchEnv,
    private readonly tunnel: string,
  ) {}

  spawn(role: string, args: readonly string[], cwd = this.env.repoRoot, cmd = this.env.node, extraEnv: NodeJS.ProcessEnv = {}): Child {
    const child = spawnChild(`${this.tunnel} ${role}`, cmd, args, {
      logFile: join(this.env.logDir, `${this.tunnel}-${this.n}-${role}.log`),
      env: { ...this.env.env, ...extraEnv },
      cwd,
    });
    this.started.push(child);
    return child;
  }

  /** The port the client should dial for a WebSocket server on `port`: a counting proxy's, if asked. */
  async wsPort(port: number, countFrames: boolean | undefined): Promise<number> {
    if (!countFrames) return port;
    this.frames = new FrameCountingProxy({ host: "127.0.0.1", port });
    return this.frames.listen();
  }

  async down(): Promise<void> {
    for (const c of [...this.started].reverse()) await c.stop();
    await this.frames?.close();
  }
}

export async function launch(
  env: BenchEnv,
  tunnel: string,
  start: (l: Launch) => Promise<Omit<RunningTunnel, "down" | "frames">>,
): Promise<RunningTunnel> {
  const l = new Launch(env, tunnel);
  try {
    const running = await start(l);
    return { ...running, ...(l.frames ? { frames: l.frames } : {}), down: () => l.down() };
  } catch (e) {
    await l.down();
    throw e;
  }
}

const LISTENING = /^listening on 127\.0\.0\.1:(\d+)/;
/** The connector's largest max.sessions (connector-config.ts MAX_SESSIONS): the bench measures capacity, not the shipped cap. */
const BENCH_MAX_SESSIONS = 100_000;
const EDGE_URL = /^edge (https?:\/\/\S+)/;

/** The client's address once it listens and a session works end to end. */
async function serving(client: Child, opts: UpOptions): Promise<Addr> {
  const addr = { host: "127.0.0.1", port: Number((await client.waitLine(LISTENING, 30_000, "stdout"))[1]) };
  await probe(addr, opts.backendKind, 20_000);
  return addr;
}

/** An edge host's URL and its workerd (the process the edge's CPU and memory are read from). */
async function edgeOf(edge: Child): Promise<{ url: URL; workerd: number }> {
  const url = new URL((await edge.waitLine(EDGE_URL, 60_000, "stdout"))[1]!);
  const workerd = findDescendant(edge.pid, "workerd");
  if (workerd === undefined) throw new Error(`no workerd process under ${edge.name}`);
  return { url, workerd };
}

/** Roles of a tunnel with Sallyport's processes (Sallyport itself, or its floor). */
function edgeShapedRoles(client: Child, edge: Child, workerd: number, connector: Child): Record<string, Role> {
  return {
    client: { pids: [client.pid] },
    edge: { pids: [workerd] },
    "edge-host": { pids: [edge.pid], exclude: [workerd] },
    connector: { pids: [connector.pid] },
  };
}

export const direct: TunnelSpec = {
  name: "direct",
  kind: "direct",
  async up(_env, opts) {
    return { addr: { host: "127.0.0.1", port: opts.backendPort }, roles: {}, down: async () => {} };
  },
};

export const wsrelay: TunnelSpec = {
  name: "wsrelay",
  kind: "wsrelay",
  up: (env, opts) =>
    launch(env, "wsrelay", async (l) => {
      const script = join(env.repoRoot, "bench/ws-relay.ts");
      const server = l.spawn("server", ["--import", "tsx", script, "server", "--backend", `127.0.0.1:${opts.backendPort}`]);
      const wsPort = await l.wsPort(Number((await server.waitLine(LISTENING, 30_000, "stdout"))[1]), opts.countFrames);
      const client = l.spawn("client", ["--import", "tsx", script, "client", "--url", `ws://127.0.0.1:${wsPort}/`]);
      return { addr: await serving(client, opts), roles: { client: { pids: [client.pid] }, server: { pids: [server.pid] } } };
    }),
};

/**
 * Sallyport's topology with the least code (bench/chain-edge.ts, bench/chain-relay.ts): the
 * floor any design of this shape starts from on this runtime and machine. Same roles as
 * Sallyport, so the same CPU and memory accounting applies.
 */
export function chain(
  name: string,
  { tls, protocolMessages, tiered }: { tls?: boolean; protocolMessages?: boolean; tiered?: boolean } = {},
): TunnelSpec {
  // The same least code exchanging a kept Sallyport session's messages, or with Sallyport's V8
  // tiering settings (bench/chain-relay.ts); the edge takes --protocol-messages only.
  const flag = protocolMessages ? ["--protocol-messages"] : [];
  const relayFlags = [...flag, ...(tiered ? ["--tiered"] : [])];
  return {
    name,
    kind: "chain",
    up: (env, opts) =>
      launch(env, name, async (l) => {
        const relay = join(env.repoRoot, "bench/chain-relay.ts");
        const { cert, ws } = await edgeTls(env, `${name}-${l.n}`, tls, opts);
        // The relays are the floor's least code: they trust the edge through Node's own variable, not a flag.
        const trust = cert ? { NODE_EXTRA_CA_CERTS: cert.certFile } : {};
        const edge = l.spawn("edge", [
          "--import",
          "tsx",
          join(env.repoRoot, "bench/chain-edge.ts"),
          ...(cert ? ["--tls-cert", cert.certFile, "--tls-key", cert.keyFile] : []),
          ...flag,
        ]);
        const { url, workerd } = await edgeOf(edge);
        const bind = l.spawn(
          "connector",
          [
            "--import",
            "tsx",
            relay,
            "bind",
            "--url",
            `${ws}://${url.host}/bind`,
            "--backend",
            `127.0.0.1:${opts.backendPort}`,
            "--binds",
            String(env.prepared),
            ...relayFlags,
          ],
          env.repoRoot,
          env.node,
          trust,
        );
        await bind.waitLine(/^parking/, 30_000, "stdout");
        const wsPort = await l.wsPort(Number(url.port), opts.countFrames);
        const client = l.spawn(
          "client",
          [
            "--import",
            "tsx",
            relay,
            "client",
            "--url",
            `${ws}://127.0.0.1:${wsPort}/client`,
            "--preopen",
            String(env.preopen),
            ...relayFlags,
          ],
          env.repoRoot,
          env.node,
          trust,
        );
        const addr = await serving(client, opts);
        await new Promise((r) => setTimeout(r, env.settleMs));
        return { addr, roles: edgeShapedRoles(client, edge, workerd, bind) };
      }),
  };
}

/** With `tls`, the edge's certificate for this launch and the wss scheme; otherwise plain ws. */
async function edgeTls(
  env: BenchEnv,
  name: string,
  tls: boolean | undefined,
  opts: UpOptions,
): Promise<{ cert?: CertificateFiles; ws: "ws" | "wss" }> {
  if (!tls) return { ws: "ws" };
  if (opts.countFrames) throw new Error("the frame-counting proxy reads plain WebSocket frames: not with TLS");
  return { cert: await selfSignedCertificate(env.logDir, name), ws: "wss" };
}

export type BenchProxy = "tinyproxy" | "squid";

/**
 * A real HTTP proxy from Debian on 127.0.0.1 (issue 14: the connector behind a proxy), started
 * in the foreground with a generated config; its CPU and memory are reported as the role "proxy".
 */
async function startProxy(kind: BenchProxy, env: BenchEnv, l: Launch): Promise<{ url: string; child: Child }> {
  const port = await freePort();
  const conf = join(env.logDir, `${kind}-${l.n}.conf`);
  const settings =
    kind === "tinyproxy"
      ? [`Port ${port}`, "Listen 127.0.0.1", "Allow 127.0.0.1", "MaxClients 1024", "LogLevel Info", "DisableViaHeader Yes"]
      : [
          `http_port 127.0.0.1:${port}`,
          "http_access allow all",
          "cache deny all",
          "access_log none",
          // Its log goes to stderr (the tunnel's log file), where it says when it is ready.
          "cache_log stdio:/dev/stderr",
          "cache_store_log none",
          "pid_filename none",
          "pinger_enable off",
          "shutdown_lifetime 0 seconds",
        ];
  writeFileSync(conf, `${settings.join("\n")}\n`);
  const child = l.spawn("proxy", kind === "tinyproxy" ? ["-d", "-c", conf] : ["-N", "-f", conf], env.repoRoot, kind);
  await child.waitLine(/Accepting (connections|HTTP Socket connections)/, 20_000, kind === "tinyproxy" ? "stdout" : "stderr");
  return { url: `http://127.0.0.1:${port}`, child };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Sallyport from a checkout at `root` (the repository itself, or a patched copy to compare);
 * a variant adds a proxy on the connector's way to the edge, or TLS, or an edge speaking v1 only.
 */
export interface SallyportVariant {
  /** The connector reaches the edge through this proxy (`--proxy`). */
  readonly proxied?: BenchProxy;
  /** TLS on both WebSocket legs, as deployed (the edge's certificate made at run time, trusted with --ca-file). */
  readonly tls?: boolean;
  /**
   * The newest version the edge speaks (bench/edge-host.ts --protocol): 1 runs the session without
   * v2's marks and proofs, 2 without v3's resume.
   */
  readonly protocol?: 1 | 2;
}

export function sallyport(name: string, root: string, { proxied, tls, protocol }: SallyportVariant = {}): TunnelSpec {
  return {
    name,
    kind: "sallyport",
    ...(proxied ? { extraRoles: ["proxy"] } : {}),
    up: (env, opts) =>
      launch(env, name, async (l) => {
        const tokenFile = join(env.logDir, `${name}-${l.n}.token`);
        writeFileSync(tokenFile, randomBytes(24).toString("base64url"), { mode: 0o600 });
        const bin = join(root, "bin/sallyport.mjs");
        const { cert, ws } = await edgeTls(env, `${name}-${l.n}`, tls, opts);
        const trust = cert ? ["--ca-file", cert.certFile] : [];
        const edge = l.spawn("edge", [
          "--import",
          "tsx",
          join(env.repoRoot, "bench/edge-host.ts"),
          "--root",
          root,
          "--port",
          "0",
          "--token-file",
          tokenFile,
          "--timeout",
          env.socksTimeout,
          ...(env.maxMessage ? ["--max-message", String(env.maxMessage)] : []),
          ...(cert ? ["--tls-cert", cert.certFile, "--tls-key", cert.keyFile] : []),
          ...(protocol ? ["--protocol", String(protocol)] : []),
        ]);
        const { url, workerd } = await edgeOf(edge);
        const proxy = proxied ? await startProxy(proxied, env, l) : undefined;
        const connector = l.spawn(
          "connector",
          [
            bin,
            "connector",
            "--edge",
            `${ws}://${url.host}`,
            ...trust,
            "--accept",
            "ws://sallyport.localhost/bench",
            "--connect",
            `tcp://127.0.0.1:${opts.backendPort}`,
            "--token-file",
            tokenFile,
            "--prepared",
            String(env.prepared),
            "--max-sessions",
            String(BENCH_MAX_SESSIONS),
            "--connector-id",
            `bench${l.n}`,
            "--log-level",
            env.logLevel,
            ...(proxy ? ["--proxy", proxy.url] : []),
          ],
          root,
        );
        // Below info the connector does not say so; the end-to-end probe below covers it.
        if (env.logLevel === "info" || env.logLevel === "debug") await connector.waitLine(/registered with the edge/, 30_000, "stderr");
        const wsPort = await l.wsPort(Number(url.port), opts.countFrames);
        const client = l.spawn(
          "client",
          [
            bin,
            "client",
            "--url",
            `${ws}://127.0.0.1:${wsPort}/bench`,
            ...trust,
            "--listen",
            "127.0.0.1:0",
            "--preopen",
            String(env.preopen),
            "--log-level",
            env.logLevel,
          ],
          root,
        );
        const addr = await serving(client, opts);
        // Pre-opened sessions (and the connector's replacements for binds they took) settle.
        await new Promise((r) => setTimeout(r, env.settleMs));
        const roles = edgeShapedRoles(client, edge, workerd, connector);
        return {
          addr,
          roles: proxy ? { ...roles, proxy: { pids: [proxy.child.pid] } } : roles,
          ...(cert ? { encryption: await negotiatedSuite(url, cert.certFile) } : {}),
        };
      }),
  };
}

/** The TLS version and suite a Node client with default settings (as the connector and client are) gets from the edge. */
function negotiatedSuite(url: URL, caFile: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: url.hostname, port: Number(url.port), ca: readFileSync(caFile) }, () => {
      resolve(`${socket.getProtocol()} ${socket.getCipher().standardName}`);
      socket.destroy();
    });
    socket.once("error", reject);
  });
}

/** One session end to end, retried until it works or `timeoutMs` passes. */
export async function probe(addr: Addr, kind: "echo" | "bulk", timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const s = await connect(addr, 5000);
      try {
        const msg = kind === "echo" ? randomBytes(16) : Buffer.from([0x44, 0, 0, 0, 0, 0, 0, 0, 1]); // 'D', 1 byte
        const want = kind === "echo" ? 16 : 1;
        await new Promise<void>((resolve, reject) => {
          let got = 0;
          const t = setTimeout(() => reject(new Error("probe: no answer in 5 s")), 5000);
          s.on("data", (d: Buffer) => {
            got += d.length;
            if (got >= want) {
              clearTimeout(t);
              resolve();
            }
          });
          s.on("error", reject);
          s.on("close", () => reject(new Error("probe: closed")));
          s.write(msg);
        });
        return;
      } finally {
        s.destroy();
      }
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`tunnel not carrying traffic after ${timeoutMs} ms: ${(last as Error)?.message}`);
}
