import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  ISSUER_REQUIRED_MESSAGE,
  JWKS_HTTPS_MESSAGE,
  MIN_TOKEN_LENGTH,
  parseEdgeConfig,
  type EdgeConfig,
} from "../../shared/config/edge-config.ts";
import type { ConfigIssue } from "../../shared/config/issues.ts";
import { servicesFromWranglerToml } from "../helpers/wrangler-vars.ts";

const TOKEN = "0123456789abcdef-token";
const TOKEN2 = "fedcba9876543210-token";
const ACCEPT = "wss://gateway.example.com/echo";

const tokens = (map: Record<string, unknown>): string => JSON.stringify(map);

function valid(services: unknown, tokensRaw: unknown): EdgeConfig {
  const r = parseEdgeConfig(services, tokensRaw);
  if (!r.ok) throw new Error(`expected a valid config, got ${JSON.stringify(r.error)}`);
  return r.value;
}

function issues(services: unknown, tokensRaw: unknown): readonly ConfigIssue[] {
  const r = parseEdgeConfig(services, tokensRaw);
  if (r.ok) throw new Error("expected issues, got a valid config");
  return r.error;
}

/** One service `echo` with these settings and a valid token. */
const echo = (settings: Record<string, unknown>): readonly ConfigIssue[] => issues({ echo: settings }, tokens({ echo: TOKEN }));

describe("edge config: a valid one", () => {
  it("applies every default", () => {
    const config = valid({ echo: { accept: ACCEPT } }, tokens({ echo: TOKEN }));
    expect(config).toStrictEqual({
      services: [
        {
          name: "echo",
          accept: { uri: ACCEPT, path: "/echo", secure: true },
          mode: "reverse",
          socksTimeoutMs: 2000,
          verifyClient: "none",
          maxMessageBytes: 1_048_576,
          clientPlain: "allow",
          clientPlainMaxBytes: 16_777_216,
          maxBinds: 2048,
          maxBindsPerCredential: 1024,
          maxClients: 512,
          shards: 1,
          sessionIdleTimeoutMs: undefined,
          sessionResumeTimeoutMs: 30_000,
          client: { origins: undefined, auth: "none", tokens: [], jwt: undefined },
          clientCertPins: [],
          connectorTokens: [TOKEN],
        },
      ],
    });
  });

  it("reads every setting", () => {
    const config = valid(
      {
        echo: {
          accept: "ws://127.0.0.1:8787/a/b",
          "socks.mode": "reverse",
          "socks.timeout": "500 milliseconds",
          "socks.ssl.verify-client": "required",
          "max.message.size": 65_536,
          "max.binds": 100,
          "max.binds.per.credential": "10",
          "client.plain": "deny",
          "client.plain.max.bytes": 1_048_576,
          "max.clients": 50,
          shards: 4,
          "session.idle.timeout": "5 minutes",
          "session.resume.timeout": "10 seconds",
        },
      },
      tokens({ echo: [TOKEN, TOKEN2] }),
    );
    expect(config.services[0]).toStrictEqual({
      name: "echo",
      accept: { uri: "ws://127.0.0.1:8787/a/b", path: "/a/b", secure: false },
      mode: "reverse",
      socksTimeoutMs: 500,
      verifyClient: "required",
      maxMessageBytes: 65_536,
      clientPlain: "deny",
      clientPlainMaxBytes: 1_048_576,
      maxBinds: 100,
      maxBindsPerCredential: 10,
      maxClients: 50,
      shards: 4,
      sessionIdleTimeoutMs: 300_000,
      sessionResumeTimeoutMs: 10_000,
      client: { origins: undefined, auth: "none", tokens: [], jwt: undefined },
      clientCertPins: [],
      connectorTokens: [TOKEN, TOKEN2],
    });
  });

  it.each(["required", "optional", "none"])("accepts socks.ssl.verify-client %s", (v) => {
    expect(valid({ echo: { accept: ACCEPT, "socks.ssl.verify-client": v } }, tokens({ echo: TOKEN })).services[0]!.verifyClient).toBe(v);
  });

  it("takes services and tokens as JSON text or as objects", () => {
    const asText = valid(JSON.stringify({ echo: { accept: ACCEPT } }), tokens({ echo: TOKEN }));
    const asObjects = valid({ echo: { accept: ACCEPT } }, { echo: TOKEN });
    expect(asText).toStrictEqual(asObjects);
  });

  it("normalises the accept URI the way URL does", () => {
    const s = valid({ echo: { accept: "WSS://Gateway.Example.com:443/a/./b/../echo" } }, tokens({ echo: TOKEN })).services[0]!;
    expect(s.accept).toStrictEqual({ uri: "wss://gateway.example.com/a/echo", path: "/a/echo", secure: true });
  });

  it("reads the Kaazing spelling and the short one for socks.timeout", () => {
    for (const [text, ms] of [
      ["2 seconds", 2000],
      ["1 second", 1000],
      ["100 milliseconds", 100],
      ["1s", 1000],
      ["100ms", 100],
    ] as const) {
      expect(valid({ echo: { accept: ACCEPT, "socks.timeout": text } }, tokens({ echo: TOKEN })).services[0]!.socksTimeoutMs, text).toBe(
        ms,
      );
    }
  });

  it("keeps several services, in order", () => {
    const config = valid({ a: { accept: "wss://h.example/a" }, b: { accept: "wss://h.example/b" } }, tokens({ a: TOKEN, b: [TOKEN2] }));
    expect(config.services.map((s) => [s.name, s.accept.path, s.connectorTokens])).toStrictEqual([
      ["a", "/a", [TOKEN]],
      ["b", "/b", [TOKEN2]],
    ]);
  });

  it("is frozen", () => {
    const config = valid({ echo: { accept: ACCEPT } }, tokens({ echo: TOKEN }));
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.services)).toBe(true);
    expect(Object.isFrozen(config.services[0])).toBe(true);
    expect(Object.isFrozen(config.services[0]!.connectorTokens)).toBe(true);
  });

  it("validates the services shipped in wrangler.toml", () => {
    const services = servicesFromWranglerToml(readFileSync(new URL("../../wrangler.toml", import.meta.url), "utf8"));
    expect(Object.keys(services).length).toBeGreaterThan(0);
    const config = valid(services, tokens(Object.fromEntries(Object.keys(services).map((name) => [name, TOKEN]))));
    expect(config.services.map((s) => s.name)).toStrictEqual(Object.keys(services));
  });
});

