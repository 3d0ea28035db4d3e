import { RESUME_SUBPROTOCOL_PREFIX } from "./constants.ts";

/**
 * A resume carried as a subprotocol, for the browser helper (a page cannot set the resume
 * headers): `sallyport.resume.<received>.<end 0|1>.<ticket>`. Every character of it is a
 * token character (digits, base64url and dots), as Sec-WebSocket-Protocol requires. The ticket
 * comes last because it holds a dot of its own.
 */

/** What a resuming end presents: its ticket, the bytes it received, whether it received `end`. */
export interface ResumePresented {
  readonly ticket: string;
  /** As sent, a decimal string: the edge checks its range with the header's. */
  readonly received: string;
  readonly end: boolean;
}

export function resumeSubprotocol(r: { readonly ticket: string; readonly received: number; readonly end: boolean }): string {
  return `${RESUME_SUBPROTOCOL_PREFIX}${r.received}.${r.end ? 1 : 0}.${r.ticket}`;
}

/**
 * The resume among offered subprotocols: undefined when none is offered, "malformed" when one
 * is but does not parse (or more than one is: a resume names one session).
 */
export function readResumeSubprotocol(offers: readonly string[]): ResumePresented | "malformed" | undefined {
  const ours = offers.filter((p) => p.startsWith(RESUME_SUBPROTOCOL_PREFIX));
  if (ours.length === 0) return undefined;
  if (ours.length > 1) return "malformed";
  const m = /^([0-9]+)\.([01])\.([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/.exec(ours[0]!.slice(RESUME_SUBPROTOCOL_PREFIX.length));
  if (!m) return "malformed";
  return { received: m[1]!, end: m[2] === "1", ticket: m[3]! };
}
