import {
  MAX_OFFSET,
  RESUME_END_HEADER,
  RESUME_HEADER,
  RESUME_RECEIVED_HEADER,
  type ProtocolVersion,
} from "../shared/protocol/constants.ts";
import { resumes } from "../shared/protocol/negotiate.ts";
import { type ResumePresented, readResumeSubprotocol } from "../shared/protocol/resume-subprotocol.ts";
import { offeredSubprotocols } from "./admission.ts";
import type { ResumeOffer, SessionRef } from "./attachments.ts";
import { type TicketSide, usableSecret, verifyTicket } from "./ticket.ts";

/**
 * The Worker's half of a resume (docs/protocol.md, "Resume"): a request that carries a ticket
 * is checked before anything else is done for it, and goes to the object the ticket names.
 * Everything wrong — no secret configured, a ticket this edge did not issue, one of the other
 * side's, another service's, a version without resume, a malformed offset — is refused, and
 * the caller answers it with the same plain 404 as any refusal (no oracle).
 */

/** A verified resume, as the object reads it from INTERNAL_HEADERS.resume. */
export interface VerifiedResume extends ResumeOffer {
  readonly session: SessionRef;
  /** The pair was opened in standby. */
  readonly standby?: true;
}

export type ResumeCheck =
  | { readonly kind: "none" }
  | { readonly kind: "refused"; readonly why: string }
  | { readonly kind: "ok"; readonly objectName: string; readonly resume: VerifiedResume };

const OFFSET = /^(0|[1-9][0-9]{0,15})$/;

export async function checkResume(
  request: Request,
  secret: string | undefined,
  side: TicketSide,
  service: string,
  version: ProtocolVersion | undefined,
): Promise<ResumeCheck> {
  const presented = presentedResume(request);
  if (presented === undefined) return { kind: "none" };
  if (presented === "malformed") return { kind: "refused", why: "malformed resume subprotocol" };
  if (!usableSecret(secret)) return { kind: "refused", why: "resume is not configured (SALLYPORT_RESUME_SECRET)" };
  const claims = await verifyTicket(secret, presented.ticket);
  if (!claims) return { kind: "refused", why: "ticket not verified" };
  if (claims.side !== side) return { kind: "refused", why: "ticket of the other side" };
  if (claims.service !== service) return { kind: "refused", why: "ticket of another service" };
  if (version === undefined || !resumes(version)) return { kind: "refused", why: "resume needs protocol v3" };
  const { received, end } = presented;
  if (!OFFSET.test(received) || Number(received) > MAX_OFFSET) return { kind: "refused", why: "bad received offset" };
  const session = { id: claims.sessionId, epoch: claims.epoch };
  const resume = { session, received: Number(received), end, ...(claims.standby ? { standby: true as const } : {}) };
  return { kind: "ok", objectName: claims.objectName, resume };
}

/** The resume in the headers (`sallyport client`, the connector), else in a subprotocol (the browser helper). */
function presentedResume(request: Request): ResumePresented | "malformed" | undefined {
  const ticket = request.headers.get(RESUME_HEADER);
  if (ticket === null) return readResumeSubprotocol(offeredSubprotocols(request));
  const received = request.headers.get(RESUME_RECEIVED_HEADER) ?? "";
  return { ticket, received, end: request.headers.get(RESUME_END_HEADER) === "1" };
}

/** How the object reads the resume the Worker verified (undefined: a fresh socket). */
export function readVerifiedResume(header: string | null): VerifiedResume | undefined {
  if (!header) return undefined;
  return JSON.parse(header) as VerifiedResume;
}
