import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CloseCode } from "../../shared/protocol/close-codes.ts";
import { BIND_PATH, HEALTH_PATH, STATUS_PAGE_PATH, STATUS_PATH } from "../../shared/protocol/constants.ts";
import { echoBackend, type Backend } from "../helpers/backends.ts";
import { makePki, type TestPki } from "../helpers/certs.ts";
import { Cleanup } from "../helpers/cleanup.ts";
import { randomToken } from "../helpers/files.ts";
import { openClient } from "../helpers/ws-client.ts";
import {
  UPGRADE,
  accept,
  bindMessage,
  controls,
  edgeLogged,
  eventually,
  openRawBind,
  rawRequest,
  startCapturedEdge,
  startInProcessConnector,
  waitForControl,
  type CapturedEdge,
  type RawResponse,
} from "./security-harness.ts";

/**
 * Who may park binds (threat 1, spoofed connector; T1, T3, T4, T5) and what anyone else
 * learns by asking (T31), against the real edge in workerd:
 *   - a connector token names exactly one service, and routing follows it and nothing else
 *     the request says (headers, query, path, the bind message's accept URI);
 *   - a service may have several tokens at once (rotation);
 *   - no tokens configured → the edge refuses everything and says "misconfigured";
 *   - a bind with an Origin header is a browser page: refused;
 *   - socks.ssl.verify-client on Cloudflare: request.cf.tlsClientAuth with real certificates'
 *     fingerprints, string semantics ("1", "SUCCESS", "0");
 *   - every refusal looks the same, byte for byte, and names no product or version.
 */

const T = {
  alpha: randomToken(),
  alphaRotated: randomToken(),
  beta: randomToken(),
  guarded: randomToken(),
  guardedClient: randomToken(),
  mtls: randomToken(),
  mtlsOther: randomToken(),
  admin: randomToken(),
};

const file = new Cleanup();
const perTest = new Cleanup();
afterEach(() => perTest.run());
afterAll(() => file.run());

let pki: TestPki;
let edge: CapturedEdge;
let noTokens: CapturedEdge;
let emptyTokens: CapturedEdge;
let backend: Backend;

/** What Cloudflare reports in request.cf for a TLS handshake in which the connector presented `sha256`'s certificate. */
const presented = (sha256: string, over: Record<string, unknown> = {}) => ({
  tlsClientAuth: { certPresented: "1", certVerified: "SUCCESS", certRevoked: "0", certFingerprintSHA256: sha256, ...over },
});

beforeAll(async () => {
  [pki, backend] = await Promise.all([makePki(file), echoBackend(file)]);
  const services = {
    alpha: { accept: accept("alpha"), "socks.timeout": "5 seconds" },
    beta: { accept: accept("beta"), "socks.timeout": "1 second" },
    guarded: { accept: accept("guarded"), "client.auth": "token", "client.origins": "https://app.example" },
    mtls: { accept: accept("mtls"), "socks.ssl.verify-client": "required", "socks.ssl.client-cert-sha256": pki.client.sha256 },
    "mtls-other": { accept: accept("mtls-other"), "socks.ssl.verify-client": "required", "socks.ssl.client-cert-sha256": pki.rogue.sha256 },
  };
  [edge, noTokens, emptyTokens] = await Promise.all([
    startCapturedEdge(file, {
      services,
      tokens: { alpha: [T.alpha, T.alphaRotated], beta: [T.beta], guarded: [T.guarded], mtls: [T.mtls], "mtls-other": [T.mtlsOther] },
      clientTokens: { guarded: [T.guardedClient] },
      bindings: { SALLYPORT_ADMIN_TOKEN: T.admin },
      // Every request arrives as if over mTLS with the test client certificate (as Cloudflare reports it).
      cf: presented(pki.client.sha256),
    }),
    startCapturedEdge(file, { services: { alpha: { accept: accept("alpha") } }, tokens: undefined }),
    startCapturedEdge(file, { services: { alpha: { accept: accept("alpha") } }, tokens: {} }),
  ]);
});

