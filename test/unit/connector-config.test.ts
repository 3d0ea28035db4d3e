import { describe, expect, it } from "vitest";
import { MAX_PREPARED, parseConnectorConfig, type ConnectorConfig, type ConnectorService } from "../../shared/config/connector-config.ts";
import type { ConfigIssue } from "../../shared/config/issues.ts";

const ACCEPT = "wss://gateway.example.com/echo";
const CONNECT = "tcp://127.0.0.1:7000";
const TOKEN_FILE = "/etc/sallyport/token";

function valid(raw: unknown): ConnectorConfig {
  const r = parseConnectorConfig(raw);
  if (!r.ok) throw new Error(`expected a valid config, got ${JSON.stringify(r.error)}`);
  return r.value;
}

function issues(raw: unknown): readonly ConfigIssue[] {
  const r = parseConnectorConfig(raw);
  if (r.ok) throw new Error("expected issues, got a valid config");
  return r.error;
}

/** A config of one service with these settings on top of valid ones. */
const one = (settings: Record<string, unknown>, top: Record<string, unknown> = {}) => ({
  "token.file": TOKEN_FILE,
  ...top,
  services: [{ accept: ACCEPT, connect: CONNECT, ...settings }],
});

const service = (settings: Record<string, unknown>, top?: Record<string, unknown>): ConnectorService =>
  valid(one(settings, top)).services[0]!;

