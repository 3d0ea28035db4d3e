import { readFileSync } from "node:fs";
import { XMLParser } from "fast-xml-parser";
import { describe, expect, it } from "vitest";
import { importKaazingXml, looksLikeXml, parseKaazingXml } from "../../kaazing/xml.ts";
import { parseConnectorConfig } from "../../shared/config/connector-config.ts";
import { parseEdgeConfig } from "../../shared/config/edge-config.ts";
import type { ConfigIssue } from "../../shared/config/issues.ts";
import { importKaazing } from "../../kaazing/import.ts";
import type { KaazingImport } from "../../kaazing/model.ts";
import { KAAZING_PARSER_OPTIONS } from "../../kaazing/tree.ts";
import { renderWranglerVars } from "../../shared/config/wrangler-vars.ts";

/**
 * The Kaazing import (kaazing/import.ts), fed the two <service> examples of the
 * Enterprise Shield documentation verbatim (test/fixtures/kaazing/, one line each as in
 * test/fixtures/kaazing/enterprise-shield.txt) and a table of configurations it must refuse, each by
 * the path of the element at fault.
 */

const read = (rel: string): string => readFileSync(new URL(rel, import.meta.url), "utf8");
const INTERNAL = read("../fixtures/kaazing/internal-gateway.xml");
const DMZ = read("../fixtures/kaazing/dmz-gateway.xml");
const SEED = read("../fixtures/kaazing/enterprise-shield.txt");
const TOKEN = "kaazing-import-test-token";

function imported(xml: string): KaazingImport {
  const r = importKaazingXml(xml);
  if (!r.ok) throw new Error(`expected an import, got:\n${r.error.map((i) => `${i.path}: ${i.message}`).join("\n")}`);
  return r.value;
}

function refused(xml: string): readonly ConfigIssue[] {
  const r = importKaazingXml(xml);
  if (r.ok) throw new Error(`expected problems, got ${JSON.stringify(r.value, null, 2)}`);
  return r.error;
}

/** Replaces text that must be there, so a table row cannot silently test the unchanged file. */
function edit(xml: string, from: string, to: string): string {
  expect(xml, `fixture should contain ${from}`).toContain(from);
  return xml.replace(from, to);
}

/** Every leaf element's path in a one-service document, e.g. service[0].accept-options.socks.mode. */
function leafPaths(xml: string): string[] {
  const paths: string[] = [];
  const walk = (node: unknown, path: string): void => {
    if (typeof node !== "object" || node === null) return void paths.push(path);
    for (const [k, v] of Object.entries(node)) for (const item of v as unknown[]) walk(item, path ? `${path}.${k}` : k);
  };
  const doc = new XMLParser({ ...KAAZING_PARSER_OPTIONS }).parse(xml) as { service: unknown[] };
  walk(doc.service[0], "service[0]");
  return paths;
}

describe("the seed's examples are the fixtures, verbatim", () => {
  it.each([
    ["internal gateway", INTERNAL],
    ["DMZ gateway", DMZ],
  ])("%s", (_, xml) => {
    expect(SEED).toContain(xml.trim());
  });
});