describe("a connector token names one service (T4)", () => {
  it("a token for alpha cannot park a bind naming beta's accept URI: 4002, and beta's clients never reach it", async () => {
    const bind = openRawBind(perTest, edge, T.alpha);
    await bind.opened(5000);
    const client = openClient(perTest, edge.clientUrl("/beta"));
    await client.opened(5000);
    // Held while it waits (a client that sends nothing sees its close event only when local workerd drops the TCP connection, ~10 s).
    await client.send(Buffer.from("hello beta"));
    await bind.send(bindMessage(accept("beta")));
    expect(await bind.closed(5000)).toMatchObject({ code: CloseCode.NOT_ALLOWED, reason: "not allowed" });
    expect(controls(bind)).toEqual([]);
    // beta has no bind at all: its client waits out socks.timeout (1 s).
    expect((await client.closed(5000)).code).toBe(CloseCode.TTL_EXPIRED);
    await edgeLogged(edge, "bind names an accept URI its credential does not cover");
  });

  it("beta's token cannot park for alpha either", async () => {
    const bind = openRawBind(perTest, edge, T.beta);
    await bind.opened(5000);
    await bind.send(bindMessage(accept("alpha")));
    expect((await bind.closed(5000)).code).toBe(CloseCode.NOT_ALLOWED);
  });

  it("forged x-sallyport-* headers and a query naming beta do not move alpha's bind: routing is by token", async () => {
    const forged = {
      "x-sallyport-service": "beta",
      "x-sallyport-role": "client",
      "x-sallyport-credential": "1",
      "x-sallyport-client-protocol": "sallyport",
    };
    const bind = openRawBind(perTest, edge, T.alpha, {
      headers: forged,
      path: `${BIND_PATH}?service=beta&accept=${encodeURIComponent(accept("beta"))}`,
    });
    await bind.opened(5000);
    await bind.send(bindMessage(accept("alpha")));
    await waitForControl(bind, "bound", 5000);
    // It is parked in alpha's object: alpha's next client takes it.
    const client = openClient(perTest, edge.clientUrl("/alpha"));
    const paired = await waitForControl(bind, "paired", 5000);
    expect(paired.clientProtocol).toBe("plain");
    await client.opened(5000);

    const toBeta = openRawBind(perTest, edge, T.alpha, { headers: forged });
    await toBeta.opened(5000);
    await toBeta.send(bindMessage(accept("beta")));
    expect((await toBeta.closed(5000)).code).toBe(CloseCode.NOT_ALLOWED);
  });

  it("the bind endpoint is one exact path: suffixes and other spellings are unknown paths", async () => {
    for (const path of [`${BIND_PATH}/beta`, `${BIND_PATH}/`, "/_sallyport/BIND", "/_sallyport//bind", "/_SALLYPORT/bind"]) {
      const res = await rawRequest(edge.port, "GET", path, {
        ...UPGRADE,
        Authorization: `Bearer ${T.alpha}`,
        "Sec-WebSocket-Protocol": "sallyport.bind.v1",
      });
      expect(res.status, path).toBe(404);
    }
  });
});

describe("rotation: several tokens per service", () => {
  it("both of alpha's tokens park binds at the same time", async () => {
    const [a, b] = [openRawBind(perTest, edge, T.alpha), openRawBind(perTest, edge, T.alphaRotated)];
    await Promise.all([a.opened(5000), b.opened(5000)]);
    await Promise.all([a.send(bindMessage(accept("alpha"))), b.send(bindMessage(accept("alpha")))]);
    await Promise.all([waitForControl(a, "bound", 5000), waitForControl(b, "bound", 5000)]);
  });

  it("a token that is neither is refused before any socket exists (404)", async () => {
    const bind = openRawBind(perTest, edge, randomToken());
    await expect(bind.opened(5000)).rejects.toThrow(/HTTP 404/);
    await edgeLogged(edge, "connector rejected: unknown token");
  });
});

describe("fail closed (T1): no connector tokens configured", () => {
  for (const [name, get] of [
    ["unset", () => noTokens],
    ["empty ({})", () => emptyTokens],
  ] as const) {
    it(`SALLYPORT_CONNECTOR_TOKENS ${name}: every bind is refused (404) and health says misconfigured (503)`, async () => {
      const e = get();
      for (const token of [T.alpha, randomToken(), undefined]) {
        const bind = openRawBind(perTest, e, token);
        await expect(bind.opened(5000)).rejects.toThrow(/HTTP 404/);
      }
      const health = await rawRequest(e.port, "GET", HEALTH_PATH, {});
      expect(health.status).toBe(503);
      expect(JSON.parse(health.body)).toEqual({ status: "misconfigured" });
      // Clients of the configured service get nothing either.
      expect((await rawRequest(e.port, "GET", "/alpha", UPGRADE)).status).toBe(404);
      await edgeLogged(e, "edge configuration invalid; refusing all traffic");
    });
  }
});

