import { BIND_PATH } from "../shared/protocol/constants.ts";
import { MAX_PREPARED } from "../shared/config/connector-config.ts";
import type { IssueList } from "../shared/config/issues.ts";
import { SECTIONS, type ImportContext, type Role, type SectionName, type ServiceParts } from "./model.ts";
import type { Section } from "./tree.ts";
import { FieldReader } from "../shared/config/reader.ts";
import { DEFAULTS, VERIFY_CLIENT, readConnect, type AcceptUri } from "../shared/config/service.ts";

/**
 * The two Enterprise Shield roles, mapped element by element.
 *
 * The choice about http.transport: Kaazing's reverse connection is a SOCKS session from the
 * internal gateway to a SOCKS listener on the DMZ host (socks+ssl://gateway.dmz.net:1080).
 * Sallyport's edge is a Cloudflare Worker: it has no SOCKS listener and no port but 443, and
 * it takes connector binds as WebSocket upgrades on the same hostname clients use, at
 * /_sallyport/bind. So the transport's host and port are *not* carried into the connector's
 * `edge`: pointing it at gateway.dmz.net:1080 would dial something that does not exist. The
 * connector's default — the accept URI's origin — is the Sallyport equivalent, and `edge` is
 * only needed when the Worker answers on another name (its workers.dev host, say). The
 * transport's "+ssl" is honoured by that origin being wss://.
 */

/** The options each side can honour, by section; anything else in a section is rejected. */
const OPTIONS: Record<Role, Record<SectionName, readonly string[]>> = {
  internal: {
    properties: ["prepared.connection.count", "maximum.recovery.interval"],
    "accept-options": ["socks.mode", "http.transport", "socks.retry.maximum.interval"],
    "connect-options": [],
  },
  dmz: {
    properties: ["prepared.connection.count", "maximum.recovery.interval"],
    "accept-options": ["tcp.bind"],
    "connect-options": ["socks.mode", "http.transport", "socks.timeout", "socks.ssl.verify-client"],
  },
};

const ROLE_NAME: Record<Role, string> = { internal: "an internal gateway", dmz: "a DMZ gateway" };

export function misplacedOptions(parts: ServiceParts, role: Role, issues: IssueList): void {
  const other: Role = role === "internal" ? "dmz" : "internal";
  for (const section of SECTIONS) {
    const s = parts.sections[section];
    for (const key of s ? [...Object.keys(s.values), ...s.broken] : []) {
      if (OPTIONS[role][section].includes(key)) continue;
      const home = SECTIONS.find((n) => OPTIONS[other][n].includes(key));
      issues.add(
        `${s!.path}.${key}`,
        home
          ? `belongs in the ${home} of ${ROLE_NAME[other]}; this <service> is ${ROLE_NAME[role]}, which cannot honour it`
          : `is not an option Sallyport can honour on ${ROLE_NAME[role]}; remove it`,
      );
    }
  }
}

const TRANSPORT = /^socks(\+ssl)?:\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})\/?$/;

function readTransport(s: Section, ctx: ImportContext): { text: string; secure: boolean } | undefined {
  const text = s.values["http.transport"];
  if (text === undefined) return undefined;
  const m = TRANSPORT.exec(text);
  if (!m || Number(m[3]) < 1 || Number(m[3]) > 65535) {
    ctx.issues.add(
      `${s.path}.http.transport`,
      'must be "socks+ssl://HOST:PORT" or "socks://HOST:PORT": Enterprise Shield reverse connections run over SOCKS',
    );
    return undefined;
  }
  return { text, secure: m[1] !== undefined };
}

function bindUrl(accept: AcceptUri): string {
  return new URL(BIND_PATH, accept.uri.replace(/^ws/, "http")).href.replace(/^http/, "ws");
}

/** A duration option: validated as the native config reads it, copied as written, or the default. */
function duration(parts: ServiceParts, section: SectionName, key: string, minMs: number, ctx: ImportContext, what: string): string {
  const s = parts.sections[section];
  const fallback = (DEFAULTS as Record<string, string | number>)[key] as string;
  const text = s?.values[key];
  if (text === undefined) {
    if (!s?.broken.has(key)) ctx.note(`${parts.path}.${section}.${key}`, `(not set) → ${key} "${fallback}" (the default): ${what}`);
    return fallback;
  }
  new FieldReader(s!.values, s!.path, ctx.issues).duration(key, fallback, minMs);
  ctx.note(`${s!.path}.${key}`, `${text} → ${key} "${text}": ${what}`);
  return text;
}

