import { chmod, mkdir, open, readFile, writeFile } from "node:fs/promises";
import { exists } from "../files.ts";
import { isAbsolute, join, resolve } from "node:path";
import { ConfigError, type ConfigIssue } from "../../shared/config/issues.ts";
import { isRecord } from "../../shared/config/reader.ts";
import { checkConfigText } from "../config-check.ts";
import { type CommandSpec, parseCommand, printHelp, usageError } from "../options.ts";
import { parseConfigText } from "../../connector/config-load.ts";
import { looksLikeXml } from "../../kaazing/xml.ts";
import { built, shippedText } from "../shipped.ts";

const UNIT_NAME = "sallyport-connector.service";
/** The path the shipped unit passes to --config; rewritten when a Kaazing file is installed. */
export const UNIT_CONFIG_PATH = "/etc/sallyport/connector.json";
/** The program the shipped unit runs; rewritten to the sallyport actually installed (--bin). */
export const UNIT_BIN = "/usr/bin/sallyport";

export const COMMAND = {
  name: "service",
  synopsis: `usage: sallyport service install [--prefix DIR] [--config FILE] [--bin PATH] [--force]

Writes, under DIR (default /):
  etc/systemd/system/sallyport-connector.service   the unit (deploy/systemd/)
  etc/sallyport/connector.json                     an example, or FILE when given
  etc/sallyport/token                              empty, mode 0600: put the token here
FILE may be connector JSON or a Kaazing gateway-config.xml holding the internal gateway's
<service>; it is checked first, and installed under its own kind of name.
Existing files are left alone unless --force; the token file is never overwritten.`,
  options: {
    prefix: { type: "string", arg: "DIR", help: "root to install under (a staging directory, or / on the host)" },
    config: { type: "string", arg: "FILE", help: "configuration to install instead of the example" },
    bin: {
      type: "string",
      arg: "PATH",
      help:
        "the sallyport the unit runs (default: this one when installed with\nnpm install -g, else " +
        `${UNIT_BIN}, npm's global bin with Node from /usr/bin)`,
    },
    force: { type: "boolean", help: "overwrite the unit and the configuration" },
  },
} as const satisfies CommandSpec;

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") return printHelp(COMMAND) + (sub === undefined ? 2 : 0);
  if (sub !== "install") return usageError(COMMAND, `unknown subcommand "${sub}"`);
  const args = parseCommand(COMMAND, rest);
  if (!args.ok) return args.exit;
  const { values } = args;
  if (values.bin !== undefined && !isAbsolute(values.bin))
    return usageError(COMMAND, "--bin must be an absolute path (systemd runs it as is)");
  const config = values.config
    ? await readChecked(values.config)
    : { name: "connector.json", text: await shippedText("deploy/systemd/connector.example.json"), warnings: [] };
  if (!config) return 1;
  const unitTemplate = await shippedText("deploy/systemd/sallyport-connector.service");
  const shipped = `ExecStart=${UNIT_BIN} connector --config ${UNIT_CONFIG_PATH}`;
  if (!unitTemplate.split("\n").includes(shipped))
    throw new Error(`${UNIT_NAME} no longer has the line "${shipped}"; update cli/commands/service.ts`);
  const bin = values.bin ?? installedBin() ?? UNIT_BIN;
  const unit = unitTemplate.replace(shipped, `ExecStart=${bin} connector --config /etc/sallyport/${config.name}`);

  const root = resolve(values.prefix ?? "/");
  const unitPath = join(root, "etc/systemd/system", UNIT_NAME);
  const configDir = join(root, "etc/sallyport");
  const configPath = join(configDir, config.name);
  const tokenPath = join(configDir, "token");
  const clashes = [];
  for (const p of [unitPath, configPath]) if (!values.force && (await exists(p))) clashes.push(p);
  if (clashes.length) {
    process.stderr.write(
      `sallyport service install: ${clashes.join(", ")} already exist${clashes.length === 1 ? "s" : ""}; nothing written. Pass --force ` +
        `to overwrite (the token is kept).\n`,
    );
    return 1;
  }
  await mkdir(join(root, "etc/systemd/system"), { recursive: true });
  // The directory and configuration are world-readable: the service runs as a DynamicUser,
  // and the configuration holds no secret. The token is read by systemd as root (LoadCredential).
  const freshDir = !(await exists(configDir));
  await mkdir(configDir, { recursive: true, mode: 0o755 });
  if (freshDir) await chmod(configDir, 0o755); // whatever the umask; an existing one is the admin's
  await writeFile(unitPath, unit, { mode: 0o644 });
  await chmod(unitPath, 0o644);
  await writeFile(configPath, config.text, { mode: 0o644 });
  await chmod(configPath, 0o644);
  const tokenCreated = await createEmptySecret(tokenPath);

  const out = [
    `wrote ${unitPath}`,
    `wrote ${configPath}${values.config ? ` (from ${values.config})` : " (an example: set accept and connect)"}`,
    tokenCreated ? `wrote ${tokenPath} (empty, mode 0600)` : `kept ${tokenPath} (already there)`,
    `the unit runs ${bin}${values.bin ? "" : " (--bin to change)"}`,
    ...config.warnings.map((w) => `warning: ${w}`),
    "next:",
    `  put the connector token in ${tokenPath}${values.config ? "" : ` and edit ${configPath}`}`,
    `  sallyport config check ${configPath}`,
    "  systemctl daemon-reload && systemctl enable --now sallyport-connector",
  ];
  process.stdout.write(`${out.join("\n")}\n`);
  return 0;
}