describe("internal gateway example → connector configuration", () => {
  it("maps to exactly these connector settings", () => {
    const r = imported(INTERNAL);
    expect(r.edge).toBeUndefined();
    expect(r.services).toStrictEqual([{ path: "service[0]", role: "internal", name: "path" }]);
    expect(r.connector).toStrictEqual({
      services: [
        {
          name: "path",
          accept: "wss://gateway.example.com/path",
          connect: "tcp://internal.example.com:1080",
          "socks.mode": "reverse",
          "socks.retry.maximum.interval": "1 second",
          "prepared.connection.count": 1,
          "maximum.recovery.interval": "1 second",
        },
      ],
    });
  });

  it("loads in the connector (with the token the deployment supplies) as the hand-written equivalent does", () => {
    const mine = parseConnectorConfig({ "token.file": "/etc/sallyport/token", ...imported(INTERNAL).connector });
    const byHand = parseConnectorConfig(JSON.parse(read("../fixtures/config/kaazing-internal-gateway.connector.json")));
    expect(mine.ok && byHand.ok).toBe(true);
    if (!mine.ok || !byHand.ok) return;
    expect(mine.value.services).toStrictEqual(byHand.value.services);
    const s = mine.value.services[0]!;
    expect(s.bindUrl).toBe("wss://gateway.example.com/_sallyport/bind");
    expect(s.connect).toStrictEqual({ scheme: "tcp", host: "internal.example.com", port: 1080 });
    expect(s.retryMaximumIntervalMs).toBe(1000);
  });

  it("does not turn http.transport's SOCKS host into the edge, and says why", () => {
    const r = imported(INTERNAL);
    expect(JSON.stringify(r.connector)).not.toContain("gateway.dmz.net");
    const note = r.notes.find((n) => n.path === "service[0].accept-options.http.transport");
    expect(note?.text).toMatch(/^socks\+ssl:\/\/gateway\.dmz\.net:1080 → no setting: .*wss:\/\/gateway\.example\.com\/_sallyport\/bind/);
  });

  it("explains every element of the example", () => {
    const explained = new Set(imported(INTERNAL).notes.map((n) => n.path));
    for (const path of leafPaths(INTERNAL)) expect(explained, path).toContain(path);
  });

  it("notes the defaults it fills in for what Kaazing set on the DMZ gateway", () => {
    const notes = imported(INTERNAL).notes;
    expect(notes.find((n) => n.path === "service[0].properties.prepared.connection.count")?.text).toMatch(
      /^\(not set\) → prepared\.connection\.count 1 \(the default\)/,
    );
    expect(notes.find((n) => n.path === "service[0].properties.maximum.recovery.interval")?.text).toMatch(
      /^\(not set\) → maximum\.recovery\.interval "1 second" \(the default\)/,
    );
  });
});

describe("DMZ gateway example → edge configuration", () => {
  it("maps to exactly this SALLYPORT_SERVICES entry", () => {
    const r = imported(DMZ);
    expect(r.connector).toBeUndefined();
    expect(r.services).toStrictEqual([{ path: "service[0]", role: "dmz", name: "path" }]);
    expect(r.edge).toStrictEqual({
      SALLYPORT_SERVICES: {
        path: {
          accept: "wss://gateway.example.com/path",
          "socks.mode": "reverse",
          "socks.timeout": "2 seconds",
          "socks.ssl.verify-client": "required",
        },
      },
    });
  });

  it("loads in the edge as the hand-written equivalent does", () => {
    const tokens = JSON.stringify({ path: [TOKEN] });
    const mine = parseEdgeConfig(imported(DMZ).edge!.SALLYPORT_SERVICES, tokens);
    const byHand = parseEdgeConfig(JSON.parse(read("../fixtures/config/kaazing-dmz-gateway.edge-services.json")), tokens);
    expect(mine.ok && byHand.ok).toBe(true);
    if (!mine.ok || !byHand.ok) return;
    expect(mine.value).toStrictEqual(byHand.value);
    expect(mine.value.services[0]).toMatchObject({ socksTimeoutMs: 2000, verifyClient: "required", mode: "reverse" });
  });

  it("hands prepared.connection.count and maximum.recovery.interval to the connector", () => {
    const r = imported(DMZ);
    expect(JSON.stringify(r.edge)).not.toMatch(/prepared|recovery/);
    expect(r.notes.find((n) => n.path === "service[0].properties.prepared.connection.count")?.text).toBe(
      '1 → not an edge setting: put "prepared.connection.count": 1 in the connector\'s service (binds the connector keeps open at the ' +
        "edge, ready for clients)",
    );
    expect(r.notes.find((n) => n.path === "service[0].properties.maximum.recovery.interval")?.text).toMatch(
      /^1 second → not an edge setting: put "maximum\.recovery\.interval": "1 second" in the connector's service/,
    );
  });

  it("explains every element of the example, including what it drops", () => {
    const r = imported(DMZ);
    const explained = new Set(r.notes.map((n) => n.path));
    for (const path of leafPaths(DMZ)) expect(explained, path).toContain(path);
    expect(r.notes.find((n) => n.path === "service[0].accept-options.tcp.bind")?.text).toMatch(/^443 → no setting/);
    expect(r.notes.find((n) => n.path === "service[0].connect")?.text).toMatch(/^wss:\/\/gateway\.example\.com:443\/path → no setting/);
  });

  it("renders as wrangler.toml [vars] tables", () => {
    expect(renderWranglerVars(imported(DMZ).edge!.SALLYPORT_SERVICES, ["from the DMZ gateway", ""])).toBe(
      [
        "# from the DMZ gateway",
        "#",
        "",
        "[vars.SALLYPORT_SERVICES.path]",
        'accept = "wss://gateway.example.com/path"',
        '"socks.mode" = "reverse"',
        '"socks.timeout" = "2 seconds"',
        '"socks.ssl.verify-client" = "required"',
        "",
      ].join("\n"),
    );
  });
});

