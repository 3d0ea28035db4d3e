import type { AddressInfo } from "node:net";
import { Forwarder } from "../../client/forwarder.ts";
import { ROUTE_FLAGS } from "../../net/route-load.ts";
import { edgeFromFlags, parseListen, readTokenFile } from "../client-args.ts";
import { parseDuration } from "../../shared/config/duration.ts";
import { DEFAULTS } from "../../shared/config/service.ts";
import type { Level } from "../../shared/log.ts";
import { stderrLogger } from "../log.ts";
import { isCleartextRemote } from "../../shared/masking.ts";
import { type CommandSpec, parseCommand, usageError } from "../options.ts";
import { onStopSignals } from "../signals.ts";
import { tuneHeapForRelaying } from "../relay-heap.ts";
import { tierUpSooner } from "../relay-tiering.ts";

export const COMMAND = {
  name: "client",
  synopsis: `usage: sallyport client --url ws(s)://HOST/PATH --listen HOST:PORT [options]

Accepts TCP connections on --listen and carries each one as its own session through the
edge to the service's backend (like \`cloudflared access tcp\`).`,
  options: {
    url: { type: "string", arg: "URL", help: "the service's client URL on the edge, e.g. wss://gateway.example.com/ssh" },
    listen: { type: "string", arg: "HOST:PORT", help: "local address to accept on, e.g. 127.0.0.1:2222 (port 0 picks one)" },
    "token-file": { type: "string", arg: "FILE", help: "file holding a bearer token, sent as the Authorization header" },
    preopen: {
      type: "string",
      arg: "N",
      help: [
        "sessions kept open at the edge, ready for new connections (default 2;",
        "each holds a connector's bind while it waits, in standby: the backend",
        "is dialed only when a connection uses it; 0 opens one per connection)",
      ].join("\n"),
    },
    "retry-max": {
      type: "string",
      arg: "D",
      help: `longest wait before replacing a pre-opened session that closed (default "${DEFAULTS["socks.retry.maximum.interval"]}")`,
    },
    "log-level": { type: "string", arg: "LEVEL", help: "debug, info, warn or error" },
    ...ROUTE_FLAGS,
  },
  epilogue: 'Prints "listening on HOST:PORT" once ready. SIGTERM or SIGINT stops it (exit 0).',
} as const satisfies CommandSpec;

const fail = (message: string): number => usageError(COMMAND, message);

export async function run(argv: string[]): Promise<number> {
  const heap = tuneHeapForRelaying();
  tierUpSooner();
  const args = parseCommand(COMMAND, argv);
  if (!args.ok) return args.exit;
  const { values } = args;
  const edge = await edgeFromFlags(values, process.env);
  if (!edge.ok) return fail(edge.error);
  const { url, route } = edge.value;
  const listen = parseListen(values.listen);
  if (!listen.ok) return fail(listen.error);
  const preopen = Number(values.preopen ?? 2);
  if (!Number.isInteger(preopen) || preopen < 0 || preopen > 64) return fail("--preopen must be a whole number from 0 to 64");
  const retry = parseDuration(values["retry-max"] ?? DEFAULTS["socks.retry.maximum.interval"]);
  if (!retry.ok) return fail(`--retry-max: ${retry.error}`);
  if (retry.value < 100) return fail("--retry-max must be at least 100 milliseconds");
  const level = (values["log-level"] ?? "info") as Level;
  if (!["debug", "info", "warn", "error"].includes(level)) return fail("--log-level must be debug, info, warn or error");
  let token: string | undefined;
  if (values["token-file"] !== undefined) {
    const t = await readTokenFile(values["token-file"]);
    if (!t.ok) return fail(t.error);
    token = t.value;
  }

  const log = stderrLogger(level);
  heap.logTo(log);
  const forwarder = new Forwarder({
    url: url,
    host: listen.value.host,
    port: listen.value.port,
    token,
    preopen,
    retryMaxMs: retry.value,
    log,
    route: route,
  });
  let address: AddressInfo;
  try {
    address = await forwarder.listen();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    process.stderr.write(`sallyport client: cannot listen on ${values.listen} (${code})\n`);
    return 1;
  }
  const where = address.family === "IPv6" ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
  if (!listen.value.loopback)
    log.log("warn", "listening on a non-loopback address: anyone who can reach it can use the session", { listen: where });
  if (route.proxy) log.log("info", "reaching the edge through a proxy", { proxy: route.proxy.display, from: route.proxy.source });
  if (values["allow-insecure-edge"] && isCleartextRemote(url))
    log.log("warn", "the edge URL is ws:// to another host: the token and all session data cross the network in clear text", {
      url: url,
      fix: "use a wss:// URL",
    });
  log.log("info", "listening", { listen: where, url: url, preopen, pid: process.pid });
  process.stdout.write(`listening on ${where}\n`);
  await onStopSignals(log);
  await forwarder.stop();
  log.log("info", "client stopped");
  return 0;
}
