import { createHash, timingSafeEqual as nodeTimingSafeEqual } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  admitClient,
  admitConnectorCertificate,
  MAX_JWT_AGE_S,
  offeredSubprotocols,
  TOKEN_SUBPROTOCOL_PREFIX,
} from "../../edge/admission.ts";
import { bearerToken, matchToken, serviceForToken } from "../../edge/auth.ts";
import {
  ISSUER_REQUIRED_MESSAGE,
  JWKS_HTTPS_MESSAGE,
  parseEdgeConfig,
  type EdgeConfig,
  type EdgeService,
} from "../../shared/config/edge-config.ts";

/**
 * The edge's admission decisions as pure functions (edge/admission.ts, edge/auth.ts), run in
 * Node with plain Requests: who may park a bind (token → service, client certificate as
 * Cloudflare reports it in request.cf.tlsClientAuth) and who may open a session (Origin,
 * client token, JWT). The e2e files run the same functions inside workerd.
 */

beforeAll(() => {
  // Workers have crypto.subtle.timingSafeEqual, Node does not: the same semantics (equal
  // lengths required, throws otherwise) from node:crypto.
  const subtle = crypto.subtle as typeof crypto.subtle & { timingSafeEqual?: (a: ArrayBuffer, b: ArrayBuffer) => boolean };
  subtle.timingSafeEqual ??= (a: ArrayBuffer, b: ArrayBuffer) => nodeTimingSafeEqual(new Uint8Array(a), new Uint8Array(b));
});

const PIN = "a1".repeat(32);
const OTHER_PIN = "b2".repeat(32);
const T_ALPHA = "alpha-token-0123456789";
const T_ALPHA_2 = "alpha-token-rotated-0123";
const T_BETA = "beta-token-0123456789ab";
const T_CLIENT = "client-token-0123456789";
const ISSUER = "https://team.cloudflareaccess.com";

function config(
  services: Record<string, Record<string, unknown>>,
  connectorTokens: Record<string, string[]>,
  clientTokens?: Record<string, string[]>,
): EdgeConfig {
  const r = parseEdgeConfig(services, JSON.stringify(connectorTokens), clientTokens && JSON.stringify(clientTokens));
  if (!r.ok) throw new Error(JSON.stringify(r.error));
  return r.value;
}

function service(settings: Record<string, unknown>, clientTokens?: string[]): EdgeService {
  return config({ svc: { accept: "wss://edge.example.com/svc", ...settings } }, { svc: [T_ALPHA] }, clientTokens && { svc: clientTokens })
    .services[0]!;
}

/** A Request as the Worker gets it on Cloudflare: `cf` is a property of the request. */
function request(headers: Record<string, string> = {}, cf?: unknown): Request {
  const r = new Request("https://edge.example.com/_sallyport/bind", { headers });
  if (cf !== undefined) Object.defineProperty(r, "cf", { value: cf });
  return r;
}

const GOOD = { certPresented: "1", certVerified: "SUCCESS", certRevoked: "0", certFingerprintSHA256: PIN };

