import type { Attachment } from "./attachments.ts";

/** What the status endpoint says of one service; pure, from the sockets' attachments. */
export interface ConnectorStatus {
  readonly connectorId: string;
  readonly instance: string;
  readonly connectedSince: string;
  readonly parked: number;
  readonly sessions: number;
}

export interface ServiceStatus {
  readonly service: string;
  readonly connectors: ConnectorStatus[];
  readonly parkedBinds: number;
  readonly waitingClients: number;
  readonly activeSessions: number;
  readonly bytesToConnectors: number;
  readonly bytesToClients: number;
}

export function summarize(service: string, atts: readonly Attachment[], bytes: { toConnectors: number; toClients: number }): ServiceStatus {
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
      const cells = [s.parkedBinds, s.waitingClients, s.activeSessions, s.bytesToConnectors, s.bytesToClients];
      return `<section><h2>${escapeHtml(s.service)}</h2>
<table><tr><th>parked binds</th><th>waiting clients</th><th>active sessions</th><th>bytes to connectors</th><th>bytes to clients</th></tr>
<tr>${cells.map((n) => `<td>${n}</td>`).join("")}</tr></table>
<h3>connectors</h3><ul>${conns}</ul></section>`;
    })
    .join("\n");
  return `<!doctype html><html lang=en><head><meta charset=utf-8><title>Sallyport edge status</title>
<style>${STYLE}</style>
</head><body><h1>Sallyport edge</h1><p>as of ${escapeHtml(now.toISOString())}</p>
${rows}
</body></html>`;
}