function preparedCount(parts: ServiceParts, ctx: ImportContext, what: string): number {
  const s = parts.sections.properties;
  const key = "prepared.connection.count";
  const fallback = DEFAULTS[key];
  if (s?.values[key] === undefined) {
    if (!s?.broken.has(key)) ctx.note(`${parts.path}.properties.${key}`, `(not set) → ${key} ${fallback} (the default): ${what}`);
    return fallback;
  }
  const n = new FieldReader(s.values, s.path, ctx.issues).integer(key, fallback, 1, MAX_PREPARED);
  ctx.note(`${s.path}.${key}`, `${s.values[key]} → ${key} ${n}: ${what}`);
  return n;
}

export const PREPARED_WHAT = "binds the connector keeps open at the edge, ready for clients";
export const RECOVERY_WHAT = "the connector's cap on the wait before preparing connections again after a failure";

export function mapInternal(parts: ServiceParts, ctx: ImportContext): void {
  const { path, accept, name, leaves } = parts;
  const { issues } = ctx;
  if (accept)
    ctx.note(
      `${path}.accept`,
      `${leaves.values.accept} → accept "${accept.uri}": the URI clients dial at the edge, which the connector's binds name`,
    );
  const connect = leaves.broken.has("connect") ? undefined : readConnect(new FieldReader(leaves.values, path, issues));
  if (connect)
    ctx.note(
      `${path}.connect`,
      `${leaves.values.connect} → connect "${leaves.values.connect}": the backend, dialled once per paired client; only the connector ` +
        `knows it`,
    );
  const ao = parts.sections["accept-options"]!;
  const transport = readTransport(ao, ctx);
  if (transport && accept) {
    if (transport.secure && !accept.secure) {
      issues.add(
        `${ao.path}.http.transport`,
        "asks for TLS (socks+ssl) but accept is ws://, and the connector reaches the edge with the accept URI's scheme; make accept wss://",
      );
    } else {
      const plain = !transport.secure && accept.secure ? " (TLS although the transport said socks://, since accept is wss://)" : "";
      ctx.note(
        `${ao.path}.http.transport`,
        `${transport.text} → no setting: the connector reaches the edge at ${bindUrl(accept)}${plain}, the accept URI's origin, not a ` +
          `SOCKS port; set "edge" only if the Worker answers on another host`,
      );
    }
  } else if (!transport && !ao.broken.has("http.transport") && accept) {
    ctx.note(`${ao.path}.http.transport`, `(not set) → no setting: the connector reaches the edge at ${bindUrl(accept)}`);
  }
  ctx.note(`${ao.path}.socks.mode`, 'reverse → socks.mode "reverse": the connector dials out; nothing in the trusted network listens');
  const retry = duration(
    parts,
    "accept-options",
    "socks.retry.maximum.interval",
    100,
    ctx,
    "the cap of the connector's reconnect backoff (100 ms, 200 ms, 400 ms … as in Kaazing)",
  );
  const prepared = preparedCount(parts, ctx, `${PREPARED_WHAT} (Kaazing sets this on the DMZ gateway; use its value)`);
  const recovery = duration(
    parts,
    "properties",
    "maximum.recovery.interval",
    100,
    ctx,
    `${RECOVERY_WHAT} (Kaazing sets this on the DMZ gateway; use its value)`,
  );
  if (!accept || !name || !connect) return;
  if (ctx.connector.some((s) => s.name === name)) {
    issues.add(`${path}.name`, `"${name}" already names another internal-gateway <service>; give each a distinct <name>`);
    return;
  }
  ctx.connector.push({
    name,
    accept: accept.uri,
    connect: leaves.values.connect!,
    "socks.mode": "reverse",
    "socks.retry.maximum.interval": retry,
    "prepared.connection.count": prepared,
    "maximum.recovery.interval": recovery,
  });
}

/** Kaazing's default ports make `wss://host:443/p` and `wss://host/p` the same URI. */
function sameUri(text: string, accept: AcceptUri): boolean {
  try {
    return new URL(text).href === accept.uri;
  } catch {
    return false;
  }
}

