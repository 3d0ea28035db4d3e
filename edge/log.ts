/**
 * One JSON object per line (Workers Logs and `wrangler tail` parse it). Fields come from a
 * fixed vocabulary (sessionId, bindId, connectorId, service, closeCode); values from the
 * outside world are truncated so a record stays one record.
 */
export type Level = "debug" | "info" | "warn" | "error";

export function log(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
  const record: Record<string, unknown> = { level, msg };
  for (const [k, v] of Object.entries(fields)) record[k] = typeof v === "string" ? v.slice(0, 200) : v;
  const line = JSON.stringify(record);
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}