describe("a <gateway-config> holding both services", () => {
  const both = (internal = INTERNAL, dmz = DMZ): string =>
    `<?xml version="1.0" encoding="UTF-8"?>\n<!-- both sides -->\n<gateway-config ` +
    `xmlns="http://xmlns.kaazing.org/2016/06/gateway">\n${internal}\n${dmz}\n</gateway-config>\n`;

  it("yields the connector and the edge, indexed by <service> order", () => {
    const r = imported(both());
    expect(r.services.map((s) => [s.path, s.role])).toStrictEqual([
      ["service[0]", "internal"],
      ["service[1]", "dmz"],
    ]);
    expect(r.connector?.services).toHaveLength(1);
    expect(Object.keys(r.edge!.SALLYPORT_SERVICES)).toStrictEqual(["path"]);
    expect(r.notes.some((n) => n.text.startsWith("warning:"))).toBe(false);
  });

  it("reads the multi-line fixture", () => {
    const r = imported(read("../fixtures/kaazing/gateway-config.xml"));
    expect(r.connector?.services[0]).toMatchObject({
      name: "echo",
      accept: "wss://gateway.example.com/echo",
      connect: "tcp://127.0.0.1:7000",
    });
  });

  it("warns when socks.timeout does not outlast the internal gateway's retry maximum", () => {
    const r = imported(both(INTERNAL, edit(DMZ, "<socks.timeout>2 seconds</socks.timeout>", "<socks.timeout>1 second</socks.timeout>")));
    expect(r.notes.find((n) => n.path === "service[1].connect-options.socks.timeout" && n.text.startsWith("warning:"))?.text).toMatch(
      /Kaazing advises one second more/,
    );
  });

  it("names the problems of each service by its index", () => {
    const issues = refused(both(INTERNAL, edit(DMZ, "<type>proxy</type>", "<type>echo</type>")));
    expect(issues.map((i) => i.path)).toStrictEqual(["service[1].type"]);
  });

  it("carries the DMZ gateway's prepared.connection.count and maximum.recovery.interval into the connector's service", () => {
    const dmz = edit(
      edit(DMZ, "<prepared.connection.count>1<", "<prepared.connection.count>4<"),
      "<maximum.recovery.interval>1 second<",
      "<maximum.recovery.interval>3 seconds<",
    );
    const r = imported(both(INTERNAL, dmz));
    expect(r.connector?.services[0]).toMatchObject({ "prepared.connection.count": 4, "maximum.recovery.interval": "3 seconds" });
    expect(r.notes.find((n) => n.path === "service[1].properties.prepared.connection.count")?.text).toBe(
      '4 → not an edge setting: "prepared.connection.count": 4 in the connector\'s service "path" (service[0]), ' +
        "which has the same accept (binds the connector keeps open at the edge, ready for clients)",
    );
    // The internal service's note no longer claims the default it did not end up with.
    expect(r.notes.find((n) => n.path === "service[0].properties.prepared.connection.count")?.text).toMatch(
      /^\(not set\) → 4 from service\[1\]/,
    );
  });

  it("refuses a prepared.connection.count set differently on the two sides of one accept", () => {
    const internal = edit(
      INTERNAL,
      "<type>proxy</type>",
      "<type>proxy</type><properties><prepared.connection.count>2</prepared.connection.count></properties>",
    );
    const dmz = edit(DMZ, "<prepared.connection.count>1<", "<prepared.connection.count>4<");
    expect(refused(both(internal, dmz)).map((i) => [i.path, i.message])).toStrictEqual([
      [
        "service[1].properties.prepared.connection.count",
        "is 4, but the internal gateway's service[0] for the same accept says 2: the connector can keep only one; set it on one side",
      ],
    ]);
  });

  /** The same <service> named Other, for the accept path /other. */
  const other = (xml: string): string =>
    edit(xml, "<service>", "<service><name>Other</name>").replaceAll(
      "wss://gateway.example.com:443/path",
      "wss://gateway.example.com/other",
    );

  it("imports two DMZ services (each gets its own stand-in token in the output check)", () => {
    const r = imported(`<gateway-config>${DMZ}${other(DMZ)}</gateway-config>`);
    expect(Object.keys(r.edge!.SALLYPORT_SERVICES)).toStrictEqual(["path", "other"]);
  });

  it("imports two internal services for two accepts, and both sides of each", () => {
    const r = imported(both(`${INTERNAL}${other(INTERNAL)}`, `${DMZ}${other(DMZ)}`));
    expect(r.connector?.services.map((s) => [s.name, s.accept])).toStrictEqual([
      ["path", "wss://gateway.example.com/path"],
      ["other", "wss://gateway.example.com/other"],
    ]);
    expect(Object.keys(r.edge!.SALLYPORT_SERVICES)).toStrictEqual(["path", "other"]);
  });

  it("refuses two services the edge could not tell apart", () => {
    const twoDmz = `<gateway-config>${DMZ}${edit(DMZ, "<service>", "<service><name>Other</name>")}</gateway-config>`;
    expect(refused(twoDmz).map((i) => [i.path, i.message])).toStrictEqual([
      ["service[1].accept", expect.stringMatching(/same path as DMZ-gateway service "path"/)],
    ]);
    const twoInternal = `<gateway-config>${INTERNAL}${INTERNAL}</gateway-config>`;
    expect(refused(twoInternal).map((i) => [i.path, i.message])).toStrictEqual([
      ["service[1].name", expect.stringMatching(/already names another internal-gateway/)],
    ]);
  });
});

