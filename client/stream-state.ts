import { CloseCode } from "../shared/protocol/close-codes.ts";
import { describeClose } from "./describe.ts";

/**
 * Where a client session stands, as a pure transition function; client/stream.ts does the
 * I/O and asks step() before each change. Four regions, each moving on its own:
 *
 *   phase    open → closing (we began the close handshake) → closed (the socket's close event)
 *                 └────────────────────────────────────────→ closed (the peer closed first)
 *   pairing  waiting → paired (the connector's first frame, `opened`, or assumed after a while)
 *   out      open → ending (end() queued `end` behind the data) → ended (`end` sent)
 *   in       open → ended (the connector's `end`)
 *
 * A `done` after both directions ended starts the next session on the same socket (standby):
 * both directions open again. (v3: an `end` carrying `done` is the two events, end-received
 * then done, each with its own check.) Once closed nothing changes.
 *
 * v3 resume (docs/protocol.md, "Resume"): a phase "resuming" between open and closed — the
 * socket was lost mid-session and the stream, its queue and counters kept, waits for a new one:
 *
 *   open → resuming (socket-lost) → open (resumed)
 *              └──→ closing (close(): no socket to say it on) / closed (the resume failed)
 */

export type Protocol = "sallyport" | "plain";
export type Outbound = "open" | "ending" | "ended";
export type Inbound = "open" | "ended";

export interface CloseInfo {
  readonly code: number;
  readonly reason: string;
  /** The session ended as it should: both directions finished (plain: a normal close). Anything else is abnormal. */
  readonly clean: boolean;
  /** We closed it (close() or a protocol error of the peer's). */
  readonly byUs: boolean;
  /** e.g. "no connector available (4006)". */
  readonly description: string;
}

interface Regions {
  readonly protocol: Protocol;
  readonly pairing: "waiting" | "paired";
  readonly out: Outbound;
  readonly in: Inbound;
}

export type StreamState =
  | (Regions & { readonly phase: "open" })
  | (Regions & { readonly phase: "resuming" })
  | (Regions & { readonly phase: "closing"; readonly code: number; readonly reason: string })
  | (Regions & { readonly phase: "closed"; readonly info: CloseInfo });

export type StreamEvent =
  | { readonly t: "paired" }
  | { readonly t: "end-queued" }
  | { readonly t: "end-sent" }
  | { readonly t: "data-received" }
  | { readonly t: "end-received" }
  | { readonly t: "done" }
  /** v3: the socket dropped and the session will resume on another. */
  | { readonly t: "socket-lost" }
  /** v3: the edge said `resumed` on the new socket. */
  | { readonly t: "resumed" }
  /** We close (close(), or a protocol error of the peer's). */
  | { readonly t: "close"; readonly code: number; readonly reason: string }
  /** The socket's close event, with the code the peer sent or echoed. */
  | { readonly t: "socket-closed"; readonly code: number; readonly reason: string };

/** A step either moves (maybe to the same state) or is the peer's protocol error. */
export type Step = { readonly ok: true; readonly state: StreamState } | { readonly ok: false; readonly error: string };

export function initialState(protocol: Protocol): StreamState {
  return { phase: "open", protocol, pairing: "waiting", out: "open", in: "open" };
}

const to = (state: StreamState): Step => ({ ok: true, state });
/** Open, or resuming: the session goes on (data and `end` wait for the socket). */
const live = (s: StreamState): boolean => s.phase === "open" || s.phase === "resuming";
const refuse = (error: string): Step => ({ ok: false, error });

export function step(s: StreamState, e: StreamEvent): Step {
  if (s.phase === "closed") return to(s);
  switch (e.t) {
    case "paired":
      return to({ ...s, pairing: "paired" });
    case "end-queued":
      return to(live(s) && s.out === "open" ? { ...s, out: "ending" } : s);
    case "end-sent":
      return to(s.out === "ending" ? { ...s, out: "ended" } : s);
    case "data-received":
      return s.in === "ended" ? refuse("data after the connector's end") : to(s);
    case "end-received":
      return s.in === "ended" ? refuse("a second end") : to({ ...s, in: "ended" });
    case "done":
      // A session in standby finished: the next one starts on this socket with both directions open.
      return s.out === "ended" && s.in === "ended" ? to({ ...s, out: "open", in: "open" }) : refuse("done before both directions ended");
    case "socket-lost":
      return to(s.phase === "open" ? { ...s, phase: "resuming" } : s);
    case "resumed":
      return s.phase === "resuming" ? to({ ...s, phase: "open" }) : refuse("resumed outside a resume");
    case "close":
      return to(live(s) ? { ...s, phase: "closing", code: e.code, reason: e.reason } : s);
    case "socket-closed":
      return to({ ...s, phase: "closed", info: closeInfo(s, e.code, e.reason) });
  }
}

/** What we decided counts over what the peer echoed (a peer may answer our close differently). */
function closeInfo(s: StreamState, peerCode: number, peerReason: string): CloseInfo {
  const byUs = s.phase === "closing";
  const { code, reason } = s.phase === "closing" ? s : { code: peerCode, reason: peerReason };
  const clean =
    s.protocol === "sallyport"
      ? code === CloseCode.NORMAL && s.out === "ended" && s.in === "ended"
      : code === CloseCode.NORMAL || code === 1005;
  return { code, reason, clean, byUs, description: describeClose(code, reason) };
}