describe("connector config: a valid one", () => {
  it("applies every default", () => {
    expect(valid({ "token.file": TOKEN_FILE, services: [{ accept: ACCEPT, connect: CONNECT }] })).toStrictEqual({
      connectorId: undefined,
      drainTimeoutMs: 30_000,
      adminPort: undefined,
      proxy: { url: undefined, credentialsFile: undefined, caFile: undefined },
      insecureEdge: false,
      services: [
        {
          name: "echo",
          accept: { uri: ACCEPT, path: "/echo", secure: true },
          bindUrl: "wss://gateway.example.com/_sallyport/bind",
          connect: { scheme: "tcp", host: "127.0.0.1", port: 7000 },
          mode: "reverse",
          preparedConnectionCount: 1,
          maxSessions: 512,
          retryMaximumIntervalMs: 1000,
          maximumRecoveryIntervalMs: 1000,
          heartbeatIntervalMs: 15_000,
          tokenFile: TOKEN_FILE,
          caFile: undefined,
          caFileOnly: false,
          certFile: undefined,
          keyFile: undefined,
          edgeCertPin: undefined,
        },
      ],
    });
  });

  it("reads every setting", () => {
    const s = service({
      name: "chat",
      "socks.mode": "reverse",
      "prepared.connection.count": 8,
      "max.sessions": 64,
      "socks.retry.maximum.interval": "5 seconds",
      "maximum.recovery.interval": "2s",
      "heartbeat.interval": "30 seconds",
      edge: "wss://edge.example.net",
      "token.file": "/run/secrets/chat-token",
      "ca.file": "/etc/ssl/edge-ca.pem",
      connect: "tls://backend.internal:8443",
    });
    expect(s).toStrictEqual({
      name: "chat",
      accept: { uri: ACCEPT, path: "/echo", secure: true },
      bindUrl: "wss://edge.example.net/_sallyport/bind",
      connect: { scheme: "tls", host: "backend.internal", port: 8443 },
      mode: "reverse",
      preparedConnectionCount: 8,
      maxSessions: 64,
      retryMaximumIntervalMs: 5000,
      maximumRecoveryIntervalMs: 2000,
      heartbeatIntervalMs: 30_000,
      tokenFile: "/run/secrets/chat-token",
      caFile: "/etc/ssl/edge-ca.pem",
      caFileOnly: false,
      certFile: undefined,
      keyFile: undefined,
      edgeCertPin: undefined,
    });
  });

  it("reads the top-level settings", () => {
    const config = valid(one({}, { "connector.id": "dc1-host_7", "drain.timeout": "1 minute", "admin.port": 9464 }));
    expect([config.connectorId, config.drainTimeoutMs, config.adminPort]).toStrictEqual(["dc1-host_7", 60_000, 9464]);
    expect(valid(one({}, { "admin.port": "0" })).adminPort).toBe(0);
  });

  it("reads the TLS settings for every service", () => {
    const pin = "AB:CD:".repeat(16).slice(0, -1); // 32 bytes as colon-separated hex
    const config = valid({
      "token.file": TOKEN_FILE,
      "ssl.cert.file": "/etc/sallyport/client.pem",
      "ssl.key.file": "/etc/sallyport/client.key",
      "edge.cert.sha256": pin,
      services: [
        { accept: ACCEPT, connect: CONNECT },
        { accept: "wss://gateway.example.com/two", connect: CONNECT },
      ],
    });
    for (const s of config.services) {
      expect([s.certFile, s.keyFile, s.edgeCertPin]).toStrictEqual([
        "/etc/sallyport/client.pem",
        "/etc/sallyport/client.key",
        "abcd".repeat(16),
      ]);
    }
  });

  it("is frozen", () => {
    const config = valid(one({}));
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.services)).toBe(true);
    expect(Object.isFrozen(config.services[0])).toBe(true);
  });

  it("takes numbers as strings too (the environment and flags only have strings)", () => {
    expect(service({ "prepared.connection.count": "4" }).preparedConnectionCount).toBe(4);
  });

  it("reads durations in the Kaazing spelling and the short one", () => {
    for (const [text, ms] of [
      ["1 second", 1000],
      ["2 seconds", 2000],
      ["100 milliseconds", 100],
      ["1s", 1000],
      ["100ms", 100],
      ["1.5m", 90_000],
    ] as const) {
      expect(service({ "socks.retry.maximum.interval": text }).retryMaximumIntervalMs, text).toBe(ms);
    }
  });

  it("accepts a heartbeat.interval of exactly a minute", () => {
    expect(service({ "heartbeat.interval": "1 minute" }).heartbeatIntervalMs).toBe(60_000);
  });

  it.each([
    [1, 1],
    [MAX_PREPARED, MAX_PREPARED],
  ])("accepts prepared.connection.count %i", (n, expected) => {
    expect(service({ "prepared.connection.count": n }).preparedConnectionCount).toBe(expected);
  });

  describe("connect", () => {
    it.each([
      ["tcp://internal.example.com:1080", { scheme: "tcp", host: "internal.example.com", port: 1080 }],
      ["tcp://127.0.0.1:1", { scheme: "tcp", host: "127.0.0.1", port: 1 }],
      ["tcp://localhost:65535/", { scheme: "tcp", host: "localhost", port: 65535 }],
      ["tls://db.internal:5432", { scheme: "tls", host: "db.internal", port: 5432 }],
      ["ssl://db.internal:5432", { scheme: "tls", host: "db.internal", port: 5432 }],
      ["tcp://[::1]:80", { scheme: "tcp", host: "::1", port: 80 }],
      ["tcp://[2001:db8::7]:8080", { scheme: "tcp", host: "2001:db8::7", port: 8080 }],
    ])("reads %s", (text, expected) => {
      expect(service({ connect: text }).connect).toStrictEqual(expected);
    });
  });

  describe("bindUrl", () => {
    it.each([
      ["wss://gateway.example.com/echo", "wss://gateway.example.com/_sallyport/bind"],
      ["wss://gateway.example.com:443/path", "wss://gateway.example.com/_sallyport/bind"],
      ["wss://gateway.example.com:8443/a/b", "wss://gateway.example.com:8443/_sallyport/bind"],
      ["ws://127.0.0.1:8787/echo", "ws://127.0.0.1:8787/_sallyport/bind"],
      ["ws://[::1]:8787/echo", "ws://[::1]:8787/_sallyport/bind"],
    ])("defaults to the origin of %s + /_sallyport/bind", (accept, bindUrl) => {
      expect(service({ accept }).bindUrl).toBe(bindUrl);
    });

    it.each([
      ["wss://edge.example.net", "wss://edge.example.net/_sallyport/bind"],
      ["wss://edge.example.net/", "wss://edge.example.net/_sallyport/bind"],
      ["wss://edge.example.net:8443", "wss://edge.example.net:8443/_sallyport/bind"],
      ["ws://127.0.0.1:8787", "ws://127.0.0.1:8787/_sallyport/bind"],
      // The bind endpoint is at the root whatever path the URL names: the Worker routes it there.
      ["wss://edge.example.net/some/prefix", "wss://edge.example.net/_sallyport/bind"],
    ])("takes edge %s over the accept URI's origin", (edge, bindUrl) => {
      expect(service({ edge }).bindUrl).toBe(bindUrl);
    });

    it("takes a top-level edge for every service, and a service's own edge over it", () => {
      const config = valid({
        edge: "wss://edge-a.example.net",
        "token.file": TOKEN_FILE,
        services: [
          { accept: "wss://gateway.example.com/one", connect: CONNECT },
          { accept: "wss://gateway.example.com/two", connect: CONNECT, edge: "wss://edge-b.example.net" },
        ],
      });
      expect(config.services.map((s) => s.bindUrl)).toStrictEqual([
        "wss://edge-a.example.net/_sallyport/bind",
        "wss://edge-b.example.net/_sallyport/bind",
      ]);
    });
  });

  it("takes top-level token.file and ca.file for every service, a service's own over them", () => {
    const config = valid({
      "token.file": "/top/token",
      "ca.file": "/top/ca.pem",
      services: [
        { accept: "wss://gateway.example.com/one", connect: CONNECT },
        { accept: "wss://gateway.example.com/two", connect: CONNECT, "token.file": "/two/token", "ca.file": "/two/ca.pem" },
      ],
    });
    expect(config.services.map((s) => [s.tokenFile, s.caFile])).toStrictEqual([
      ["/top/token", "/top/ca.pem"],
      ["/two/token", "/two/ca.pem"],
    ]);
  });

  describe("name", () => {
    it.each([
      ["wss://gateway.example.com/echo", "echo"],
      ["wss://gateway.example.com/Chat/Room_1", "chat-room-1"],
      ["wss://gateway.example.com/-a--b-/", "a-b"],
      ["wss://gateway.example.com/", "default"],
      ["wss://gateway.example.com/%E2%82%AC", "e2-82-ac"],
      [`wss://gateway.example.com/${"x".repeat(100)}`, "x".repeat(63)],
    ])("defaults from the accept path of %s to %j", (accept, name) => {
      expect(service({ accept }).name).toBe(name);
    });
  });
});

