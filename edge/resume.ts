import type { ProtocolVersion } from "../shared/protocol/constants.ts";
import { SESSION_HEARTBEAT_MS } from "../shared/protocol/constants.ts";
import { resumes } from "../shared/protocol/negotiate.ts";
import type { Attachment, BindAttachment, ClientAttachment, SessionRef } from "./attachments.ts";
import type { VerifiedResume } from "./resume-request.ts";

/**
 * The object's side of resume (docs/protocol.md, "Resume"), as pure decisions; the service
 * object does the I/O. The object keeps nothing about a session beyond its sockets'
 * attachments: the two halves of a dropped session meet here because both were routed by their
 * tickets to the object that issued them, and are matched by session id and epoch. Whether the
 * session still exists is the connector's to say: it comes back only for a session it still
 * holds, at its current epoch, so a replayed ticket finds no other half and times out.
 */

/**
 * Whether a new pair gets tickets: both ends speak v3 and the client the Sallyport protocol. A
 * pair opened in standby too: a session running on it resumes (between sessions there is
 * nothing to resume, and both ends let a drop end the pair, as before).
 */
export function resumable(bind: BindAttachment, client: ClientAttachment, secretOk: boolean): boolean {
  if (!secretOk || client.protocol !== "sallyport") return false;
  return resumes(bind.version ?? 1) && resumes(client.version ?? 1);
}

/** Name and epoch of the session a socket carries, for logs: the session id, whichever socket. */
export function sessionIdOf(att: Attachment): string | undefined {
  if (att.session) return att.session.id;
  return att.role === "client" ? att.id : att.peer;
}

interface Returning {
  readonly id: string;
  readonly service: string;
  readonly version: ProtocolVersion;
  readonly object: string;
  readonly resume: VerifiedResume;
  readonly now: number;
  readonly deadline: number;
}

/** A returning connector half: not parked, never offered to a client, not counted by max.binds. */
export function returningBind(r: Returning, credential: string): BindAttachment {
  const { id, service, version, object, resume, now, deadline } = r;
  const offer = { received: resume.received, end: resume.end };
  // A session bind heartbeats at least every SESSION_HEARTBEAT_MS (connector/bind.ts).
  const heartbeatMs = SESSION_HEARTBEAT_MS;
  return {
    role: "bind",
    id,
    service,
    credential,
    version,
    state: "resuming",
    openedAt: now,
    deadline,
    object,
    offer,
    heartbeatMs,
    session: resume.session,
  };
}

export function returningClient(r: Returning, address: string): ClientAttachment {
  const { id, service, version, object, resume, now, deadline } = r;
  const offer = { received: resume.received, end: resume.end };
  return {
    role: "client",
    id,
    service,
    state: "resuming",
    protocol: "sallyport",
    address,
    arrivedAt: now,
    deadline,
    version,
    object,
    offer,
    session: resume.session,
    ...(resume.standby ? { standby: true as const } : {}),
  };
}

const sameSession = (a: SessionRef | undefined, b: SessionRef): boolean => a !== undefined && a.id === b.id && a.epoch === b.epoch;

/** The other half of `session` already waiting here, if any. */
export function otherHalf(atts: readonly Attachment[], role: Attachment["role"], session: SessionRef): Attachment | undefined {
  return atts.find((a) => a.role !== role && a.state === "resuming" && a.deadline !== undefined && sameSession(a.session, session));
}

/**
 * A half of the same side already waiting for `session`: an earlier attempt of the same end
 * (its link died during the handshake, and the edge may not know yet), which the newer replaces.
 */
export function sameHalf(atts: readonly Attachment[], att: Attachment): Attachment | undefined {
  return atts.find(
    (a) =>
      a.id !== att.id && a.role === att.role && a.state === "resuming" && a.deadline !== undefined && sameSession(a.session, att.session!),
  );
}

/**
 * The legs of `session` still paired here at the epoch a half returns with: one end found its
 * link dead (its heartbeat, a reset) before the edge did. They are over: the other end must
 * come back too (told with 4032).
 */
export function staleLegs(atts: readonly Attachment[], session: SessionRef): Attachment[] {
  return atts.filter((a) => a.state !== "resuming" && a.peer !== undefined && sameSession(a.session, session));
}

/** The two halves joined: a pair again, under the next epoch (its tickets are issued next). */
export function join(bind: BindAttachment, client: ClientAttachment, now: number): [BindAttachment, ClientAttachment] {
  const session = { id: bind.session!.id, epoch: bind.session!.epoch + 1 };
  return [
    { ...bind, state: "opened", peer: client.id, deadline: undefined, parkedAt: now, offer: undefined, session },
    { ...client, state: "paired", peer: bind.id, deadline: undefined, arrivedAt: now, offer: undefined, session },
  ];
}
