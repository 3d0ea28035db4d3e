import { INITIAL_WINDOW_BYTES, MARK_INTERVAL_BYTES, type ProtocolVersion, V2_INITIAL_CREDIT_BYTES } from "./constants.ts";
import { usesMarks } from "./negotiate.ts";
import type { CreditV2Message } from "./messages.ts";

/**
 * Flow-control arithmetic of one session direction, free of I/O so it is table- and
 * property-tested in Node. Version 2 (docs/protocol.md, "Version 2"): bytes of data are
 * counted from 0 per session and direction; a grant is a cumulative limit (`upTo`); the edge
 * places marks in what it sends a reader, and a reader's grant counts only up to the offset
 * of the latest mark it echoes plus one window — a peer cannot know a mark's id without
 * having read up to it, so a peer that grants without reading is caught.
 *
 * Every limit here is a cumulative offset, so after a drop each end can present "received
 * up to X, you may send up to Y" and a fresh edge object can rebuild the meter from them
 * (resume, a later version, builds on this).
 */

/** How the edge learns that the reader of this direction has read. */
export type ReaderKind =
  /** v2 connector or Sallyport client: grants echo marks. */
  | "proving"
  /** v1 connector or Sallyport client: grants are increments taken at their word (v1 has no marks). */
  | "trusting"
  /** A plain client, or a v1 connector reading a plain client: no grants at all; nothing proves reading. */
  | "none";

/** What the edge does with data beyond the limit it has told the writer. */
export type WriterKind =
  /** A protocol peer that was told its limit: data beyond it is a violation. */
  | "metered"
  /** A plain client, which cannot be told: data beyond the limit waits in the edge (bounded by the caller). */
  | "queued";

export type GrantResult =
  | { readonly ok: true; readonly limit?: number }
  | { readonly ok: false; readonly why: "unknown mark" | "beyond the window" };

/** The first limit of a writer that speaks `version` (v1: a whole window; v2: less, until its reader proves reading). */
export function initialCredit(version: ProtocolVersion): number {
  return usesMarks(version) ? V2_INITIAL_CREDIT_BYTES : INITIAL_WINDOW_BYTES;
}

interface Mark {
  readonly id: string;
  readonly at: number;
}

/** A meter's state as plain data (it lives in a socket attachment across hibernation). */
export interface MeterState {
  readonly received: number;
  readonly sent: number;
  readonly limit: number;
  readonly grant: number;
  readonly proven: number;
  readonly marks: readonly Mark[];
  readonly lastMarkAt: number;
}

/**
 * The edge's meter of one direction of one session: writer → edge → reader. The caller
 * relays data and control; the meter says what is allowed, when to mark, and what the edge
 * holds on the session's behalf.
 */
export class DirectionMeter {
  /** Data accepted from the writer. */
  received = 0;
  /** Data forwarded to the reader (received − sent waits in the edge: queued writers only). */
  sent = 0;
  /** The limit the writer has been told (cumulative; the initial credit is implicit). */
  limit: number;
  /** The reader's own grant: what it says it can take. */
  grant: number;
  /** The offset up to which the reader has shown it read. */
  proven = 0;
  private marks: Mark[] = [];
  private lastMarkAt = 0;

  constructor(
    readonly reader: ReaderKind,
    readonly writer: WriterKind,
    state?: MeterState,
    /** The writer's first limit, implicit in the protocol it speaks (initialCredit). */
    private readonly initialLimit = INITIAL_WINDOW_BYTES,
  ) {
    this.limit = this.grant = initialLimit;
    if (state) {
      ({ received: this.received, sent: this.sent, limit: this.limit, grant: this.grant, proven: this.proven } = state);
      this.marks = [...state.marks];
      this.lastMarkAt = state.lastMarkAt;
    }
  }

  state(): MeterState {
    const { received, sent, limit, grant, proven, marks, lastMarkAt } = this;
    return { received, sent, limit, grant, proven, marks, lastMarkAt };
  }

  /** Whether the writer is limited at all: a reader that grants nothing leaves it free. */
  get limited(): boolean {
    return this.reader !== "none";
  }

  /** Data arrived from the writer. False: a metered writer went past the limit it was told. */
  accept(n: number): boolean {
    this.received += n;
    return !(this.limited && this.writer === "metered" && this.received > this.limit);
  }

  /** Bytes that may go to the reader now. */
  room(): number {
    return this.limited ? Math.max(0, this.limit - this.sent) : Number.POSITIVE_INFINITY;
  }

  /** Bytes accepted but not yet forwarded (a queued writer beyond its limit). */
  get queued(): number {
    return this.received - this.sent;
  }

  /** Data went to the reader. */
  forwarded(n: number): void {
    this.sent += n;
  }

  /**
   * A mark is due after every MARK_INTERVAL_BYTES sent, and at the limit (so a writer
   * throttled below a full window always leaves the reader a mark to echo).
   */
  markDue(): boolean {
    if (this.reader !== "proving" || this.sent === this.lastMarkAt) return false;
    return this.sent - this.lastMarkAt >= MARK_INTERVAL_BYTES || this.sent >= this.limit;
  }