describe("admitConnectorCertificate (socks.ssl.verify-client on Cloudflare's tlsClientAuth strings)", () => {
  const required = service({ "socks.ssl.verify-client": "required" });
  const optional = service({ "socks.ssl.verify-client": "optional" });
  const none = service({});
  const requiredPinned = service({ "socks.ssl.verify-client": "required", "socks.ssl.client-cert-sha256": PIN });
  const optionalPinned = service({ "socks.ssl.verify-client": "optional", "socks.ssl.client-cert-sha256": [OTHER_PIN, PIN] });

  // [case, tlsClientAuth (undefined = no cf at all), required, optional, none]
  const table: Array<[string, unknown, boolean, boolean, boolean]> = [
    ["no cf object", undefined, false, true, true],
    ["cf without tlsClientAuth", {}, false, true, true],
    ["certificate not presented", { certPresented: "0", certVerified: "NONE", certRevoked: "0" }, false, true, true],
    ["presented, verified, not revoked", GOOD, true, true, true],
    ["presented but not verified (NONE)", { ...GOOD, certVerified: "NONE" }, false, false, true],
    ["presented, verification failed", { ...GOOD, certVerified: "FAILED:certificate has expired" }, false, false, true],
    ["presented, verified, revoked", { ...GOOD, certRevoked: "1" }, false, false, true],
    ["presented, verified, revocation status missing", { certPresented: "1", certVerified: "SUCCESS" }, false, false, true],
    ["verified spelled differently (success)", { ...GOOD, certVerified: "success" }, false, false, true],
  ];

  it.each(table)("%s → required %s, optional %s, none %s", (_name, tls, req, opt, non) => {
    const cf =
      tls === undefined ? undefined : tls && typeof tls === "object" && Object.keys(tls).length === 0 ? {} : { tlsClientAuth: tls };
    expect(admitConnectorCertificate(required, request({}, cf), undefined)).toBe(req);
    expect(admitConnectorCertificate(optional, request({}, cf), undefined)).toBe(opt);
    expect(admitConnectorCertificate(none, request({}, cf), undefined)).toBe(non);
  });

  it("compares strings: the number 1, booleans and 0 are not Cloudflare's values and never admit", () => {
    const typed: unknown[] = [
      { ...GOOD, certPresented: 1 },
      { ...GOOD, certPresented: true },
      { ...GOOD, certVerified: true },
      { ...GOOD, certRevoked: 0 },
      { ...GOOD, certRevoked: false },
    ];
    for (const tls of typed) {
      expect(admitConnectorCertificate(required, request({}, { tlsClientAuth: tls }), undefined), JSON.stringify(tls)).toBe(false);
      expect(admitConnectorCertificate(requiredPinned, request({}, { tlsClientAuth: tls }), undefined), JSON.stringify(tls)).toBe(false);
    }
    // A truthy check would have admitted all of these; so would a check of certVerified alone.
    expect(
      admitConnectorCertificate(
        required,
        request({}, { tlsClientAuth: { certPresented: "1", certVerified: "FAILED:x", certRevoked: "0" } }),
        undefined,
      ),
    ).toBe(false);
  });

  it("pins: the fingerprint must be one configured for the service (case-insensitive hex)", () => {
    const cf = (fp: unknown) => ({ tlsClientAuth: { ...GOOD, certFingerprintSHA256: fp } });
    expect(admitConnectorCertificate(requiredPinned, request({}, cf(PIN)), undefined)).toBe(true);
    expect(admitConnectorCertificate(requiredPinned, request({}, cf(PIN.toUpperCase())), undefined)).toBe(true);
    expect(admitConnectorCertificate(requiredPinned, request({}, cf(OTHER_PIN)), undefined)).toBe(false);
    expect(admitConnectorCertificate(requiredPinned, request({}, cf(undefined)), undefined)).toBe(false);
    expect(admitConnectorCertificate(requiredPinned, request({}, cf("")), undefined)).toBe(false);
    expect(admitConnectorCertificate(requiredPinned, request({}, cf(PIN.slice(0, 63))), undefined)).toBe(false);
    expect(admitConnectorCertificate(requiredPinned, request({}, cf(`${PIN}00`)), undefined)).toBe(false);
    // Optional with pins: no certificate passes (that is what optional means) …
    expect(admitConnectorCertificate(optionalPinned, request({}, undefined), undefined)).toBe(true);
    // … but a presented certificate must be verified, not revoked, and pinned.
    expect(admitConnectorCertificate(optionalPinned, request({}, cf(PIN)), undefined)).toBe(true);
    expect(admitConnectorCertificate(optionalPinned, request({}, cf(OTHER_PIN)), undefined)).toBe(true);
    expect(admitConnectorCertificate(optionalPinned, request({}, cf("c3".repeat(32))), undefined)).toBe(false);
    expect(admitConnectorCertificate(optionalPinned, request({}, { tlsClientAuth: { ...GOOD, certRevoked: "1" } }), undefined)).toBe(false);
  });

  it(
    'only SALLYPORT_TLS exactly "workerd" hands the check to a TLS listener (pinned services then admit nobody); anything else checks ' +
      "cf",
    () => {
      expect(admitConnectorCertificate(required, request({}, undefined), "workerd")).toBe(true);
      // workerd does not show the Worker the certificate: a pin cannot be checked, so nothing passes.
      expect(admitConnectorCertificate(requiredPinned, request({}, { tlsClientAuth: GOOD }), "workerd")).toBe(false);
      for (const t of [undefined, "", "cloudflare", "WORKERD", "workerd "]) {
        expect(admitConnectorCertificate(required, request({}, undefined), t), String(t)).toBe(false);
      }
    },
  );

  it("ignores headers that claim a certificate: only request.cf counts", () => {
    const forged = request({
      "cf-client-cert-verified": "SUCCESS",
      "x-tls-client-auth": JSON.stringify(GOOD),
      "cf-client-cert-sha256": PIN,
    });
    expect(admitConnectorCertificate(requiredPinned, forged, undefined)).toBe(false);
  });
});