describe("cross-site WebSocket hijacking of the bind endpoint (T3, T34)", () => {
  // (An empty Origin header does not reach the Worker at all: it is the same as none.)
  it.each(["https://evil.example", "null", "http://127.0.0.1", "chrome-extension://abcdefghijklmnop"])(
    "a bind with a valid token and Origin %j is refused (404)",
    async (origin) => {
      const res = await rawRequest(edge.port, "GET", BIND_PATH, {
        ...UPGRADE,
        Authorization: `Bearer ${T.alpha}`,
        "Sec-WebSocket-Protocol": "sallyport.bind.v1",
        Origin: origin,
      });
      expect(res.status).toBe(404);
    },
  );
});

describe("mTLS on the Cloudflare path (T5): request.cf.tlsClientAuth", () => {
  it("a connector whose certificate is the pinned one parks binds and serves clients", async () => {
    const c = startInProcessConnector(
      perTest,
      edge.ws,
      [{ name: "mtls", accept: accept("mtls"), connect: backend.uri, token: T.mtls, prepared: 1 }],
      "mtls-ok",
    );
    await eventually(() => c.stats("mtls").parked >= 1, 10_000, "a parked bind");
    const client = openClient(perTest, edge.clientUrl("/mtls"));
    await client.opened(5000);
    await client.send(Buffer.from("over mtls\n"));
    expect(await client.takeLine(5000)).toBe("over mtls");
  });

  it("a valid token with a verified certificate that is not the pinned one is refused", async () => {
    const c = startInProcessConnector(
      perTest,
      edge.ws,
      [
        {
          name: "mtls-other",
          accept: accept("mtls-other"),
          connect: backend.uri,
          token: T.mtlsOther,
          prepared: 1,
          retryMax: "200 milliseconds",
        },
      ],
      "mtls-bad",
    );
    await eventually(() => c.stats("mtls-other").failures >= 2, 10_000, "refusals");
    expect(c.stats("mtls-other").parked).toBe(0);
    expect(c.lines.some((l) => l.includes("edge refused the connector's credentials") && l.includes('"status":404'))).toBe(true);
    await edgeLogged(edge, "connector rejected: client certificate not verified");
  });

  const cases: Array<[string, boolean, unknown]> = [
    ["the strings Cloudflare sends", true, presented("")],
    ["the strings Cloudflare sends, another certificate's fingerprint", false, presented("ab".repeat(32))],
    [
      "certPresented as the number 1",
      false,
      { tlsClientAuth: { certPresented: 1, certVerified: "SUCCESS", certRevoked: "0", certFingerprintSHA256: "" } },
    ],
    [
      "certRevoked as the number 0",
      false,
      { tlsClientAuth: { certPresented: "1", certVerified: "SUCCESS", certRevoked: 0, certFingerprintSHA256: "" } },
    ],
    [
      "certVerified FAILED:certificate has expired",
      false,
      {
        tlsClientAuth: { certPresented: "1", certVerified: "FAILED:certificate has expired", certRevoked: "0", certFingerprintSHA256: "" },
      },
    ],
    [
      "a revoked certificate",
      false,
      { tlsClientAuth: { certPresented: "1", certVerified: "SUCCESS", certRevoked: "1", certFingerprintSHA256: "" } },
    ],
    ["no certificate presented", false, { tlsClientAuth: { certPresented: "0", certVerified: "NONE", certRevoked: "0" } }],
    ["no tlsClientAuth at all", false, {}],
  ];

  it.each(cases)("raw bind with %s → admitted: %s", async (_name, admitted, cf) => {
    // The pinned fingerprint is only known once the PKI exists: "" stands for it.
    const withPin = JSON.parse(JSON.stringify(cf)) as { tlsClientAuth?: { certFingerprintSHA256?: string } };
    if (withPin.tlsClientAuth?.certFingerprintSHA256 === "") withPin.tlsClientAuth.certFingerprintSHA256 = pki.client.sha256;
    const bind = openRawBind(perTest, edge, T.mtls, { cf: withPin });
    if (admitted) {
      await bind.opened(5000);
      await bind.send(bindMessage(accept("mtls")));
      await waitForControl(bind, "bound", 5000);
    } else {
      await expect(bind.opened(5000)).rejects.toThrow(/HTTP 404/);
    }
  });
});

