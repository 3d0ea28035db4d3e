import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConnectorConfig, mergeSources, parseFlags } from "../../connector/config-load.ts";
import { parseDuration } from "../../shared/config/duration.ts";
import { DEFAULTS } from "../../shared/config/service.ts";
import { UNIT_BIN } from "../../cli/commands/service.ts";
import { ROOT, SALLYPORT_BIN } from "../helpers/index.ts";
import { directives } from "../helpers/systemd-unit.ts";
import { needTool, skipOrFail, findSystemdAnalyze } from "../helpers/tools.ts";

/**
 * deploy/systemd/sallyport-connector.service and `sallyport service install`: the unit says
 * what the brief for a hardened connector service says, systemd itself accepts it
 * (`systemd-analyze verify`, and `security` for the sandbox's exposure), and the installed
 * layout is one the connector loads the way the unit runs it.
 *
 * systemd-analyze comes from the `systemd` package (.ci/install-system-deps.sh installs it).
 * Without it the checks that need it skip locally, saying why, and fail under CI=true.
 */

const UNIT_FILE = join(ROOT, "deploy/systemd/sallyport-connector.service");
const UNIT = readFileSync(UNIT_FILE, "utf8");
const ANALYZE = findSystemdAnalyze();
const HAS_ANALYZE = needTool("test/e2e/systemd.test.ts", ANALYZE);

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function run(cmd: string, args: string[]): Promise<Run> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("SALLYPORT_")));
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd: ROOT, env, timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : undefined) : 0;
      if (code === undefined) reject(new Error(`${cmd} ${args.join(" ")}: ${error?.message}\n${stderr}`));
      else resolve({ code, stdout, stderr });
    });
  });
}

const sallyport = (...args: string[]): Promise<Run> => run(process.execPath, [SALLYPORT_BIN, ...args]);