describe("connector config: problems", () => {
  it.each<[string, unknown, ConfigIssue[]]>([
    ["not an object", "services: []", [{ path: "(root)", message: "must be an object" }]],
    ["null", null, [{ path: "(root)", message: "must be an object" }]],
    ["an array", [], [{ path: "(root)", message: "must be an object" }]],
    ["no services", { "token.file": TOKEN_FILE }, [{ path: "services", message: "must list at least one service" }]],
    ["empty services", { "token.file": TOKEN_FILE, services: [] }, [{ path: "services", message: "must list at least one service" }]],
    [
      "services an object",
      { "token.file": TOKEN_FILE, services: { echo: {} } },
      [{ path: "services", message: "must list at least one service" }],
    ],
    ["a service not an object", { "token.file": TOKEN_FILE, services: ["echo"] }, [{ path: "services[0]", message: "must be an object" }]],
    [
      "an unknown top-level key",
      { ...one({}), "prepared.connection.count": 2 },
      [{ path: "prepared.connection.count", message: "is not a known setting" }],
    ],
    [
      "connector.id with a dot",
      one({}, { "connector.id": "host.example" }),
      [{ path: "connector.id", message: "must be 1-40 characters of A-Z, a-z, 0-9, _ and -" }],
    ],
    [
      "connector.id too long",
      one({}, { "connector.id": "a".repeat(41) }),
      [{ path: "connector.id", message: "must be 1-40 characters of A-Z, a-z, 0-9, _ and -" }],
    ],
    ["connector.id empty", one({}, { "connector.id": "" }), [{ path: "connector.id", message: "must be a non-empty string" }]],
    ["admin.port too large", one({}, { "admin.port": 65536 }), [{ path: "admin.port", message: "must be a whole number from 0 to 65535" }]],
    [
      "admin.port a word",
      one({}, { "admin.port": "metrics" }),
      [{ path: "admin.port", message: "must be a whole number from 0 to 65535" }],
    ],
    [
      "ssl.cert.file without ssl.key.file",
      one({}, { "ssl.cert.file": "/c.pem" }),
      [{ path: "ssl.key.file", message: "ssl.cert.file and ssl.key.file go together" }],
    ],
    [
      "ssl.key.file without ssl.cert.file",
      one({}, { "ssl.key.file": "/k.pem" }),
      [{ path: "ssl.cert.file", message: "ssl.cert.file and ssl.key.file go together" }],
    ],
    [
      "edge.cert.sha256 too short",
      one({}, { "edge.cert.sha256": "abcd" }),
      [{ path: "edge.cert.sha256", message: "must be a SHA-256 fingerprint (64 hex digits, colons allowed)" }],
    ],
    [
      "edge.cert.sha256 not hex",
      one({}, { "edge.cert.sha256": "g".repeat(64) }),
      [{ path: "edge.cert.sha256", message: "must be a SHA-256 fingerprint (64 hex digits, colons allowed)" }],
    ],
    [
      "drain.timeout bare number",
      one({}, { "drain.timeout": "30" }),
      [{ path: "drain.timeout", message: '"30" is not a duration; write e.g. "1 second", "500 milliseconds", "2s" or "100ms"' }],
    ],
  ])("%s", (_label, raw, expected) => {
    expect(issues(raw)).toStrictEqual(expected);
  });

  const at = (key: string) => `services[0].${key}`;
  it.each<[string, Record<string, unknown>, ConfigIssue[]]>([
    ["accept missing", { accept: undefined }, [{ path: at("accept"), message: "is required" }]],
    ["accept http", { accept: "http://gateway.example.com/echo" }, [{ path: at("accept"), message: "must be a ws:// or wss:// URI" }]],
    [
      "accept with query",
      { accept: `${ACCEPT}?x=1` },
      [{ path: at("accept"), message: "must not have credentials, a query or a fragment" }],
    ],
    [
      "accept reserved",
      { accept: "wss://gateway.example.com/_sallyport/bind" },
      [{ path: at("accept"), message: "the path must not start with /_sallyport/ (reserved for Sallyport)" }],
    ],
    ["accept with LF", { accept: `${ACCEPT}\nX-Forged: 1` }, [{ path: at("accept"), message: "must not contain CR, LF or NUL" }]],
    ["connect missing", { connect: undefined }, [{ path: at("connect"), message: "is required" }]],
    ...[
      "http://h:80",
      "tcp://h",
      "tcp://h:0",
      "tcp://h:65536",
      "tcp://h:80/x",
      "tcp://user@h:80",
      "tcp://h h:80",
      "h:80",
      "tcp://[::1:80",
    ].map((connect): [string, Record<string, unknown>, ConfigIssue[]] => [
      `connect ${JSON.stringify(connect)}`,
      { connect },
      [{ path: at("connect"), message: 'must be "tcp://HOST:PORT" (or "tls://HOST:PORT") with a port from 1 to 65535' }],
    ]),
    ["connect with NUL", { connect: "tcp://h:80\0" }, [{ path: at("connect"), message: "must not contain CR, LF or NUL" }]],
    [
      "name invalid",
      { name: "Echo" },
      [{ path: at("name"), message: "must be 1-63 characters of a-z, 0-9 and -, starting with a letter or digit" }],
    ],
    ["name empty", { name: "" }, [{ path: at("name"), message: "must be a non-empty string" }]],
    ["socks.mode forward", { "socks.mode": "forward" }, [{ path: at("socks.mode"), message: 'must be one of "reverse"' }]],
    [
      "prepared 0",
      { "prepared.connection.count": 0 },
      [{ path: at("prepared.connection.count"), message: `must be a whole number from 1 to ${MAX_PREPARED}` }],
    ],
    [
      "prepared too many",
      { "prepared.connection.count": MAX_PREPARED + 1 },
      [{ path: at("prepared.connection.count"), message: `must be a whole number from 1 to ${MAX_PREPARED}` }],
    ],
    [
      "prepared negative",
      { "prepared.connection.count": -1 },
      [{ path: at("prepared.connection.count"), message: `must be a whole number from 1 to ${MAX_PREPARED}` }],
    ],
    [
      "prepared 1.5",
      { "prepared.connection.count": 1.5 },
      [{ path: at("prepared.connection.count"), message: `must be a whole number from 1 to ${MAX_PREPARED}` }],
    ],
    [
      'prepared "1.5"',
      { "prepared.connection.count": "1.5" },
      [{ path: at("prepared.connection.count"), message: `must be a whole number from 1 to ${MAX_PREPARED}` }],
    ],
    [
      'prepared "2\\n"',
      { "prepared.connection.count": "2\n" },
      [{ path: at("prepared.connection.count"), message: `must be a whole number from 1 to ${MAX_PREPARED}` }],
    ],
    [
      "prepared true",
      { "prepared.connection.count": true },
      [{ path: at("prepared.connection.count"), message: `must be a whole number from 1 to ${MAX_PREPARED}` }],
    ],
    [
      "retry bare number",
      { "socks.retry.maximum.interval": "1" },
      [
        {
          path: at("socks.retry.maximum.interval"),
          message: '"1" is not a duration; write e.g. "1 second", "500 milliseconds", "2s" or "100ms"',
        },
      ],
    ],
    [
      "retry below 100 ms",
      { "socks.retry.maximum.interval": "50ms" },
      [{ path: at("socks.retry.maximum.interval"), message: "must be at least 100 milliseconds" }],
    ],
    [
      "retry with CR",
      { "socks.retry.maximum.interval": "1\rsecond" },
      [{ path: at("socks.retry.maximum.interval"), message: "must not contain CR, LF or NUL" }],
    ],
    [
      "recovery a number",
      { "maximum.recovery.interval": 1 },
      [{ path: at("maximum.recovery.interval"), message: 'must be a duration string such as "1 second"' }],
    ],
    [
      "recovery below 100 ms",
      { "maximum.recovery.interval": "10 milliseconds" },
      [{ path: at("maximum.recovery.interval"), message: "must be at least 100 milliseconds" }],
    ],
    [
      "heartbeat below 100 ms",
      { "heartbeat.interval": "0s" },
      [{ path: at("heartbeat.interval"), message: "must be at least 100 milliseconds" }],
    ],
    ["max.sessions of zero", { "max.sessions": 0 }, [{ path: at("max.sessions"), message: "must be a whole number from 1 to 100000" }]],
    // Every bind message carries heartbeatMs, which the edge's codec bounds at a minute.
    [
      "heartbeat over a minute",
      { "heartbeat.interval": "60001 ms" },
      [{ path: at("heartbeat.interval"), message: "must be at most 60 seconds" }],
    ],
    [
      "edge not a URL",
      { edge: "edge.example.net" },
      [{ path: at("edge"), message: '"edge.example.net" is not a URL; write e.g. "wss://edge.example.com"' }],
    ],
    ["edge https", { edge: "https://edge.example.net" }, [{ path: at("edge"), message: "must be a ws:// or wss:// URL" }]],
    [
      "edge with credentials",
      { edge: "wss://user:secret@edge.example.net" },
      [{ path: at("edge"), message: "must not have credentials, a query or a fragment; put the token in token.file" }],
    ],
    [
      "edge with a user",
      { edge: "wss://user@edge.example.net" },
      [{ path: at("edge"), message: "must not have credentials, a query or a fragment; put the token in token.file" }],
    ],
    [
      "edge with a query",
      { edge: "wss://edge.example.net/?token=abc" },
      [{ path: at("edge"), message: "must not have credentials, a query or a fragment; put the token in token.file" }],
    ],
    ["edge with LF", { edge: "wss://edge.example.net\n" }, [{ path: at("edge"), message: "must not contain CR, LF or NUL" }]],
    ["token.file empty", { "token.file": "" }, [{ path: at("token.file"), message: "must be a non-empty string" }]],
    ["ca.file a number", { "ca.file": 1 }, [{ path: at("ca.file"), message: "must be a non-empty string" }]],
    ["an unknown key", { "socks.timeout": "2 seconds" }, [{ path: at("socks.timeout"), message: "is not a known setting" }]],
    [
      "an unknown key with a typo",
      { "prepared.conection.count": 2 },
      [{ path: at("prepared.conection.count"), message: "is not a known setting" }],
    ],
  ])("%s", (_label, settings, expected) => {
    expect(issues(one(settings))).toStrictEqual(expected);
  });

  it("requires a token file, and says how to give one", () => {
    expect(issues({ services: [{ accept: ACCEPT, connect: CONNECT }] })).toStrictEqual([
      { path: "services[0].token.file", message: "is required (a file holding the connector token); or pass --token-file" },
    ]);
  });

  it("reports a bad top-level edge once, at its own path", () => {
    const found = issues({
      edge: "https://edge.example.net",
      "token.file": TOKEN_FILE,
      services: [
        { accept: "wss://gateway.example.com/one", connect: CONNECT },
        { accept: "wss://gateway.example.com/two", connect: CONNECT },
      ],
    });
    expect(found).toStrictEqual([{ path: "edge", message: "must be a ws:// or wss:// URL" }]);
  });

  it("reports a bad top-level value of another kind at its own path", () => {
    expect(issues(one({}, { "token.file": "" }))).toStrictEqual([
      { path: "token.file", message: "must be a non-empty string" },
      { path: "services[0].token.file", message: "is required (a file holding the connector token); or pass --token-file" },
    ]);
  });

  it("refuses two services with one name, naming both by their index in the file", () => {
    const found = issues({
      "token.file": TOKEN_FILE,
      services: [
        { accept: "wss://gateway.example.com/bad", connect: "nowhere" },
        { accept: "wss://gateway.example.com/echo", connect: CONNECT },
        { accept: "wss://gateway.example.com/other", connect: CONNECT, name: "echo" },
      ],
    });
    expect(found).toStrictEqual([
      { path: "services[0].connect", message: 'must be "tcp://HOST:PORT" (or "tls://HOST:PORT") with a port from 1 to 65535' },
      { path: "services[2].name", message: "name already used by services[1].name" },
    ]);
  });

  it("refuses two services whose default names collide", () => {
    const found = issues({
      "token.file": TOKEN_FILE,
      services: [
        { accept: "wss://a.example.com/", connect: CONNECT },
        { accept: "wss://b.example.com/", connect: CONNECT },
      ],
    });
    expect(found).toStrictEqual([{ path: "services[1].name", message: "name already used by services[0].name" }]);
  });

  it("reports every problem at once", () => {
    const found = issues({
      services: [{ accept: "http://gateway.example.com/echo", connect: "tcp://h:0", "prepared.connection.count": 0 }],
      "token.file": TOKEN_FILE,
    });
    expect(found).toStrictEqual([
      { path: "services[0].accept", message: "must be a ws:// or wss:// URI" },
      { path: "services[0].connect", message: 'must be "tcp://HOST:PORT" (or "tls://HOST:PORT") with a port from 1 to 65535' },
      { path: "services[0].prepared.connection.count", message: `must be a whole number from 1 to ${MAX_PREPARED}` },
    ]);
  });

  it("reports problems in several services together", () => {
    const found = issues({
      colour: "blue",
      services: [
        { accept: ACCEPT, connect: CONNECT, "token.file": TOKEN_FILE, extra: 1 },
        "second",
        { accept: "wss://gateway.example.com/third", connect: CONNECT, "socks.mode": "forward", "token.file": TOKEN_FILE },
      ],
    });
    expect(found.map((i) => i.path)).toStrictEqual(["colour", "services[0].extra", "services[1]", "services[2].socks.mode"]);
  });
});