describe("edge config: the two variables", () => {
  it.each<[string, unknown, unknown, ConfigIssue[]]>([
    ["services unset", undefined, tokens({}), [{ path: "SALLYPORT_SERVICES", message: "is not set" }]],
    ["services null", null, tokens({}), [{ path: "SALLYPORT_SERVICES", message: "is not set" }]],
    ["services not JSON", "{echo:", tokens({}), [{ path: "SALLYPORT_SERVICES", message: "is not valid JSON" }]],
    [
      "services an array",
      [{ accept: ACCEPT }],
      tokens({}),
      [{ path: "SALLYPORT_SERVICES", message: "must be an object keyed by service name" }],
    ],
    ["services a number", 3, tokens({}), [{ path: "SALLYPORT_SERVICES", message: "must be an object keyed by service name" }]],
    ["services empty", {}, tokens({}), [{ path: "SALLYPORT_SERVICES", message: "names no service" }]],
    ["services empty JSON text", "{}", tokens({}), [{ path: "SALLYPORT_SERVICES", message: "names no service" }]],
  ])("%s", (_label, services, tokensRaw, expected) => {
    expect(issues(services, tokensRaw)).toStrictEqual(expected);
  });

  it("reports a missing tokens secret, and says how to set it for each service", () => {
    expect(issues({ echo: { accept: ACCEPT } }, undefined)).toStrictEqual([{ path: "SALLYPORT_CONNECTOR_TOKENS", message: "is not set" }]);
    const [issue, ...rest] = issues({ echo: { accept: ACCEPT } }, tokens({}));
    expect(rest).toStrictEqual([]);
    expect(issue!.path).toBe("SALLYPORT_CONNECTOR_TOKENS.echo");
    expect(issue!.message).toContain("wrangler secret put SALLYPORT_CONNECTOR_TOKENS");
  });

  it("reports tokens JSON that does not parse, without quoting it", () => {
    const secret = `{"echo": "${TOKEN}"`;
    const found = issues({ echo: { accept: ACCEPT } }, secret);
    expect(found).toStrictEqual([{ path: "SALLYPORT_CONNECTOR_TOKENS", message: "is not valid JSON" }]);
  });

  it("refuses tokens for a service that does not exist", () => {
    expect(issues({ echo: { accept: ACCEPT } }, tokens({ echo: TOKEN, other: TOKEN2 }))).toStrictEqual([
      { path: "SALLYPORT_CONNECTOR_TOKENS.other", message: "names a service that SALLYPORT_SERVICES does not have" },
    ]);
  });
});

