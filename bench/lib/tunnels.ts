import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect, type Addr } from "./load.ts";
import { FrameCountingProxy } from "./wsframes.ts";
import { findDescendant, spawnChild, type Child } from "./proc.ts";

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
  readonly kind: "direct" | "wsrelay" | "chain" | "sallyport";
  up(env: BenchEnv, opts: UpOptions): Promise<RunningTunnel>;
}

let instance = 0;

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
  async up(env, opts) {
    const n = ++instance;
    const started: Child[] = [];
    let proxy: FrameCountingProxy | undefined;
    const down = async (): Promise<void> => {
      await Promise.all(started.map((c) => c.stop()));
      await proxy?.close();
    };
    try {
      const script = join(env.repoRoot, "bench/ws-relay.ts");
      const server = spawnChild("ws-relay server", env.node, ["--import", "tsx", script, "server", "--backend", `127.0.0.1:${opts.backendPort}`], {
        logFile: join(env.logDir, `wsrelay-${n}-server.log`), env: env.env, cwd: env.repoRoot,
      });
      started.push(server);
      const sport = Number((await server.waitLine(/^listening on 127\.0\.0\.1:(\d+)/, 30_000, "stdout"))[1]);
      let wsPort = sport;
      if (opts.countFrames) {
        proxy = new FrameCountingProxy({ host: "127.0.0.1", port: sport });
        wsPort = await proxy.listen();
      }
      const client = spawnChild("ws-relay client", env.node, ["--import", "tsx", script, "client", "--url", `ws://127.0.0.1:${wsPort}/`], {
        logFile: join(env.logDir, `wsrelay-${n}-client.log`), env: env.env, cwd: env.repoRoot,
      });
      started.push(client);
      const cport = Number((await client.waitLine(/^listening on 127\.0\.0\.1:(\d+)/, 30_000, "stdout"))[1]);
      const addr = { host: "127.0.0.1", port: cport };
      await probe(addr, opts.backendKind, 20_000);
      return {
        addr,
        roles: { client: { pids: [client.pid] }, server: { pids: [server.pid] } },
        ...(proxy ? { frames: proxy } : {}),
        down,
      };
    } catch (e) {
      await down();
      throw e;
    }
  },
};

/**
 * Sallyport's topology with the least code (bench/chain-edge.ts, bench/chain-relay.ts): the
 * floor any design of this shape starts from on this runtime and machine. Same roles as
 * Sallyport, so the same CPU and memory accounting applies.
 */
export const chain: TunnelSpec = {
  name: "chain",
  kind: "chain",
  async up(env, opts) {
    const n = ++instance;
    const started: Child[] = [];
    let proxy: FrameCountingProxy | undefined;
    const down = async (): Promise<void> => {
      for (const c of [...started].reverse()) await c.stop();
      await proxy?.close();
    };
    try {
      const log = (what: string): string => join(env.logDir, `chain-${n}-${what}.log`);
      const relay = join(env.repoRoot, "bench/chain-relay.ts");
      const edge = spawnChild("chain edge", env.node, ["--import", "tsx", join(env.repoRoot, "bench/chain-edge.ts")], { logFile: log("edge"), env: env.env, cwd: env.repoRoot });
      started.push(edge);
      const edgeUrl = new URL((await edge.waitLine(/^edge (http:\/\/\S+)/, 60_000, "stdout"))[1]!);
      const workerd = findDescendant(edge.pid, "workerd");
      if (workerd === undefined) throw new Error("no workerd process under the chain edge");
      const bind = spawnChild("chain bind", env.node, ["--import", "tsx", relay, "bind", "--url", `ws://${edgeUrl.host}/bind`, "--backend", `127.0.0.1:${opts.backendPort}`, "--binds", String(env.prepared)], {
        logFile: log("connector"), env: env.env, cwd: env.repoRoot,
      });
      started.push(bind);
      await bind.waitLine(/^parking/, 30_000, "stdout");
      let wsPort = Number(edgeUrl.port);
      if (opts.countFrames) {
        proxy = new FrameCountingProxy({ host: "127.0.0.1", port: wsPort });
        wsPort = await proxy.listen();
      }
      const client = spawnChild("chain client", env.node, ["--import", "tsx", relay, "client", "--url", `ws://127.0.0.1:${wsPort}/client`, "--preopen", String(env.preopen)], {
        logFile: log("client"), env: env.env, cwd: env.repoRoot,
      });
      started.push(client);
      const cport = Number((await client.waitLine(/^listening on 127\.0\.0\.1:(\d+)/, 30_000, "stdout"))[1]);
      const addr = { host: "127.0.0.1", port: cport };
      await probe(addr, opts.backendKind, 20_000);
      await new Promise((r) => setTimeout(r, env.settleMs));
      return {
        addr,
        roles: { client: { pids: [client.pid] }, edge: { pids: [workerd] }, "edge-host": { pids: [edge.pid], exclude: [workerd] }, connector: { pids: [bind.pid] } },
        ...(proxy ? { frames: proxy } : {}),
        down,
      };
    } catch (e) {
      await down();
      throw e;
    }
  },
};