describe("names and free text", () => {
  it("folds a Kaazing <name> into a Sallyport name, and says so", () => {
    const r = imported(edit(INTERNAL, "<service>", "<service><name>Echo Service</name><description>The echo</description>"));
    expect(r.connector?.services[0]?.name).toBe("echo-service");
    expect(r.notes).toContainEqual({
      path: "service[0].name",
      text: '"Echo Service" → name "echo-service" (Sallyport names are a-z, 0-9 and -)',
    });
    expect(r.notes).toContainEqual({ path: "service[0].description", text: "dropped: informational only" });
  });

  it("accepts short durations, plain socks:// (TLS is still used), and CDATA or entities in values", () => {
    const xml = edit(
      edit(INTERNAL, "<socks.retry.maximum.interval>1 second<", "<socks.retry.maximum.interval><![CDATA[500ms]]><"),
      "socks+ssl://gateway.dmz.net:1080",
      "socks://gateway.dmz.net:1080",
    );
    const r = imported(xml);
    expect(r.connector?.services[0]?.["socks.retry.maximum.interval"]).toBe("500ms");
    expect(r.notes.find((n) => n.path === "service[0].accept-options.http.transport")?.text).toMatch(
      /TLS although the transport said socks:\/\//,
    );
  });
});

/** [what, xml, path of the element at fault, what the message says] */
const REFUSED: Array<[string, string, string, RegExp]> = [
  ["type other than proxy", edit(INTERNAL, "<type>proxy</type>", "<type>echo</type>"), "service[0].type", /is "echo".*only "proxy"/],
  ["no type", edit(INTERNAL, "<type>proxy</type>", ""), "service[0].type", /is required/],
  [
    "socks.mode forward on the internal gateway",
    edit(INTERNAL, "<socks.mode>reverse</socks.mode>", "<socks.mode>forward</socks.mode>"),
    "service[0].accept-options.socks.mode",
    /is "forward"; Sallyport implements only "reverse"/,
  ],
  [
    "socks.mode forward on the DMZ gateway",
    edit(DMZ, "<socks.mode>reverse</socks.mode>", "<socks.mode>forward</socks.mode>"),
    "service[0].connect-options.socks.mode",
    /only "reverse"/,
  ],
  [
    "empty socks.mode",
    edit(INTERNAL, "<socks.mode>reverse</socks.mode>", "<socks.mode/>"),
    "service[0].accept-options.socks.mode",
    /is ""/,
  ],
  ["no socks.mode anywhere", edit(INTERNAL, "<socks.mode>reverse</socks.mode>", ""), "service[0]", /not an Enterprise Shield service/],
  [
    "socks.mode on both sides",
    edit(INTERNAL, "</accept-options>", "</accept-options><connect-options><socks.mode>reverse</socks.mode></connect-options>"),
    "service[0]",
    /both accept-options and connect-options/,
  ],
  ["no accept", edit(INTERNAL, "<accept>wss://gateway.example.com:443/path</accept>", ""), "service[0].accept", /is required/],
  [
    "two accepts",
    edit(INTERNAL, "</accept>", "</accept><accept>wss://other.example.com/path</accept>"),
    "service[0].accept",
    /appears 2 times; a Sallyport service has one accept URI/,
  ],
  [
    "accept over http",
    edit(INTERNAL, "wss://gateway.example.com:443/path", "https://gateway.example.com/path"),
    "service[0].accept",
    /ws:\/\/ or wss:\/\//,
  ],
  ["accept not a URI", edit(INTERNAL, "wss://gateway.example.com:443/path", "gateway.example.com"), "service[0].accept", /is not a URI/],
  [
    "accept under Sallyport's reserved path",
    edit(INTERNAL, "wss://gateway.example.com:443/path", "wss://gateway.example.com/_sallyport/x"),
    "service[0].accept",
    /reserved for Sallyport/,
  ],
  [
    "internal connect not TCP",
    edit(INTERNAL, "tcp://internal.example.com:1080", "ws://internal.example.com:8080/"),
    "service[0].connect",
    /tcp:\/\/HOST:PORT/,
  ],
  [
    "internal connect without port",
    edit(INTERNAL, "tcp://internal.example.com:1080", "tcp://internal.example.com"),
    "service[0].connect",
    /port from 1 to 65535/,
  ],
  [
    "internal without connect",
    edit(INTERNAL, "<connect>tcp://internal.example.com:1080</connect>", ""),
    "service[0].connect",
    /is required/,
  ],
  [
    "two connects",
    edit(INTERNAL, "</connect>", "</connect><connect>tcp://b.example.com:1</connect>"),
    "service[0].connect",
    /appears 2 times; a Sallyport service has one backend/,
  ],
  [
    "DMZ connect not the accept URI",
    edit(DMZ, "<connect>wss://gateway.example.com:443/path</connect>", "<connect>wss://gateway.example.com/other</connect>"),
    "service[0].connect",
    /must be the accept URI \(wss:\/\/gateway\.example\.com\/path\)/,
  ],
  [
    "DMZ connect to a TCP backend",
    edit(DMZ, "<connect>wss://gateway.example.com:443/path</connect>", "<connect>tcp://internal.example.com:1080</connect>"),
    "service[0].connect",
    /must be the accept URI/,
  ],
  ["DMZ without connect", edit(DMZ, "<connect>wss://gateway.example.com:443/path</connect>", ""), "service[0].connect", /is required/],
  [
    "unknown service element",
    edit(INTERNAL, "<type>", "<frobnicate>1</frobnicate><type>"),
    "service[0].frobnicate",
    /not a service element Sallyport can honour/,
  ],
  // The edge authenticates clients and checks origins (client.auth, client.origins): the
  // refusal points there, and never claims the edge cannot.
  [
    "realm-name",
    edit(INTERNAL, "<type>", "<realm-name>demo</realm-name><type>"),
    "service[0].realm-name",
    /^(?!.*(in front of the edge|any origin)).*set the edge service's client\.auth \("token" or "jwt"/,
  ],
  [
    "authorization-constraint",
    edit(INTERNAL, "<type>", "<authorization-constraint><require-role>AUTHORIZED</require-role></authorization-constraint><type>"),
    "service[0].authorization-constraint",
    /^(?!.*(in front of the edge|any origin)).*client\.auth/,
  ],
  [
    "cross-site-constraint",
    edit(INTERNAL, "<type>", "<cross-site-constraint><allow-origin>https://app.example.com</allow-origin></cross-site-constraint><type>"),
    "service[0].cross-site-constraint",
    /^(?!.*any origin).*client\.origins/,
  ],
  ["balance", edit(INTERNAL, "<type>", "<balance>wss://x.example.com/</balance><type>"), "service[0].balance", /no balancer/],
  [
    "unknown accept-option",
    edit(INTERNAL, "</accept-options>", "<ws.inactivity.timeout>5s</ws.inactivity.timeout></accept-options>"),
    "service[0].accept-options.ws.inactivity.timeout",
    /not an option Sallyport can honour on an internal gateway/,
  ],
  [
    "unknown connect-option on the internal gateway",
    edit(INTERNAL, "</accept-options>", "</accept-options><connect-options><ssl.ciphers>x</ssl.ciphers></connect-options>"),
    "service[0].connect-options.ssl.ciphers",
    /not an option Sallyport can honour/,
  ],
  [
    "unknown property",
    edit(DMZ, "</properties>", "<other>1</other></properties>"),
    "service[0].properties.other",
    /not an option Sallyport can honour on a DMZ gateway/,
  ],
  [
    "DMZ option on the internal gateway",
    edit(INTERNAL, "</accept-options>", "<socks.timeout>2 seconds</socks.timeout></accept-options>"),
    "service[0].accept-options.socks.timeout",
    /belongs in the connect-options of a DMZ gateway/,
  ],
  [
    "internal option on the DMZ gateway",
    edit(DMZ, "</connect-options>", "<socks.retry.maximum.interval>1 second</socks.retry.maximum.interval></connect-options>"),
    "service[0].connect-options.socks.retry.maximum.interval",
    /belongs in the accept-options of an internal gateway/,
  ],
  [
    "tcp.bind on the internal gateway",
    edit(INTERNAL, "</accept-options>", "<tcp.bind>443</tcp.bind></accept-options>"),
    "service[0].accept-options.tcp.bind",
    /belongs in the accept-options of a DMZ gateway/,
  ],
  [
    "retry interval not a duration",
    edit(INTERNAL, ">1 second</socks.retry", ">1 fortnight</socks.retry"),
    "service[0].accept-options.socks.retry.maximum.interval",
    /"1 fortnight" is not a duration/,
  ],
  [
    "retry interval without unit",
    edit(INTERNAL, ">1 second</socks.retry", ">1</socks.retry"),
    "service[0].accept-options.socks.retry.maximum.interval",
    /is not a duration/,
  ],
  [
    "retry interval too short",
    edit(INTERNAL, ">1 second</socks.retry", ">10 milliseconds</socks.retry"),
    "service[0].accept-options.socks.retry.maximum.interval",
    /at least 100 milliseconds/,
  ],
  [
    "socks.timeout not a duration",
    edit(DMZ, "2 seconds", "forever"),
    "service[0].connect-options.socks.timeout",
    /"forever" is not a duration/,
  ],
  ["socks.timeout over a day", edit(DMZ, "2 seconds", "25 hours"), "service[0].connect-options.socks.timeout", /longer than 24 hours/],
  [
    "prepared.connection.count zero",
    edit(DMZ, "<prepared.connection.count>1<", "<prepared.connection.count>0<"),
    "service[0].properties.prepared.connection.count",
    /whole number from 1 to 1000/,
  ],
  [
    "prepared.connection.count not a number",
    edit(DMZ, "<prepared.connection.count>1<", "<prepared.connection.count>many<"),
    "service[0].properties.prepared.connection.count",
    /whole number/,
  ],
  [
    "prepared.connection.count on the internal gateway",
    edit(INTERNAL, "<type>", "<properties><prepared.connection.count>-1</prepared.connection.count></properties><type>"),
    "service[0].properties.prepared.connection.count",
    /whole number/,
  ],
  [
    "maximum.recovery.interval not a duration",
    edit(DMZ, "<maximum.recovery.interval>1 second<", "<maximum.recovery.interval>soon<"),
    "service[0].properties.maximum.recovery.interval",
    /is not a duration/,
  ],
  [
    "verify-client unknown",
    edit(DMZ, ">required<", ">sometimes<"),
    "service[0].connect-options.socks.ssl.verify-client",
    /must be one of "required", "optional", "none"/,
  ],
  [
    "http.transport not SOCKS",
    edit(INTERNAL, "socks+ssl://gateway.dmz.net:1080", "http://gateway.dmz.net:1080"),
    "service[0].accept-options.http.transport",
    /socks\+ssl:\/\/HOST:PORT/,
  ],
  [
    "DMZ http.transport without port",
    edit(DMZ, "socks+ssl://gateway.dmz.net:1080", "socks+ssl://gateway.dmz.net"),
    "service[0].connect-options.http.transport",
    /socks\+ssl:\/\/HOST:PORT/,
  ],
  [
    "TLS transport with a ws:// accept",
    edit(INTERNAL, "wss://gateway.example.com:443/path", "ws://gateway.example.com/path"),
    "service[0].accept-options.http.transport",
    /asks for TLS \(socks\+ssl\) but accept is ws:\/\//,
  ],
  ["tcp.bind not a port", edit(DMZ, "<tcp.bind>443<", "<tcp.bind>https<"), "service[0].accept-options.tcp.bind", /"PORT" or "HOST:PORT"/],
  [
    "tcp.bind port out of range",
    edit(DMZ, "<tcp.bind>443<", "<tcp.bind>0.0.0.0:70000<"),
    "service[0].accept-options.tcp.bind",
    /port from 1 to 65535/,
  ],
  [
    "repeated option",
    edit(DMZ, "</connect-options>", "<socks.timeout>3 seconds</socks.timeout></connect-options>"),
    "service[0].connect-options.socks.timeout",
    /appears 2 times/,
  ],
  [
    "repeated section",
    edit(INTERNAL, "</accept-options>", "</accept-options><accept-options><socks.mode>reverse</socks.mode></accept-options>"),
    "service[0].accept-options",
    /appears 2 times/,
  ],
  [
    "attribute on an option",
    edit(INTERNAL, "<socks.mode>", '<socks.mode secure="yes">'),
    "service[0].accept-options.socks.mode@secure",
    /attribute Sallyport does not know/,
  ],
  [
    "gateway property reference",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a Kaazing property reference, which the import must refuse
    edit(INTERNAL, "tcp://internal.example.com:1080", "tcp://${backend.host}:1080"),
    "service[0].connect",
    /property reference \(\$\{backend\.host\}\).*write the value in place/,
  ],
  [
    "elements where a value belongs",
    edit(INTERNAL, "<type>proxy</type>", "<type><proxy/></type>"),
    "service[0].type",
    /must hold a value, not elements \(found <proxy>\)/,
  ],
  [
    "text in a section",
    edit(INTERNAL, "<accept-options>", "<accept-options>loose text"),
    "service[0].accept-options",
    /must hold elements, not text/,
  ],
  ["name with nothing to keep", edit(INTERNAL, "<service>", "<service><name>!!!</name>"), "service[0].name", /no letter or digit/],
  ["root not a gateway configuration", "<services><service/></services>", "services", /expected <gateway-config> or <service>/],
  ["two top-level elements", `${INTERNAL}${DMZ}`, "(document)", /Multiple possible root nodes/],
  [
    "gateway-config without services",
    '<gateway-config xmlns="http://xmlns.kaazing.org/2016/06/gateway"/>',
    "gateway-config",
    /has no <service>/,
  ],
  [
    "gateway-config security",
    `<gateway-config><security><keystore/></security>${INTERNAL}</gateway-config>`,
    "gateway-config.security",
    /realms and keystores are not imported: .*client\.auth/,
  ],
  [
    "gateway-config properties",
    `<gateway-config><properties><property/></properties>${INTERNAL}</gateway-config>`,
    "gateway-config.properties",
    /write each value in place/,
  ],
  [
    "gateway-config unknown element",
    `<gateway-config><widget/>${INTERNAL}</gateway-config>`,
    "gateway-config.widget",
    /only <service> elements are/,
  ],
  ["gateway-config attribute", `<gateway-config version="4">${INTERNAL}</gateway-config>`, "gateway-config@version", /attribute/],
  ["not well-formed", edit(INTERNAL, "</type>", "</typo>"), "(document)", /is not well-formed XML: .*line 1/],
  ["a DOCTYPE", `<!DOCTYPE service [<!ENTITY e "x">]>${INTERNAL}`, "(document)", /<!DOCTYPE>/],
  ["empty", "", "(document)", /is not well-formed XML/],
];

