import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { parseConnectorConfig } from "../../shared/config/connector-config.ts";
import { parseEdgeConfig } from "../../shared/config/edge-config.ts";
import {
  Cleanup,
  REGISTERED,
  ROOT,
  SALLYPORT_BIN,
  echoBackend,
  openClient,
  randomToken,
  spawnSallyport,
  startEdge,
  tempDir,
  writeSecretFile,
} from "../helpers/index.ts";
import { servicesFromWranglerToml } from "../helpers/wrangler-vars.ts";

/**
 * `sallyport config check|import` as a user runs them (bin/sallyport.mjs, a child process),
 * judged by exit code and output; and the Kaazing examples run unchanged: a DMZ <service>
 * imported into the edge's vars and an internal-gateway <service> given to
 * `sallyport connector --config`, carrying a client's bytes to a backend.
 */

const fixture = (rel: string): string => join(ROOT, "test/fixtures", rel);
const INTERNAL = fixture("kaazing/internal-gateway.xml");
const DMZ = fixture("kaazing/dmz-gateway.xml");

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `sallyport ARGS…` to completion (bounded), without any SALLYPORT_* from our environment. */
function sallyport(...args: string[]): Promise<Run> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("SALLYPORT_")));
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [SALLYPORT_BIN, ...args], { cwd: ROOT, env, timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : undefined) : 0;
      if (code === undefined) reject(new Error(`sallyport ${args.join(" ")} did not exit normally: ${error?.message}\n${stderr}`));
      else resolve({ code, stdout, stderr });
    });
  });
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sallyport-config-cli-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

/** Matches these lines, one after the other, anywhere in the output. */
const consecutiveLines = (...lines: string[]): RegExp => new RegExp(lines.map((l) => l.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("\n"));

describe("sallyport config check", () => {
  it.each([
    [
      "the seed's internal gateway",
      INTERNAL,
      consecutiveLines(
        "valid Kaazing gateway configuration",
        '  service[0]: internal gateway → connector service "path"',
        "  the connector still needs its token",
      ),
    ],
    ["the seed's DMZ gateway", DMZ, /valid Kaazing gateway configuration\n {2}service\[0\]: DMZ gateway → edge service "path"\n$/],
    ["a gateway-config.xml", fixture("kaazing/gateway-config.xml"), /internal gateway → connector service "echo"/],
    [
      "the shipped example connector.json",
      join(ROOT, "deploy/systemd/connector.example.json"),
      consecutiveLines(
        "valid connector configuration",
        '  services[0]: "echo" wss://gateway.example.com/echo → tcp://127.0.0.1:7000, binds at wss://gateway.example.com/_sallyport/bind',
        "  token.file is not in the file",
      ),
    ],
    [
      "the repository's wrangler.toml",
      join(ROOT, "wrangler.toml"),
      consecutiveLines(
        "valid edge configuration",
        "  SALLYPORT_SERVICES.echo: wss://gateway.example.com/echo, socks.timeout 2000 ms",
        "  SALLYPORT_CONNECTOR_TOKENS is not in the file",
      ),
    ],
  ])("accepts %s (exit 0)", async (_, path, out) => {
    const r = await sallyport("config", "check", path);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(out);
  });

  it("accepts the edge's vars as JSON, saying the tokens were not checked", async () => {
    const path = await file(
      "edge-vars.json",
      JSON.stringify({ SALLYPORT_SERVICES: { echo: { accept: "wss://gateway.example.com/echo", "socks.timeout": "2 seconds" } } }),
    );
    const r = await sallyport("config", "check", path);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      `${path}: valid edge configuration\n  SALLYPORT_SERVICES.echo: wss://gateway.example.com/echo, socks.timeout 2000 ms\n  ` +
        `SALLYPORT_CONNECTOR_TOKENS is not in the file (it is a secret): not checked\n`,
    );
  });

  it("lists every problem of a connector configuration at once (exit 1)", async () => {
    const path = await file(
      "bad-connector.json",
      JSON.stringify({ services: [{ accept: "http://x.example.com/", connect: "tcp://b", "prepared.connection.count": 0, bogus: 1 }] }),
    );
    const r = await sallyport("config", "check", path);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(new RegExp(`^${path}: 4 problems\n`));
    for (const p of ["services[0].accept", "services[0].connect", "services[0].prepared.connection.count", "services[0].bogus"])
      expect(r.stderr).toContain(`  ${p}: `);
  });

  it("lists every problem of the edge's vars at once (exit 1)", async () => {
    const path = await file(
      "bad-edge.json",
      JSON.stringify({ SALLYPORT_SERVICES: { Bad_Name: { accept: "wss://x.example.com/x", "socks.timeout": "soon" } }, OTHER: 1 }),
    );
    const r = await sallyport("config", "check", path);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("  OTHER: is not a Sallyport edge variable");
    expect(r.stderr).toContain("  SALLYPORT_SERVICES.Bad_Name: service names are");
    expect(r.stderr).toContain('  SALLYPORT_SERVICES.Bad_Name.socks.timeout: "soon" is not a duration');
  });

  it("names each Kaazing element it cannot honour (exit 1)", async () => {
    const xml = readFileSync(INTERNAL, "utf8")
      .replace("<type>proxy</type>", "<type>echo</type>")
      .replace("1 second", "1 fortnight")
      .replace("<socks.mode>reverse", "<socks.mode>forward");
    const r = await sallyport("config", "check", await file("bad.xml", xml));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/: 3 problems\n/);
    expect(r.stderr).toContain(
      '  service[0].type: is "echo"; Sallyport relays bytes as Kaazing\'s proxy service does, so only "proxy" can be honoured',
    );
    expect(r.stderr).toContain('  service[0].accept-options.socks.mode: is "forward"; Sallyport implements only "reverse"');
    expect(r.stderr).toContain('  service[0].accept-options.socks.retry.maximum.interval: "1 fortnight" is not a duration');
  });

  it("fails on a file it cannot read, or cannot parse (exit 1)", async () => {
    const missing = await sallyport("config", "check", join(dir, "nope.json"));
    expect([missing.code, missing.stderr]).toStrictEqual([1, `${join(dir, "nope.json")}: 1 problem\n  (file): cannot be read (ENOENT)\n`]);
    const junk = await sallyport("config", "check", await file("junk.txt", "hello"));
    expect(junk.code).toBe(1);
    expect(junk.stderr).toContain("(file): is neither Kaazing XML nor valid JSON");
    const xml = await sallyport("config", "check", await file("broken.xml", "<service><accept>"));
    expect(xml.code).toBe(1);
    expect(xml.stderr).toContain("(document): is not well-formed XML");
  });

  it.each([
    [["config"], 2, /^usage: sallyport config check FILE/],
    [["config", "check"], 2, /check takes one FILE/],
    [["config", "check", "a", "b"], 2, /check takes one FILE/],
    [["config", "check", "--out", "d", "f"], 2, /--out and --force are for import/],
    [["config", "frob", "f"], 2, /unknown subcommand "frob"/],
    [["config", "import", "--bogus", "f"], 2, /Unknown option '--bogus'/],
    [["config", "--help"], 0, /^usage: sallyport config check FILE/],
  ])("sallyport %j exits %i", async (args, code, out) => {
    const r = await sallyport(...args);
    expect(r.code).toBe(code);
    expect(code === 0 ? r.stdout : r.stderr + r.stdout).toMatch(out);
  });

  it("is listed by `sallyport --help`", async () => {
    const r = await sallyport("--help");
    expect(r.stdout).toMatch(/^ {2}config {5}check a configuration, or import a Kaazing Enterprise Shield one$/m);
    expect(r.stdout).toMatch(/^ {2}service {4}install the connector as a systemd service$/m);
  });
});

