import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Cleanup } from "./cleanup.ts";
import { randomToken, tempDir, writeSecretFile } from "./files.ts";
import { type Backend, echoBackend } from "./backends.ts";
import { startEdge, type TestEdge } from "./edge.ts";
import { msgIs, spawnCommand, spawnSallyport, type Proc } from "./processes.ts";

/**
 * The real connector as a child process (`sallyport connector …` through bin/sallyport.mjs),
 * logging JSON lines to stderr, killed by cleanup. Its token goes in a 0600 temp file.
 */

export interface ConnectorOptions {
  /** ws://HOST:PORT of the edge (or of a wire tap in front of it). */
  readonly edge: string;
  readonly accept: string;
  readonly connect: string;
  /** Defaults to a fresh random token (which the edge will not know). */
  readonly token?: string;
  readonly prepared?: number;
  /** socks.retry.maximum.interval, e.g. "1 second". */
  readonly retryMax?: string;
  readonly logLevel?: "debug" | "info" | "warn" | "error";
  readonly extraArgs?: string[];
  readonly name?: string;
  /** More environment (HTTPS_PROXY …); proxy variables of the test runner's own never pass. */
  readonly env?: Record<string, string>;
}

export interface TestConnector {
  readonly proc: Proc;
  readonly tokenFile: string;
}

export const REGISTERED = msgIs("registered with the edge");

export async function startConnector(cleanup: Cleanup, opts: ConnectorOptions): Promise<TestConnector> {
  const dir = await tempDir(cleanup);
  const tokenFile = await writeSecretFile(dir, "token", opts.token ?? randomToken());
  const args = ["connector", "--edge", opts.edge, "--accept", opts.accept, "--connect", opts.connect, "--token-file", tokenFile];
  if (opts.prepared !== undefined) args.push("--prepared", String(opts.prepared));
  if (opts.retryMax !== undefined) args.push("--retry-max", opts.retryMax);
  if (opts.logLevel !== undefined) args.push("--log-level", opts.logLevel);
  args.push(...(opts.extraArgs ?? []));
  const proc = spawnSallyport(args, { name: opts.name ?? "connector", cleanup, ...(opts.env ? { env: opts.env } : {}) });
  return { proc, tokenFile };
}

export interface ConfigService {
  readonly name: string;
  readonly accept: string;
  readonly connect: string;
  readonly token: string;
  readonly prepared?: number;
  readonly retryMax?: string;
}

/** A connector serving several services from one --config file, each with its own token file. */
export async function startConnectorWithConfig(
  cleanup: Cleanup,
  edge: string,
  services: ConfigService[],
  name = "connector",
): Promise<TestConnector & { configFile: string }> {
  const dir = await tempDir(cleanup);
  const config = {
    edge,
    services: await Promise.all(
      services.map(async (s) => ({
        name: s.name,
        accept: s.accept,
        connect: s.connect,
        "token.file": await writeSecretFile(dir, `${s.name}.token`, s.token),
        ...(s.prepared !== undefined ? { "prepared.connection.count": s.prepared } : {}),
        ...(s.retryMax !== undefined ? { "socks.retry.maximum.interval": s.retryMax } : {}),
      })),
    ),
  };
  const configFile = join(dir, "connector.json");
  await writeFile(configFile, JSON.stringify(config, null, 2), { mode: 0o600 });
  const proc = spawnSallyport(["connector", "--config", configFile], { name, cleanup });
  return { proc, tokenFile: "", configFile };
}

export interface ServedService {
  readonly edge: TestEdge;
  readonly backend: Backend;
  readonly connector: Proc;
  /** ws://127.0.0.1:PORT/NAME, what a client dials. */
  readonly clientUrl: string;
}

/**
 * One service `name` on a fresh local edge, an echo backend, and a connector run by `command`
 * (an installed `sallyport` or a single executable, not the checkout's bin), registered.
 */
export async function serveWith(
  cleanup: Cleanup,
  name: string,
  command: string,
  run: { readonly cwd: string; readonly env: Record<string, string> },
): Promise<ServedService> {
  const token = randomToken();
  const accept = `ws://sallyport.test/${name}`;
  const [backend, edge] = await Promise.all([
    echoBackend(cleanup),
    startEdge(cleanup, { services: { [name]: { accept, "socks.timeout": "10 seconds" } }, tokens: { [name]: [token] } }),
  ]);
  const tokenFile = await writeSecretFile(await tempDir(cleanup), "token", token);
  // With the `connector` word, as `sallyport` takes it (and the unit `service install` writes runs it).
  const args = ["connector", "--edge", edge.ws, "--accept", accept, "--connect", backend.uri, "--token-file", tokenFile, "--prepared", "1"];
  const connector = spawnCommand(command, args, { name: `${name} connector`, cleanup, ...run });
  await connector.waitForLog(REGISTERED, 20_000, "registered with the edge");
  return { edge, backend, connector, clientUrl: edge.clientUrl(`/${name}`) };
}
