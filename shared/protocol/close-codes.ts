/**
 * Every close code and reason Sallyport sends, in one table.
 *
 * Session failures mirror the reply field of RFC 1928 §6 (SOCKS5): code = 4000 + REP, so
 * users who know SOCKS BIND recognise them. Reasons are short fixed ASCII: never an address,
 * user input, errno or stack (RFC 6455 §5.5.1 caps a reason at 123 bytes).
 * 1005, 1006 and 1015 are reserved for the local API and never sent (RFC 6455 §7.4.1).
 */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  /**
   * RFC 6455 "try again later": the service's edge object is at its memory budget and this
   * session held the most, or a plain client went past what the edge holds for it.
   */
  TRY_AGAIN_LATER: 1013,
  /** RFC 1928 REP 0x01: general SOCKS server failure. */
  GENERAL_FAILURE: 4001,
  /** REP 0x02: connection not allowed by ruleset (credential/service mismatch). */
  NOT_ALLOWED: 4002,
  /** REP 0x03: network unreachable (connector lost while the session ran). */
  NETWORK_UNREACHABLE: 4003,
  /** REP 0x04: host unreachable (backend did not answer in time). */
  HOST_UNREACHABLE: 4004,
  /** REP 0x05: connection refused (backend refused the connection). */
  CONNECTION_REFUSED: 4005,
  /** REP 0x06: TTL expired — no bind within socks.timeout. */
  TTL_EXPIRED: 4006,
  /** REP 0x07: command not supported (a message the peer must not send). */
  COMMAND_NOT_SUPPORTED: 4007,
  /** Not in RFC 1928 (after WebSocket's 1013 "try again later"): connectors are there, none was free within socks.timeout. */
  BUSY: 4013,
  /** Not in RFC 1928: too many binds or clients for this credential or service. */
  LIMIT: 4029,
  /** Not in RFC 1928: the edge is replacing this bind (takeover, shutdown). */
  REPLACED: 4030,
  /**
   * Not in RFC 1928 (v3): the session's link dropped (the other leg, or this one found silent)
   * and the session is resumable: reconnect with the resume ticket (protocol.md, "Resume").
   */
  RESUME: 4032,
  /** Not in RFC 1928 (v3): a resume did not complete within session.resume.timeout (or its proof was stale): the session is over. */
  RESUME_FAILED: 4034,
  /** Not in RFC 1928 (v2): the peer sent data beyond the credit it had, or granted credit it had not proved by reading. */
  CREDIT_EXCEEDED: 4090,
  /**
   * Not in RFC 1928 (after HTTP's 408; 4008 would read as SOCKS REP 0x08): no session data
   * moved either way for the service's session.idle.timeout.
   */
  IDLE_TIMEOUT: 4408,
} as const;

export type CloseCodeName = keyof typeof CloseCode;
export type CloseCodeValue = (typeof CloseCode)[CloseCodeName];

export const CLOSE_REASONS: Readonly<Record<CloseCodeName, string>> = Object.freeze({
  NORMAL: "",
  GOING_AWAY: "going away",
  PROTOCOL_ERROR: "protocol error",
  MESSAGE_TOO_BIG: "message too big",
  INTERNAL_ERROR: "internal error",
  TRY_AGAIN_LATER: "try again later",
  GENERAL_FAILURE: "general failure",
  NOT_ALLOWED: "not allowed",
  NETWORK_UNREACHABLE: "connector lost",
  HOST_UNREACHABLE: "backend unreachable",
  CONNECTION_REFUSED: "backend refused",
  TTL_EXPIRED: "no connector available",
  COMMAND_NOT_SUPPORTED: "not supported",
  BUSY: "busy",
  LIMIT: "limit reached",
  REPLACED: "replaced",
  RESUME: "resume",
  RESUME_FAILED: "resume failed",
  CREDIT_EXCEEDED: "credit exceeded",
  IDLE_TIMEOUT: "idle timeout",
});

const BY_VALUE: ReadonlyMap<number, CloseCodeName> = new Map(
  (Object.keys(CloseCode) as CloseCodeName[]).map((name) => [CloseCode[name], name]),
);

export interface Close {
  readonly code: CloseCodeValue;
  readonly reason: string;
}

export function close(name: CloseCodeName): Close {
  return { code: CloseCode[name], reason: CLOSE_REASONS[name] };
}

export function closeCodeName(code: number): CloseCodeName | undefined {
  return BY_VALUE.get(code);
}

/**
 * Codes a peer may legitimately relay onward from the other leg. Anything else that
 * arrives is mapped to NETWORK_UNREACHABLE, so an abnormal end never looks clean.
 */
export function relayableClose(code: number): Close {
  if (isCleanClose(code)) return close("NORMAL");
  const name = closeCodeName(code);
  return name ? close(name) : close("NETWORK_UNREACHABLE");
}

/** What a close frame without a status code reads as locally (RFC 6455 §7.1.5); never sent. */
const NO_STATUS_RECEIVED = 1005;

/**
 * Codes that mean "the peer ended deliberately": 1000, or a close frame without a status
 * (1005). Everything else is an abnormal end.
 */
export function isCleanClose(code: number): boolean {
  return code === CloseCode.NORMAL || code === NO_STATUS_RECEIVED;
}
