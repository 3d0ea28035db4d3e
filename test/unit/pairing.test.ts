import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  MAX_PENDING_BYTES,
  OPEN_DEADLINE_MS,
  type Attachment,
  type BindAttachment,
  type ClientAttachment,
} from "../../edge/attachments.ts";
import { addPending, expired, isLive, nextDeadline, pair, pickBind, pickClient, takeover } from "../../edge/pairing.ts";
import { MAX_CLOCK_SKEW_MS, checkInstance, formatInstance } from "../../shared/protocol/instance.ts";

const NOW = 1_000_000;

function bind(id: string, over: Partial<BindAttachment> = {}): BindAttachment {
  return {
    role: "bind",
    id,
    service: "echo",
    credential: "a".repeat(64),
    state: "parked",
    openedAt: 0,
    connectorId: "c1",
    instance: "i1",
    bindId: `b-${id}`,
    heartbeatMs: 1000,
    parkedAt: 100,
    ...over,
  };
}

function client(id: string, over: Partial<ClientAttachment> = {}): ClientAttachment {
  return {
    role: "client",
    id,
    service: "echo",
    state: "waiting",
    protocol: "plain",
    address: "203.0.113.1",
    arrivedAt: 100,
    deadline: NOW + 2000,
    ...over,
  };
}

const ids = (atts: readonly Attachment[] | undefined): string[] => (atts ?? []).map((a) => a.id);

describe("attachment constants", () => {
  it("pins the limits the edge applies", () => {
    expect(MAX_PENDING_BYTES).toBe(8192);
    expect(OPEN_DEADLINE_MS).toBe(15_000);
  });
});

describe("pickBind", () => {
  it.each<[string, BindAttachment[], string | undefined]>([
    ["nothing parked", [], undefined],
    [
      "only registering and paired",
      [bind("r", { state: "registering" }), bind("p", { state: "paired" }), bind("o", { state: "opened" })],
      undefined,
    ],
    ["the only parked one", [bind("r", { state: "registering" }), bind("a")], "a"],
    ["the one parked longest", [bind("a", { parkedAt: 300 }), bind("b", { parkedAt: 100 }), bind("c", { parkedAt: 200 })], "b"],
    ["the first of equals", [bind("a", { parkedAt: 100 }), bind("b", { parkedAt: 100 })], "a"],
    [
      "from the connector with fewer sessions, even if parked later",
      [
        bind("busy-parked", { connectorId: "c1", parkedAt: 1 }),
        bind("busy-session", { connectorId: "c1", state: "paired" }),
        bind("idle-parked", { connectorId: "c2", parkedAt: 999 }),
      ],
      "idle-parked",
    ],
    [
      "counting opened sessions as outstanding too",
      [
        bind("x1", { connectorId: "c1", parkedAt: 1 }),
        bind("x-open", { connectorId: "c1", state: "opened" }),
        bind("y1", { connectorId: "c2", parkedAt: 50 }),
      ],
      "y1",
    ],
    [
      "longest parked among connectors equally loaded",
      [
        bind("c1-a", { connectorId: "c1", parkedAt: 30 }),
        bind("c1-s", { connectorId: "c1", state: "paired" }),
        bind("c2-a", { connectorId: "c2", parkedAt: 20 }),
        bind("c2-s", { connectorId: "c2", state: "opened" }),
        bind("c3-a", { connectorId: "c3", parkedAt: 10 }),
        bind("c3-s1", { connectorId: "c3", state: "paired" }),
        bind("c3-s2", { connectorId: "c3", state: "paired" }),
      ],
      "c2-a",
    ],
    [
      "ignoring registering binds when counting load",
      [
        bind("c1-a", { connectorId: "c1", parkedAt: 10 }),
        bind("c1-r1", { connectorId: "c1", state: "registering" }),
        bind("c1-r2", { connectorId: "c1", state: "registering" }),
        bind("c2-a", { connectorId: "c2", parkedAt: 20 }),
      ],
      "c1-a",
    ],
  ])("picks %s", (_label, binds, expected) => {
    expect(pickBind(binds)?.id).toBe(expected);
  });

  it("only ever returns a parked bind, from a least-loaded connector", () => {
    const stateArb = fc.constantFrom("registering" as const, "parked" as const, "paired" as const, "opened" as const);
    const bindsArb = fc.array(
      fc.record({ state: stateArb, connectorId: fc.constantFrom("c1", "c2", "c3"), parkedAt: fc.nat({ max: 1000 }) }),
      { maxLength: 30 },
    );
    fc.assert(
      fc.property(bindsArb, (specs) => {
        const binds = specs.map((s, i) => bind(`b${i}`, s));
        const picked = pickBind(binds);
        const parked = binds.filter((b) => b.state === "parked");
        if (parked.length === 0) {
          expect(picked).toBeUndefined();
          return;
        }
        const load = (c: string | undefined) =>
          binds.filter((b) => b.connectorId === c && (b.state === "paired" || b.state === "opened")).length;
        expect(picked?.state).toBe("parked");
        const minLoad = Math.min(...parked.map((b) => load(b.connectorId)));
        expect(load(picked!.connectorId)).toBe(minLoad);
        const candidates = parked.filter((b) => load(b.connectorId) === minLoad);
        expect(picked!.parkedAt).toBe(Math.min(...candidates.map((b) => b.parkedAt!)));
      }),
    );
  });
});