describe("no fingerprinting (T31): every refusal is the same answer", () => {
  it("unknown path, wrong/no token, Origin on bind, non-admitted client, status without admin token: byte-identical 404s", async () => {
    const bindUpgrade = { ...UPGRADE, "Sec-WebSocket-Protocol": "sallyport.bind.v1" };
    const requests: Record<string, [CapturedEdge, string, string, Record<string, string>]> = {
      unknownPath: [edge, "GET", "/no/such/path", {}],
      unknownPathUpgrade: [edge, "GET", "/no/such/path", UPGRADE],
      bindWrongToken: [edge, "GET", BIND_PATH, { ...bindUpgrade, Authorization: `Bearer ${randomToken()}` }],
      bindNoToken: [edge, "GET", BIND_PATH, bindUpgrade],
      bindBasicAuth: [edge, "GET", BIND_PATH, { ...bindUpgrade, Authorization: `Basic ${Buffer.from(`x:${T.alpha}`).toString("base64")}` }],
      bindWithOrigin: [edge, "GET", BIND_PATH, { ...bindUpgrade, Authorization: `Bearer ${T.alpha}`, Origin: "https://evil.example" }],
      bindNoUpgrade: [edge, "GET", BIND_PATH, { Authorization: `Bearer ${T.alpha}` }],
      bindClientToken: [edge, "GET", BIND_PATH, { ...bindUpgrade, Authorization: `Bearer ${T.guardedClient}` }],
      bindPost: [edge, "POST", BIND_PATH, { Authorization: `Bearer ${T.alpha}`, "Content-Length": "0" }],
      clientNoToken: [edge, "GET", "/guarded", UPGRADE],
      clientWrongToken: [edge, "GET", "/guarded", { ...UPGRADE, Authorization: `Bearer ${randomToken()}` }],
      clientConnectorToken: [edge, "GET", "/guarded", { ...UPGRADE, Authorization: `Bearer ${T.guarded}` }],
      clientForeignOrigin: [
        edge,
        "GET",
        "/guarded",
        { ...UPGRADE, Authorization: `Bearer ${T.guardedClient}`, Origin: "https://evil.example" },
      ],
      clientPlainGet: [edge, "GET", "/guarded", {}],
      statusNoToken: [edge, "GET", STATUS_PATH, {}],
      statusWrongToken: [edge, "GET", STATUS_PATH, { Authorization: `Bearer ${randomToken()}` }],
      statusPageNoToken: [edge, "GET", STATUS_PAGE_PATH, {}],
      statusPageBasicWrong: [
        edge,
        "GET",
        STATUS_PAGE_PATH,
        { Authorization: `Basic ${Buffer.from(`admin:${randomToken()}`).toString("base64")}` },
      ],
      misconfiguredBind: [noTokens, "GET", BIND_PATH, { ...bindUpgrade, Authorization: `Bearer ${T.alpha}` }],
      misconfiguredClient: [noTokens, "GET", "/alpha", UPGRADE],
    };
    const responses: Record<string, RawResponse> = {};
    for (const [name, [e, method, path, headers]] of Object.entries(requests))
      responses[name] = await rawRequest(e.port, method, path, headers);
    const reference = responses.unknownPath!;
    expect(reference.status).toBe(404);
    expect(reference.body).toBe("Not Found");
    for (const [name, res] of Object.entries(responses)) expect(res.text, name).toBe(reference.text);
    // Nothing in any header names a product or carries a version.
    for (const [name, value] of reference.headers) {
      expect(`${name}: ${value}`).not.toMatch(/sallyport|workerd|miniflare|hono|cloudflare|node|server|powered|\d+\.\d+/i);
    }
    expect(reference.headers.map(([k]) => k).sort()).toEqual(["content-length", "content-type"]);
  });

  it("an admitted caller still gets what it asked for (the comparison above is not vacuous)", async () => {
    const ok = await rawRequest(edge.port, "GET", STATUS_PATH, { Authorization: `Bearer ${T.admin}` });
    expect(ok.status).toBe(200);
    const upgraded = await rawRequest(edge.port, "GET", "/guarded", {
      ...UPGRADE,
      Authorization: `Bearer ${T.guardedClient}`,
      Origin: "https://app.example",
    });
    expect(upgraded.status).toBe(101);
    // The public service path without an upgrade says so (it is public: client.auth none).
    expect((await rawRequest(edge.port, "GET", "/alpha", {})).status).toBe(426);
  });
});
