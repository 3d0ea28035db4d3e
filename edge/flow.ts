import { INITIAL_WINDOW_BYTES } from "../shared/protocol/constants.ts";
import { usesMarks } from "../shared/protocol/negotiate.ts";
import { DirectionMeter, initialCredit, type MeterState, type ReaderKind } from "../shared/protocol/credit.ts";
import type { ProtocolVersion } from "../shared/protocol/constants.ts";
import type { ClientProtocol, CreditMessage } from "../shared/protocol/messages.ts";

/**
 * The edge's flow control of one session: one meter per direction, and what the edge says
 * to each leg in that leg's own version. The edge terminates flow control on each leg (it
 * does not relay grants blindly): a reader's grant is checked and capped, and the writer is
 * told its limit in its own words — a v1 peer an increment, a v2 peer a cumulative offset.
 *
 *   up:   client → edge → connector   (the connector reads, and grants)
 *   down: connector → edge → client   (the client reads; a plain client grants nothing)
 *
 * Pure bookkeeping; the service object does the I/O. State is a plain object so it fits in
 * the bind's attachment and survives hibernation (a fresh object resumes every limit).
 */

export interface Legs {
  readonly clientProtocol: ClientProtocol;
  /** The client's negotiated version (a plain client: irrelevant). */
  readonly clientVersion: ProtocolVersion;
  readonly bindVersion: ProtocolVersion;
}

/** Which meter a message concerns, and who is at each end of it. */
export type Direction = "up" | "down";

/** Who reads upstream: a v2 connector proves; a v1 one grants only to Sallyport clients, on trust. */
function upReader(legs: Legs): ReaderKind {
  if (usesMarks(legs.bindVersion)) return "proving";
  return legs.clientProtocol === "sallyport" ? "trusting" : "none";
}

/** Who reads downstream: a plain client proves nothing. */
function downReader(legs: Legs): ReaderKind {
  if (legs.clientProtocol === "plain") return "none";
  return usesMarks(legs.clientVersion) ? "proving" : "trusting";
}

/** A flow as plain data, for the bind's attachment. */
export interface FlowState {
  readonly legs: Legs;
  readonly up: MeterState;
  readonly down: MeterState;
  readonly staleClientCredit: boolean;
}

export class SessionFlow {
  readonly up: DirectionMeter;
  readonly down: DirectionMeter;
  /**
   * Set when the edge relayed `done` (standby: the next session starts on this pair with
   * fresh offsets): a credit from the client still in flight belongs to the session that
   * ended, and is ignored until the client's `start`.
   */
  staleClientCredit = false;

  constructor(
    readonly legs: Legs,
    state?: FlowState,
  ) {
    // A plain client cannot be told to wait, and workerd reads all it sends: its bursts go on
    // to the connector up to a whole window (which a v2 connector takes before its first
    // grant) rather than waiting here.
    this.up = new DirectionMeter(
      upReader(legs),
      legs.clientProtocol === "plain" ? "queued" : "metered",
      state?.up,
      legs.clientProtocol === "plain" ? INITIAL_WINDOW_BYTES : initialCredit(legs.clientVersion),
    );
    this.down = new DirectionMeter(downReader(legs), "metered", state?.down, initialCredit(legs.bindVersion));
    this.staleClientCredit = state?.staleClientCredit ?? false;
  }

  static restore(state: FlowState): SessionFlow {
    return new SessionFlow(state.legs, state);
  }

  /**
   * v3: a resumed session, rebuilt from what its ends presented (no memory of the object that
   * paired it is needed). Each direction starts at what its reader received — the writer sends
   * again from there — and the writer may go a first V2_INITIAL_CREDIT_BYTES past it, as at
   * pairing, until its reader proves reading again.
   */
  static resumed(legs: Legs, upReceived: number, downReceived: number): SessionFlow {
    const at = (offset: number, version: ProtocolVersion): MeterState => {
      const limit = offset + initialCredit(version);
      return { received: offset, sent: offset, limit, grant: limit, proven: offset, marks: [], lastMarkAt: offset };
    };
    const state: FlowState = {
      legs,
      up: at(upReceived, legs.clientVersion),
      down: at(downReceived, legs.bindVersion),
      staleClientCredit: false,
    };
    return new SessionFlow(legs, state);
  }

  state(): FlowState {
    return { legs: this.legs, up: this.up.state(), down: this.down.state(), staleClientCredit: this.staleClientCredit };
  }

  meter(d: Direction): DirectionMeter {
    return d === "up" ? this.up : this.down;
  }

  /** The version of the leg that writes direction `d` (it is told limits). */
  writerVersion(d: Direction): ProtocolVersion {
    return d === "up" ? this.legs.clientVersion : this.legs.bindVersion;
  }

  /** The version of the leg that reads direction `d` (it gets marks, and grants). */
  readerVersion(d: Direction): ProtocolVersion {
    return d === "up" ? this.legs.bindVersion : this.legs.clientVersion;
  }

  /**
   * A grant from the reader of `d`. `cap` narrows how far past its proof the writer is let
   * (the object budget; trusting readers cannot be narrowed: v1 grants in half windows).
   * Returns what to tell the writer (undefined: nothing), or the violation.
   */
  grant(d: Direction, msg: CreditMessage, cap: number): { ok: true; tell?: CreditMessage } | { ok: false; why: string } {
    const m = this.meter(d);
    const before = m.limit;
    let limit: number | undefined;
    if ("bytes" in msg) {
      if (m.reader !== "trusting") return { ok: false, why: "v1 credit from a v2 reader" };
      limit = m.trustGrant(msg.bytes).limit;
    } else {
      if (m.reader !== "proving") return { ok: false, why: "v2 credit from a v1 reader" };
      const r = m.proveAndGrant(msg.upTo, msg.mark, cap);
      if (!r.ok) return r;
      limit = r.limit;
    }
    if (limit === undefined) return { ok: true };
    const tell: CreditMessage = usesMarks(this.writerVersion(d)) ? { t: "credit", upTo: limit } : { t: "credit", bytes: limit - before };
    return { ok: true, tell };
  }

  /**
   * Once the connector's backend is open (every session, kept pairs too): a v2 writer whose
   * reader speaks v1 is raised to the whole window the v1 reader expects it to have, which
   * the v1 reader then grants on from. What to tell each writer, by direction.
   */
  opened(): Array<{ d: Direction; tell: CreditMessage }> {
    const out: Array<{ d: Direction; tell: CreditMessage }> = [];
    for (const d of ["up", "down"] as const) {
      const m = this.meter(d);
      if (m.reader !== "trusting" || !usesMarks(this.writerVersion(d))) continue;
      if (d === "up" && this.legs.clientProtocol === "plain") continue;
      const limit = m.raise(INITIAL_WINDOW_BYTES);
      if (limit !== undefined) out.push({ d, tell: { t: "credit", upTo: limit } });
    }
    return out;
  }

  /** What this session may have the edge hold, in bytes (the object budget adds these up). */
  held(clientBuffered?: number): number {
    return this.up.held() + this.down.held(clientBuffered);
  }

  /** Standby's `done`: the next session on this pair counts from 0 again. */
  restart(): void {
    this.up.reset();
    this.down.reset();
    this.staleClientCredit = true;
  }
}