describe("connector tokens (edge/auth.ts)", () => {
  const cfg = config(
    { alpha: { accept: "wss://e.example/alpha" }, beta: { accept: "wss://e.example/beta" } },
    { alpha: [T_ALPHA, T_ALPHA_2], beta: [T_BETA] },
  );

  const sha256 = (t: string): string => createHash("sha256").update(t).digest("hex");

  it("a token names its service and its credential (the token's SHA-256); nothing else the request says matters", async () => {
    expect(await serviceForToken(cfg, T_ALPHA)).toMatchObject({ service: { name: "alpha" }, credential: sha256(T_ALPHA) });
    expect(await serviceForToken(cfg, T_ALPHA_2)).toMatchObject({ service: { name: "alpha" }, credential: sha256(T_ALPHA_2) });
    expect(await serviceForToken(cfg, T_BETA)).toMatchObject({ service: { name: "beta" }, credential: sha256(T_BETA) });
  });

  it("the credential does not move when the token list is rotated around it", async () => {
    const rotated = config(
      { alpha: { accept: "wss://e.example/alpha" }, beta: { accept: "wss://e.example/beta" } },
      { alpha: ["new-token-of-alpha-0123", T_ALPHA_2], beta: [T_BETA] },
    );
    expect((await serviceForToken(rotated, T_ALPHA_2))?.credential).toBe((await serviceForToken(cfg, T_ALPHA_2))?.credential);
  });

  it("near misses are no one's: prefix, extension, case, other length", async () => {
    for (const t of [T_ALPHA.slice(0, -1), `${T_ALPHA}x`, T_ALPHA.toUpperCase(), "x", "", `${T_ALPHA} `]) {
      expect(await serviceForToken(cfg, t), JSON.stringify(t)).toBeUndefined();
    }
  });

  it("compares digests: inputs of any length return false without throwing", async () => {
    expect(await matchToken([T_CLIENT], "short")).toBe(false);
    expect(await matchToken([T_CLIENT], "y".repeat(100_000))).toBe(false);
    expect(await matchToken([], T_CLIENT)).toBe(false);
    expect(await matchToken(["other-token-0123456789", T_CLIENT], T_CLIENT)).toBe(true);
  });

  it("takes the bearer token from the Authorization header only in the exact Bearer form, bounded in size", () => {
    expect(bearerToken(`Bearer ${T_ALPHA}`)).toBe(T_ALPHA);
    expect(bearerToken(`bearer ${T_ALPHA}`)).toBeUndefined();
    expect(bearerToken(`Basic ${T_ALPHA}`)).toBeUndefined();
    expect(bearerToken("Bearer ")).toBeUndefined();
    expect(bearerToken(`Bearer ${"a".repeat(4097)}`)).toBeUndefined();
    expect(bearerToken(null)).toBeUndefined();
  });
});

