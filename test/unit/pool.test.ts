import type net from "node:net";
import { describe, expect, it } from "vitest";
import type { Bind, BindDeps, BindEnd, BindIo, BindPhase, Placement } from "../../connector/bind.ts";
import type { CloseCodeName } from "../../shared/protocol/close-codes.ts";
import { BackendError } from "../../connector/backend.ts";
import { BindPool, MAX_SURPLUS, type PoolBind, SURPLUS_IDLE_MS } from "../../connector/pool.ts";
import { type PoolEvent, type PoolState, nextPoolState } from "../../connector/pool-state.ts";
import { FakeBackend, FakeClock, recordingLogger, testService } from "../helpers/fakes.ts";

/**
 * connector/pool.ts: its transition table, and the pool driven over fake binds, a fake
 * backend dialer and a manual clock — backoff and recovery without sleeping.
 */

describe("pool states", () => {
  const EVENTS: PoolEvent[] = ["backend-failed", "backend-answered", "reconfigured", "drain", "stop"];
  // One row per state, in EVENTS order.
  const TABLE: Record<PoolState, PoolState[]> = {
    filling: ["backend-down", "filling", "filling", "draining", "stopped"],
    "backend-down": ["backend-down", "filling", "filling", "draining", "stopped"],
    draining: ["draining", "draining", "draining", "draining", "stopped"],
    stopped: ["stopped", "stopped", "stopped", "stopped", "stopped"],
  };
  for (const [from, row] of Object.entries(TABLE) as Array<[PoolState, PoolState[]]>) {
    it(`from ${from}`, () => {
      expect(EVENTS.map((e) => nextPoolState(from, e))).toEqual(row);
    });
  }
});

class FakeBind implements PoolBind {
  phase: BindPhase = "dialing";
  placement: Placement | undefined;
  opened = false;
  stopped = false;
  withdrawn: string | undefined;

  constructor(
    readonly deps: BindDeps,
    readonly surplus: boolean,
  ) {}

  open(): void {
    this.opened = true;
  }
  stop(): void {
    this.stopped = true;
    this.end({ kind: "stopped" });
  }
  withdraw(why: string): void {
    this.withdrawn = why;
    this.end({ kind: "withdrawn" });
  }

  // The edge's side of the story:
  /** Parked; `shards` set: the edge's 101 said N (and placed it on the shard it asked for, mod N). */
  park(shards?: number): void {
    if (shards !== undefined) this.placement = { shard: (this.deps.shard ?? 0) % shards, shards };
    this.phase = "parked";
    this.deps.events.parked(this.asBind());
  }
  pair(standby = false): void {
    this.phase = standby ? "standby" : "relaying";
    this.deps.events.paired(this.asBind());
  }
  end(end: BindEnd): void {
    if (this.phase === "closed") return;
    this.phase = "closed";
    this.deps.events.ended(this.asBind(), end);
  }
  demand(waiting: number): void {
    this.deps.events.demand(this.asBind(), waiting);
  }
  backendFailed(why: CloseCodeName): void {
    this.deps.events.backendFailed(this.asBind(), why);
  }
  fail(): void {
    this.end({ kind: "failed", detail: "ECONNREFUSED" });
  }
  private asBind(): Bind {
    return this as unknown as Bind;
  }
}

function harness(prepared = 3, maxSessions = 512) {
  const clock = new FakeClock();
  const binds: FakeBind[] = [];
  const probes: Array<{ resolve(s: net.Socket): void; reject(e: Error): void }> = [];
  const io: BindIo = {
    openSocket: () => {
      throw new Error("the pool never dials the edge itself");
    },
    dialBackend: () => new Promise((resolve, reject) => probes.push({ resolve, reject })),
    clock,
  };
  const log = recordingLogger();
  const pool = new BindPool({
    service: testService({ preparedConnectionCount: prepared, maxSessions, retryMaximumIntervalMs: 1000, maximumRecoveryIntervalMs: 4000 }),
    token: "t",
    route: {},
    connectorId: "c",
    instance: "i",
    log,
    io,
    makeBind: (deps, surplus) => {
      const b = new FakeBind(deps, surplus);
      binds.push(b);
      return b;
    },
  });
  const live = () => binds.filter((b) => b.phase !== "closed");
  return { clock, binds, probes, pool, log, live };
}

