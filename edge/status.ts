import type { Attachment } from "./attachments.ts";

/** What the status endpoint says of one service; pure, from the sockets' attachments. */
export interface ConnectorStatus {
  readonly connectorId: string;
  readonly instance: string;
  readonly connectedSince: string;
  readonly parked: number;
  readonly sessions: number;
}

/** What an object counts; a service's figures are its shards' added up. */
interface Figures {
  readonly parkedBinds: number;
  readonly waitingClients: number;
  readonly activeSessions: number;
  readonly bytesToConnectors: number;
  readonly bytesToClients: number;
  /** Since each object started (caches: an object restarted counts from 0): sessions paired, WebSocket messages it handled. */
  readonly pairings: number;
  readonly messagesReceived: number;
}

/** One shard's figures (one object's), in a service's breakdown. */
export interface ShardStatus extends Figures {
  readonly shard: number;
  /** Connectors with at least one bind (parked or in session) on this shard. */
  readonly connectors: number;
}

export interface ServiceStatus extends Figures {
  readonly service: string;
  readonly connectors: ConnectorStatus[];
  /** Per shard, in shard order (set by aggregate; one object's own summary has none). */
  readonly shards?: ShardStatus[];
}

/**
 * A service's status from each of its shards' summaries (index = shard): totals, connectors
 * merged by id across shards, and the per-shard breakdown.
 */
export function aggregate(service: string, perShard: readonly ServiceStatus[]): ServiceStatus {
  const connectors = new Map<string, ConnectorStatus>();
  for (const s of perShard)
    for (const c of s.connectors) {
      const seen = connectors.get(c.connectorId);
      connectors.set(
        c.connectorId,
        seen
          ? {
              connectorId: c.connectorId,
              // Both sort as text: the newest instance, the earliest ISO time.
              instance: [c.instance, seen.instance].sort()[1]!,
              connectedSince: [c.connectedSince, seen.connectedSince].sort()[0]!,
              parked: seen.parked + c.parked,
              sessions: seen.sessions + c.sessions,
            }
          : c,
      );
    }
  const sum = (f: (s: ServiceStatus) => number) => perShard.reduce((n, s) => n + f(s), 0);
  return {
    service,
    connectors: [...connectors.values()],
    parkedBinds: sum((s) => s.parkedBinds),
    waitingClients: sum((s) => s.waitingClients),
    activeSessions: sum((s) => s.activeSessions),
    bytesToConnectors: sum((s) => s.bytesToConnectors),
    bytesToClients: sum((s) => s.bytesToClients),
    pairings: sum((s) => s.pairings),
    messagesReceived: sum((s) => s.messagesReceived),
    shards: perShard.map((s, shard) => ({
      shard,
      connectors: s.connectors.length,
      parkedBinds: s.parkedBinds,
      waitingClients: s.waitingClients,
      activeSessions: s.activeSessions,
      bytesToConnectors: s.bytesToConnectors,
      bytesToClients: s.bytesToClients,
      pairings: s.pairings,
      messagesReceived: s.messagesReceived,
    })),
  };
}

export function summarize(
  service: string,
  atts: readonly Attachment[],
  bytes: { toConnectors: number; toClients: number },
  counts: { pairings: number; messages: number },
): ServiceStatus {
  const connectors = new Map<string, { instance: string; since: number; parked: number; sessions: number }>();
  let parkedBinds = 0;
  let waitingClients = 0;
  let activeSessions = 0;
  for (const a of atts) {
    if (a.role === "client") {
      if (a.state === "waiting") waitingClients++;
      else activeSessions++;
      continue;
    }
    if (!a.connectorId || !a.instance) continue;
    const c = connectors.get(a.connectorId) ?? { instance: a.instance, since: a.openedAt, parked: 0, sessions: 0 };
    c.since = Math.min(c.since, a.openedAt);
    if (a.instance > c.instance) c.instance = a.instance;
    if (a.state === "parked") {
      c.parked++;
      parkedBinds++;
    } else if (a.state === "paired" || a.state === "opened") c.sessions++;
    connectors.set(a.connectorId, c);
  }
  return {
    service,
    connectors: [...connectors].map(([connectorId, c]) => ({
      connectorId,
      instance: c.instance,
      connectedSince: new Date(c.since).toISOString(),
      parked: c.parked,
      sessions: c.sessions,
    })),
    parkedBinds,
    waitingClients,
    activeSessions,
    bytesToConnectors: bytes.toConnectors,
    bytesToClients: bytes.toClients,
    pairings: counts.pairings,
    messagesReceived: counts.messages,
  };
}

const escapeHtml = (s: string | number): string => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const STYLE = [
  "body{font:14px system-ui,sans-serif;margin:2em;color:#222}",
  "table{border-collapse:collapse}",
  "td,th{border:1px solid #ccc;padding:.3em .8em;text-align:right}",
  "th{background:#f3f3f3}",
  ".warn{color:#b00}",
  "section{margin-bottom:2em}",
].join("");

const HEADINGS = ["parked binds", "waiting clients", "active sessions", "bytes to connectors", "bytes to clients", "pairings", "messages"];

/** A small self-contained page: no scripts, no external assets. */
export function renderStatusPage(services: readonly ServiceStatus[], now: Date): string {
  const rows = services
    .map((s) => {
      const conns = s.connectors.length
        ? s.connectors
            .map(
              (c) =>
                `<li><code>${escapeHtml(c.connectorId)}</code> since ${escapeHtml(c.connectedSince)} — ${c.parked} parked, ${c.sessions} ` +
                `in session</li>`,
            )
            .join("")
        : "<li class=warn>no connector connected</li>";
      const cells = (t: ServiceStatus | ShardStatus) => [
        t.parkedBinds,
        t.waitingClients,
        t.activeSessions,
        t.bytesToConnectors,
        t.bytesToClients,
        t.pairings,
        t.messagesReceived,
      ];
      const row = (first: string, t: ServiceStatus | ShardStatus) =>
        `<tr>${[first, ...cells(t)].map((n) => `<td>${n}</td>`).join("")}</tr>`;
      // One row per shard under the total; a shard without a connector is flagged: its clients can only wait for demand.
      const shards =
        s.shards && s.shards.length > 1 ? s.shards.map((h) => row(`shard ${h.shard}${h.connectors ? "" : " ⚠"}`, h)).join("") : "";
      return `<section><h2>${escapeHtml(s.service)}</h2>
<table><tr><th></th>${HEADINGS.map((h) => `<th>${h}</th>`).join("")}</tr>
${row("all", s)}${shards}</table>
<h3>connectors</h3><ul>${conns}</ul></section>`;
    })
    .join("\n");
  return `<!doctype html><html lang=en><head><meta charset=utf-8><title>Sallyport edge status</title>
<style>${STYLE}</style>
</head><body><h1>Sallyport edge</h1><p>as of ${escapeHtml(now.toISOString())}</p>
${rows}
</body></html>`;
}