describe("pickClient", () => {
  it.each<[string, ClientAttachment[], string | undefined]>([
    ["nobody waiting", [], undefined],
    ["the only waiting client", [client("a")], "a"],
    [
      "first come, first served",
      [client("late", { arrivedAt: 300 }), client("early", { arrivedAt: 100 }), client("mid", { arrivedAt: 200 })],
      "early",
    ],
    ["skipping paired clients", [client("p", { state: "paired", arrivedAt: 1, deadline: undefined }), client("w", { arrivedAt: 50 })], "w"],
    ["skipping a client whose deadline is now", [client("x", { arrivedAt: 1, deadline: NOW }), client("y", { arrivedAt: 2 })], "y"],
    ["skipping a client whose deadline passed", [client("x", { arrivedAt: 1, deadline: NOW - 1 })], undefined],
    ["a client one millisecond before its deadline", [client("x", { deadline: NOW + 1 })], "x"],
    // Given up on (closed with BUSY or TTL_EXPIRED, deadline cleared) but not gone yet.
    [
      "skipping a client already given up on",
      [client("gone", { arrivedAt: 1, deadline: undefined }), client("live", { arrivedAt: 5 })],
      "live",
    ],
  ])("picks %s", (_label, clients, expected) => {
    expect(pickClient(clients, NOW)?.id).toBe(expected);
  });
});

describe("expired", () => {
  it("returns every socket whose deadline has come, of either role", () => {
    const atts: Attachment[] = [
      client("past", { deadline: NOW - 5 }),
      client("now", { deadline: NOW }),
      client("future", { deadline: NOW + 1 }),
      client("paired", { state: "paired", deadline: undefined }),
      bind("registering-late", { state: "registering", deadline: NOW - 1 }),
      bind("paired-late", { state: "paired", deadline: NOW }),
      bind("parked", { deadline: undefined }),
    ];
    expect(ids(expired(atts, NOW))).toStrictEqual(["past", "now", "registering-late", "paired-late"]);
  });

  it("returns nothing when nothing has a deadline", () => {
    expect(expired([bind("a"), client("b", { deadline: undefined })], NOW)).toStrictEqual([]);
  });
});

describe("nextDeadline", () => {
  it.each<[string, Attachment[], number | undefined]>([
    ["no sockets", [], undefined],
    ["no deadlines", [bind("a"), client("b", { state: "paired", deadline: undefined })], undefined],
    [
      "the earliest of clients and binds",
      [client("a", { deadline: 500 }), bind("b", { state: "paired", deadline: 300 }), client("c", { deadline: 400 })],
      300,
    ],
    ["a deadline already past", [client("a", { deadline: 5 }), client("b", { deadline: NOW })], 5],
    ["a deadline of zero", [bind("a", { state: "registering", deadline: 0 }), client("b", { deadline: 10 })], 0],
  ])("%s", (_label, atts, expected) => {
    expect(nextDeadline(atts)).toBe(expected);
  });

  it("agrees with expired: nothing expires before the next deadline", () => {
    fc.assert(
      fc.property(fc.array(fc.option(fc.nat({ max: 10_000 }), { nil: undefined })), fc.nat({ max: 10_000 }), (deadlines, now) => {
        const atts = deadlines.map((d, i) => client(`c${i}`, { deadline: d }));
        const next = nextDeadline(atts);
        const due = expired(atts, now);
        if (next === undefined || now < next) expect(due).toStrictEqual([]);
        else expect(due.length).toBeGreaterThan(0);
      }),
    );
  });
});

