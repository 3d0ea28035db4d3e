import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseConnectorConfig } from "../../shared/config/connector-config.ts";
import { parseEdgeConfig } from "../../shared/config/edge-config.ts";
import { decodeFromClient, decodeFromConnector, decodeFromEdge, encode } from "../../shared/protocol/codec.ts";
import { CLOSE_REASONS, CloseCode, type CloseCodeName } from "../../shared/protocol/close-codes.ts";
import { servicesFromWranglerToml } from "../helpers/wrangler-vars.ts";

/**
 * Every example in the docs is parsed by the code it documents: the configuration examples
 * are fixtures (test/fixtures/config/) that the doc's blocks must match, and the protocol's
 * example messages must decode. Every setting the parsers read must be documented.
 */

const read = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), "utf8");
const CONFIG_DOC = read("docs/configuration.md");
const PROTOCOL_DOC = read("docs/protocol.md");

interface Example {
  readonly fixture: string;
  readonly lang: string;
  readonly body: string;
}

/** Blocks announced by `<!-- example: PATH -->` right before the fence. */
function examples(markdown: string): Example[] {
  return [...markdown.matchAll(/<!-- example: (\S+) -->\n```(\w+)\n([\s\S]*?)\n```/g)].map((m) => ({
    fixture: m[1]!,
    lang: m[2]!,
    body: m[3]!,
  }));
}

const fixture = (path: string): unknown => JSON.parse(read(path));

