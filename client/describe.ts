import { CloseCode } from "../shared/protocol/close-codes.ts";
import { SERVICE_FULL_STATUS } from "../shared/protocol/constants.ts";

/**
 * What a close code means to someone running a client: one short phrase per code, with the
 * code in parentheses so it can be looked up (docs, close-codes.ts). Platform-neutral.
 */
const PHRASES: Readonly<Record<number, string>> = {
  [CloseCode.NORMAL]: "closed normally",
  [CloseCode.GOING_AWAY]: "going away",
  [CloseCode.PROTOCOL_ERROR]: "protocol error",
  [CloseCode.MESSAGE_TOO_BIG]: "message too big",
  [CloseCode.INTERNAL_ERROR]: "edge internal error",
  [CloseCode.GENERAL_FAILURE]: "general failure",
  [CloseCode.NOT_ALLOWED]: "not allowed",
  [CloseCode.NETWORK_UNREACHABLE]: "connector lost",
  [CloseCode.HOST_UNREACHABLE]: "backend unreachable",
  [CloseCode.CONNECTION_REFUSED]: "backend refused the connection",
  [CloseCode.TTL_EXPIRED]: "no connector available",
  [CloseCode.COMMAND_NOT_SUPPORTED]: "not supported",
  [CloseCode.BUSY]: "busy: every connector is in use",
  [CloseCode.LIMIT]: "limit reached",
  [CloseCode.REPLACED]: "replaced",
  1005: "closed without a status",
  1006: "connection lost (no close frame)",
};

/** e.g. "no connector available (4006)"; an unknown code shows the peer's reason, if any. */
export function describeClose(code: number, reason = ""): string {
  const phrase = PHRASES[code] ?? (reason ? `closed: ${reason.slice(0, 123)}` : "closed");
  return `${phrase} (${code})`;
}

/** The upgrade refused with an HTTP status (the edge answers 404 for anything it will not serve). */
export function describeRefusal(status: number): string {
  if (status === 404) return "edge answered HTTP 404: unknown service path, or this client is not admitted";
  if (status === 426) return "edge answered HTTP 426: not a WebSocket request";
  if (status === SERVICE_FULL_STATUS) return "edge answered HTTP 503: the service holds max.clients clients; try again later";
  return `edge refused the WebSocket handshake with HTTP ${status}`;
}

/** What the operator should fix after the edge refused with `status`; nothing for a full service (503), which is retried. */
export function refusalFix(status: number): string | undefined {
  return status === SERVICE_FULL_STATUS ? undefined : "check --url (the service's accept path) and --token-file";
}
