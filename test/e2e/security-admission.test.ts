import http from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { TOKEN_SUBPROTOCOL_PREFIX } from "../../edge/admission.ts";
import { CLIENT_SUBPROTOCOLS } from "../../shared/protocol/constants.ts";
import { echoBackend, type Backend } from "../helpers/backends.ts";
import { Cleanup } from "../helpers/cleanup.ts";
import { randomToken } from "../helpers/files.ts";
import { openClient, type TestClient } from "../helpers/ws-client.ts";
import { since } from "../helpers/wait.ts";
import {
  UPGRADE,
  accept,
  eventually,
  rawRequest,
  startCapturedEdge,
  startInProcessConnector,
  type CapturedEdge,
  type InProcessConnector,
} from "./security-harness.ts";

/**
 * Client admission (threat 7, CSWSH; T34) through the real edge in workerd: client.origins,
 * client.auth "token" (Authorization for programs, a subprotocol for browsers) and
 * client.auth "jwt" (Cloudflare Access style: Cf-Access-Jwt-Assertion / CF_Authorization,
 * keys from a JWKS served here on 127.0.0.1, signed with keys made for this run by jose).
 * And the point of checking in the Worker: a client that is not admitted never reaches the
 * service object, so it never takes, holds or summons a parked bind.
 */

const PREPARED = 2;
const ISSUER = "https://team.example.cloudflareaccess.com";
const AUDIENCE = "aud-sallyport-test-0123456789";

const T = { origins: randomToken(), tok: randomToken(), jwt: randomToken(), client: randomToken(), client2: randomToken() };

const file = new Cleanup();
const perTest = new Cleanup();
afterEach(() => perTest.run());
afterAll(() => file.run());

let edge: CapturedEdge;
let backend: Backend;
let connector: InProcessConnector;
let signing: CryptoKey;
let stranger: CryptoKey;
let jwksHits = 0;

