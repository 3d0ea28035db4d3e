import { err, ok, type Result } from "../shared/result.ts";
import { defaultName, INSECURE_EDGE_KEY, parseConnectorConfig } from "../shared/config/connector-config.ts";
import { parseDuration } from "../shared/config/duration.ts";
import { parseEdgeConfig, standInTokens } from "../shared/config/edge-config.ts";
import { IssueList, type ConfigIssue } from "../shared/config/issues.ts";
import { mapDmz, mapInternal, misplacedOptions, PREPARED_WHAT, RECOVERY_WHAT } from "./roles.ts";
import {
  SECTIONS,
  type ImportContext,
  type ImportNote,
  type KaazingImport,
  type RawConnectorService,
  type RawEdgeService,
  type Role,
  type SectionName,
  type ServiceParts,
} from "./model.ts";
import { byName, checkAttributes, mentions, readSection, topLevelElements, type Section, type XmlElement } from "./tree.ts";
import { FieldReader } from "../shared/config/reader.ts";
import { readAccept, SERVICE_NAME, type AcceptUri } from "../shared/config/service.ts";

/**
 * Kaazing Enterprise Shield configuration → Sallyport configuration. Pure: takes what
 * fast-xml-parser made of a <gateway-config> or a bare <service> (see kaazing-tree.ts) and
 * returns the native settings with one explanation line per element, or every element it
 * cannot honour, each named by path (`service[0].accept-options.socks.mode`).
 *
 * Which side a <service> describes follows from where it sets socks.mode reverse, as in the
 * product documentation (test/fixtures/kaazing/enterprise-shield.txt, "Configuration Examples"):
 *   - in accept-options: the internal gateway, which dials out → the connector's service;
 *   - in connect-options: the DMZ gateway, which waits for those dials → the edge's
 *     SALLYPORT_SERVICES entry in wrangler.toml [vars].
 * The SOCKS leg itself (http.transport socks+ssl://HOST:1080) has no counterpart: the
 * connector reaches the edge over wss:// at the accept URI's origin, port 443, path
 * /_sallyport/bind. See kaazing-roles.ts for that choice.
 */

const LEAVES = ["name", "description", "accept", "connect", "type"];

const GATEWAY_ELEMENT_REASONS: Record<string, string> = {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: names Kaazing's own ${...} property syntax, not a template
  properties: "gateway properties are not imported (Sallyport expands no ${...} references); write each value in place",
  "service-defaults": "service defaults are not imported; write the options in each <service>",
  security:
    "realms and keystores are not imported: the edge's certificate is Cloudflare's, connectors authenticate with a bearer token, " +
    'and clients with the edge service\'s client.auth ("token" or "jwt", Cloudflare Access)',
  cluster: "Sallyport has no gateway cluster: the edge runs in every Cloudflare location, and scaling out is running more connectors",
  network: "address mappings do not apply: the edge is reached at its public hostname",
};

const SERVICE_ELEMENT_REASONS: Record<string, string> = {
  balance: "Sallyport has no balancer service: clients dial the edge directly",
  "realm-name":
    'Kaazing realms are not imported; set the edge service\'s client.auth ("token" or "jwt", a Cloudflare Access JWT) to ' +
    "authenticate clients at the edge",
  "authorization-constraint":
    "is not imported: the edge admits a client by its credential (the edge service's client.auth, a client token or a Cloudflare " +
    "Access JWT for one audience); check roles in the backend",
  "cross-site-constraint":
    "is not imported: list the allowed browser origins in the edge service's client.origins " +
    '(<allow-origin>https://app.example.com</allow-origin> → "client.origins": ["https://app.example.com"])',
  "mime-mapping": "Sallyport serves no files",
};

