import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseConnectorConfig, type ConnectorService } from "../../shared/config/connector-config.ts";
import { parseEdgeConfig, type EdgeService } from "../../shared/config/edge-config.ts";

/**
 * The two <service> examples of Kaazing's Enterprise Shield documentation
 * (test/fixtures/kaazing/enterprise-shield.txt, "Configuration Examples"), written as Sallyport raw
 * configurations by hand, and parsed by the real parsers:
 *
 * - the internal gateway's service → the connector's configuration. Kaazing puts
 *   prepared.connection.count and maximum.recovery.interval in the DMZ gateway's properties;
 *   in Sallyport the connector prepares the connections, so they move to it.
 *   http.transport (socks+ssl://gateway.dmz.net:1080) has no counterpart: the edge takes binds
 *   on the accept URI's own host at /_sallyport/bind, which is the connector's default.
 * - the DMZ gateway's service → the edge's SALLYPORT_SERVICES. Its `connect` repeats the accept
 *   URI (a logical connection to the internal gateway): the edge has no `connect`, and
 *   refuses one. tcp.bind 443 is Cloudflare's to decide.
 */

const fixture = (name: string): unknown => JSON.parse(readFileSync(new URL(`../fixtures/config/${name}`, import.meta.url), "utf8"));
const SEED = new URL("../fixtures/kaazing/enterprise-shield.txt", import.meta.url);
const TOKEN = "kaazing-example-token-0001";

function connectorService(): ConnectorService {
  const r = parseConnectorConfig(fixture("kaazing-internal-gateway.connector.json"));
  if (!r.ok) throw new Error(JSON.stringify(r.error));
  expect(r.value.services).toHaveLength(1);
  return r.value.services[0]!;
}

function edgeService(): EdgeService {
  const r = parseEdgeConfig(fixture("kaazing-dmz-gateway.edge-services.json"), JSON.stringify({ path: TOKEN }));
  if (!r.ok) throw new Error(JSON.stringify(r.error));
  expect(r.value.services).toHaveLength(1);
  return r.value.services[0]!;
}

/** The leaf elements of the n-th `<service>` example in the seed, in order. */
function seedService(n: number): Array<[string, string]> {
  const services = readFileSync(SEED, "utf8").match(/<service>.*?<\/service>/gs) ?? [];
  const xml = services[n];
  if (!xml) throw new Error(`the seed has no <service> example number ${n + 1}`);
  return [...xml.matchAll(/<([a-z.-]+)>([^<]*)<\/\1>/g)].map((m) => [m[1]!, m[2]!.trim()]);
}

describe("Kaazing's internal gateway example, as a connector configuration", () => {
  it("validates, with the example's values", () => {
    const s = connectorService();
    expect(s.accept).toStrictEqual({ uri: "wss://gateway.example.com/path", path: "/path", secure: true });
    expect(s.connect).toStrictEqual({ scheme: "tcp", host: "internal.example.com", port: 1080 });
    expect(s.mode).toBe("reverse");
    expect(s.retryMaximumIntervalMs).toBe(1000);
    expect(s.preparedConnectionCount).toBe(1);
    expect(s.maximumRecoveryIntervalMs).toBe(1000);
  });

  it("names the service for its accept path and binds on the accept URI's host", () => {
    const s = connectorService();
    expect(s.name).toBe("path");
    expect(s.bindUrl).toBe("wss://gateway.example.com/_sallyport/bind");
  });
});

describe("Kaazing's DMZ gateway example, as an edge configuration", () => {
  it("validates, with the example's values", () => {
    const s = edgeService();
    expect(s.name).toBe("path");
    expect(s.accept).toStrictEqual({ uri: "wss://gateway.example.com/path", path: "/path", secure: true });
    expect(s.mode).toBe("reverse");
    expect(s.socksTimeoutMs).toBe(2000);
    expect(s.verifyClient).toBe("required");
    expect(s.connectorTokens).toStrictEqual([TOKEN]);
  });

  it("is refused if it keeps the DMZ gateway's connect", () => {
    const raw = fixture("kaazing-dmz-gateway.edge-services.json") as Record<string, Record<string, string>>;
    const r = parseEdgeConfig({ path: { ...raw.path, connect: "wss://gateway.example.com:443/path" } }, JSON.stringify({ path: TOKEN }));
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error.map((i) => i.path)).toStrictEqual(["SALLYPORT_SERVICES.path.connect"]);
  });
});

describe("the two sides together", () => {
  it("agree on the service: a connector bind names exactly the accept URI the edge expects", () => {
    const c = connectorService();
    const e = edgeService();
    expect(c.accept.uri).toBe(e.accept.uri);
    expect(c.name).toBe(e.name);
  });

  it("keep Kaazing's rule: socks.timeout above socks.retry.maximum.interval", () => {
    expect(edgeService().socksTimeoutMs).toBeGreaterThan(connectorService().retryMaximumIntervalMs);
  });
});

describe("the fixtures carry the seed's values", () => {
  const internal = fixture("kaazing-internal-gateway.connector.json") as { services: Array<Record<string, unknown>> };
  const dmz = fixture("kaazing-dmz-gateway.edge-services.json") as Record<string, Record<string, unknown>>;

  it("internal gateway: every element the connector has a setting for", () => {
    const leaves = seedService(0);
    const values = Object.fromEntries(leaves);
    const s = internal.services[0]!;
    expect(values.accept).toBe(s.accept);
    expect(values.connect).toBe(s.connect);
    expect(values["socks.mode"]).toBe(s["socks.mode"]);
    expect(values["socks.retry.maximum.interval"]).toBe(s["socks.retry.maximum.interval"]);
    expect(values.type).toBe("proxy");
  });

  it("DMZ gateway: every element the edge has a setting for, and the properties that moved", () => {
    const values = Object.fromEntries(seedService(1));
    const e = dmz.path!;
    expect(values.accept).toBe(e.accept);
    expect(values.connect).toBe(e.accept); // the logical connection: same URI
    expect(values["socks.mode"]).toBe(e["socks.mode"]);
    expect(values["socks.timeout"]).toBe(e["socks.timeout"]);
    expect(values["socks.ssl.verify-client"]).toBe(e["socks.ssl.verify-client"]);
    const s = internal.services[0]!;
    expect(Number(values["prepared.connection.count"])).toBe(s["prepared.connection.count"]);
    expect(values["maximum.recovery.interval"]).toBe(s["maximum.recovery.interval"]);
  });
});