describe("edge config: tokens", () => {
  const tokenIssues = (value: unknown): readonly ConfigIssue[] => issues({ echo: { accept: ACCEPT } }, tokens({ echo: value }));
  const rule = `must be at least ${MIN_TOKEN_LENGTH} printable ASCII characters without spaces`;

  it(`accepts a token of exactly ${MIN_TOKEN_LENGTH} characters`, () => {
    expect(valid({ echo: { accept: ACCEPT } }, tokens({ echo: "x".repeat(MIN_TOKEN_LENGTH) })).services[0]!.connectorTokens).toStrictEqual([
      "x".repeat(MIN_TOKEN_LENGTH),
    ]);
  });

  it.each<[string, unknown, string]>([
    ["too short", "short-secret-15", "SALLYPORT_CONNECTOR_TOKENS.echo[0]"],
    ["with a space", "0123456789 abcdef", "SALLYPORT_CONNECTOR_TOKENS.echo[0]"],
    ["with a newline", "0123456789abcdef\n", "SALLYPORT_CONNECTOR_TOKENS.echo[0]"],
    ["non-ASCII", "0123456789abcdeé", "SALLYPORT_CONNECTOR_TOKENS.echo[0]"],
    ["empty", "", "SALLYPORT_CONNECTOR_TOKENS.echo[0]"],
  ])("refuses a token %s, naming its index and never its value", (_label, token, path) => {
    const found = tokenIssues(token);
    expect(found).toStrictEqual([{ path, message: rule }]);
    if (typeof token === "string" && token.length > 0) {
      for (const issue of found) expect(`${issue.path} ${issue.message}`).not.toContain(token);
    }
  });

  it("refuses a token that is not a string", () => {
    expect(tokenIssues([TOKEN, 1234567890123456])).toStrictEqual([{ path: "SALLYPORT_CONNECTOR_TOKENS.echo[1]", message: rule }]);
  });

  it("names the bad token's place in a list", () => {
    const short = "tooshort-secret";
    const found = tokenIssues([TOKEN, short, TOKEN2]);
    expect(found).toStrictEqual([{ path: "SALLYPORT_CONNECTOR_TOKENS.echo[1]", message: rule }]);
    expect(JSON.stringify(found)).not.toContain(short);
  });

  it.each<[string, unknown]>([
    ["an empty list", []],
    ["null", null],
    ["an object", { token: TOKEN }],
    ["a number", 5],
  ])("refuses %s as the token list", (_label, value) => {
    const found = tokenIssues(value);
    expect(found.map((i) => i.path)).toStrictEqual(["SALLYPORT_CONNECTOR_TOKENS.echo"]);
  });

  it("refuses one token twice in a list", () => {
    expect(tokenIssues([TOKEN, TOKEN])).toStrictEqual([
      { path: "SALLYPORT_CONNECTOR_TOKENS.echo[1]", message: "token already used by SALLYPORT_CONNECTOR_TOKENS.echo[0]" },
    ]);
  });

  it("refuses one token for two services, never quoting it", () => {
    const found = issues(
      { a: { accept: "wss://h.example/a" }, b: { accept: "wss://h.example/b" } },
      tokens({ a: [TOKEN], b: [TOKEN2, TOKEN] }),
    );
    expect(found).toStrictEqual([
      { path: "SALLYPORT_CONNECTOR_TOKENS.b[1]", message: "token already used by SALLYPORT_CONNECTOR_TOKENS.a[0]" },
    ]);
    expect(JSON.stringify(found)).not.toContain(TOKEN);
  });
});