export function mapDmz(parts: ServiceParts, ctx: ImportContext): void {
  const { path, accept, name, leaves } = parts;
  const { issues } = ctx;
  if (accept)
    ctx.note(`${path}.accept`, `${leaves.values.accept} → accept "${accept.uri}": the URI clients dial; route this hostname to the Worker`);
  const connect = leaves.values.connect;
  if (connect === undefined && !leaves.broken.has("connect")) {
    issues.add(
      `${path}.connect`,
      "is required: on a DMZ gateway it repeats the accept URI (the logical connection to the internal gateway)",
    );
  } else if (connect !== undefined && accept && !sameUri(connect, accept)) {
    issues.add(
      `${path}.connect`,
      `must be the accept URI (${accept.uri}) on a DMZ gateway: the edge pairs each client with a connector bind for the URI the client ` +
        `dialled`,
    );
  } else if (connect !== undefined && accept) {
    ctx.note(
      `${path}.connect`,
      `${connect} → no setting: the edge pairs each client on accept with a connector bind for the same URI; the backend stays in the ` +
        `connector's configuration`,
    );
  }
  const co = parts.sections["connect-options"]!;
  const transport = readTransport(co, ctx);
  if (transport && accept) {
    ctx.note(
      `${co.path}.http.transport`,
      `${transport.text} → no setting: connectors dial the edge at ${bindUrl(accept)} through Cloudflare on port 443; there is no SOCKS ` +
        `listener and no port to open`,
    );
  }
  ctx.note(`${co.path}.socks.mode`, 'reverse → socks.mode "reverse": the edge waits for binds the connector dials');
  const timeout = duration(
    parts,
    "connect-options",
    "socks.timeout",
    1,
    ctx,
    "how long the edge holds a client waiting for a free bind before refusing it",
  );
  const verifyText = co.values["socks.ssl.verify-client"];
  const verify = new FieldReader(co.values, co.path, issues).oneOf(
    "socks.ssl.verify-client",
    VERIFY_CLIENT,
    DEFAULTS["socks.ssl.verify-client"],
  );
  ctx.note(
    `${co.path}.socks.ssl.verify-client`,
    `${verifyText ?? "(not set)"} → socks.ssl.verify-client "${verify}"${verifyText ? "" : " (the default)"}: whether the edge asks ` +
      `connectors for a client certificate; the connector token is required regardless`,
  );
  readTcpBind(parts, ctx);
  for (const key of OPTIONS.dmz.properties) {
    const text = parts.sections.properties?.values[key];
    if (text === undefined) continue;
    // Validated as the connector will read them, then handed over rather than dropped.
    const r = new FieldReader({ [key]: text }, `${path}.properties`, issues);
    if (key === "prepared.connection.count") r.integer(key, 1, 1, MAX_PREPARED);
    else r.duration(key, "1 second", 100);
    const what = key === "prepared.connection.count" ? PREPARED_WHAT : RECOVERY_WHAT;
    ctx.note(
      `${path}.properties.${key}`,
      `${text} → not an edge setting: put "${key}": ${key === "prepared.connection.count" ? text : JSON.stringify(text)} in the ` +
        `connector's service (${what})`,
    );
  }
  if (!accept || !name) return;
  const clash = Object.entries(ctx.edge).find(([n, s]) => n === name || new URL(s.accept!).pathname === accept.path);
  if (clash) {
    issues.add(
      clash[0] === name ? `${path}.name` : `${path}.accept`,
      clash[0] === name
        ? `"${name}" already names another DMZ-gateway <service>; give each a distinct <name>`
        : `has the same path as DMZ-gateway service "${clash[0]}"; the edge tells services apart by accept path`,
    );
    return;
  }
  ctx.edge[name] = { accept: accept.uri, "socks.mode": "reverse", "socks.timeout": timeout, "socks.ssl.verify-client": verify };
}

function readTcpBind(parts: ServiceParts, ctx: ImportContext): void {
  const ao = parts.sections["accept-options"];
  const text = ao?.values["tcp.bind"];
  if (text === undefined) return;
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):)?(\d{1,5})$/.exec(text);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) {
    ctx.issues.add(`${ao!.path}.tcp.bind`, 'must be "PORT" or "HOST:PORT" with a port from 1 to 65535');
    return;
  }
  ctx.note(
    `${ao!.path}.tcp.bind`,
    `${text} → no setting: Cloudflare accepts clients on 443 for the Worker's route; there is no socket to bind`,
  );
}
