import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { serveUntilSignal } from "./lib/proc.ts";

/**
 * The edge alone, for the bench: the project's own `startLocalEdge` (workerd through the
 * Miniflare API, exactly what `sallyport dev` runs) with one service, so the connector can be
 * a process of its own and every process's CPU and memory can be told apart.
 *
 *   tsx bench/edge-host.ts --root DIR --token-file FILE [--port N] [--service NAME[,NAME…]]
 *                          [--accept URI | --accept-origin ORIGIN] [--timeout D] [--max-message BYTES]
 *                          [--host ADDRESS] [--tls-cert PEM --tls-key PEM] [--protocol 1|2]
 *
 * Each service's accept URI is ORIGIN/NAME (default origin ws://sallyport.localhost); --accept
 * names it outright for a single service. The token file holds one token per line, one for each
 * service in --service order (the edge refuses a token shared by two services).
 *
 * Prints `edge http://127.0.0.1:PORT/` (https:// with --tls-cert) then `ready`. The Worker's log lines go to stderr.
 * --root is the Sallyport checkout under test (default: this repository), so a patched copy
 * can be measured against the original. --protocol N: the edge speaks versions up to N only, so
 * clients and connectors that offer newer ones settle on N — the same binaries without what the
 * newer versions add: 1 drops issue 11's v2 metering (marks, proof of reading), 2 drops issue
 * 12's resume (tickets, resend buffers): `npm run bench -- --tunnels sallyport,sallyport-v1,sallyport-v2`.
 */

const args = new Map<string, string>();
for (let i = 2; i + 1 < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ""), process.argv[i + 1]!);
const root = resolve(args.get("root") ?? new URL("..", import.meta.url).pathname);
const tokenFile = args.get("token-file");
if (!tokenFile) {
  process.stderr.write("edge-host: --token-file FILE is required\n");
  process.exit(2);
}
const names = (args.get("service") ?? "bench").split(",");
const tokens = (await readFile(tokenFile, "utf8"))
  .split("\n")
  .map((t) => t.trim())
  .filter(Boolean);
if (tokens.length !== names.length) {
  process.stderr.write(
    `edge-host: --token-file holds ${tokens.length} tokens for ${names.length} services (one per line, in --service order)\n`,
  );
  process.exit(2);
}
const origin = args.get("accept-origin") ?? "ws://sallyport.localhost";
const accept = (name: string): string => (names.length === 1 && args.get("accept")) || `${origin}/${name}`;

const { startLocalEdge } = (await import(pathToFileURL(`${root}/local-edge/edge.ts`).href)) as typeof import("../local-edge/edge.ts");
const protocol = args.get("protocol");
if (protocol !== undefined && protocol !== "1" && protocol !== "2") {
  process.stderr.write(`edge-host: --protocol takes 1 or 2 (the newest version the edge speaks), not ${protocol}\n`);
  process.exit(2);
}
const script = protocol ? await olderEdge(Number(protocol)) : undefined;

/** The edge bundled with PROTOCOL_VERSIONS = [newest … 1]: it selects at most `newest` whatever a peer offers. */
async function olderEdge(newest: number): Promise<string> {
  const versions = Array.from({ length: newest }, (_, i) => newest - i).join(", ");
  const { bundleEdge } = (await import(pathToFileURL(`${root}/local-edge/bundle.ts`).href)) as typeof import("../local-edge/bundle.ts");
  const declaration = /export const PROTOCOL_VERSIONS = \[[^\]]*\] as const;/;
  return bundleEdge([
    {
      name: `protocol-up-to-v${newest}`,
      setup(build) {
        build.onLoad({ filter: /shared[\\/]protocol[\\/]constants\.ts$/ }, async (file) => {
          const source = await readFile(file.path, "utf8");
          if (!declaration.test(source)) throw new Error(`edge-host --protocol ${newest}: PROTOCOL_VERSIONS not found in constants.ts`);
          return { contents: source.replace(declaration, `export const PROTOCOL_VERSIONS = [${versions}] as const;`), loader: "ts" };
        });
      },
    },
  ]);
}
const tlsCert = args.get("tls-cert");
const tlsKey = args.get("tls-key");
const edge = await startLocalEdge({
  ...(script ? { script } : {}),
  port: Number(args.get("port") ?? 0),
  ...(args.has("host") ? { host: args.get("host") } : {}),
  ...(tlsCert && tlsKey ? { https: { cert: await readFile(tlsCert, "utf8"), key: await readFile(tlsKey, "utf8") } } : {}),
  services: Object.fromEntries(
    names.map((name) => [
      name,
      {
        accept: accept(name),
        "socks.timeout": args.get("timeout") ?? "2 seconds",
        // Capacity is measured here, not the shipped cap (512): room for the largest test (idle10k).
        "max.clients": 30_000,
        ...(args.has("max-message") ? { "max.message.size": Number(args.get("max-message")) } : {}),
      },
    ]),
  ),
  connectorTokens: Object.fromEntries(names.map((name, i) => [name, [tokens[i]!]])),
  onLog: (level, message) => process.stderr.write(`${level} ${message}\n`),
});
process.stdout.write(`edge ${edge.url.href}\nready\n`);
serveUntilSignal(() => edge.stop());