describe("isLive", () => {
  const b = bind("a", { parkedAt: NOW, heartbeatMs: 1000 });
  it.each<[string, number | undefined, number, boolean]>([
    ["just parked, no heartbeat yet", undefined, NOW, true],
    ["parked, silent for exactly three intervals", undefined, NOW + 3000, true],
    ["parked, silent for longer", undefined, NOW + 3001, false],
    ["with a recent heartbeat", NOW + 10_000, NOW + 12_000, true],
    ["with a heartbeat three intervals old", NOW + 10_000, NOW + 13_000, true],
    ["with a stale heartbeat", NOW + 10_000, NOW + 13_001, false],
    ["with a heartbeat older than its parking", NOW - 50_000, NOW + 1000, true],
  ])("%s", (_label, lastHeartbeat, now, live) => {
    expect(isLive(b, lastHeartbeat, now)).toBe(live);
  });

  it("scales with the bind's own heartbeat interval", () => {
    const slow = bind("s", { parkedAt: 0, heartbeatMs: 60_000 });
    expect(isLive(slow, undefined, 180_000)).toBe(true);
    expect(isLive(slow, undefined, 180_001)).toBe(false);
  });
});

const VICTIM = "a".repeat(64);
const OTHER = "b".repeat(64);
const id = (connectorId: string, instance: string, credential = VICTIM) => ({ credential, connectorId, instance });

describe("takeover", () => {
  const binds = [
    bind("old-parked", { connectorId: "c1", instance: "0001" }),
    bind("old-session", { connectorId: "c1", instance: "0001", state: "opened" }),
    bind("old-registering", { connectorId: "c1", instance: "0001", state: "registering" }),
    bind("same-instance", { connectorId: "c1", instance: "0002" }),
    bind("other-connector", { connectorId: "c2", instance: "0000" }),
    bind("unregistered", { state: "registering", connectorId: undefined, instance: undefined }),
  ];

  it("evicts an older instance's parked binds, and leaves its sessions running", () => {
    const d = takeover(binds, id("c1", "0002"));
    expect(d.refuse).toBe(false);
    expect(ids(d.evict)).toStrictEqual(["old-parked"]);
  });

  it("refuses a bind from an older instance than one already present", () => {
    expect(takeover(binds, id("c1", "0000"))).toStrictEqual({ refuse: true, evict: [] });
  });

  it("changes nothing for another bind of the same instance", () => {
    expect(takeover([bind("a", { instance: "5" }), bind("b", { instance: "5" })], id("c1", "5"))).toStrictEqual({
      refuse: false,
      evict: [],
    });
  });

  it("changes nothing for a connector it has never seen", () => {
    expect(takeover(binds, id("c9", "0001"))).toStrictEqual({ refuse: false, evict: [] });
  });

  it("changes nothing across credentials: another token with the same connector id neither evicts nor is refused", () => {
    expect(takeover(binds, id("c1", "zzzzzzzzzzzzzzz", OTHER))).toStrictEqual({ refuse: false, evict: [] });
    expect(takeover(binds, id("c1", "000000000000000", OTHER))).toStrictEqual({ refuse: false, evict: [] });
  });

  it("never lets two instances evict each other: exactly one of any two wins", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9a-z]{8}$/), fc.stringMatching(/^[0-9a-z]{8}$/), (a, b) => {
        fc.pre(a !== b);
        const aFirst = takeover([bind("x", { instance: a })], id("c1", b));
        const bFirst = takeover([bind("y", { instance: b })], id("c1", a));
        expect(aFirst.refuse).not.toBe(bFirst.refuse);
      }),
    );
  });
});