export function importKaazing(doc: unknown): Result<KaazingImport, readonly ConfigIssue[]> {
  const issues = new IssueList();
  const notes: ImportNote[] = [];
  const ctx: ImportContext = { issues, note: (path, text) => notes.push({ path, text }), connector: [], edge: {} };
  const services: MappedService[] = [];
  for (const [i, el] of serviceElements(doc, issues).entries()) {
    const path = `service[${i}]`;
    const parts = readParts(el, path, ctx);
    const role = roleOf(parts, ctx);
    if (!role) continue;
    misplacedOptions(parts, role, issues);
    if (role === "internal") mapInternal(parts, ctx);
    else mapDmz(parts, ctx);
    if (parts.name) services.push({ path, role, name: parts.name, parts });
  }
  const pairs = bothSides(services, ctx);
  checkTimeoutAgainstRetry(pairs, ctx);
  if (issues.empty) carryDmzProperties(pairs, ctx, notes);
  if (issues.empty) checkOutput(ctx);
  return issues.empty
    ? ok({
        connector: ctx.connector.length ? { services: ctx.connector } : undefined,
        edge: Object.keys(ctx.edge).length ? { SALLYPORT_SERVICES: ctx.edge } : undefined,
        services: services.map(({ path, role, name }) => ({ path, role, name })),
        notes,
      })
    : err(issues.items);
}

interface MappedService {
  readonly path: string;
  readonly role: Role;
  readonly name: string;
  readonly parts: ServiceParts;
}

/** The two sides of one accept URI, when one file holds both (a DMZ and an internal <service>). */
interface SidePair {
  readonly dmz: MappedService;
  readonly internal: MappedService;
  readonly edge: RawEdgeService;
  readonly connector: RawConnectorService;
}

function bothSides(services: readonly MappedService[], ctx: ImportContext): SidePair[] {
  const pairs: SidePair[] = [];
  for (const dmz of services.filter((s) => s.role === "dmz")) {
    const edge = ctx.edge[dmz.name];
    const connector = edge && ctx.connector.find((c) => c.accept === edge.accept);
    const internal = connector && services.find((s) => s.role === "internal" && s.name === connector.name);
    if (edge && connector && internal) pairs.push({ dmz, internal, edge, connector });
  }
  return pairs;
}

/**
 * Kaazing's advice (seed, "Configure the DMZ Gateway"): socks.timeout one second above the
 * internal gateway's socks.retry.maximum.interval, so a client outlasts one reconnect. Only
 * checkable when one file holds both sides; a warning, since either value may be deliberate.
 */
function checkTimeoutAgainstRetry(pairs: readonly SidePair[], ctx: ImportContext): void {
  for (const { dmz, edge, connector } of pairs) {
    const timeout = parseDuration(edge["socks.timeout"]!);
    const retry = parseDuration(String(connector["socks.retry.maximum.interval"]));
    if (timeout.ok && retry.ok && timeout.value <= retry.value) {
      ctx.note(
        `${dmz.path}.connect-options.socks.timeout`,
        `warning: ${edge["socks.timeout"]} is not longer than ` +
          `socks.retry.maximum.interval (${connector["socks.retry.maximum.interval"]}) ` +
          `of the internal gateway for the same accept; Kaazing advises one second more`,
      );
    }
  }
}

/** Set on the DMZ gateway in Kaazing, read by the connector in Sallyport. */
const DMZ_PROPERTIES = [
  { key: "prepared.connection.count", what: PREPARED_WHAT, same: (a: string, b: string) => Number(a) === Number(b) },
  {
    key: "maximum.recovery.interval",
    what: RECOVERY_WHAT,
    same: (a: string, b: string) => {
      const x = parseDuration(a);
      const y = parseDuration(b);
      return x.ok && y.ok && x.value === y.value;
    },
  },
] as const;

/**
 * Kaazing sets prepared.connection.count and maximum.recovery.interval on the DMZ gateway; the
 * connector is what acts on them. With both sides in one file, the DMZ's values go into the
 * connector's service for the same accept (mapInternal had filled in defaults), and the notes
 * of both say so. The same option set differently on the two sides is refused: the connector
 * can honour one, and which was meant is a guess.
 */