const settle = () => new Promise<void>((r) => setImmediate(r));

describe("BindPool: max.sessions", () => {
  it("offers binds and runs sessions together never beyond it, says so once at the cap, and offers again when one ends", () => {
    const h = harness(3, 2);
    h.pool.start();
    h.binds[0]!.park();
    expect(h.live()).toHaveLength(2); // two of the three prepared: each offered bind may become a session
    for (const b of h.live()) if (b.phase === "dialing") b.park();
    h.live()[0]!.pair();
    h.live()[1]!.pair();
    expect(h.pool.stats()).toMatchObject({ sessions: 2, offered: 0 });
    h.live()[0]!.demand(5); // the edge asks for more: none beyond the cap
    expect(h.live()).toHaveLength(2);
    expect(h.log.records.filter((r) => r.msg === "max.sessions reached: no more binds offered until a session ends")).toHaveLength(1);
    h.live()[0]!.end({ kind: "session", close: { code: 1000, reason: "" } });
    expect(h.pool.stats()).toMatchObject({ sessions: 1, offered: 1 });
    expect(h.log.records.some((r) => r.msg === "below max.sessions again: offering binds")).toBe(true);
  });
});

describe("BindPool: filling", () => {
  it("probes with one bind until it registers, then fans out to prepared.connection.count", () => {
    const h = harness(3);
    h.pool.start();
    expect(h.binds).toHaveLength(1);
    expect(h.binds[0]!.opened).toBe(true);
    h.binds[0]!.park();
    expect(h.live()).toHaveLength(3);
    expect(h.log.records.filter((r) => r.msg === "registered with the edge")).toHaveLength(1);
  });

  it("replaces a failed bind after the backoff delay, doubling from 100 ms (jitter only takes off)", () => {
    const h = harness(1);
    h.pool.start();
    h.binds[0]!.fail();
    h.clock.advance(79); // 100 ms less at most a fifth
    expect(h.binds).toHaveLength(1);
    h.clock.advance(21);
    expect(h.binds).toHaveLength(2);
    h.binds[1]!.fail();
    h.clock.advance(159);
    expect(h.binds).toHaveLength(2);
    h.clock.advance(41);
    expect(h.binds).toHaveLength(3);
  });

  it("replaces a bind a client took at once, without backoff", () => {
    const h = harness(2);
    h.pool.start();
    h.binds[0]!.park();
    h.binds[1]!.park();
    h.binds[0]!.pair();
    expect(h.live().filter((b) => b.phase === "dialing")).toHaveLength(1);
    expect(h.pool.stats()).toMatchObject({ offered: 2, parked: 1, sessions: 1, standby: 0, pairings: 1 });
  });

  it("after losing every parked bind, probes the edge with one bind again", () => {
    const h = harness(3);
    h.pool.start();
    h.binds[0]!.park();
    for (const b of h.live()) b.fail();
    h.clock.advance(100);
    expect(h.live()).toHaveLength(1);
  });

  it("logs a refused credential once a minute, not once per attempt", () => {
    const h = harness(1);
    h.pool.start();
    const refusals = () => h.log.records.filter((r) => r.msg === "edge refused the connector's credentials").length;
    for (let i = 0; i < 5; i++) {
      h.live()[0]!.end({ kind: "rejected", status: 401 });
      h.clock.advance(1000);
    }
    expect(refusals()).toBe(1);
    h.clock.advance(60_000);
    h.live()[0]!.end({ kind: "rejected", status: 401 });
    expect(refusals()).toBe(2);
  });
});