describe("connector config: trust, proxy and clear-text edges", () => {
  it("reads ca.file.only (top level and per service), proxy, proxy.credentials.file and proxy.ca.file", () => {
    const config = valid({
      "token.file": TOKEN_FILE,
      "ca.file": "/etc/ssl/corp.pem",
      "ca.file.only": true,
      proxy: "http://proxy.corp:3128",
      "proxy.credentials.file": "/etc/sallyport/proxy-credentials",
      "proxy.ca.file": "/etc/ssl/proxy-ca.pem",
      services: [
        { accept: ACCEPT, connect: CONNECT },
        { accept: "wss://gateway.example.com/other", connect: CONNECT, "ca.file.only": "false" },
      ],
    });
    expect(config.proxy).toStrictEqual({
      url: "http://proxy.corp:3128",
      credentialsFile: "/etc/sallyport/proxy-credentials",
      caFile: "/etc/ssl/proxy-ca.pem",
    });
    expect(config.services.map((s) => [s.caFile, s.caFileOnly])).toStrictEqual([
      ["/etc/ssl/corp.pem", true],
      ["/etc/ssl/corp.pem", false],
    ]);
  });

  it.each([
    [
      "ca.file.only without ca.file",
      { "ca.file.only": true },
      [{ path: "services[0].ca.file.only", message: "needs ca.file: the CAs to trust instead of Node's" }],
    ],
    ["ca.file.only not a boolean", { "ca.file.only": "yes" }, [{ path: "ca.file.only", message: "must be true or false" }]],
    [
      "a socks proxy",
      { proxy: "socks5://proxy.corp:1080" },
      [{ path: "proxy", message: "must be an http:// or https:// proxy URL (HTTP CONNECT); socks5:// is not supported" }],
    ],
    [
      "a proxy URL with a path",
      { proxy: "http://proxy.corp:3128/x" },
      [{ path: "proxy", message: '"http://proxy.corp:3128/x" must be scheme://[user:password@]host[:port], without a path or query' }],
    ],
  ])("%s", (_name, top, expected) => {
    expect(issues(one({}, top))).toStrictEqual(expected);
  });

  it("a proxy URL's password is never echoed in a problem", () => {
    const found = issues(one({}, { proxy: "http://alice:s3cret@proxy.corp:3128/path" }));
    expect(JSON.stringify(found)).not.toMatch(/s3cret/);
  });

  it("refuses a ws:// edge on another host unless allow.insecure.edge, and marks the config when allowed", () => {
    const remote = { edge: "ws://edge.example.net:8787" };
    expect(issues(one({}, remote))).toStrictEqual([
      {
        path: "edge",
        message:
          "is ws:// to edge.example.net, which would send the connector token and every session's data in clear text: " +
          "use wss://, or set allow.insecure.edge: true (--allow-insecure-edge) if the network between is trusted",
      },
    ]);
    expect(issues(one({ accept: "ws://gateway.example.com/echo" }))[0]?.path).toBe("services[0].accept");
    expect(valid(one({}, { ...remote, "allow.insecure.edge": "true" })).insecureEdge).toBe(true);
    // This machine's own addresses carry nothing across a network.
    for (const edge of ["ws://127.0.0.1:8787", "ws://localhost:8787", "ws://[::1]:8787"])
      expect(valid(one({}, { edge })).insecureEdge).toBe(false);
  });
});
