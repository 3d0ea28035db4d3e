import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { serveUntilSignal } from "./lib/proc.ts";

/**
 * The edge alone, for the bench: the project's own `startLocalEdge` (workerd through the
 * Miniflare API, exactly what `sallyport dev` runs) with one service, so the connector can be
 * a process of its own and every process's CPU and memory can be told apart.
 *
 *   tsx bench/edge-host.ts --root DIR --token-file FILE [--port N] [--service NAME]
 *                          [--accept URI] [--timeout D] [--max-message BYTES]
 *
 * Prints `edge http://127.0.0.1:PORT/` then `ready`. The Worker's log lines go to stderr.
 * --root is the Sallyport checkout under test (default: this repository), so a patched copy
 * can be measured against the original.
 */

const args = new Map<string, string>();
for (let i = 2; i + 1 < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ""), process.argv[i + 1]!);
const root = resolve(args.get("root") ?? new URL("..", import.meta.url).pathname);
const tokenFile = args.get("token-file");
if (!tokenFile) {
  process.stderr.write("edge-host: --token-file FILE is required\n");
  process.exit(2);
}
const token = (await readFile(tokenFile, "utf8")).trim();
const service = args.get("service") ?? "bench";
const accept = args.get("accept") ?? `ws://sallyport.localhost/${service}`;

const { startLocalEdge } = (await import(pathToFileURL(`${root}/local-edge/edge.ts`).href)) as typeof import("../local-edge/edge.ts");
const edge = await startLocalEdge({
  port: Number(args.get("port") ?? 0),
  services: {
    [service]: {
      accept,
      "socks.timeout": args.get("timeout") ?? "2 seconds",
      ...(args.has("max-message") ? { "max.message.size": Number(args.get("max-message")) } : {}),
    },
  },
  connectorTokens: { [service]: [token] },
  onLog: (level, message) => process.stderr.write(`${level} ${message}\n`),
});
process.stdout.write(`edge ${edge.url.href}\nready\n`);
serveUntilSignal(() => edge.stop());