/**
 * The sallyport this is, when it runs from an installed package: the path it was started by
 * (npm's bin link, e.g. /usr/local/bin/sallyport under a /usr/local prefix), absolute since
 * Node resolves argv[1]. From a checkout there is no installed one to point at.
 */
function installedBin(): string | undefined {
  const started = process.argv[1];
  return built && started && isAbsolute(started) ? started : undefined;
}

interface ConfigToInstall {
  readonly name: string;
  readonly text: string;
  readonly warnings: readonly string[];
}

/** The configuration to install, checked as the connector will read it; undefined after reporting why not. */
async function readChecked(file: string): Promise<ConfigToInstall | undefined> {
  const fail = (issues: readonly ConfigIssue[]): undefined => {
    process.stderr.write(`sallyport service install: ${new ConfigError(file, issues).message}\n`);
    return undefined;
  };
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    return fail([{ path: "(file)", message: `cannot be read (${(e as NodeJS.ErrnoException).code ?? "error"})` }]);
  }
  const result = checkConfigText(file, text);
  if (result.issues.length) return fail(result.issues);
  if (result.kind === "edge")
    return fail([
      {
        path: "(file)",
        message: "is the edge's configuration (wrangler vars); the connector needs connector JSON or a Kaazing internal gateway",
      },
    ]);
  let raw: unknown;
  try {
    raw = parseConfigText(file, text); // also refuses a Kaazing file with only DMZ services
  } catch (e) {
    if (e instanceof ConfigError) return fail(e.issues);
    throw e;
  }
  const warnings: string[] = [];
  const services = isRecord(raw) && Array.isArray(raw.services) ? raw.services : [];
  services.forEach((s, i) => {
    // The unit passes the token as SALLYPORT_TOKEN_FILE, which a service's own token.file overrides.
    if (isRecord(s) && s["token.file"] !== undefined)
      warnings.push(
        `services[${i}] sets its own token.file, so the unit's credential does not reach it; remove it to use /etc/sallyport/token`,
      );
  });
  return { name: looksLikeXml(file, text) ? "gateway-config.xml" : "connector.json", text, warnings };
}

/** Creates an empty 0600 file unless one exists: an installed token is never clobbered. */
async function createEmptySecret(path: string): Promise<boolean> {
  try {
    const handle = await open(path, "wx", 0o600);
    await handle.close();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  }
  await chmod(path, 0o600);
  return true;
}