describe("BindPool: demand", () => {
  it(`opens surplus binds for waiting clients, at most ${MAX_SURPLUS}; an untaken one closes after ${SURPLUS_IDLE_MS} ms`, () => {
    const h = harness(1);
    h.pool.start();
    h.binds[0]!.park();
    h.binds[0]!.demand(100);
    const surplus = h.live().filter((b) => b.surplus);
    expect(surplus).toHaveLength(MAX_SURPLUS);
    surplus[0]!.park();
    surplus[1]!.park();
    surplus[1]!.pair();
    h.clock.advance(SURPLUS_IDLE_MS - 1);
    expect(surplus[0]!.stopped).toBe(false);
    h.clock.advance(1);
    expect(surplus[0]!.stopped).toBe(true);
    // A taken surplus bind is not replaced.
    expect(h.live().filter((b) => b.surplus)).toHaveLength(MAX_SURPLUS - 1);
  });
});

describe("BindPool: backend down", () => {
  it("withdraws its binds, probes on the recovery schedule, and offers binds again once the backend answers", async () => {
    const h = harness(2);
    h.pool.start();
    h.binds[0]!.park();
    const offered = h.live();
    offered[0]!.backendFailed("CONNECTION_REFUSED");
    expect(h.pool.state).toBe("backend-down");
    expect(offered.map((b) => b.withdrawn)).toEqual(["CONNECTION_REFUSED", "CONNECTION_REFUSED"]);
    expect(h.live()).toHaveLength(0);

    h.clock.advance(100);
    expect(h.probes).toHaveLength(1);
    h.probes[0]!.reject(new BackendError("CONNECTION_REFUSED", "ECONNREFUSED"));
    await settle();
    expect(h.pool.state).toBe("backend-down");
    h.clock.advance(159);
    expect(h.probes).toHaveLength(1);
    h.clock.advance(41);
    expect(h.probes).toHaveLength(2);
    const probe = new FakeBackend();
    h.probes[1]!.resolve(probe.asSocket());
    await settle();
    expect(probe.destroyed).toBe(true);
    expect(h.pool.state).toBe("filling");
    expect(h.live()).toHaveLength(2);
  });

  it("a probe that answers after a drain began does not bring the pool back", async () => {
    const h = harness(1);
    h.pool.start();
    h.binds[0]!.park();
    h.binds[0]!.backendFailed("CONNECTION_REFUSED");
    h.clock.advance(100);
    const drained = h.pool.drain();
    h.probes[0]!.resolve(new FakeBackend().asSocket());
    await settle();
    expect(h.pool.state).toBe("draining");
    expect(h.live()).toHaveLength(0);
    await drained;
  });
});

describe("BindPool: draining and stopping", () => {
  it("drain stops offered and standby binds, lets sessions run, and resolves when the last one ends", async () => {
    const h = harness(3);
    h.pool.start();
    h.binds[0]!.park();
    const [a, b, c] = h.live();
    a!.park();
    b!.park();
    a!.pair(); // in flight
    b!.pair(true); // held in standby
    let done = false;
    const drained = h.pool.drain().then(() => (done = true));
    expect(h.pool.state).toBe("draining");
    expect([a!.stopped, b!.stopped, c!.stopped]).toEqual([false, true, true]);
    expect(h.live()).toEqual([a]);
    await settle();
    expect(done).toBe(false);
    a!.end({ kind: "session", close: { code: 1000, reason: "" } });
    await drained;
    expect(h.pool.idle).toBe(true);
    // Nothing is offered again, whatever the clock does.
    h.clock.advance(60_000);
    expect(h.live()).toHaveLength(0);
  });

  it("stop closes sessions too, and no retry offers a bind after it", () => {
    const h = harness(1);
    h.pool.start();
    h.binds[0]!.park();
    h.binds[0]!.pair();
    const session = h.binds[0]!;
    h.binds[1]!.fail(); // the replacement failed: a retry is scheduled
    h.pool.stop();
    expect(session.stopped).toBe(true);
    expect(h.pool.state).toBe("stopped");
    const made = h.binds.length;
    h.clock.advance(10_000);
    expect(h.binds).toHaveLength(made);
  });

  it("update (SIGHUP) recycles unpaired binds, keeps sessions, and tries a down backend again", () => {
    const h = harness(2);
    h.pool.start();
    h.binds[0]!.park();
    const [a, b] = h.live();
    b!.park();
    b!.pair();
    a!.backendFailed("CONNECTION_REFUSED");
    expect(h.pool.state).toBe("backend-down");
    h.pool.update({ service: testService({ preparedConnectionCount: 2 }), token: "t2", route: {} });
    expect(h.pool.state).toBe("filling");
    expect(b!.stopped).toBe(false);
    const fresh = h.live().filter((x) => x !== b);
    expect(fresh).toHaveLength(2);
    expect(fresh.every((x) => x.deps.token === "t2")).toBe(true);
  });
});