describe("edge config: services", () => {
  it.each<[string, Record<string, unknown>, ConfigIssue[]]>([
    ["accept missing", {}, [{ path: "SALLYPORT_SERVICES.echo.accept", message: "is required" }]],
    ["accept empty", { accept: "" }, [{ path: "SALLYPORT_SERVICES.echo.accept", message: "must be a non-empty string" }]],
    ["accept a number", { accept: 443 }, [{ path: "SALLYPORT_SERVICES.echo.accept", message: "must be a non-empty string" }]],
    [
      "accept not a URI",
      { accept: "gateway/echo" },
      [{ path: "SALLYPORT_SERVICES.echo.accept", message: '"gateway/echo" is not a URI; write e.g. "wss://gateway.example.com/path"' }],
    ],
    [
      "accept https",
      { accept: "https://gateway.example.com/echo" },
      [{ path: "SALLYPORT_SERVICES.echo.accept", message: "must be a ws:// or wss:// URI" }],
    ],
    [
      "accept with a query",
      { accept: `${ACCEPT}?a=1` },
      [{ path: "SALLYPORT_SERVICES.echo.accept", message: "must not have credentials, a query or a fragment" }],
    ],
    [
      "accept with a fragment",
      { accept: `${ACCEPT}#x` },
      [{ path: "SALLYPORT_SERVICES.echo.accept", message: "must not have credentials, a query or a fragment" }],
    ],
    [
      "accept with credentials",
      { accept: "wss://user:pw@gateway.example.com/echo" },
      [{ path: "SALLYPORT_SERVICES.echo.accept", message: "must not have credentials, a query or a fragment" }],
    ],
    [
      "accept with a user only",
      { accept: "wss://user@gateway.example.com/echo" },
      [{ path: "SALLYPORT_SERVICES.echo.accept", message: "must not have credentials, a query or a fragment" }],
    ],
    [
      "accept under /_sallyport/",
      { accept: "wss://gateway.example.com/_sallyport/echo" },
      [{ path: "SALLYPORT_SERVICES.echo.accept", message: "the path must not start with /_sallyport/ (reserved for Sallyport)" }],
    ],
    [
      "accept = the bind path",
      { accept: "wss://gateway.example.com/_sallyport/bind" },
      [{ path: "SALLYPORT_SERVICES.echo.accept", message: "the path must not start with /_sallyport/ (reserved for Sallyport)" }],
    ],
    [
      "accept reaching /_sallyport/ by dot segments",
      { accept: "wss://gateway.example.com/x/../_sallyport/health" },
      [{ path: "SALLYPORT_SERVICES.echo.accept", message: "the path must not start with /_sallyport/ (reserved for Sallyport)" }],
    ],
    [
      "accept with a quote in the host",
      { accept: 'wss://gate"way/echo' },
      [{ path: "SALLYPORT_SERVICES.echo.accept", message: "must name a host such as gateway.example.com" }],
    ],
    [
      "accept longer than a bind message carries",
      { accept: `wss://gateway.example.com/${"a".repeat(2048)}` },
      [{ path: "SALLYPORT_SERVICES.echo.accept", message: "must be at most 2048 characters" }],
    ],
    ["accept with LF", { accept: `${ACCEPT}\n` }, [{ path: "SALLYPORT_SERVICES.echo.accept", message: "must not contain CR, LF or NUL" }]],
    ["accept with CR", { accept: `${ACCEPT}\r` }, [{ path: "SALLYPORT_SERVICES.echo.accept", message: "must not contain CR, LF or NUL" }]],
    ["accept with NUL", { accept: `${ACCEPT}\0` }, [{ path: "SALLYPORT_SERVICES.echo.accept", message: "must not contain CR, LF or NUL" }]],
    [
      "socks.mode forward",
      { accept: ACCEPT, "socks.mode": "forward" },
      [{ path: "SALLYPORT_SERVICES.echo.socks.mode", message: 'must be one of "reverse"' }],
    ],
    [
      "socks.mode a number",
      { accept: ACCEPT, "socks.mode": 1 },
      [{ path: "SALLYPORT_SERVICES.echo.socks.mode", message: "must be a non-empty string" }],
    ],
    [
      "socks.mode with LF",
      { accept: ACCEPT, "socks.mode": "reverse\n" },
      [{ path: "SALLYPORT_SERVICES.echo.socks.mode", message: "must not contain CR, LF or NUL" }],
    ],
    [
      "socks.timeout bare number",
      { accept: ACCEPT, "socks.timeout": "2" },
      [
        {
          path: "SALLYPORT_SERVICES.echo.socks.timeout",
          message: '"2" is not a duration; write e.g. "1 second", "500 milliseconds", "2s" or "100ms"',
        },
      ],
    ],
    [
      "socks.timeout a number",
      { accept: ACCEPT, "socks.timeout": 2000 },
      [{ path: "SALLYPORT_SERVICES.echo.socks.timeout", message: 'must be a duration string such as "1 second"' }],
    ],
    [
      "socks.timeout zero",
      { accept: ACCEPT, "socks.timeout": "0 seconds" },
      [{ path: "SALLYPORT_SERVICES.echo.socks.timeout", message: "must be at least 1 milliseconds" }],
    ],
    [
      "socks.timeout over a day",
      { accept: ACCEPT, "socks.timeout": "2 days" },
      [
        {
          path: "SALLYPORT_SERVICES.echo.socks.timeout",
          message: '"2 days" is not a duration; write e.g. "1 second", "500 milliseconds", "2s" or "100ms"',
        },
      ],
    ],
    [
      "socks.timeout with LF",
      { accept: ACCEPT, "socks.timeout": "2 seconds\n" },
      [{ path: "SALLYPORT_SERVICES.echo.socks.timeout", message: "must not contain CR, LF or NUL" }],
    ],
    [
      "socks.timeout with CR inside",
      { accept: ACCEPT, "socks.timeout": "2\rseconds" },
      [{ path: "SALLYPORT_SERVICES.echo.socks.timeout", message: "must not contain CR, LF or NUL" }],
    ],
    [
      "socks.timeout with NUL",
      { accept: ACCEPT, "socks.timeout": "2s\0" },
      [{ path: "SALLYPORT_SERVICES.echo.socks.timeout", message: "must not contain CR, LF or NUL" }],
    ],
    [
      "verify-client maybe",
      { accept: ACCEPT, "socks.ssl.verify-client": "maybe" },
      [{ path: "SALLYPORT_SERVICES.echo.socks.ssl.verify-client", message: 'must be one of "required", "optional", "none"' }],
    ],
    [
      "client.plain maybe",
      { accept: ACCEPT, "client.plain": "maybe" },
      [{ path: "SALLYPORT_SERVICES.echo.client.plain", message: 'must be one of "allow", "deny"' }],
    ],
    [
      "client.plain.max.bytes over the object budget",
      { accept: ACCEPT, "client.plain.max.bytes": 32 * 1024 * 1024 + 1 },
      [{ path: "SALLYPORT_SERVICES.echo.client.plain.max.bytes", message: "must be a whole number from 65536 to 33554432" }],
    ],
    [
      "max.message.size too small",
      { accept: ACCEPT, "max.message.size": 65_535 },
      [{ path: "SALLYPORT_SERVICES.echo.max.message.size", message: "must be a whole number from 65536 to 1048576" }],
    ],
    [
      "max.message.size too large",
      { accept: ACCEPT, "max.message.size": 1024 * 1024 + 1 },
      [{ path: "SALLYPORT_SERVICES.echo.max.message.size", message: "must be a whole number from 65536 to 1048576" }],
    ],
    [
      "max.message.size with a unit",
      { accept: ACCEPT, "max.message.size": "64 KiB" },
      [{ path: "SALLYPORT_SERVICES.echo.max.message.size", message: "must be a whole number from 65536 to 1048576" }],
    ],
    [
      "max.binds zero",
      { accept: ACCEPT, "max.binds": 0 },
      [{ path: "SALLYPORT_SERVICES.echo.max.binds", message: "must be a whole number from 1 to 30000" }],
    ],
    [
      "max.binds too many",
      { accept: ACCEPT, "max.binds": 30_001 },
      [{ path: "SALLYPORT_SERVICES.echo.max.binds", message: "must be a whole number from 1 to 30000" }],
    ],
    [
      "max.binds.per.credential float",
      { accept: ACCEPT, "max.binds.per.credential": 1.5 },
      [{ path: "SALLYPORT_SERVICES.echo.max.binds.per.credential", message: "must be a whole number from 1 to 30000" }],
    ],
    [
      "max.clients of zero",
      { accept: ACCEPT, "max.clients": 0 },
      [{ path: "SALLYPORT_SERVICES.echo.max.clients", message: "must be a whole number from 1 to 30000" }],
    ],
    [
      "shards of zero",
      { accept: ACCEPT, shards: 0 },
      [{ path: "SALLYPORT_SERVICES.echo.shards", message: "must be a whole number from 1 to 64" }],
    ],
    [
      "shards over 64",
      { accept: ACCEPT, shards: 65 },
      [{ path: "SALLYPORT_SERVICES.echo.shards", message: "must be a whole number from 1 to 64" }],
    ],
    [
      "session.idle.timeout under a second",
      { accept: ACCEPT, "session.idle.timeout": "500 ms" },
      [{ path: "SALLYPORT_SERVICES.echo.session.idle.timeout", message: "must be at least 1000 milliseconds" }],
    ],
    [
      "session.idle.timeout as a bare number",
      { accept: ACCEPT, "session.idle.timeout": 60 },
      [{ path: "SALLYPORT_SERVICES.echo.session.idle.timeout", message: 'must be a duration string such as "1 second"' }],
    ],
    [
      "an unknown key",
      { accept: ACCEPT, "socks.timout": "1s" },
      [{ path: "SALLYPORT_SERVICES.echo.socks.timout", message: "is not a known setting" }],
    ],
    [
      "a connector-only key",
      { accept: ACCEPT, "prepared.connection.count": 1 },
      [{ path: "SALLYPORT_SERVICES.echo.prepared.connection.count", message: "is not a known setting" }],
    ],
    [
      "an own __proto__ key",
      JSON.parse(`{"accept":"${ACCEPT}","__proto__":{}}`),
      [{ path: "SALLYPORT_SERVICES.echo.__proto__", message: "is not a known setting" }],
    ],
  ])("%s", (_label, settings, expected) => {
    expect(echo(settings)).toStrictEqual(expected);
  });

  it("refuses `connect`: the edge never learns the backend's address", () => {
    expect(echo({ accept: ACCEPT, connect: "tcp://internal.example.com:1080" })).toStrictEqual([
      {
        path: "SALLYPORT_SERVICES.echo.connect",
        message: "belongs in the connector's configuration only: the edge never learns the backend's address",
      },
    ]);
  });

  it.each([["Echo"], ["-echo"], ["echo_1"], ["a".repeat(64)], ["é"]])("refuses the service name %j", (name) => {
    const found = issues({ [name]: { accept: ACCEPT } }, tokens({ [name]: TOKEN }));
    expect(found).toStrictEqual([{ path: `SALLYPORT_SERVICES.${name}`, message: "service names are 1-63 characters of a-z, 0-9 and -" }]);
  });

  it("refuses a service that is not an object", () => {
    expect(issues({ echo: "wss://gateway.example.com/echo" }, tokens({ echo: TOKEN }))).toStrictEqual([
      { path: "SALLYPORT_SERVICES.echo", message: "must be an object" },
    ]);
  });

  it("refuses two services on one accept path, even on different hosts", () => {
    // Clients are routed by path alone.
    const found = issues(
      { a: { accept: "wss://one.example/echo" }, b: { accept: "wss://two.example/echo" }, c: { accept: "ws://one.example/echo" } },
      tokens({ a: TOKEN, b: TOKEN2, c: "c-token-0123456789" }),
    );
    expect(found).toStrictEqual([
      { path: "SALLYPORT_SERVICES.b.accept", message: "accept path already used by SALLYPORT_SERVICES.a.accept" },
      { path: "SALLYPORT_SERVICES.c.accept", message: "accept path already used by SALLYPORT_SERVICES.a.accept" },
    ]);
  });

  it("reports every problem at once", () => {
    const found = issues(
      {
        echo: { accept: "https://gateway.example.com/echo", "socks.timeout": "soon", colour: "blue" },
        chat: { accept: "wss://gateway.example.com/chat" },
      },
      tokens({ echo: "short", chat: TOKEN }),
    );
    expect(found).toStrictEqual([
      { path: "SALLYPORT_SERVICES.echo.accept", message: "must be a ws:// or wss:// URI" },
      {
        path: "SALLYPORT_SERVICES.echo.socks.timeout",
        message: '"soon" is not a duration; write e.g. "1 second", "500 milliseconds", "2s" or "100ms"',
      },
      { path: "SALLYPORT_SERVICES.echo.colour", message: "is not a known setting" },
      { path: "SALLYPORT_CONNECTOR_TOKENS.echo[0]", message: "must be at least 16 printable ASCII characters without spaces" },
    ]);
  });

  it("reports problems in both variables together", () => {
    const found = issues({ echo: { accept: ACCEPT, "socks.mode": "forward" } }, "not json");
    expect(found.map((i) => i.path)).toStrictEqual(["SALLYPORT_CONNECTOR_TOKENS", "SALLYPORT_SERVICES.echo.socks.mode"]);
  });
});