describe("takeover against a holder of another token of the same service (issue 11, item 2)", () => {
  // Anything an attacker may put in a bind message: any id, any instance the codec lets through.
  const anyId = fc.oneof(fc.constant("victim-host"), fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/));
  const anyInstance = fc.oneof(
    fc.constant("z".repeat(64)),
    fc.constant("zzzzzzzzz" + "ffffff"),
    fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
    fc.nat().map((t) => formatInstance(t * 1000, "000000")),
  );
  const stateArb = fc.constantFrom("registering" as const, "parked" as const, "paired" as const, "opened" as const);
  const victimBinds = fc.array(fc.record({ state: stateArb, instance: fc.nat({ max: 2 ** 40 }) }), { minLength: 1, maxLength: 12 });

  it("whatever it claims, it evicts none of the victim's binds", () => {
    fc.assert(
      fc.property(victimBinds, anyId, anyInstance, (specs, connectorId, instance) => {
        const binds = specs.map((b, i) =>
          bind(`v${i}`, { state: b.state, connectorId: "victim-host", instance: formatInstance(b.instance, "abcdef") }),
        );
        expect(takeover(binds, id(connectorId, instance, OTHER)).evict).toStrictEqual([]);
      }),
    );
  });

  it("whatever it claims, the victim's next instance is neither refused because of it nor kept from evicting its own", () => {
    fc.assert(
      fc.property(anyId, anyInstance, fc.nat({ max: 2 ** 40 }), (connectorId, instance, victimStart) => {
        const attacker = bind("attacker", { credential: OTHER, connectorId, instance });
        const old = bind("victim-old", { connectorId: "victim-host", instance: formatInstance(victimStart, "000000") });
        const next = formatInstance(victimStart + 1, "000000");
        const d = takeover([attacker, old], id("victim-host", next));
        expect(d.refuse).toBe(false);
        expect(ids(d.evict)).toStrictEqual(["victim-old"]);
      }),
    );
  });

  it("an instance the edge would accept cannot outrank a later real one by more than the clock skew", () => {
    fc.assert(
      fc.property(anyInstance, fc.nat({ max: 2 ** 41 }), (instance, now) => {
        const checked = checkInstance(instance, now);
        if (!checked.ok) return;
        // A connector started after now + skew has a larger instance, so it takes over.
        const later = formatInstance(now + MAX_CLOCK_SKEW_MS + 1, "000000");
        expect(takeover([bind("x", { instance })], id("c1", later)).refuse).toBe(false);
      }),
    );
  });
});

describe("checkInstance", () => {
  const now = Date.UTC(2026, 11, 2);
  it.each<[string, string, ReturnType<typeof checkInstance>["ok"]]>([
    ["one the connector makes now", formatInstance(now, "a1b2c3"), true],
    ["one from long ago", "000000001aaaaaa", true],
    ["one as far ahead as clock skew allows", formatInstance(now + MAX_CLOCK_SKEW_MS, "000000"), true],
    ["one a millisecond further", formatInstance(now + MAX_CLOCK_SKEW_MS + 1, "000000"), false],
    ["all z", "zzzzzzzzzzzzzzz", false],
    ["too short", "0000000010000", false],
    ["too long", "000000001aaaaaa0", false],
    ["upper case", "000000001AAAAAA", false],
    ["a non-hex random part", "000000001gggggg", false],
    ["free text", "inst-1", false],
    ["empty", "", false],
  ])("%s", (_label, instance, ok) => {
    expect(checkInstance(instance, now).ok).toBe(ok);
  });

  it("accepts exactly what the connector generates up to the skew, and keeps age order as string order", () => {
    fc.assert(
      fc.property(fc.nat({ max: 2 ** 42 }), fc.nat({ max: 2 ** 42 }), fc.stringMatching(/^[0-9a-f]{6}$/), (t1, t2, rnd) => {
        const a = formatInstance(t1, rnd);
        const b = formatInstance(t2, rnd);
        expect(checkInstance(a, t1)).toStrictEqual({ ok: true, startedAt: t1 });
        if (t1 < t2) expect(a < b).toBe(true);
      }),
    );
  });

  it("never accepts a string it could not have generated", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), fc.nat({ max: 2 ** 42 }), (s, now) => {
        const r = checkInstance(s, now);
        if (r.ok) {
          expect(formatInstance(r.startedAt, s.slice(9))).toBe(s);
          expect(r.startedAt).toBeLessThanOrEqual(now + MAX_CLOCK_SKEW_MS);
        }
      }),
    );
  });
});

