import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  BudgetAccount,
  grantCap,
  MIN_GRANT_CAP_BYTES,
  OBJECT_BUDGET_BYTES,
  SHARING_HOLDER_BYTES,
  STALLED_MS,
  shed,
} from "../../edge/budget.ts";
import { INITIAL_WINDOW_BYTES as W, MARK_INTERVAL_BYTES as MI } from "../../shared/protocol/constants.ts";
import { DirectionMeter, initialCredit, ReaderCredit } from "../../shared/protocol/credit.ts";
import { SessionFlow } from "../../edge/flow.ts";

/** Relays `n` bytes through the meter the way the edge does: forward, then mark when due. */
function relay(m: DirectionMeter, n: number, marks: string[]): void {
  expect(m.accept(n)).toBe(true);
  m.forwarded(n);
  if (m.markDue()) {
    const id = `m${marks.length}`;
    m.placeMark(id);
    marks.push(id);
  }
}

describe("DirectionMeter (the edge's view of one direction)", () => {
  it.each([
    ["the initial window is the first limit", W, true],
    ["one byte past it is a violation", W + 1, false],
  ])("%s", (_name, bytes, ok) => {
    expect(new DirectionMeter("proving", "metered").accept(bytes)).toBe(ok);
  });

  it("marks every interval, and at the limit", () => {
    const m = new DirectionMeter("proving", "metered");
    const marks: string[] = [];
    for (let i = 0; i < 3; i++) relay(m, MI / 2, marks);
    expect(marks).toEqual(["m0"]); // at 1 MiB, not at 0.5 or 1.5
    relay(m, W - m.sent, marks); // up to the limit
    expect(marks).toEqual(["m0", "m1"]);
  });

  it("counts a grant only up to the echoed mark plus one window", () => {
    const m = new DirectionMeter("proving", "metered");
    const marks: string[] = [];
    relay(m, MI, marks);
    expect(m.proveAndGrant(MI + W, "m0")).toStrictEqual({ ok: true, limit: MI + W });
    expect(m.proven).toBe(MI);
    expect(m.held()).toBe(0);
    expect(m.proveAndGrant(MI + W + 1, undefined)).toStrictEqual({ ok: false, why: "beyond the window" });
  });

  it.each([
    ["a mark it never got", 1, "nope", "unknown mark"],
    ["a window past nothing read", W + 1, undefined, "beyond the window"],
    ["2^31, the greedy liar", 2 ** 31, undefined, "beyond the window"],
  ] as const)("refuses a grant with %s", (_n, upTo, mark, why) => {
    expect(new DirectionMeter("proving", "metered").proveAndGrant(upTo, mark)).toStrictEqual({ ok: false, why });
  });

  it("an echoed mark is spent: echoing it again, or an older one, is unknown", () => {
    const m = new DirectionMeter("proving", "metered");
    const marks: string[] = [];
    relay(m, MI, marks);
    relay(m, MI, marks);
    expect(m.proveAndGrant(2 * MI + W, "m1").ok).toBe(true);
    expect(m.proveAndGrant(2 * MI + W, "m0")).toStrictEqual({ ok: false, why: "unknown mark" });
  });

  it("lowers nothing: a smaller grant changes no limit", () => {
    const m = new DirectionMeter("proving", "metered");
    expect(m.proveAndGrant(10, undefined)).toStrictEqual({ ok: true });
    expect(m.limit).toBe(W);
  });

  it("caps the writer at `cap` past the proof when the object is short", () => {
    const m = new DirectionMeter("proving", "metered");
    const marks: string[] = [];
    for (let i = 0; i < 4; i++) relay(m, MI, marks);
    expect(m.proveAndGrant(4 * MI + W, "m3", MI)).toStrictEqual({ ok: true }); // 4 + 1 MiB < the initial window: unchanged
    for (let i = 0; i < 4; i++) relay(m, MI, marks);
    expect(m.proveAndGrant(8 * MI + W, "m7", MI)).toStrictEqual({ ok: true, limit: 9 * MI });
  });

  it("trusts a v1 reader's increments, as far as was sent", () => {
    const m = new DirectionMeter("trusting", "metered");
    m.accept(3 * MI);
    m.forwarded(3 * MI);
    expect(m.markDue()).toBe(false); // v1 has no marks
    expect(m.trustGrant(2 * MI)).toStrictEqual({ limit: W + 2 * MI });
    expect(m.held()).toBe(MI);
  });

  it("leaves the writer free and counts everything sent when nothing can prove reading", () => {
    const m = new DirectionMeter("none", "metered");
    expect(m.accept(10 * W)).toBe(true);
    m.forwarded(10 * W);
    expect(m.room()).toBe(Number.POSITIVE_INFINITY);
    expect(m.held()).toBe(10 * W);
    expect(m.held(5)).toBe(5); // a runtime that reports bufferedAmount is believed
  });

  it("queues a plain writer beyond the limit, and lets it through as grants come", () => {
    const m = new DirectionMeter("proving", "queued");
    expect(m.accept(W + MI)).toBe(true);
    expect(m.room()).toBe(W);
    m.forwarded(W);
    expect(m.queued).toBe(MI);
    expect(m.held()).toBe(W + MI);
  });

  it("starts over on reset", () => {
    const m = new DirectionMeter("proving", "metered");
    m.accept(W);
    m.forwarded(W);
    m.placeMark("x");
    m.reset();
    expect([m.received, m.sent, m.limit, m.proven, m.held()]).toEqual([0, 0, W, 0, 0]);
    expect(m.proveAndGrant(W, "x").ok).toBe(false);
  });
});

