import { ROUTE_FLAGS } from "../../net/route-load.ts";
import { edgeFromFlags, readTokenFile } from "../client-args.ts";
import { PROBE_BYTES, probe } from "../../client/probe.ts";
import { parseDuration } from "../../shared/config/duration.ts";
import { isCleartextRemote } from "../../shared/masking.ts";
import { type CommandSpec, parseCommand, usageError } from "../options.ts";

export const COMMAND = {
  name: "probe",
  synopsis: `usage: sallyport probe --url ws(s)://HOST/PATH [--timeout D] [--token-file FILE]

Opens one session as a client would and reports what it saw:
  edge handshake X ms   the WebSocket upgrade at the edge
  paired in X ms        the backend's first reply arrived (16 random bytes are sent at once)
  round trip Y ms       16 more bytes until any reply
Exit 0 when a connector answered (or the session stayed open without a reply: a backend
that neither speaks first nor echoes); 1 with the reason when the session was refused or
closed — no connector available (4006), busy (4013), backend refused (4005), backend
unreachable (4004), connector lost (4003), HTTP 404 (unknown service or not admitted); 2 for
bad flags.`,
  options: {
    url: { type: "string", arg: "URL", help: "the service's client URL on the edge" },
    timeout: { type: "string", arg: "D", help: 'how long to wait in all (default "5 seconds")' },
    "token-file": { type: "string", arg: "FILE", help: "file holding a bearer token, sent as the Authorization header" },
    ...ROUTE_FLAGS,
  },
} as const satisfies CommandSpec;

const fail = (message: string): number => usageError(COMMAND, message);

const ms = (n: number): string => n.toFixed(1);

export async function run(argv: string[]): Promise<number> {
  const args = parseCommand(COMMAND, argv);
  if (!args.ok) return args.exit;
  const { values } = args;
  const edge = await edgeFromFlags(values, process.env);
  if (!edge.ok) return fail(edge.error);
  const { url, route } = edge.value;
  const timeout = parseDuration(values.timeout ?? "5 seconds");
  if (!timeout.ok) return fail(`--timeout: ${timeout.error}`);
  if (timeout.value < 100) return fail("--timeout must be at least 100 milliseconds");
  let token: string | undefined;
  if (values["token-file"] !== undefined) {
    const t = await readTokenFile(values["token-file"]);
    if (!t.ok) return fail(t.error);
    token = t.value;
  }

  if (values["allow-insecure-edge"] && isCleartextRemote(url))
    process.stderr.write(`sallyport probe: warning: ${url} is ws:// to another host: the token and data cross the network in clear text\n`);
  const r = await probe({ url: url, token, timeoutMs: timeout.value, route: route });
  const out = (line: string): boolean => process.stdout.write(`${line}\n`);
  switch (r.outcome) {
    case "refused":
      process.stderr.write(`sallyport probe: ${r.failure.description}\n`);
      return 1;
    case "closed":
      out(`edge handshake ${ms(r.handshakeMs)} ms`);
      process.stderr.write(`sallyport probe: ${r.close.description} after ${ms(r.afterMs)} ms\n`);
      return 1;
    case "open":
      out(`edge handshake ${ms(r.handshakeMs)} ms`);
      out(
        `session open for ${ms(r.openMs)} ms without a reply to ${PROBE_BYTES} bytes: the backend neither spoke first nor echoed. ` +
          `Pairing not confirmed (without a connector the edge closes the session after its socks.timeout).`,
      );
      return 0;
    case "paired":
      out(`edge handshake ${ms(r.handshakeMs)} ms`);
      out(`paired in ${ms(r.pairedMs)} ms (first reply from the backend${r.echoed ? ": it echoes" : ""})`);
      out(r.roundTripMs === undefined ? "round trip: no reply to more data" : `round trip ${ms(r.roundTripMs)} ms`);
      return 0;
  }
}