describe("sallyport config import", () => {
  it("prints the connector JSON for the internal gateway, explaining every element", async () => {
    const r = await sallyport("config", "import", INTERNAL);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    for (const p of [
      "service[0].accept",
      "service[0].connect",
      "service[0].type",
      "service[0].accept-options.http.transport",
      "service[0].accept-options.socks.mode",
      "service[0].accept-options.socks.retry.maximum.interval",
    ]) {
      expect(r.stdout).toMatch(new RegExp(`^#   ${p.replace(/[[\].]/g, "\\$&")}: \\S.* → `, "m"));
    }
    const json = r.stdout.slice(r.stdout.indexOf("\n", r.stdout.indexOf("# connector.json")) + 1);
    const raw: unknown = JSON.parse(json);
    expect(raw).toStrictEqual({
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
    expect(parseConnectorConfig({ ...(raw as object), "token.file": "/t" }).ok).toBe(true);
  });

  it("writes wrangler-vars.toml for the DMZ gateway that the edge's parser accepts", async () => {
    const out = join(dir, "dmz-out");
    const r = await sallyport("config", "import", DMZ, "--out", out);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`wrote ${join(out, "wrangler-vars.toml")}`);
    const toml = await readFile(join(out, "wrangler-vars.toml"), "utf8");
    expect(toml).toMatch(/^# service\[0\]\.properties\.prepared\.connection\.count: 1 → not an edge setting/m);
    const services = servicesFromWranglerToml(toml);
    const edge = parseEdgeConfig(services, { path: [randomToken()] });
    expect(edge.ok && edge.value.services[0]).toMatchObject({ name: "path", socksTimeoutMs: 2000, verifyClient: "required" });
  });

  it("imports a DMZ gateway-config with two services, and config check accepts the wrangler-vars.toml it wrote", async () => {
    const dmz = readFileSync(DMZ, "utf8");
    const other = dmz
      .replace("<service>", "<service><name>Other</name>")
      .replaceAll("wss://gateway.example.com:443/path", "wss://gateway.example.com/other");
    const out = join(dir, "two-dmz-out");
    const r = await sallyport(
      "config",
      "import",
      await file("two-dmz.xml", `<gateway-config>${dmz}${other}</gateway-config>`),
      "--out",
      out,
    );
    expect([r.code, r.stderr]).toStrictEqual([0, ""]);
    const check = await sallyport("config", "check", join(out, "wrangler-vars.toml"));
    expect([check.code, check.stderr]).toStrictEqual([0, ""]);
    expect(check.stdout).toMatch(
      /valid edge configuration\n {2}SALLYPORT_SERVICES\.path: .*\n {2}SALLYPORT_SERVICES\.other: wss:\/\/gateway\.example\.com\/other/,
    );
  });

  it("refuses to overwrite without --force, and then checks clean", async () => {
    const out = join(dir, "internal-out");
    expect((await sallyport("config", "import", INTERNAL, "--out", out)).code).toBe(0);
    const again = await sallyport("config", "import", INTERNAL, "--out", out);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`${join(out, "connector.json")} already exists; pass --force to overwrite`);
    expect((await sallyport("config", "import", INTERNAL, "--out", out, "--force")).code).toBe(0);
    const check = await sallyport("config", "check", join(out, "connector.json"));
    expect(check.code).toBe(0);
  });

  it("exits 1 naming the elements it cannot honour, and writes nothing", async () => {
    const xml = readFileSync(DMZ, "utf8")
      .replace("<connect>wss://gateway.example.com:443/path</connect>", "<connect>tcp://db.internal:5432</connect>")
      .replace("</properties>", "<cluster.name>x</cluster.name></properties>");
    const out = join(dir, "refused-out");
    const r = await sallyport("config", "import", await file("refused.xml", xml), "--out", out);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("  service[0].connect: must be the accept URI (wss://gateway.example.com/path) on a DMZ gateway");
    expect(r.stderr).toContain("  service[0].properties.cluster.name: is not an option Sallyport can honour on a DMZ gateway");
    await expect(readFile(join(out, "wrangler-vars.toml"))).rejects.toThrow(/ENOENT/);
  });

  it("exits 1 for a file that is not Kaazing XML", async () => {
    const r = await sallyport("config", "import", join(ROOT, "deploy/systemd/connector.example.json"));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("(file): is not Kaazing XML");
  });
});

describe("the Kaazing examples run unchanged, end to end", () => {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  it(
    "a DMZ <service> imported into the edge and an internal <service> as the connector's --config carry a client to the " + "backend",
    async () => {
      const work = await tempDir(cleanup);
      const echo = await echoBackend(cleanup);
      // The seed's two <service> elements with local addresses: ws:// (no TLS locally), so the
      // internal gateway's transport is socks:// — socks+ssl with a ws:// accept is refused.
      const accept = "ws://sallyport.test/kaazing";
      const dmz = readFileSync(DMZ, "utf8")
        .replaceAll("wss://gateway.example.com:443/path", accept)
        .replace("<socks.ssl.verify-client>required</socks.ssl.verify-client>", "");
      const internal = readFileSync(INTERNAL, "utf8")
        .replace("wss://gateway.example.com:443/path", accept)
        .replace("tcp://internal.example.com:1080", echo.uri)
        .replace("socks+ssl://", "socks://");
      const dmzFile = join(work, "dmz-gateway.xml");
      const internalFile = join(work, "gateway-config.xml");
      await writeFile(dmzFile, dmz);
      await writeFile(internalFile, internal);

      const imported = await sallyport("config", "import", dmzFile, "--out", work);
      expect(imported.code, imported.stderr).toBe(0);
      const services = servicesFromWranglerToml(await readFile(join(work, "wrangler-vars.toml"), "utf8")) as Record<
        string,
        Record<string, string>
      >;
      const token = randomToken();
      const edge = await startEdge(cleanup, { services, tokens: { kaazing: [token] } });
      const tokenFile = await writeSecretFile(work, "token", token);

      const connector = spawnSallyport(["connector", "--config", internalFile, "--edge", edge.ws, "--token-file", tokenFile], {
        name: "connector",
        cleanup,
      });
      await connector.waitForLog(REGISTERED, 20_000, "the XML-configured connector registered");

      const client = openClient(cleanup, edge.clientUrl("/kaazing"));
      await client.opened(10_000);
      await client.send(Buffer.from("through the shield"));
      expect((await client.take(18, 10_000)).toString()).toBe("through the shield");
      expect(echo.connections()).toBe(1);
      client.close(1000);
    },
  );
});
