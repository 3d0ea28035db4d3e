import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../edge/index.ts";
import { BIND_PATH, BIND_SUBPROTOCOLS, HEALTH_PATH } from "../../shared/protocol/constants.ts";
import { edgeFetch, objectSockets, openBind, openClient, url } from "./helpers.ts";
import { freshService } from "./services.ts";

/**
 * The Worker's routing, as the outside sees it. Whatever it will not serve gets one and the
 * same plain 404 — unknown path, wrong or missing credential, a browser's Origin — so a
 * probe cannot tell a gateway from nothing, nor a good token from a bad one.
 */

interface Snapshot {
  status: number;
  body: string;
  headers: Array<[string, string]>;
}

async function snapshot(res: Response): Promise<Snapshot> {
  return { status: res.status, body: await res.text(), headers: [...res.headers.entries()].sort() };
}

describe("health", () => {
  it("answers 200 ok when the configuration is valid", async () => {
    const res = await edgeFetch(HEALTH_PATH);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
  });
});

describe("a misconfigured edge", () => {
  // The Worker's fetch with an env the test builds: bindings cannot differ per test otherwise.
  const misconfigured = { ...env, SALLYPORT_CONNECTOR_TOKENS: "{not json" };
  const call = (path: string, headers: Record<string, string> = {}) =>
    worker.fetch(new Request(url(path), { headers }), misconfigured, createExecutionContext());

  it("says so on health, with 503", async () => {
    const res = await call(HEALTH_PATH);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: "misconfigured" });
  });

  it("fails closed: every bind and client gets the plain 404", async () => {
    const svc = freshService();
    for (const res of [
      await call(BIND_PATH, { Upgrade: "websocket", Authorization: `Bearer ${svc.token}` }),
      await call(svc.path, { Upgrade: "websocket" }),
    ]) {
      expect(res.status).toBe(404);
      expect(await res.text()).toBe("Not Found");
    }
    expect(await objectSockets(svc)).toEqual([]);
  });
});

describe("refusals look alike", () => {
  it("gives the same plain 404 for an unknown path and for every refused bind", async () => {
    const svc = freshService();
    const upgrade = { Upgrade: "websocket", "Sec-WebSocket-Protocol": BIND_SUBPROTOCOLS[1] };
    const responses = {
      unknownPath: await edgeFetch("/no/such/path"),
      unknownPathUpgrade: await edgeFetch("/no/such/path", { headers: { Upgrade: "websocket" } }),
      wrongToken: await edgeFetch(BIND_PATH, { headers: { ...upgrade, Authorization: "Bearer not-a-token-of-any-service" } }),
      noToken: await edgeFetch(BIND_PATH, { headers: upgrade }),
      notBearer: await edgeFetch(BIND_PATH, { headers: { ...upgrade, Authorization: `Basic ${svc.token}` } }),
      withOrigin: await edgeFetch(BIND_PATH, {
        headers: { ...upgrade, Authorization: `Bearer ${svc.token}`, Origin: "https://evil.example" },
      }),
      validTokenNoUpgrade: await edgeFetch(BIND_PATH, { headers: { Authorization: `Bearer ${svc.token}` } }),
      postToAccept: await edgeFetch(svc.path, { method: "POST", body: "x" }),
    };
    const snapshots = Object.fromEntries(
      await Promise.all(Object.entries(responses).map(async ([k, r]) => [k, await snapshot(r)] as const)),
    );
    const reference = snapshots.unknownPath!;
    expect(reference.status).toBe(404);
    expect(reference.body).toBe("Not Found");
    // Nothing names the product or its version.
    expect(reference.headers.map(([k]) => k)).toEqual(["content-type"]);
    expect(reference.headers).toEqual([["content-type", "text/plain"]]);
    for (const [name, snap] of Object.entries(snapshots)) expect(snap, name).toEqual(reference);
  });

  it("does not open a socket on the service's object for a refused bind", async () => {
    const svc = freshService();
    const res = await edgeFetch(BIND_PATH, {
      headers: { Upgrade: "websocket", Authorization: `Bearer ${svc.token}`, Origin: "https://evil.example" },
    });
    expect(res.status).toBe(404);
    expect(await objectSockets(svc)).toEqual([]);
  });
});

describe("client accept path", () => {
  it("answers 426 without an Upgrade header", async () => {
    const svc = freshService();
    const res = await edgeFetch(svc.path);
    expect(res.status).toBe(426);
    expect(await res.text()).toBe("Upgrade Required");
  });

  it("upgrades a client without any subprotocol", async () => {
    const svc = freshService();
    const client = await openClient(svc);
    expect(client.response.status).toBe(101);
    expect(client.response.headers.get("sec-websocket-protocol")).toBeNull();
    client.close();
  });

  it("ignores internal headers a client forges: role, service and address come from the Worker", async () => {
    const svc = freshService();
    const other = freshService();
    const res = await edgeFetch(svc.path, {
      headers: {
        Upgrade: "websocket",
        "x-sallyport-role": "bind",
        "x-sallyport-service": other.name,
        "x-sallyport-client-address": "6.6.6.6",
        "cf-connecting-ip": "203.0.113.9",
      },
    });
    expect(res.status).toBe(101);
    res.webSocket!.accept();
    const sockets = await objectSockets(svc);
    expect(sockets).toHaveLength(1);
    expect(sockets[0]!.att).toMatchObject({ role: "client", service: svc.name, state: "waiting", address: "203.0.113.9" });
    expect(await objectSockets(other)).toEqual([]);
    res.webSocket!.close(1000);
  });
});

describe("bind path", () => {
  it("upgrades a connector with a valid token, echoing the bind subprotocol", async () => {
    const svc = freshService();
    const bind = await openBind(svc);
    expect(bind.response.status).toBe(101);
    expect(bind.response.headers.get("sec-websocket-protocol")).toBe(BIND_SUBPROTOCOLS[1]);
    const sockets = await objectSockets(svc);
    expect(sockets).toHaveLength(1);
    expect(sockets[0]!.att).toMatchObject({ role: "bind", service: svc.name, state: "registering" });
    bind.close();
  });
});