function carryDmzProperties(pairs: readonly SidePair[], ctx: ImportContext, notes: ImportNote[]): void {
  const renote = (path: string, text: string) => {
    const i = notes.findIndex((n) => n.path === path);
    if (i >= 0) notes[i] = { path, text };
    else notes.push({ path, text });
  };
  for (const { dmz, internal, connector } of pairs) {
    for (const { key, what, same } of DMZ_PROPERTIES) {
      const text = dmz.parts.sections.properties?.values[key];
      if (text === undefined) continue;
      const own = internal.parts.sections.properties?.values[key];
      if (own !== undefined && !same(own, text)) {
        ctx.issues.add(
          `${dmz.path}.properties.${key}`,
          `is ${text}, but the internal gateway's ${internal.path} for the same accept says ${own}: ` +
            `the connector can keep only one; set it on one side`,
        );
        continue;
      }
      const value = key === "prepared.connection.count" ? Number(text) : text;
      connector[key] = value;
      const shown = JSON.stringify(value);
      renote(
        `${dmz.path}.properties.${key}`,
        `${text} → not an edge setting: "${key}": ${shown} in the connector's service "${internal.name}" ` +
          `(${internal.path}), which has the same accept (${what})`,
      );
      if (own === undefined)
        renote(
          `${internal.path}.properties.${key}`,
          `(not set) → ${shown} from ${dmz.path}, the DMZ gateway for the same accept, where Kaazing sets it`,
        );
    }
  }
}

/**
 * What the mapping emits must load: it goes through the native validators here, with a
 * placeholder where a secret belongs (the connector's token file, the edge's token secret),
 * so an import never prints a configuration that will not start. A problem found here is a
 * bug in this module, reported rather than emitted.
 */
function checkOutput(ctx: ImportContext): void {
  if (ctx.connector.length) {
    // The shape only: whether a ws:// edge is acceptable depends on the edge the connector is
    // finally given (--edge), and the connector itself refuses a clear-text remote one at start.
    const r = parseConnectorConfig({ "token.file": "(token file)", [INSECURE_EDGE_KEY]: true, services: ctx.connector });
    if (!r.ok) for (const i of r.error) ctx.issues.add(`(output) ${i.path}`, i.message);
  }
  const names = Object.keys(ctx.edge);
  if (names.length) {
    const r = parseEdgeConfig(ctx.edge, standInTokens(names, "connector"), standInTokens(names, "client"));
    if (!r.ok) for (const i of r.error) ctx.issues.add(`(output) ${i.path}`, i.message);
  }
}

/** The <service> elements: the root itself, or the children of <gateway-config>. */
function serviceElements(doc: unknown, issues: IssueList) {
  const roots = topLevelElements(doc);
  if (roots.length !== 1) {
    const found = roots.map((r) => `<${r.name}>`).join(", ");
    issues.add(
      "(document)",
      roots.length === 0
        ? "has no element: expected <gateway-config> or <service>"
        : `has ${roots.length} top-level elements (${found}); expected one <gateway-config> or <service>`,
    );
    return [];
  }
  const root = roots[0]!;
  if (root.name === "service") return [root];
  if (root.name !== "gateway-config") {
    issues.add(root.name, "is not a Kaazing gateway configuration: expected <gateway-config> or <service> at the top");
    return [];
  }
  checkAttributes(root, "gateway-config", issues, ["xsi:schemaLocation"]);
  if (root.text) issues.add("gateway-config", "must hold elements, not text");
  for (const name of byName(root).keys()) {
    if (name !== "service")
      issues.add(
        `gateway-config.${name}`,
        GATEWAY_ELEMENT_REASONS[name] ?? "is not an element Sallyport can import; only <service> elements are",
      );
  }
  const services = root.children.filter((c) => c.name === "service");
  if (services.length === 0) issues.add("gateway-config", "has no <service>");
  return services;
}