/** `systemd-analyze verify` exits 0 on mere warnings (an unknown key, a bad specifier): read stderr too. */
async function verify(unitPath: string): Promise<{ code: number; warnings: string[] }> {
  const r = await run("systemd-analyze", ["verify", unitPath]);
  const name = unitPath.split("/").pop()!;
  return { code: r.code, warnings: r.stderr.split("\n").filter((l) => l.includes(name)) };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sallyport-systemd-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("the shipped unit", () => {
  const d = directives(UNIT);
  const one = (key: string): string | undefined => d.get(key)?.at(-1);

  it.each([
    ["Type", "exec"],
    ["DynamicUser", "yes"],
    ["Restart", "on-failure"],
    ["RestartPreventExitStatus", "2"],
    ["NoNewPrivileges", "yes"],
    ["ProtectSystem", "strict"],
    ["ProtectHome", "yes"],
    ["PrivateTmp", "yes"],
    ["PrivateDevices", "yes"],
    ["RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"],
    ["CapabilityBoundingSet", ""],
    ["AmbientCapabilities", ""],
    ["LockPersonality", "yes"],
    ["ReadOnlyPaths", "/etc/sallyport"],
    ["LoadCredential", "token:/etc/sallyport/token"],
    ["ExecStart", "/usr/bin/sallyport connector --config /etc/sallyport/connector.json"],
    ["ExecReload", "/bin/kill -HUP $MAINPID"],
    ["KillSignal", "SIGTERM"],
  ])("sets %s=%s", (key, value) => {
    expect(one(key)).toBe(value);
  });

  it("filters system calls to @system-service", () => {
    expect(d.get("SystemCallFilter")?.[0]).toBe("@system-service");
  });

  it("leaves MemoryDenyWriteExecute out (V8's JIT needs W+X pages), saying why", () => {
    expect(d.has("MemoryDenyWriteExecute")).toBe(false);
    expect(UNIT).toMatch(/# MemoryDenyWriteExecute=yes is left out on purpose: V8's JIT/);
  });

  it("hands the token over as a credential, through a variable the connector reads", () => {
    expect(d.get("Environment")).toContain("SALLYPORT_TOKEN_FILE=%d/token");
    const raw = mergeSources({}, { SALLYPORT_TOKEN_FILE: "/run/credentials/sallyport-connector.service/token" }, {}) as Record<
      string,
      unknown
    >;
    expect(raw["token.file"]).toBe("/run/credentials/sallyport-connector.service/token");
  });

  it("starts the connector with flags it knows", () => {
    const [, command, ...args] = one("ExecStart")!.split(" ");
    expect(command).toBe("connector");
    expect({ ...parseFlags(args) }).toStrictEqual({ config: "/etc/sallyport/connector.json" });
  });

  it("gives the drain time to finish before SIGKILL", () => {
    const stop = parseDuration(one("TimeoutStopSec")!);
    const drain = parseDuration(DEFAULTS["drain.timeout"]);
    expect(stop.ok && drain.ok && stop.value > drain.value).toBe(true);
  });
});

describe.skipIf(!HAS_ANALYZE)(`systemd-analyze (${ANALYZE.detail})`, () => {
  it("verify accepts the shipped unit, short of its program where sallyport is not installed", async () => {
    // verify also checks that ExecStart's program exists; on a machine without `npm install -g`
    // of the package that is the one complaint, and the unit `service install` writes (below) has none.
    const r = await verify(UNIT_FILE);
    const missing = `sallyport-connector.service: Command ${UNIT_BIN} is not executable: No such file or directory`;
    expect(r).toStrictEqual(existsSync(UNIT_BIN) ? { code: 0, warnings: [] } : { code: 1, warnings: [missing] });
  });

  it("verify does warn on a broken copy (so the check above can fail)", async () => {
    const copy = join(await mkdtemp(join(dir, "broken-")), "sallyport-connector.service");
    await writeFile(copy, UNIT.replace("NoNewPrivileges=yes", "NoNewPrivilegez=yes").replace("%d/token", "%Q/token"));
    const r = await verify(copy);
    expect(r.warnings.join("\n")).toMatch(/Unknown key 'NoNewPrivilegez'/);
    expect(r.warnings.join("\n")).toMatch(/Failed to resolve specifiers/);
  });

  it("security rates the sandbox's exposure low", async (ctx) => {
    const r = await run("systemd-analyze", ["security", "--offline=true", UNIT_FILE]);
    if (r.code !== 0 && /offline/.test(r.stderr)) skipOrFail(ctx, "systemd-analyze security has no --offline (systemd < 250)");
    const level = /Overall exposure level for sallyport-connector\.service: ([\d.]+)/.exec(r.stdout);
    expect(level, r.stdout + r.stderr).not.toBeNull();
    expect(Number(level![1])).toBeLessThanOrEqual(2);
  });

  it("verify accepts the unit `service install` writes for a Kaazing gateway-config.xml", async () => {
    const prefix = join(dir, "verify-root");
    const config = join(ROOT, "test/fixtures/kaazing/gateway-config.xml");
    const r = await sallyport("service", "install", "--prefix", prefix, "--config", config, "--bin", SALLYPORT_BIN);
    expect(r.code, r.stderr).toBe(0);
    expect(await verify(join(prefix, "etc/systemd/system/sallyport-connector.service"))).toStrictEqual({ code: 0, warnings: [] });
  });
});

describe("sallyport service install", () => {
  const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

  it("writes the unit, an example configuration and an empty 0600 token under --prefix", async () => {
    const prefix = join(dir, "root");
    const r = await sallyport("service", "install", "--prefix", prefix);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const unit = join(prefix, "etc/systemd/system/sallyport-connector.service");
    const config = join(prefix, "etc/sallyport/connector.json");
    const token = join(prefix, "etc/sallyport/token");
    expect(r.stdout).toContain(`wrote ${unit}\nwrote ${config} (an example: set accept and connect)\nwrote ${token} (empty, mode 0600)\n`);
    expect(await readFile(unit, "utf8")).toBe(UNIT);
    expect(await readFile(config, "utf8")).toBe(readFileSync(join(ROOT, "deploy/systemd/connector.example.json"), "utf8"));
    expect(await readFile(token, "utf8")).toBe("");
    expect([await mode(unit), await mode(config), await mode(token), await mode(join(prefix, "etc/sallyport"))]).toStrictEqual([
      0o644, 0o644, 0o600, 0o755,
    ]);
  });

  it("lays out a configuration the connector loads the way the unit runs it", async () => {
    const prefix = join(dir, "root-load");
    expect((await sallyport("service", "install", "--prefix", prefix)).code).toBe(0);
    const token = join(prefix, "etc/sallyport/token");
    await writeFile(token, "installed-token-value-0001\n");
    // As the unit: --config from ExecStart, SALLYPORT_TOKEN_FILE pointing at the credential.
    const { loaded } = await loadConnectorConfig({ config: join(prefix, "etc/sallyport/connector.json") }, { SALLYPORT_TOKEN_FILE: token });
    expect(loaded.map((l) => [l.service.name, l.token])).toStrictEqual([["echo", "installed-token-value-0001"]]);
  });

  it("refuses to overwrite without --force, and never overwrites the token", async () => {
    const prefix = join(dir, "root-again");
    expect((await sallyport("service", "install", "--prefix", prefix)).code).toBe(0);
    const config = join(prefix, "etc/sallyport/connector.json");
    const token = join(prefix, "etc/sallyport/token");
    await writeFile(config, '{"edited": true}\n');
    await writeFile(token, "a-token-already-in-place\n");

    const again = await sallyport("service", "install", "--prefix", prefix);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(
      `${join(prefix, "etc/systemd/system/sallyport-connector.service")}, ${config} already exist; nothing written`,
    );
    expect(await readFile(config, "utf8")).toBe('{"edited": true}\n');

    const forced = await sallyport("service", "install", "--prefix", prefix, "--force");
    expect(forced.code).toBe(0);
    expect(forced.stdout).toContain(`kept ${token} (already there)`);
    expect(await readFile(token, "utf8")).toBe("a-token-already-in-place\n");
    expect(await readFile(config, "utf8")).not.toContain("edited");
  });

  it("runs the sallyport --bin names (from a checkout the unit's own /usr/bin/sallyport), and refuses a relative one", async () => {
    const prefix = join(dir, "root-bin");
    const r = await sallyport("service", "install", "--prefix", prefix, "--bin", "/opt/node/bin/sallyport");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("the unit runs /opt/node/bin/sallyport\n");
    const unit = await readFile(join(prefix, "etc/systemd/system/sallyport-connector.service"), "utf8");
    expect(directives(unit).get("ExecStart")).toStrictEqual(["/opt/node/bin/sallyport connector --config /etc/sallyport/connector.json"]);
    expect((await sallyport("service", "install", "--prefix", join(dir, "root-bin-relative"), "--bin", "bin/sallyport")).stderr).toMatch(
      /--bin must be an absolute path/,
    );
  });

  it("installs a Kaazing gateway-config.xml as such, and points the unit at it", async () => {
    const prefix = join(dir, "root-xml");
    const r = await sallyport("service", "install", "--prefix", prefix, "--config", join(ROOT, "test/fixtures/kaazing/gateway-config.xml"));
    expect(r.code, r.stderr).toBe(0);
    const unit = await readFile(join(prefix, "etc/systemd/system/sallyport-connector.service"), "utf8");
    expect(directives(unit).get("ExecStart")).toStrictEqual(["/usr/bin/sallyport connector --config /etc/sallyport/gateway-config.xml"]);
    // Only the command changes: the rest of the unit is the shipped one.
    expect(unit.replace("/etc/sallyport/gateway-config.xml", "/etc/sallyport/connector.json")).toBe(UNIT);
    expect(await readFile(join(prefix, "etc/sallyport/gateway-config.xml"), "utf8")).toBe(
      readFileSync(join(ROOT, "test/fixtures/kaazing/gateway-config.xml"), "utf8"),
    );
  });

  it.each([
    ["a DMZ gateway's configuration", join(ROOT, "test/fixtures/kaazing/dmz-gateway.xml"), /only DMZ-gateway services/],
    ["an invalid configuration", "bad", /services\[0\]\.connect: /],
    ["a missing file", "/nonexistent/connector.json", /\(file\): cannot be read \(ENOENT\)/],
  ])("refuses %s (exit 1), writing nothing", async (_, config, message) => {
    const path = config === "bad" ? join(dir, "bad-connector.json") : config;
    if (config === "bad") await writeFile(path, JSON.stringify({ services: [{ accept: "wss://a.example.com/a", connect: "udp://x:1" }] }));
    const prefix = join(dir, `root-refused-${Math.random().toString(36).slice(2)}`);
    const r = await sallyport("service", "install", "--prefix", prefix, "--config", path);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
    await expect(stat(prefix)).rejects.toThrow(/ENOENT/);
  });

  it("warns when a service's own token.file would bypass the unit's credential", async () => {
    const path = join(dir, "own-token.json");
    await writeFile(
      path,
      JSON.stringify({ services: [{ accept: "wss://a.example.com/a", connect: "tcp://b:1", "token.file": "/home/me/token" }] }),
    );
    const r = await sallyport("service", "install", "--prefix", join(dir, "root-own-token"), "--config", path);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("warning: services[0] sets its own token.file, so the unit's credential does not reach it");
  });

  it.each([
    [["service"], 2],
    [["service", "uninstall"], 2],
    [["service", "install", "--bogus"], 2],
    [["service", "--help"], 0],
  ])("sallyport %j exits %i", async (args, code) => {
    expect((await sallyport(...args)).code).toBe(code);
  });
});