describe("what cannot be honoured is refused, naming the element", () => {
  it.each(REFUSED)("%s", (_, xml, path, message) => {
    const issues = refused(xml);
    const at = issues.filter((i) => i.path === path);
    expect(at, `issues: ${JSON.stringify(issues)}`).toHaveLength(1);
    expect(at[0]!.message).toMatch(message);
  });

  it("reports only the element at fault, not knock-on problems", () => {
    for (const [what, xml, path] of REFUSED) {
      if (what === "socks.mode on both sides") continue; // the stray connect-options is named too, rightly
      expect(
        refused(xml).map((i) => i.path),
        what,
      ).toStrictEqual([path]);
    }
  });

  it("reports every problem of a service at once", () => {
    let xml = edit(INTERNAL, "<type>proxy</type>", "<type>echo</type>");
    xml = edit(xml, "tcp://internal.example.com:1080", "udp://internal.example.com:1080");
    xml = edit(xml, ">1 second</socks.retry", ">1 fortnight</socks.retry");
    xml = edit(xml, "<socks.mode>reverse</socks.mode>", "<socks.mode>forward</socks.mode><tcp.bind>443</tcp.bind>");
    expect(
      refused(xml)
        .map((i) => i.path)
        .sort(),
    ).toStrictEqual([
      "service[0].accept-options.socks.mode",
      "service[0].accept-options.socks.retry.maximum.interval",
      "service[0].accept-options.tcp.bind",
      "service[0].connect",
      "service[0].type",
    ]);
  });
});

describe("the pure mapping and the XML front", () => {
  it("the mapping takes fast-xml-parser's object, and nothing else", () => {
    const doc = parseKaazingXml(INTERNAL);
    expect(doc.ok && importKaazing(doc.value).ok).toBe(true);
    for (const junk of [undefined, null, "text", 42, []]) {
      const r = importKaazing(junk);
      expect(!r.ok && r.error[0]!.path).toBe("(document)");
    }
    // The XML front refuses several roots before the mapping sees them; the mapping does too.
    const r = importKaazing({ service: [""], "gateway-config": [""] });
    expect(!r.ok && r.error).toStrictEqual([
      { path: "(document)", message: "has 2 top-level elements (<service>, <gateway-config>); expected one <gateway-config> or <service>" },
    ]);
  });

  it.each([
    ["gateway-config.xml", "{}", true],
    ["conf.XML", "", true],
    ["connector.json", "  <service/>", true],
    ["connector.json", '{"services": []}', false],
    ["-", "{}", false],
  ])("looksLikeXml(%j, %j) is %j", (name, text, expected) => {
    expect(looksLikeXml(name, text)).toBe(expected);
  });
});