function readParts(el: XmlElement, path: string, ctx: ImportContext): ServiceParts {
  const { issues } = ctx;
  // Elements refused with a reason are taken whole (they may hold elements): one issue each.
  const leaves = readSection(el, path, issues, [...SECTIONS, ...Object.keys(SERVICE_ELEMENT_REASONS)], {
    accept: "a Sallyport service has one accept URI: write one <service> per URI",
    connect: "a Sallyport service has one backend",
  });
  for (const name of [...Object.keys(leaves.values), ...leaves.broken, ...leaves.nested.keys()]) {
    if (LEAVES.includes(name) || (SECTIONS as readonly string[]).includes(name)) continue;
    issues.add(`${path}.${name}`, SERVICE_ELEMENT_REASONS[name] ?? "is not a service element Sallyport can honour; remove it");
  }
  const sections: Partial<Record<SectionName, Section>> = {};
  for (const name of SECTIONS) {
    const child = leaves.nested.get(name);
    if (child) sections[name] = readSection(child, `${path}.${name}`, issues);
  }
  // Carry on without a usable accept, so one run reports every problem in the service.
  const accept = leaves.broken.has("accept") ? undefined : readAccept(new FieldReader(leaves.values, path, issues));
  const name = readName(leaves, accept, ctx);
  if (leaves.values.description !== undefined) ctx.note(`${path}.description`, "dropped: informational only");
  readType(leaves, ctx);
  return { path, leaves, sections, accept, name };
}

function readType(leaves: Section, ctx: ImportContext): void {
  const at = `${leaves.path}.type`;
  const type = leaves.values.type;
  if (leaves.broken.has("type")) return;
  if (type === undefined) ctx.issues.add(at, "is required: Enterprise Shield services are <type>proxy</type>");
  else if (type !== "proxy")
    ctx.issues.add(at, `is "${type}"; Sallyport relays bytes as Kaazing's proxy service does, so only "proxy" can be honoured`);
  else ctx.note(at, "proxy → the edge and the connector relay bytes between each client and the backend, unchanged");
}

/**
 * Kaazing names are free text ("Echo Service"); Sallyport's key the edge's tokens and logs, so
 * they are folded to a-z, 0-9 and "-". Without <name>, both sides derive it from the accept
 * path, as the connector does, so separately imported DMZ and internal files agree.
 */
function readName(leaves: Section, accept: AcceptUri | undefined, ctx: ImportContext): string | undefined {
  const given = leaves.values.name;
  if (leaves.broken.has("name")) return undefined;
  if (given === undefined) {
    if (!accept) return undefined;
    const name = defaultName(accept);
    ctx.note(leaves.path, `(no <name>) → name "${name}", from the accept path`);
    return name;
  }
  const name = given
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63);
  if (!SERVICE_NAME.test(name)) {
    ctx.issues.add(`${leaves.path}.name`, `"${given}" has no letter or digit to name the service by`);
    return undefined;
  }
  ctx.note(`${leaves.path}.name`, name === given ? `→ name "${name}"` : `"${given}" → name "${name}" (Sallyport names are a-z, 0-9 and -)`);
  return name;
}

function roleOf(parts: ServiceParts, ctx: ImportContext): Role | undefined {
  const a = parts.sections["accept-options"];
  const c = parts.sections["connect-options"];
  const inAccept = mentions(a, "socks.mode");
  const inConnect = mentions(c, "socks.mode");
  if (inAccept && inConnect) {
    ctx.issues.add(
      parts.path,
      "sets socks.mode in both accept-options and connect-options: a gateway in the middle of a chain, which Sallyport does not have " +
        "(one edge, one connector)",
    );
    return undefined;
  }
  if (!inAccept && !inConnect) {
    // A repeated accept-options or connect-options is already reported; its socks.mode is unknown.
    if (parts.leaves.broken.has("accept-options") || parts.leaves.broken.has("connect-options")) return undefined;
    ctx.issues.add(
      parts.path,
      "is not an Enterprise Shield service: socks.mode reverse is set neither in accept-options (internal gateway) nor in " +
        "connect-options (DMZ gateway)",
    );
    return undefined;
  }
  // The side is known from where socks.mode is set even when its value is wrong, so the
  // rest of the service is still checked against that side.
  const section = (inAccept ? a : c)!;
  const mode = section.values["socks.mode"];
  if (mode !== undefined && mode !== "reverse") {
    ctx.issues.add(
      `${section.path}.socks.mode`,
      `is "${mode}"; Sallyport implements only "reverse": the connector dials out and nothing inside listens`,
    );
  }
  return inAccept ? "internal" : "dmz";
}