  /** Record a mark placed in the stream now (the caller sends it). */
  placeMark(id: string): void {
    this.marks.push({ id, at: this.sent });
    this.lastMarkAt = this.sent;
  }

  /**
   * A proving reader's grant. The mark, if any, must be one this meter placed (its offset is
   * then proven); the grant may exceed the proven offset by at most a window. `cap` (at most a
   * window) is how far past the proven offset the writer may be let now: less when the object
   * is short of memory. Returns the new limit to tell the writer, if it grew.
   */
  proveAndGrant(upTo: number, mark: string | undefined, cap = INITIAL_WINDOW_BYTES): GrantResult {
    if (mark !== undefined) {
      const i = this.marks.findIndex((m) => m.id === mark);
      if (i < 0) return { ok: false, why: "unknown mark" };
      this.proven = Math.max(this.proven, this.marks[i]!.at);
      this.marks = this.marks.slice(i + 1);
    }
    if (upTo > this.proven + INITIAL_WINDOW_BYTES) return { ok: false, why: "beyond the window" };
    this.grant = Math.max(this.grant, upTo);
    return { ok: true, ...this.relimit(cap) };
  }

  /** A trusting (v1) reader's grant of `bytes` more: taken at its word, as far as it has been sent. */
  trustGrant(bytes: number, cap = INITIAL_WINDOW_BYTES): { readonly limit?: number } {
    this.grant += bytes;
    this.proven = Math.max(this.proven, Math.min(this.sent, this.grant - INITIAL_WINDOW_BYTES));
    return this.relimit(cap);
  }

  /** The writer's limit: the reader's grant, but never more than `cap` past what it proved. */
  private relimit(cap: number): { limit?: number } {
    const limit = Math.min(this.grant, this.proven + Math.min(cap, INITIAL_WINDOW_BYTES));
    if (limit <= this.limit) return {};
    this.limit = limit;
    return { limit };
  }

  /**
   * What the edge may be holding for this direction: data forwarded but not shown read, and
   * data queued. Without proof (a plain reader) everything sent counts, unless the runtime
   * reports the socket's buffered amount (`buffered`), which is then the truth.
   */
  held(buffered?: number): number {
    if (this.reader === "none") return (buffered ?? this.sent) + this.queued;
    return this.sent - this.proven + this.queued;
  }

  /** A new session on the same pair (standby's `done`): fresh offsets and windows. */
  reset(): void {
    this.received = this.sent = this.proven = this.lastMarkAt = 0;
    this.limit = this.grant = this.initialLimit;
    this.marks = [];
  }

  /**
   * Raise the writer's limit to at least `upTo` without a grant (a v2 writer whose reader
   * speaks v1 and expects it to have a whole window). Returns the new limit if it grew.
   */
  raise(upTo: number): number | undefined {
    if (upTo <= this.limit) return undefined;
    this.limit = this.grant = upTo;
    return upTo;
  }
}

/** Marks a reader keeps unechoed at most; more (only a hostile edge sends them) drop the oldest. */
const MAX_PENDING_MARKS = 64;

/**
 * A v2 reader's side (connector/session.ts, client/stream.ts): counts what arrives, notes
 * the edge's marks at their offsets, and grants as data is consumed — once per mark, with
 * upTo one window past it, which is exactly what the edge accepts.
 */
export class ReaderCredit {
  received = 0;
  consumed = 0;
  /**
   * The limit granted so far: the sender oversteps beyond it. A whole window at first, whatever
   * the writer's own first limit: a v1 writer (through the edge) starts with that much.
   */
  granted = INITIAL_WINDOW_BYTES;
  private marks: Mark[] = [];

  /** Data arrived; false if it went past what was granted. */
  data(n: number): boolean {
    this.received += n;
    return this.received <= this.granted;
  }

  /**
   * A mark arrived: it sits at the offset of the data before it. The grant to send, if the data
   * before it is already used (a mark comes after its data, often after it was consumed).
   */
  mark(id: string): CreditV2Message | undefined {
    this.marks.push({ id, at: this.received });
    if (this.marks.length > MAX_PENDING_MARKS) this.marks.shift();
    return this.consume(0);
  }

  /** `n` more bytes were used; the grant to send, if one is due. */
  consume(n: number): CreditV2Message | undefined {
    this.consumed += n;
    let last: Mark | undefined;
    while (this.marks.length > 0 && this.marks[0]!.at <= this.consumed) last = this.marks.shift();
    if (!last) return undefined;
    const upTo = last.at + INITIAL_WINDOW_BYTES;
    if (upTo <= this.granted) return undefined;
    this.granted = upTo;
    return { t: "credit", upTo, mark: last.id };
  }

  /**
   * v3: the session resumed, perhaps on an edge object that knows nothing of it: marks placed
   * before are not ones it can check, and the writer may go a first V2_INITIAL_CREDIT_BYTES
   * past what we received (docs/protocol.md, "Resume").
   */
  resumed(): void {
    this.marks = [];
    this.granted = Math.max(this.granted, this.received + V2_INITIAL_CREDIT_BYTES);
  }

  /** A new session on the same pair (standby): fresh offsets. */
  reset(): void {
    this.received = this.consumed = 0;
    this.granted = INITIAL_WINDOW_BYTES;
    this.marks = [];
  }
}