describe("edge config: client admission and certificate pins", () => {
  const CLIENT_TOKEN = "client-token-0123456789";
  const PIN = "ab".repeat(32);
  const at = (key: string) => `SALLYPORT_SERVICES.echo.${key}`;
  const withClients = (settings: Record<string, unknown>, clientTokens?: unknown) =>
    parseEdgeConfig({ echo: { accept: ACCEPT, ...settings } }, tokens({ echo: TOKEN }), clientTokens);

  it("reads origins as a list or one comma-separated string", () => {
    const list = withClients({ "client.origins": ["https://app.example.com", "https://admin.example.com"] });
    const text = withClients({ "client.origins": "https://app.example.com, https://admin.example.com" });
    expect(list.ok && list.value.services[0]!.client.origins).toStrictEqual(["https://app.example.com", "https://admin.example.com"]);
    expect(text.ok && text.value.services[0]!.client).toStrictEqual(list.ok && list.value.services[0]!.client);
  });

  it("reads client tokens for client.auth token", () => {
    const r = withClients({ "client.auth": "token" }, JSON.stringify({ echo: [CLIENT_TOKEN] }));
    expect(r.ok && r.value.services[0]!.client).toStrictEqual({
      origins: undefined,
      auth: "token",
      tokens: [CLIENT_TOKEN],
      jwt: undefined,
    });
  });

  it("reads the JWT settings for client.auth jwt", () => {
    const r = withClients({
      "client.auth": "jwt",
      "client.jwt.jwks": "https://team.cloudflareaccess.com/cdn-cgi/access/certs",
      "client.jwt.audience": "aud-tag",
      "client.jwt.issuer": "https://team.cloudflareaccess.com",
    });
    expect(r.ok && r.value.services[0]!.client.jwt).toStrictEqual({
      jwks: "https://team.cloudflareaccess.com/cdn-cgi/access/certs",
      issuer: "https://team.cloudflareaccess.com",
      audience: "aud-tag",
    });
  });

  it("reads certificate pins, colons allowed, in lower case", () => {
    const r = withClients({ "socks.ssl.verify-client": "required", "socks.ssl.client-cert-sha256": [`${"AB:".repeat(31)}AB`] });
    expect(r.ok && r.value.services[0]!.clientCertPins).toStrictEqual([PIN]);
  });

  it.each<[string, Record<string, unknown>, unknown, ConfigIssue[]]>([
    [
      "an origin with a path",
      { "client.origins": ["https://app.example.com/"] },
      undefined,
      [{ path: at("client.origins"), message: '"https://app.example.com/" is not an origin such as https://app.example.com' }],
    ],
    [
      "an origin that is not a URL",
      { "client.origins": "app.example.com" },
      undefined,
      [{ path: at("client.origins"), message: '"app.example.com" is not an origin such as https://app.example.com' }],
    ],
    [
      "an empty origin list",
      { "client.origins": [] },
      undefined,
      [{ path: at("client.origins"), message: "must be a non-empty list of strings (an array, or one comma-separated string)" }],
    ],
    [
      "an origin with LF",
      { "client.origins": ["https://a.example\n"] },
      undefined,
      [{ path: at("client.origins"), message: "must be a non-empty list of strings (an array, or one comma-separated string)" }],
    ],
    [
      "client.auth basic",
      { "client.auth": "basic" },
      undefined,
      [{ path: at("client.auth"), message: 'must be one of "none", "token", "jwt"' }],
    ],
    [
      "client.auth token without the secret",
      { "client.auth": "token" },
      undefined,
      [{ path: "SALLYPORT_CLIENT_TOKENS.echo", message: 'has no token: set one with "wrangler secret put SALLYPORT_CLIENT_TOKENS"' }],
    ],
    [
      "a short client token",
      { "client.auth": "token" },
      JSON.stringify({ echo: ["short"] }),
      [{ path: "SALLYPORT_CLIENT_TOKENS.echo[0]", message: "must be at least 16 printable ASCII characters without spaces" }],
    ],
    [
      "a client token that is also a connector token",
      { "client.auth": "token" },
      JSON.stringify({ echo: [TOKEN] }),
      [{ path: "SALLYPORT_CONNECTOR_TOKENS.echo[0]", message: "token already used by SALLYPORT_CLIENT_TOKENS.echo[0]" }],
    ],
    [
      "client tokens not JSON",
      { "client.auth": "token" },
      "{",
      [
        { path: "SALLYPORT_CLIENT_TOKENS", message: "is not valid JSON" },
        { path: "SALLYPORT_CLIENT_TOKENS.echo", message: 'has no token: set one with "wrangler secret put SALLYPORT_CLIENT_TOKENS"' },
      ],
    ],
    [
      "jwt without jwks and audience",
      { "client.auth": "jwt" },
      undefined,
      [
        {
          path: at("client.jwt.jwks"),
          message: 'is required with client.auth "jwt" (the JWKS URL, e.g. https://TEAM.cloudflareaccess.com/cdn-cgi/access/certs)',
        },
        { path: at("client.jwt.issuer"), message: ISSUER_REQUIRED_MESSAGE },
        { path: at("client.jwt.audience"), message: 'is required with client.auth "jwt": a token for another application must not pass' },
      ],
    ],
    [
      "jwks not http(s)",
      { "client.auth": "jwt", "client.jwt.jwks": "file:///etc/keys.json", "client.jwt.audience": "a", "client.jwt.issuer": "https://i" },
      undefined,
      [{ path: at("client.jwt.jwks"), message: JWKS_HTTPS_MESSAGE }],
    ],
    [
      "a pin that is not a fingerprint",
      { "socks.ssl.verify-client": "required", "socks.ssl.client-cert-sha256": ["abcd"] },
      undefined,
      [{ path: at("socks.ssl.client-cert-sha256"), message: "must list SHA-256 fingerprints (64 hex digits, colons allowed)" }],
    ],
    [
      "pins without verify-client",
      { "socks.ssl.client-cert-sha256": [PIN] },
      undefined,
      [{ path: at("socks.ssl.client-cert-sha256"), message: 'pins need socks.ssl.verify-client "required" or "optional"' }],
    ],
  ])("refuses %s", (_label, settings, clientTokens, expected) => {
    const r = withClients(settings, clientTokens);
    expect(r.ok ? [] : r.error).toStrictEqual(expected);
    if (!r.ok) expect(JSON.stringify(r.error)).not.toContain(TOKEN);
  });
});