describe("admitClient (client.origins, client.auth)", () => {
  const upgrade = { Upgrade: "websocket" };

  it("origins: an allowed Origin and no Origin pass; any other, or a different spelling, is refused", async () => {
    const svc = service({ "client.origins": "https://app.example.com, https://other.example.com" });
    expect(await admitClient(svc, request({ ...upgrade, Origin: "https://app.example.com" }))).toBeUndefined();
    expect(await admitClient(svc, request({ ...upgrade, Origin: "https://other.example.com" }))).toBeUndefined();
    expect(await admitClient(svc, request(upgrade))).toBeUndefined();
    for (const o of [
      "https://evil.example",
      "null",
      "https://APP.example.com",
      "https://app.example.com.evil.example",
      "http://app.example.com",
      "https://app.example.com:443",
      "",
    ]) {
      expect(await admitClient(svc, request({ ...upgrade, Origin: o })), o).toBe("origin");
    }
  });

  it("token: Authorization Bearer or the sallyport.bearer.<token> subprotocol; the header, when present, is the only source", async () => {
    const svc = service({ "client.auth": "token" }, [T_CLIENT]);
    expect(await admitClient(svc, request({ ...upgrade, Authorization: `Bearer ${T_CLIENT}` }))).toBeUndefined();
    expect(
      await admitClient(svc, request({ ...upgrade, "Sec-WebSocket-Protocol": `${TOKEN_SUBPROTOCOL_PREFIX}${T_CLIENT}` })),
    ).toBeUndefined();
    expect(
      await admitClient(
        svc,
        request({ ...upgrade, "Sec-WebSocket-Protocol": `sallyport.client.v1, ${TOKEN_SUBPROTOCOL_PREFIX}${T_CLIENT}` }),
      ),
    ).toBeUndefined();
    expect(await admitClient(svc, request(upgrade))).toBe("credentials");
    expect(await admitClient(svc, request({ ...upgrade, Authorization: "Bearer wrong-token-0123456789" }))).toBe("credentials");
    expect(await admitClient(svc, request({ ...upgrade, "Sec-WebSocket-Protocol": TOKEN_SUBPROTOCOL_PREFIX }))).toBe("credentials");
    expect(
      await admitClient(svc, request({ ...upgrade, "Sec-WebSocket-Protocol": `${TOKEN_SUBPROTOCOL_PREFIX}wrong-token-0123456789` })),
    ).toBe("credentials");
    // A wrong header is not rescued by a right subprotocol: one unambiguous source.
    expect(
      await admitClient(
        svc,
        request({
          ...upgrade,
          Authorization: "Bearer wrong-token-0123456789",
          "Sec-WebSocket-Protocol": `${TOKEN_SUBPROTOCOL_PREFIX}${T_CLIENT}`,
        }),
      ),
    ).toBe("credentials");
    // The connector's token is not a client token.
    expect(await admitClient(svc, request({ ...upgrade, Authorization: `Bearer ${T_ALPHA}` }))).toBe("credentials");
  });

  it("origin is checked before credentials: a valid token from a foreign page is still refused", async () => {
    const svc = service({ "client.auth": "token", "client.origins": "https://app.example.com" }, [T_CLIENT]);
    expect(await admitClient(svc, request({ ...upgrade, Origin: "https://evil.example", Authorization: `Bearer ${T_CLIENT}` }))).toBe(
      "origin",
    );
  });

  it("jwt: no token, or a key set that cannot be fetched, refuses (fails closed)", async () => {
    const svc = service({
      "client.auth": "jwt",
      "client.jwt.jwks": "http://127.0.0.1:1/certs",
      "client.jwt.issuer": ISSUER,
      "client.jwt.audience": "aud",
    });
    expect(await admitClient(svc, request(upgrade))).toBe("credentials");
    const unsigned = `${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from('{"aud":"aud"}').toString("base64url")}.`;
    expect(await admitClient(svc, request({ ...upgrade, "Cf-Access-Jwt-Assertion": unsigned }))).toBe("credentials");
    expect(await admitClient(svc, request({ ...upgrade, "Cf-Access-Jwt-Assertion": "a.b.c" }))).toBe("credentials");
  });

  it("splits offered subprotocols on commas, trimming, dropping empties", () => {
    expect(offeredSubprotocols(request({ "Sec-WebSocket-Protocol": " a , b,,c " }))).toEqual(["a", "b", "c"]);
    expect(offeredSubprotocols(request({}))).toEqual([]);
  });
});