/** Sallyport from a checkout at `root` (the repository itself, or a patched copy to compare). */
export function sallyport(name: string, root: string): TunnelSpec {
  return {
    name,
    kind: "sallyport",
    async up(env, opts) {
      const n = ++instance;
      const started: Child[] = [];
      let proxy: FrameCountingProxy | undefined;
      const down = async (): Promise<void> => {
        // Client first, then the connector, then the edge: nobody reconnects to a stopped peer.
        for (const c of [...started].reverse()) await c.stop();
        await proxy?.close();
      };
      try {
        const tokenFile = join(env.logDir, `${name}-${n}.token`);
        writeFileSync(tokenFile, randomBytes(24).toString("base64url"), { mode: 0o600 });
        const bin = join(root, "bin/sallyport.mjs");
        const log = (what: string): string => join(env.logDir, `${name}-${n}-${what}.log`);
        // Reverse order of start = order of stop; the edge is started first.
        const edge = spawnChild(`${name} edge`, env.node, ["--import", "tsx", join(env.repoRoot, "bench/edge-host.ts"), "--root", root, "--port", "0", "--token-file", tokenFile, "--timeout", env.socksTimeout, ...(env.maxMessage ? ["--max-message", String(env.maxMessage)] : [])], {
          logFile: log("edge"), env: env.env, cwd: env.repoRoot,
        });
        started.push(edge);
        const edgeUrl = new URL((await edge.waitLine(/^edge (http:\/\/\S+)/, 60_000, "stdout"))[1]!);
        const workerd = findDescendant(edge.pid, "workerd");
        if (workerd === undefined) throw new Error("no workerd process under the edge host");
        const connector = spawnChild(`${name} connector`, env.node, [
          bin, "connector", "--edge", `ws://${edgeUrl.host}`, "--accept", "ws://sallyport.localhost/bench",
          "--connect", `tcp://127.0.0.1:${opts.backendPort}`, "--token-file", tokenFile, "--prepared", String(env.prepared),
          "--connector-id", `bench${n}`, "--log-level", env.logLevel,
        ], { logFile: log("connector"), env: env.env, cwd: root });
        started.push(connector);
        // Below info the connector does not say so; the end-to-end probe below covers it.
        if (env.logLevel === "info" || env.logLevel === "debug") await connector.waitLine(/registered with the edge/, 30_000, "stderr");
        let wsPort = Number(edgeUrl.port);
        if (opts.countFrames) {
          proxy = new FrameCountingProxy({ host: "127.0.0.1", port: wsPort });
          wsPort = await proxy.listen();
        }
        const client = spawnChild(`${name} client`, env.node, [
          bin, "client", "--url", `ws://127.0.0.1:${wsPort}/bench`, "--listen", "127.0.0.1:0", "--preopen", String(env.preopen), "--log-level", env.logLevel,
        ], { logFile: log("client"), env: env.env, cwd: root });
        started.push(client);
        const cport = Number((await client.waitLine(/^listening on 127\.0\.0\.1:(\d+)/, 30_000, "stdout"))[1]);
        const addr = { host: "127.0.0.1", port: cport };
        await probe(addr, opts.backendKind, 20_000);
        // Pre-opened sessions (and the connector's replacements for binds they took) settle.
        await new Promise((r) => setTimeout(r, env.settleMs));
        return {
          addr,
          roles: {
            client: { pids: [client.pid] },
            edge: { pids: [workerd] },
            "edge-host": { pids: [edge.pid], exclude: [workerd] },
            connector: { pids: [connector.pid] },
          },
          ...(proxy ? { frames: proxy } : {}),
          down,
        };
      } catch (e) {
        await down();
        throw e;
      }
    },
  };
}

/** One session end to end, retried until it works or `timeoutMs` passes. */
async function probe(addr: Addr, kind: "echo" | "bulk", timeoutMs: number): Promise<void> {
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