async function jwt(opts: { key?: CryptoKey; kid?: string; aud?: string; iss?: string; exp?: number | string } = {}): Promise<string> {
  return new SignJWT({ email: "user@example.com" })
    .setProtectedHeader({ alg: "ES256", kid: opts.kid ?? "k1" })
    .setIssuer(opts.iss ?? ISSUER)
    .setAudience(opts.aud ?? AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(opts.exp ?? "5m")
    .sign(opts.key ?? signing);
}

beforeAll(async () => {
  const [pair, other] = await Promise.all([generateKeyPair("ES256"), generateKeyPair("ES256")]);
  signing = pair.privateKey;
  stranger = other.privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256", use: "sig" };
  const jwks = http.createServer((_req, res) => {
    jwksHits++;
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => jwks.listen(0, "127.0.0.1", resolve));
  file.add("jwks server", () => new Promise<void>((resolve) => jwks.close(() => resolve())));
  const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/cdn-cgi/access/certs`;

  backend = await echoBackend(file);
  edge = await startCapturedEdge(file, {
    services: {
      origins: { accept: accept("origins"), "client.origins": "https://app.example, https://other.example" },
      tok: { accept: accept("tok"), "client.auth": "token" },
      jwt: {
        accept: accept("jwt"),
        "client.auth": "jwt",
        "client.jwt.jwks": jwksUrl,
        "client.jwt.issuer": ISSUER,
        "client.jwt.audience": AUDIENCE,
      },
    },
    tokens: { origins: [T.origins], tok: [T.tok], jwt: [T.jwt] },
    clientTokens: { tok: [T.client, T.client2] },
  });
  connector = startInProcessConnector(
    file,
    edge.ws,
    ["origins", "tok", "jwt"].map((name) => ({
      name,
      accept: accept(name),
      connect: backend.uri,
      token: T[name as keyof typeof T],
      prepared: PREPARED,
    })),
  );
  await eventually(() => ["origins", "tok", "jwt"].every((n) => connector.stats(n).parked === PREPARED), 15_000, "every pool parked");
});

/** Opens, echoes a line through the backend, closes. */
async function echoes(c: TestClient): Promise<void> {
  await c.opened(5000);
  const line = `hello ${Math.random()}`;
  await c.send(Buffer.from(`${line}\n`));
  expect(await c.takeLine(5000)).toBe(line);
  c.close();
}

async function refused(c: TestClient): Promise<void> {
  await expect(c.opened(5000)).rejects.toThrow(/HTTP 404/);
}

describe("client.origins (CSWSH)", () => {
  it("an allowed Origin is served", async () => {
    await echoes(openClient(perTest, edge.clientUrl("/origins"), { headers: { Origin: "https://other.example" } }));
  });

  it("no Origin (not a browser) is served", async () => {
    await echoes(openClient(perTest, edge.clientUrl("/origins")));
  });

  it.each(["https://evil.example", "null", "https://app.example.evil.example", "http://app.example", "https://APP.example"])(
    "Origin %s gets the plain 404",
    async (origin) => {
      await refused(openClient(perTest, edge.clientUrl("/origins"), { headers: { Origin: origin } }));
    },
  );
});

describe('client.auth "token"', () => {
  it("Authorization: Bearer (a program), either of the service's client tokens", async () => {
    await echoes(openClient(perTest, edge.clientUrl("/tok"), { headers: { Authorization: `Bearer ${T.client}` } }));
    await echoes(openClient(perTest, edge.clientUrl("/tok"), { headers: { Authorization: `Bearer ${T.client2}` } }));
  });

  it("the sallyport.bearer.<token> subprotocol (a browser): admitted, and the 101 never echoes the token", async () => {
    const raw = await rawRequest(edge.port, "GET", "/tok", {
      ...UPGRADE,
      "Sec-WebSocket-Protocol": `${TOKEN_SUBPROTOCOL_PREFIX}${T.client}`,
    });
    expect(raw.status).toBe(101);
    expect(raw.text).not.toContain(T.client);
    expect(raw.headers.find(([k]) => k === "sec-websocket-protocol")).toBeUndefined();
    // Offered beside the client protocol, the client protocol is what comes back.
    const c = openClient(perTest, edge.clientUrl("/tok"), {
      protocols: [CLIENT_SUBPROTOCOLS[2], `${TOKEN_SUBPROTOCOL_PREFIX}${T.client}`],
    });
    await c.opened(5000);
    expect(c.ws.protocol).toBe(CLIENT_SUBPROTOCOLS[2]);
    const both = await rawRequest(edge.port, "GET", "/tok", {
      ...UPGRADE,
      "Sec-WebSocket-Protocol": `${CLIENT_SUBPROTOCOLS[2]}, ${TOKEN_SUBPROTOCOL_PREFIX}${T.client}`,
    });
    expect(both.status).toBe(101);
    expect(both.text).not.toContain(T.client);
  });

  it.each<[string, Record<string, string>, string[]?]>([
    ["no token", {}],
    ["a wrong token", { Authorization: `Bearer ${randomToken()}` }],
    ["the service's connector token", { Authorization: `Bearer ${T.tok}` }],
    ["another scheme", { Authorization: `Basic ${Buffer.from(`u:${T.client}`).toString("base64")}` }],
    ["an empty bearer subprotocol", {}, [TOKEN_SUBPROTOCOL_PREFIX.slice(0, -1)]],
    ["a wrong token as subprotocol", {}, [`${TOKEN_SUBPROTOCOL_PREFIX}${randomToken()}`]],
  ])("%s gets the plain 404", async (_name, headers, protocols) => {
    await refused(openClient(perTest, edge.clientUrl("/tok"), { headers, protocols }));
  });
});

describe('client.auth "jwt" (Cloudflare Access)', () => {
  it("a valid token in Cf-Access-Jwt-Assertion is admitted (keys fetched from the JWKS URL)", async () => {
    await echoes(openClient(perTest, edge.clientUrl("/jwt"), { headers: { "Cf-Access-Jwt-Assertion": await jwt() } }));
    expect(jwksHits).toBeGreaterThanOrEqual(1);
  });

  it("a valid token in the CF_Authorization cookie (a browser) is admitted", async () => {
    await echoes(openClient(perTest, edge.clientUrl("/jwt"), { headers: { Cookie: `theme=dark; CF_Authorization=${await jwt()}` } }));
  });

  it.each<[string, () => Promise<string>]>([
    ["for another audience", () => jwt({ aud: "aud-some-other-app" })],
    ["from another issuer", () => jwt({ iss: "https://evil.example" })],
    ["expired (beyond the 30 s tolerance)", () => jwt({ exp: Math.floor(Date.now() / 1000) - 120 })],
    ["signed by a key not in the set, under the set's kid", () => jwt({ key: stranger })],
    ["signed by a key not in the set, under an unknown kid", () => jwt({ key: stranger, kid: "k2" })],
    [
      "unsigned (alg none)",
      async () =>
        [{ alg: "none" }, { iss: ISSUER, aud: AUDIENCE, exp: 2e9 }, ""]
          .map((part) => (typeof part === "string" ? part : Buffer.from(JSON.stringify(part)).toString("base64url")))
          .join("."),
    ],
    ["garbage", async () => "a.b.c"],
  ])("a token %s gets the plain 404", async (_name, make) => {
    await refused(openClient(perTest, edge.clientUrl("/jwt"), { headers: { "Cf-Access-Jwt-Assertion": await make() } }));
  });

  it("a valid token under Authorization instead is not what the service asks for: 404", async () => {
    await refused(openClient(perTest, edge.clientUrl("/jwt"), { headers: { Authorization: `Bearer ${await jwt()}` } }));
  });
});

describe("a client that is not admitted never consumes a parked bind", () => {
  it("after 30 refused clients the pools are untouched, and an admitted client pairs at once", async () => {
    const before = Object.fromEntries(["origins", "tok", "jwt"].map((n) => [n, connector.stats(n)]));
    for (const s of Object.values(before)) expect(s).toMatchObject({ parked: PREPARED, offered: PREPARED, sessions: 0 });
    const logsBefore = edge.logs.length;
    const badJwt = await jwt({ aud: "aud-some-other-app" });
    const clients: TestClient[] = [];
    for (let i = 0; i < 10; i++) {
      clients.push(openClient(perTest, edge.clientUrl("/tok"), { headers: i % 2 ? { Authorization: `Bearer ${randomToken()}` } : {} }));
      clients.push(openClient(perTest, edge.clientUrl("/origins"), { headers: { Origin: "https://evil.example" } }));
      clients.push(openClient(perTest, edge.clientUrl("/jwt"), { headers: { "Cf-Access-Jwt-Assertion": badJwt } }));
    }
    await Promise.all(clients.map(refused));
    // Give anything they might have set off (a pairing, a demand for more binds) time to show.
    await new Promise((r) => setTimeout(r, 300));
    for (const n of ["origins", "tok", "jwt"]) expect(connector.stats(n), n).toEqual(before[n]);
    const newLogs = await eventually(
      () => {
        const l = edge.logs.slice(logsBefore);
        return l.filter((x) => x.includes("client not admitted")).length >= 30 && l;
      },
      3000,
      "30 refusals logged",
    );
    // None of them reached a service object: nobody waited, nobody was paired.
    expect(newLogs.filter((l) => /client waiting for a bind|"paired"|session/.test(l))).toEqual([]);

    const t0 = performance.now();
    const ok = openClient(perTest, edge.clientUrl("/tok"), { headers: { Authorization: `Bearer ${T.client}` } });
    await echoes(ok);
    expect(since(t0)).toBeLessThan(1000);
    expect(connector.stats("tok").pairings).toBe(before.tok!.pairings + 1);
  });
});