describe("BindPool: shards", () => {
  const onShard = (h: ReturnType<typeof harness>) => {
    const per = new Map<number, number>();
    for (const b of h.live()) per.set(b.deps.shard ?? 0, (per.get(b.deps.shard ?? 0) ?? 0) + 1);
    return Object.fromEntries(per);
  };
  const parkAll = (h: ReturnType<typeof harness>, shards: number) => {
    for (const b of h.live()) if (b.phase === "dialing") b.park(shards);
  };

  it("probes on shard 0, learns N from the edge, then keeps max(prepared, N) binds, at least one per shard", () => {
    const h = harness(3);
    h.pool.start();
    expect(onShard(h)).toEqual({ 0: 1 });
    h.binds[0]!.park(4);
    expect(onShard(h)).toEqual({ 0: 1, 1: 1, 2: 1, 3: 1 });
    parkAll(h, 4);
    expect(h.pool.stats()).toMatchObject({ shards: 4, parkedByShard: [1, 1, 1, 1] });
  });

  it("spreads prepared binds evenly and replaces a taken one on its own shard", () => {
    const h = harness(8);
    h.pool.start();
    h.binds[0]!.park(4);
    parkAll(h, 4);
    expect(onShard(h)).toEqual({ 0: 2, 1: 2, 2: 2, 3: 2 });
    const onTwo = h.live().find((b) => b.deps.shard === 2)!;
    onTwo.pair();
    const fresh = h.live().filter((b) => b.phase === "dialing");
    expect(fresh.map((b) => b.deps.shard)).toEqual([2]);
  });

  it("opens surplus binds on the shard whose clients wait", () => {
    const h = harness(4);
    h.pool.start();
    h.binds[0]!.park(4);
    parkAll(h, 4);
    h.live()
      .find((b) => b.deps.shard === 3)!
      .demand(2);
    expect(
      h
        .live()
        .filter((b) => b.surplus)
        .map((b) => b.deps.shard),
    ).toEqual([3, 3]);
  });

  it("moves its binds when N changes: none left on a shard the edge no longer has, each new shard served", () => {
    const h = harness(4);
    h.pool.start();
    h.binds[0]!.park(4);
    parkAll(h, 4);
    const session = h.live().find((b) => b.deps.shard === 3)!;
    session.pair(); // a session runs on where it is
    parkAll(h, 4);
    // The edge restarted with N = 2: the next bind to park says so.
    h.live()
      .find((b) => b.deps.shard === 0)!
      .stop();
    h.live()
      .find((b) => b.phase === "dialing")!
      .park(2);
    parkAll(h, 2);
    const offered = h.live().filter((b) => b !== session);
    expect(offered.every((b) => (b.deps.shard ?? 0) < 2)).toBe(true);
    expect(h.pool.stats()).toMatchObject({ shards: 2, parkedByShard: [2, 2] });
    expect(session.stopped).toBe(false);
    expect(h.log.records.some((r) => r.msg === "the edge spreads this service over a new number of shards; moving binds")).toBe(true);
  });
});