/** Edge and an honest v2 reader, driven by fast-check: data in arbitrary frames, consumption in arbitrary steps. */
describe("properties", () => {
  it("an honest reader never trips the meter, and the edge never holds more than a window", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 1_048_576 }), { minLength: 1, maxLength: 80 }),
        fc.array(fc.integer({ min: 1, max: 3_000_000 }), { maxLength: 80 }),
        (frames, reads) => {
          const edge = new DirectionMeter("proving", "metered");
          const reader = new ReaderCredit();
          const marks: string[] = [];
          let readIndex = 0;
          for (const size of frames) {
            const n = Math.min(size, edge.room());
            if (n === 0) {
              // Blocked: the reader consumes what it has (an honest reader eventually does).
              const grant = reader.consume(reader.received - reader.consumed);
              if (!grant) return; // nothing more can move: a stall would show as a test failure below
              const r = edge.proveAndGrant(grant.upTo, grant.mark);
              expect(r.ok).toBe(true);
              continue;
            }
            expect(edge.accept(n)).toBe(true);
            edge.forwarded(n);
            expect(reader.data(n)).toBe(true);
            if (edge.markDue()) {
              const id = `k${marks.length}`;
              edge.placeMark(id);
              marks.push(id);
              const g = reader.mark(id);
              if (g) expect(edge.proveAndGrant(g.upTo, g.mark).ok).toBe(true);
            }
            expect(edge.held()).toBeLessThanOrEqual(W);
            const step = reads[readIndex++ % Math.max(1, reads.length)] ?? 0;
            const grant = reader.consume(Math.min(step, reader.received - reader.consumed));
            if (grant) expect(edge.proveAndGrant(grant.upTo, grant.mark).ok).toBe(true);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it("a blocked writer always gets going again once an honest reader reads, even at the low cap", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 1_048_576 }), { minLength: 1, maxLength: 200 }), (frames) => {
        const edge = new DirectionMeter("proving", "metered");
        const reader = new ReaderCredit();
        let n = 0;
        for (const size of frames) {
          let room = edge.room();
          if (room === 0) {
            const grant = reader.consume(reader.received - reader.consumed);
            expect(grant, "a blocked writer needs a grant once everything is read").toBeDefined();
            expect(edge.proveAndGrant(grant!.upTo, grant!.mark, MI).ok).toBe(true);
            room = edge.room();
            expect(room).toBeGreaterThan(0);
          }
          const k = Math.min(size, room);
          edge.accept(k);
          edge.forwarded(k);
          reader.data(k);
          if (edge.markDue()) {
            edge.placeMark(`x${n}`);
            const g = reader.mark(`x${n++}`);
            if (g) expect(edge.proveAndGrant(g.upTo, g.mark, MI).ok).toBe(true);
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  it("a paced liar (grants what arrives, never reads a mark) is refused at its first grant past the window", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 1_048_576 }), { minLength: 1, maxLength: 60 }), (frames) => {
        const edge = new DirectionMeter("proving", "metered");
        let arrived = 0;
        for (const size of frames) {
          const n = Math.min(size, edge.room());
          if (n === 0) break;
          edge.accept(n);
          edge.forwarded(n);
          if (edge.markDue()) edge.placeMark(`secret${arrived}`);
          arrived += n;
          // It grants exactly what arrived on top of a window, naming no mark (or a guessed one).
          const r = edge.proveAndGrant(arrived + W, arrived % 2 ? undefined : "guess");
          expect(r.ok).toBe(false);
          return;
        }
      }),
      { numRuns: 200 },
    );
  });

  it("whatever a liar grants, the edge holds at most one window per direction", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 2_000_000 }), fc.nat({ max: 2 ** 40 }), fc.option(fc.string(), { nil: undefined }))),
        (steps) => {
          const edge = new DirectionMeter("proving", "metered");
          for (const [size, upTo, mark] of steps) {
            const n = Math.min(size, edge.room());
            edge.accept(n);
            edge.forwarded(n);
            if (edge.markDue()) edge.placeMark(`z${edge.sent}`);
            edge.proveAndGrant(upTo, mark);
            expect(edge.held()).toBeLessThanOrEqual(W);
            expect(edge.limit).toBeLessThanOrEqual(edge.proven + W);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("ReaderCredit (a v2 reader)", () => {
  it("grants once per mark consumed, one window past it", () => {
    const r = new ReaderCredit();
    r.data(MI);
    r.mark("a");
    r.data(MI);
    r.mark("b");
    expect(r.consume(MI - 1)).toBeUndefined();
    expect(r.consume(1)).toStrictEqual({ t: "credit", upTo: MI + W, mark: "a" });
    expect(r.consume(2 * MI)).toStrictEqual({ t: "credit", upTo: 2 * MI + W, mark: "b" });
    expect(r.consume(1)).toBeUndefined();
  });

  it("grants at once for a mark whose data was already used (marks come after their data)", () => {
    const r = new ReaderCredit();
    r.data(MI);
    expect(r.consume(MI)).toBeUndefined();
    expect(r.mark("late")).toStrictEqual({ t: "credit", upTo: MI + W, mark: "late" });
  });

  it("finds a sender that oversteps", () => {
    const r = new ReaderCredit();
    expect(r.data(W)).toBe(true);
    expect(r.data(1)).toBe(false);
  });
});

describe("budget", () => {
  const MiB = 1024 * 1024;
  const stalled = (id: string, held: number) => ({ id, held, stalledMs: STALLED_MS });
  it("sheds the stalled sessions holding the most, until the rest fits", () => {
    expect(shed([stalled("a", 10 * MiB)], 48 * MiB)).toEqual([]);
    expect(shed([stalled("small", 1 * MiB), stalled("big", 40 * MiB), stalled("mid", 20 * MiB)], 48 * MiB)).toEqual(["big"]);
    expect(shed([stalled("x", 100 * MiB), stalled("y", 100 * MiB)], 48 * MiB)).toEqual(["x", "y"]);
  });

  it("never sheds a holder whose holding went down within STALLED_MS (a reader that keeps proving)", () => {
    const moving = { id: "moving", held: 40 * MiB, stalledMs: STALLED_MS - 1 };
    expect(shed([moving, stalled("stuck", 10 * MiB)], 48 * MiB)).toEqual(["stuck"]);
    expect(shed([moving, { ...moving, id: "moving too" }], 48 * MiB)).toEqual([]);
    // Any holder when asked (plain uploads: they cannot prove).
    expect(shed([moving, { ...moving, id: "moving too" }], 48 * MiB, 0)).toEqual(["moving"]);
  });

  it("grants each holding session its share of half the budget: a window alone, down to MIN_GRANT_CAP_BYTES", () => {
    expect(grantCap(0, 0)).toBe(W);
    expect(grantCap(0, 1)).toBe(Math.min(W, OBJECT_BUDGET_BYTES / 4));
    expect(grantCap(0, 2)).toBe(OBJECT_BUDGET_BYTES / 8);
    expect(grantCap(0, 20)).toBe(Math.floor(OBJECT_BUDGET_BYTES / 80));
    expect(grantCap(0, 10_000)).toBe(MIN_GRANT_CAP_BYTES);
    // n sessions at their share stay within half the budget, two directions each.
    for (const n of [1, 2, 3, 7, 20, 64]) expect(n * 2 * grantCap(0, n)).toBeLessThanOrEqual(OBJECT_BUDGET_BYTES / 2);
  });

  it("narrows every grant to MIN_GRANT_CAP_BYTES once half the budget is held", () => {
    expect(grantCap(OBJECT_BUDGET_BYTES / 2 - 1, 1)).toBeGreaterThan(MIN_GRANT_CAP_BYTES);
    expect(grantCap(OBJECT_BUDGET_BYTES / 2, 1)).toBe(MIN_GRANT_CAP_BYTES);
  });
});

describe("BudgetAccount", () => {
  it("keeps a running total and names who to end once over, among holders stalled STALLED_MS", () => {
    const a = new BudgetAccount();
    a.set("x", 10, 0);
    a.set("y", 30, 0);
    a.set("x", 15, 0);
    expect(a.total).toBe(45);
    expect(a.overBudget(STALLED_MS, 50)).toEqual([]);
    a.set("z", 20, 0);
    expect(a.overBudget(STALLED_MS - 1, 50)).toEqual([]);
    expect(a.overBudget(STALLED_MS, 50)).toEqual(["y"]);
    a.remove("y");
    expect(a.total).toBe(35);
  });

  it("shares the budget among holders of SHARING_HOLDER_BYTES or more only; the small ones still count in the total", () => {
    const a = new BudgetAccount();
    for (let i = 0; i < 1000; i++) a.set(`idle ${i}`, 128, 0);
    expect(a.holders).toBe(0);
    expect(grantCap(a.total, a.holders)).toBe(W);
    a.set("bulk", SHARING_HOLDER_BYTES, 0);
    a.set("other", 2 * 1024 * 1024, 0);
    expect(a.holders).toBe(2);
    a.set("idle 7", SHARING_HOLDER_BYTES + 1, 0); // a burst: shares while it holds that much
    expect(a.holders).toBe(3);
    a.set("idle 7", 64, 0);
    a.set("bulk", SHARING_HOLDER_BYTES - 1, 0);
    expect(a.holders).toBe(1);
    a.remove("other");
    expect(a.holders).toBe(0);
    expect(a.total).toBe(999 * 128 + 64 + SHARING_HOLDER_BYTES - 1);
    // Many small holders adding up to half the budget narrow every grant all the same.
    for (let i = 0; i < 1100; i++) a.set(`idle ${i}`, SHARING_HOLDER_BYTES - 1, 0);
    expect(a.holders).toBe(0);
    expect(grantCap(a.total, a.holders)).toBe(MIN_GRANT_CAP_BYTES);
  });

  it("restarts a holder's stall when what it holds goes down, not when it grows", () => {
    const a = new BudgetAccount();
    a.set("r", 40, 0);
    a.set("r", 60, 1500); // grew: still stalled since 0
    expect(a.overBudget(STALLED_MS, 50)).toEqual(["r"]);
    a.set("r", 55, 1900); // a proof: moving again
    expect(a.overBudget(STALLED_MS, 50)).toEqual([]);
    expect(a.overBudget(1900 + STALLED_MS, 50)).toEqual(["r"]);
  });
});

describe("first limits", () => {
  it("a v2 writer starts with a mark's interval, a v1 writer with the whole window", () => {
    expect(initialCredit(2)).toBe(MI);
    expect(initialCredit(1)).toBe(W);
    const m = new DirectionMeter("proving", "metered", undefined, initialCredit(2));
    expect(m.accept(MI)).toBe(true);
    m.forwarded(MI);
    expect(m.markDue()).toBe(true); // at the limit: the reader gets a mark to prove itself with
    expect(m.accept(1)).toBe(false);
  });

  it("a v2 writer whose reader speaks v1 is raised to the window at open, once", () => {
    const flow = new SessionFlow({ clientProtocol: "sallyport", clientVersion: 1, bindVersion: 2 });
    expect(flow.opened()).toStrictEqual([{ d: "down", tell: { t: "credit", upTo: W } }]);
    expect(flow.opened()).toStrictEqual([]);
    const both2 = new SessionFlow({ clientProtocol: "sallyport", clientVersion: 2, bindVersion: 2 });
    expect(both2.opened()).toStrictEqual([]);
    expect(both2.down.limit).toBe(MI);
  });

  it("survives its own state (the attachment across hibernation)", () => {
    const flow = new SessionFlow({ clientProtocol: "plain", clientVersion: 1, bindVersion: 2 });
    flow.up.accept(10);
    flow.up.forwarded(10);
    const back = SessionFlow.restore(JSON.parse(JSON.stringify(flow.state())));
    expect(back.state()).toStrictEqual(flow.state());
    expect(back.up.room()).toBe(W - 10); // a plain client's burst goes on to the connector up to a window
  });
});
