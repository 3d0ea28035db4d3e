import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConnectorConfig, mergeSources, parseConfigText, parseFlags } from "../../connector/config-load.ts";
import { ConfigError, type ConfigIssue } from "../../shared/config/issues.ts";

/**
 * connector/config-load.ts: file < environment < flags, and a Kaazing gateway-config.xml
 * accepted wherever a JSON file is, mapped and then merged exactly like one.
 */

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/kaazing/${name}`, import.meta.url), "utf8");
const TOKEN = "config-load-test-token-0001";

let dir: string;
let tokenFile: string;
let otherTokenFile: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sallyport-config-load-"));
  tokenFile = join(dir, "token");
  otherTokenFile = join(dir, "other-token");
  await writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  await writeFile(otherTokenFile, "other-token-value-00001\n", { mode: 0o600 });
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

async function loadError(flags: Record<string, string>, env: Record<string, string> = {}): Promise<readonly ConfigIssue[]> {
  try {
    await loadConnectorConfig(flags, env);
  } catch (e) {
    if (e instanceof ConfigError) return e.issues;
    throw e;
  }
  throw new Error("expected a ConfigError");
}

describe("mergeSources: file < environment < flags", () => {
  it("a boolean flag (--ca-file-only, --allow-insecure-edge) sets its setting to true; the proxy flags set theirs", () => {
    const flags = parseFlags([
      "--ca-file-only",
      "--allow-insecure-edge",
      "--proxy",
      "http://p:3128",
      "--proxy-credentials-file",
      "/c",
      "--proxy-ca-file",
      "/ca",
    ]);
    expect(mergeSources({}, {}, flags)).toMatchObject({
      "ca.file.only": "true",
      "allow.insecure.edge": "true",
      proxy: "http://p:3128",
      "proxy.credentials.file": "/c",
      "proxy.ca.file": "/ca",
    });
    expect(mergeSources({}, { SALLYPORT_PROXY: "http://env:3128", SALLYPORT_CA_FILE_ONLY: "true" }, {})).toMatchObject({
      proxy: "http://env:3128",
      "ca.file.only": "true",
    });
  });

  const fileRaw = { edge: "wss://file.example.com", services: [{ accept: "wss://a.example.com/a", connect: "tcp://file:1" }] };

  it.each([
    ["the file alone", {}, {}, "tcp://file:1", "wss://file.example.com"],
    [
      "the environment over the file",
      { SALLYPORT_CONNECT: "tcp://env:2", SALLYPORT_EDGE: "wss://env.example.com" },
      {},
      "tcp://env:2",
      "wss://env.example.com",
    ],
    [
      "flags over both",
      { SALLYPORT_CONNECT: "tcp://env:2", SALLYPORT_EDGE: "wss://env.example.com" },
      { connect: "tcp://flag:3", edge: "wss://flag.example.com" },
      "tcp://flag:3",
      "wss://flag.example.com",
    ],
    ["a flag over the file with no environment", {}, { connect: "tcp://flag:3" }, "tcp://flag:3", "wss://file.example.com"],
  ])("%s", (_, env, flags, connect, edge) => {
    const raw = mergeSources(fileRaw, env, flags) as { edge: string; services: Array<Record<string, unknown>> };
    expect(raw.services[0]!.connect).toBe(connect);
    expect(raw.edge).toBe(edge);
    expect(raw.services[0]!.accept).toBe("wss://a.example.com/a");
  });

  it("does not modify the file's object", () => {
    const before = JSON.stringify(fileRaw);
    mergeSources(fileRaw, { SALLYPORT_CONNECT: "tcp://env:2" }, { edge: "wss://flag.example.com" });
    expect(JSON.stringify(fileRaw)).toBe(before);
  });

  it("applies a per-service override to every service, and makes one when the file has none", () => {
    const two = { services: [{ name: "a" }, { name: "b" }] };
    const raw = mergeSources(two, { SALLYPORT_PREPARED: "3" }, {}) as { services: Array<Record<string, unknown>> };
    expect(raw.services.map((s) => s["prepared.connection.count"])).toStrictEqual(["3", "3"]);
    const none = mergeSources({}, { SALLYPORT_ACCEPT: "wss://x.example.com/x" }, {}) as { services: unknown[] };
    expect(none.services).toStrictEqual([{ accept: "wss://x.example.com/x" }]);
  });

  it("puts the token file at the top, where a service's own token.file still wins", async () => {
    const path = await file(
      "own-token.json",
      JSON.stringify({ services: [{ accept: "wss://a.example.com/a", connect: "tcp://b:1", "token.file": otherTokenFile }] }),
    );
    const { loaded } = await loadConnectorConfig({ config: path }, { SALLYPORT_TOKEN_FILE: tokenFile });
    expect(loaded[0]!.token).toBe("other-token-value-00001");
  });
});

describe("loadConnectorConfig from a JSON file", () => {
  it("loads file + environment + flags, flags winning", async () => {
    const path = await file(
      "connector.json",
      JSON.stringify({
        services: [{ accept: "wss://gw.example.com/echo", connect: "tcp://127.0.0.1:7000", "prepared.connection.count": 2 }],
      }),
    );
    const { config, loaded } = await loadConnectorConfig(parseFlags(["--config", path, "--prepared", "5"]), {
      SALLYPORT_TOKEN_FILE: tokenFile,
      SALLYPORT_PREPARED: "4",
    });
    expect(config.services[0]!.preparedConnectionCount).toBe(5);
    expect(loaded[0]!.token).toBe(TOKEN);
  });

  it("takes the file from SALLYPORT_CONFIG when no flag names one", async () => {
    const path = await file(
      "by-env.json",
      JSON.stringify({ "token.file": tokenFile, services: [{ accept: "wss://gw.example.com/env", connect: "tcp://127.0.0.1:1" }] }),
    );
    const { config } = await loadConnectorConfig({}, { SALLYPORT_CONFIG: path });
    expect(config.services[0]!.name).toBe("env");
  });

  it("reports a file that is not JSON, or cannot be read", async () => {
    expect(await loadError({ config: await file("broken.json", "{ nope") })).toMatchObject([
      { path: "(file)", message: expect.stringMatching(/^is not valid JSON/) },
    ]);
    expect(await loadError({ config: join(dir, "missing.json") })).toStrictEqual([{ path: "(file)", message: "cannot be read (ENOENT)" }]);
  });
});

describe("loadConnectorConfig from a Kaazing gateway configuration", () => {
  it("runs the seed's internal gateway <service> unchanged, with the token from the environment", async () => {
    const path = await file("internal-gateway.xml", fixture("internal-gateway.xml"));
    const { config, loaded } = await loadConnectorConfig({ config: path }, { SALLYPORT_TOKEN_FILE: tokenFile });
    const s = config.services[0]!;
    expect(s).toMatchObject({
      name: "path",
      bindUrl: "wss://gateway.example.com/_sallyport/bind",
      connect: { scheme: "tcp", host: "internal.example.com", port: 1080 },
      mode: "reverse",
      retryMaximumIntervalMs: 1000,
      preparedConnectionCount: 1,
      maximumRecoveryIntervalMs: 1000,
    });
    expect(s.accept.uri).toBe("wss://gateway.example.com/path");
    expect(loaded[0]!.token).toBe(TOKEN);
  });

  it("merges like a JSON file: flags and environment override what the XML says", async () => {
    const path = await file("gateway-config.xml", fixture("gateway-config.xml"));
    const { config } = await loadConnectorConfig(
      parseFlags(["--config", path, "--token-file", tokenFile, "--connect", "tcp://127.0.0.1:9", "--edge", "ws://127.0.0.1:8787"]),
      { SALLYPORT_PREPARED: "3", SALLYPORT_CONNECT: "tcp://env.example.com:1" },
    );
    expect(config.services[0]).toMatchObject({
      name: "echo",
      connect: { host: "127.0.0.1", port: 9 },
      preparedConnectionCount: 3,
      retryMaximumIntervalMs: 500,
      bindUrl: "ws://127.0.0.1:8787/_sallyport/bind",
    });
  });

  it("recognises XML by its first character whatever the file is called", async () => {
    const path = await file("gateway.conf", fixture("internal-gateway.xml"));
    const { config } = await loadConnectorConfig({ config: path, "token-file": tokenFile }, {});
    expect(config.services[0]!.name).toBe("path");
  });

  it("still needs a token: Kaazing had none", async () => {
    const path = await file("no-token.xml", fixture("internal-gateway.xml"));
    expect(await loadError({ config: path })).toStrictEqual([
      { path: "services[0].token.file", message: expect.stringMatching(/is required.*--token-file/) },
    ]);
  });

  it("refuses a DMZ gateway's configuration, pointing at `config import`", async () => {
    const path = await file("dmz-gateway.xml", fixture("dmz-gateway.xml"));
    expect(await loadError({ config: path, "token-file": tokenFile })).toStrictEqual([
      { path: "(file)", message: expect.stringMatching(/only DMZ-gateway services.*sallyport config import/) },
    ]);
  });

  it("names the elements it cannot honour", async () => {
    const bad = fixture("internal-gateway.xml")
      .replace("<socks.mode>reverse</socks.mode>", "<socks.mode>forward</socks.mode>")
      .replace("<type>proxy</type>", "<type>echo</type>");
    const issues = await loadError({ config: await file("bad.xml", bad), "token-file": tokenFile });
    expect(issues.map((i) => i.path)).toStrictEqual(["service[0].type", "service[0].accept-options.socks.mode"]);
  });

  it("parseConfigText: JSON stays JSON, XML becomes the raw connector object", () => {
    expect(parseConfigText("x.json", '{"services":[]}')).toStrictEqual({ services: [] });
    expect(parseConfigText("x.xml", fixture("internal-gateway.xml"))).toMatchObject({
      services: [{ name: "path", connect: "tcp://internal.example.com:1080" }],
    });
    expect(() => parseConfigText("x.xml", "<service>")).toThrow(/not well-formed XML/);
  });
});
