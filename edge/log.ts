import { sanitize, type Level } from "../shared/log.ts";

/**
 * One JSON object per line (Workers Logs and `wrangler tail` parse it). Fields come from a
 * fixed vocabulary (sessionId, bindId, connectorId, service, closeCode); string values go
 * through the same sanitize() as the connector's log, so a record stays one record.
 */

export function log(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
  const record: Record<string, unknown> = { level, msg };
  for (const [k, v] of Object.entries(fields)) record[k] = typeof v === "string" ? sanitize(v) : v;
  const line = JSON.stringify(record);
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}