describe("docs/configuration.md examples", () => {
  const found = examples(CONFIG_DOC);

  it("marks every JSON and TOML block of configuration as an example with a fixture", () => {
    const blocks = [...CONFIG_DOC.matchAll(/```(json|toml)\n/g)].length;
    expect(found.length).toBe(blocks);
    expect(found.map((e) => e.fixture).sort()).toStrictEqual([
      "test/fixtures/config/connector-minimal.json",
      "test/fixtures/config/connector.json",
      "test/fixtures/config/edge-client-tokens.json",
      "test/fixtures/config/edge-connector-tokens.json",
      "test/fixtures/config/edge-services.json",
    ]);
  });

  it.each(found.map((e) => [e.fixture, e] as const))("shows %s as it is", (_name, e) => {
    const shown = e.lang === "toml" ? servicesFromWranglerToml(e.body) : JSON.parse(e.body);
    expect(shown).toStrictEqual(fixture(e.fixture));
  });

  it("has an edge example that validates, tokens and all", () => {
    const r = parseEdgeConfig(
      fixture("test/fixtures/config/edge-services.json"),
      JSON.stringify(fixture("test/fixtures/config/edge-connector-tokens.json")),
      JSON.stringify(fixture("test/fixtures/config/edge-client-tokens.json")),
    );
    if (!r.ok) throw new Error(JSON.stringify(r.error));
    const [echo, chat] = r.value.services;
    expect(echo).toMatchObject({ name: "echo", socksTimeoutMs: 2000, connectorTokens: ["c0nn3ct0r-t0k3n-for-echo-2026"] });
    expect(chat).toMatchObject({
      name: "chat",
      socksTimeoutMs: 5000,
      maxMessageBytes: 65536,
      maxBinds: 200,
      maxBindsPerCredential: 100,
      maxClients: 1000,
      shards: 2,
      sessionIdleTimeoutMs: 1_800_000,
    });
    expect(chat!.connectorTokens).toHaveLength(2);
    expect(chat!.client).toMatchObject({ auth: "token", origins: ["https://app.example.com"], tokens: ["cl13nt-t0k3n-for-the-chat-app"] });
  });

  it.each(["test/fixtures/config/connector-minimal.json", "test/fixtures/config/connector.json"])(
    "has a connector example %s that validates",
    (path) => {
      const r = parseConnectorConfig(fixture(path));
      if (!r.ok) throw new Error(JSON.stringify(r.error));
      expect(r.value.services.length).toBeGreaterThan(0);
    },
  );

  it("describes the minimal connector example truthfully", () => {
    const r = parseConnectorConfig(fixture("test/fixtures/config/connector-minimal.json"));
    expect(r.ok && r.value.services[0]).toMatchObject({
      name: "echo",
      bindUrl: "wss://gateway.example.com/_sallyport/bind",
      preparedConnectionCount: 1,
    });
  });

  it("describes the full connector example truthfully", () => {
    const r = parseConnectorConfig(fixture("test/fixtures/config/connector.json"));
    if (!r.ok) throw new Error(JSON.stringify(r.error));
    const [echo, chat] = r.value.services;
    expect(echo).toMatchObject({ name: "echo", preparedConnectionCount: 4, bindUrl: "wss://gateway.example.com/_sallyport/bind" });
    expect(chat).toMatchObject({
      name: "chat",
      connect: { scheme: "tls" },
      tokenFile: "/etc/sallyport/chat.token",
      bindUrl: "wss://sallyport-edge.example.workers.dev/_sallyport/bind",
    });
  });

  it("pairs edge and connector examples: the same services, the same accept URIs", () => {
    const edge = parseEdgeConfig(
      fixture("test/fixtures/config/edge-services.json"),
      JSON.stringify(fixture("test/fixtures/config/edge-connector-tokens.json")),
      JSON.stringify(fixture("test/fixtures/config/edge-client-tokens.json")),
    );
    const connector = parseConnectorConfig(fixture("test/fixtures/config/connector.json"));
    if (!edge.ok || !connector.ok) throw new Error("examples do not validate");
    const pairs = (services: ReadonlyArray<{ name: string; accept: { uri: string } }>) =>
      services.map((s) => [s.name, s.accept.uri]).sort();
    expect(pairs(connector.value.services)).toStrictEqual(pairs(edge.value.services));
  });
});

/** Every key a parser reads, found by handing it objects that record each property read. */
function keysRead(parse: (spy: (o: Record<string, unknown>) => Record<string, unknown>) => void): string[] {
  const keys = new Set<string>();
  const spy = (o: Record<string, unknown>) =>
    new Proxy(o, {
      get(target, key, receiver) {
        if (typeof key === "string" && !(key in Object.prototype)) keys.add(key);
        return Reflect.get(target, key, receiver);
      },
    });
  parse(spy);
  return [...keys].sort();
}

describe("docs/configuration.md completeness", () => {
  const documented = (key: string) => CONFIG_DOC.includes(`\`${key}\``);

  it("documents every edge setting", () => {
    const keys = keysRead((spy) => {
      parseEdgeConfig({ echo: spy({ accept: "wss://gateway.example.com/echo" }) }, JSON.stringify({ echo: "0123456789abcdef-token" }));
    });
    expect(keys).toContain("socks.timeout");
    expect(keys.filter((k) => !documented(k))).toStrictEqual([]);
  });

  it("documents every connector setting", () => {
    const keys = keysRead((spy) => {
      parseConnectorConfig(
        spy({ "token.file": "/t", services: [spy({ accept: "wss://gateway.example.com/echo", connect: "tcp://h:1" })] }),
      );
    });
    expect(keys).toContain("prepared.connection.count");
    expect(keys).toContain("services");
    expect(keys.filter((k) => !documented(k))).toStrictEqual([]);
  });
});

describe("docs/protocol.md", () => {
  it("shows example messages that decode, as the encoder writes them, in each version", () => {
    const blocks = [...PROTOCOL_DOC.matchAll(/```json\n([\s\S]*?)\n```/g)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    const types = { 1: new Set<string>(), 2: new Set<string>(), 3: new Set<string>() };
    for (const line of blocks.flatMap((b) => b.split("\n"))) {
      const v = (JSON.parse(line) as { v: unknown }).v;
      expect([1, 2, 3], line).toContain(v);
      const version = v as 1 | 2 | 3;
      const results = [decodeFromConnector, decodeFromEdge, decodeFromClient].map((decode) => decode(line, version));
      const decoded = results.find((r) => r.ok);
      expect(decoded, line).toBeDefined();
      if (decoded?.ok) {
        expect(encode(decoded.value, version), line).toBe(line);
        types[version].add(decoded.value.t);
      }
    }
    expect([...types[1]].sort()).toStrictEqual(["bind", "bound", "credit", "demand", "done", "end", "opened", "paired", "start"]);
    expect([...types[2]].sort()).toStrictEqual(["credit", "mark"]);
    expect([...types[3]].sort()).toStrictEqual(["end", "resumed", "ticket"]);
  });

  it("lists every close code with its number and reason", () => {
    for (const name of Object.keys(CloseCode) as CloseCodeName[]) {
      const reason = CLOSE_REASONS[name] === "" ? "*(empty)*" : `\`${CLOSE_REASONS[name]}\``;
      expect(PROTOCOL_DOC, name).toContain(`| ${CloseCode[name]} | \`${name}\` | ${reason} |`);
    }
  });
});