describe("pair", () => {
  it("marks both sides paired with each other, in one step", () => {
    const b = bind("B", { deadline: undefined });
    const c = client("C", { pending: [new Uint8Array([1, 2]), "hi"] });
    const [pb, pc] = pair(b, c, NOW);
    expect(pb).toStrictEqual({ ...b, state: "paired", peer: "C", deadline: NOW + OPEN_DEADLINE_MS });
    expect(pc).toStrictEqual({ ...c, state: "paired", peer: "B", pending: undefined, deadline: undefined });
  });

  it("does not change its inputs", () => {
    const b = Object.freeze(bind("B"));
    const c = Object.freeze(client("C", { pending: [new Uint8Array(1)] }));
    pair(b, c, NOW);
    expect(b.state).toBe("parked");
    expect(c.state).toBe("waiting");
    expect(c.pending).toHaveLength(1);
  });

  it("standby: no open deadline until the client's start, then OPEN_DEADLINE_MS from it", () => {
    const c = client("C", { standby: true });
    const [idle] = pair(bind("B"), c, NOW);
    expect(idle.deadline).toBeUndefined();
    expect(expired([idle], NOW + 24 * 3600_000)).toStrictEqual([]);
    const [started] = pair(bind("B"), c, NOW, NOW + 5);
    expect(started.deadline).toBe(NOW + 5 + OPEN_DEADLINE_MS);
    // Without standby a start time means nothing: the deadline runs from the pairing.
    expect(pair(bind("B"), client("C"), NOW, NOW + 5)[0].deadline).toBe(NOW + OPEN_DEADLINE_MS);
  });

  it("takes a paired pair out of every pick", () => {
    const [pb, pc] = pair(bind("B"), client("C"), NOW);
    expect(pickBind([pb])).toBeUndefined();
    expect(pickClient([pc], NOW)).toBeUndefined();
    expect(ids(expired([pb, pc], NOW + OPEN_DEADLINE_MS))).toStrictEqual(["B"]);
  });
});

describe("addPending", () => {
  const bytes = (n: number) => new Uint8Array(n);

  it.each<[string, Array<Uint8Array | string>, Uint8Array | string, number, boolean]>([
    ["the first chunk", [], bytes(10), 100, true],
    ["a chunk filling the limit exactly", [bytes(60)], bytes(40), 100, true],
    ["a chunk one byte over", [bytes(60)], bytes(41), 100, false],
    ["a single chunk over the limit", [], bytes(101), 100, false],
    ["an empty chunk at the limit", [bytes(100)], bytes(0), 100, true],
    ["text counted at its worst-case UTF-8 size (3 bytes a unit)", [], "a".repeat(33), 100, true],
    ["text one unit over", [], "a".repeat(34), 100, false],
    ["text after bytes", [bytes(97)], "a", 100, true],
    ["bytes after text", ["a".repeat(30)], bytes(11), 100, false],
    ["the edge's real limit", [bytes(MAX_PENDING_BYTES - 1)], bytes(1), MAX_PENDING_BYTES, true],
  ])("%s", (_label, held, chunk, max, accepted) => {
    const c = client("C", { pending: held.length ? held : undefined });
    const r = addPending(c, chunk, max);
    expect(r.ok).toBe(accepted);
    if (r.ok) {
      expect(r.client.pending).toStrictEqual([...held, chunk]);
      expect(r.client.pending![r.client.pending!.length - 1]).toBe(chunk);
    }
  });

  it("keeps order and leaves the original untouched", () => {
    const c0 = client("C");
    const r1 = addPending(c0, bytes(1), 100);
    const r2 = r1.ok ? addPending(r1.client, "x", 100) : r1;
    expect(c0.pending).toBeUndefined();
    expect(r1.ok && r1.client.pending).toHaveLength(1);
    expect(r2.ok && r2.client.pending).toStrictEqual([bytes(1), "x"]);
  });

  it("never holds more than the limit, whatever arrives", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.nat({ max: 3000 }).map(bytes), fc.string({ maxLength: 1000 })), { maxLength: 40 }), (chunks) => {
        let c = client("C");
        for (const chunk of chunks) {
          const r = addPending(c, chunk, MAX_PENDING_BYTES);
          if (r.ok) c = r.client;
        }
        const held = (c.pending ?? []).reduce((n, x) => n + (typeof x === "string" ? new TextEncoder().encode(x).length : x.byteLength), 0);
        expect(held).toBeLessThanOrEqual(MAX_PENDING_BYTES);
      }),
    );
  });
});
