/**
 * The services the edge tests run against, shared by vitest.config.ts (Node, which turns them
 * into the Worker's bindings) and the tests (workerd). No runtime APIs here.
 *
 * A service object is named after its service (`idFromName(service)`), so fresh state per
 * test means a service per test: each test takes the next unused one with `freshService()`.
 * Each test file runs in its own runner Worker with its own Durable Object namespace, so the
 * counter only has to be unique within a file.
 */

export const TEST_HOST = "edge.test";

/** Long enough that no pairing test races it on a loaded 2-core CI machine. */
export const SOCKS_TIMEOUT_MS = 3000;
/** For the one test that waits for socks.timeout to run out. */
export const QUICK_SOCKS_TIMEOUT_MS = 400;

export const SERVICE_COUNT = 40;
export const QUICK_SERVICE_COUNT = 10;
/** Services with one limit set low, a few of each kind. */
export const LIMITED = {
  capped: { "max.clients": 2 },
  idle: { "session.idle.timeout": "1 second" },
  // Four objects; max.clients split: two clients per shard.
  sharded: { shards: 4, "max.clients": 8 },
} as const satisfies Record<string, Record<string, string | number>>;
const LIMITED_COUNT = 6;

export interface TestService {
  readonly name: string;
  /** What clients dial and what a bind message must name. */
  readonly accept: string;
  readonly path: string;
  readonly token: string;
  /** A second connector token of the same service (rotation; or another holder). */
  readonly otherToken: string;
  readonly socksTimeoutMs: number;
  /** Settings beyond accept, socks.mode and socks.timeout. */
  readonly settings?: Readonly<Record<string, string | number>>;
}

function service(name: string, socksTimeoutMs: number, settings?: Record<string, string | number>): TestService {
  const path = `/${name}`;
  return {
    name,
    accept: `wss://${TEST_HOST}${path}`,
    path,
    token: `test-token-${name}-0123456789`,
    otherToken: `test-token-${name}-other-01234`,
    socksTimeoutMs,
    ...(settings ? { settings } : {}),
  };
}

/** One service each for the plain-client settings (a test takes it by name: they are few). */
export const PLAIN_CAPPED = service("plain-capped", SOCKS_TIMEOUT_MS, { "client.plain.max.bytes": 65_536 });
export const PLAIN_DENIED = service("plain-denied", SOCKS_TIMEOUT_MS, { "client.plain": "deny" });

export const SERVICES: readonly TestService[] = [
  ...Array.from({ length: SERVICE_COUNT }, (_, i) => service(`svc-${String(i).padStart(2, "0")}`, SOCKS_TIMEOUT_MS)),
  ...Array.from({ length: QUICK_SERVICE_COUNT }, (_, i) => service(`quick-${i}`, QUICK_SOCKS_TIMEOUT_MS)),
  PLAIN_CAPPED,
  PLAIN_DENIED,
  ...Object.entries(LIMITED).flatMap(([kind, settings]) =>
    Array.from({ length: LIMITED_COUNT }, (_, i) => service(`${kind}-${i}`, SOCKS_TIMEOUT_MS, settings)),
  ),
];

/** The SALLYPORT_SERVICES var, in the shape wrangler.toml gives it. */
export function servicesBinding(): Record<string, Record<string, string | number>> {
  return Object.fromEntries(
    SERVICES.map((s) => [
      s.name,
      { accept: s.accept, "socks.mode": "reverse", "socks.timeout": `${s.socksTimeoutMs} milliseconds`, ...s.settings },
    ]),
  );
}

/** The SALLYPORT_CONNECTOR_TOKENS secret: a JSON string, as `wrangler secret put` stores it. */
export function tokensBinding(): string {
  return JSON.stringify(Object.fromEntries(SERVICES.map((s) => [s.name, [s.token, s.otherToken]])));
}

let nextRegular = 0;
let nextQuick = 0;
const nextLimited = new Map<string, number>();

/** A service no earlier test in this file has touched. */
export function freshService(kind: "regular" | "quick" | keyof typeof LIMITED = "regular"): TestService {
  const pool = SERVICES.filter((s) =>
    kind === "quick"
      ? s.socksTimeoutMs === QUICK_SOCKS_TIMEOUT_MS
      : kind === "regular"
        ? s.socksTimeoutMs === SOCKS_TIMEOUT_MS && !s.settings
        : s.name.startsWith(`${kind}-`),
  );
  let i: number;
  if (kind === "quick") i = nextQuick++;
  else if (kind === "regular") i = nextRegular++;
  else {
    i = nextLimited.get(kind) ?? 0;
    nextLimited.set(kind, i + 1);
  }
  const s = pool[i];
  if (!s) throw new Error(`test file used more than ${pool.length} ${kind} services; raise the count in test/edge/services.ts`);
  return s;
}