describe('client.auth "jwt": the claims a token must carry (keys from a JWKS on 127.0.0.1)', () => {
  const upgrade = { Upgrade: "websocket" };
  const now = () => Math.floor(Date.now() / 1000);
  let svc: EdgeService;
  let signing: CryptoKey;
  let server: Server;

  beforeAll(async () => {
    const pair = await generateKeyPair("ES256");
    signing = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256", use: "sig" };
    server = createServer((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [jwk] })));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    svc = service({
      "client.auth": "jwt",
      "client.jwt.jwks": `http://127.0.0.1:${(server.address() as AddressInfo).port}/certs`,
      "client.jwt.issuer": ISSUER,
      "client.jwt.audience": "aud",
    });
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  type Claims = { iss?: string; aud?: string; iat?: number; exp?: number; nbf?: number };
  const valid = (): Claims => ({ iss: ISSUER, aud: "aud", iat: now() - 60, exp: now() + 300 });
  function without(key: keyof Claims): () => Claims {
    return () => {
      const c = valid();
      delete c[key];
      return c;
    };
  }
  const sign = (claims: Claims) =>
    new SignJWT({ email: "user@example.com", ...claims }).setProtectedHeader({ alg: "ES256", kid: "k1" }).sign(signing);

  it.each<[string, "admitted" | "refused", () => Claims]>([
    ["iss, aud, iat and exp as configured", "admitted", valid],
    ["no exp (a token that never expires)", "refused", without("exp")],
    ["no iss", "refused", without("iss")],
    ["no iat", "refused", without("iat")],
    ["no aud", "refused", without("aud")],
    ["another issuer", "refused", () => ({ ...valid(), iss: "https://evil.example" })],
    ["expired beyond the 30 s tolerance", "refused", () => ({ ...valid(), exp: now() - 120 })],
    ["issued in the future beyond the tolerance", "refused", () => ({ ...valid(), iat: now() + 600 })],
    [
      `issued more than ${MAX_JWT_AGE_S / 86_400} days ago, though exp is later`,
      "refused",
      () => ({ ...valid(), iat: now() - MAX_JWT_AGE_S - 3600, exp: now() + 3600 }),
    ],
    ["not yet valid (nbf)", "refused", () => ({ ...valid(), nbf: now() + 600 })],
  ])("a token with %s is %s", async (_name, expected, claims) => {
    const refusal = await admitClient(svc, request({ ...upgrade, "Cf-Access-Jwt-Assertion": await sign(claims()) }));
    expect(refusal).toBe(expected === "admitted" ? undefined : "credentials");
  });
});

describe('client.auth "jwt": what the configuration must say', () => {
  const jwt = (settings: Record<string, unknown>) =>
    parseEdgeConfig(
      { svc: { accept: "wss://edge.example.com/svc", "client.auth": "jwt", "client.jwt.audience": "aud", ...settings } },
      JSON.stringify({ svc: [T_ALPHA] }),
    );
  const at = (key: string) => `SALLYPORT_SERVICES.svc.${key}`;

  it.each<[string, Record<string, unknown>, Array<{ path: string; message: string }>]>([
    [
      "an http:// JWKS URL: keys fetched in clear text could be swapped on the way",
      { "client.jwt.jwks": "http://team.cloudflareaccess.com/cdn-cgi/access/certs", "client.jwt.issuer": ISSUER },
      [{ path: at("client.jwt.jwks"), message: JWKS_HTTPS_MESSAGE }],
    ],
    [
      "an http:// JWKS URL on a private address",
      { "client.jwt.jwks": "http://10.0.0.5/certs", "client.jwt.issuer": ISSUER },
      [{ path: at("client.jwt.jwks"), message: JWKS_HTTPS_MESSAGE }],
    ],
    [
      "no issuer",
      { "client.jwt.jwks": "https://team.cloudflareaccess.com/cdn-cgi/access/certs" },
      [{ path: at("client.jwt.issuer"), message: ISSUER_REQUIRED_MESSAGE }],
    ],
  ])("refuses %s", (_name, settings, issues) => {
    expect(jwt(settings)).toEqual({ ok: false, error: issues });
  });

  it.each([
    "https://team.cloudflareaccess.com/cdn-cgi/access/certs",
    "http://127.0.0.1:8788/certs",
    "http://[::1]:8788/certs",
    "http://localhost:8788/certs",
  ])("accepts %s with an issuer", (jwks) => {
    expect(jwt({ "client.jwt.jwks": jwks, "client.jwt.issuer": ISSUER }).ok).toBe(true);
  });
});
