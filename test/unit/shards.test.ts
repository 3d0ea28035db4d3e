import { describe, expect, it } from "vitest";
import { clientShards, objectName, parseObjectName, perShard, placeBind } from "../../edge/shards.ts";
import { aggregate, renderStatusPage, type ServiceStatus } from "../../edge/status.ts";
import { placementOf } from "../../connector/bind.ts";
import { SHARD_HEADER, SHARDS_HEADER } from "../../shared/protocol/constants.ts";
import { excessPerShard, neediestShard, shardTargets } from "../../connector/shard-plan.ts";

/** edge/shards.ts (naming, bind placement, client choice) and connector/shard-plan.ts (binds per shard). */

describe("object names", () => {
  it("keeps today's name for shard 0, so one shard is exactly a one-object service", () => {
    expect(objectName("echo", 0)).toBe("echo");
    expect(objectName("echo", 3)).toBe("echo#3");
  });

  it("reads back what it made, and nothing else", () => {
    for (const shard of [0, 1, 7, 63]) expect(parseObjectName(objectName("a-b", shard))).toEqual({ service: "a-b", shard });
    for (const bad of ["", "#1", "echo#0", "echo#01", "echo#x", "echo#64", "echo#1#2"]) expect(parseObjectName(bad)).toBeUndefined();
  });
});

describe("bind placement", () => {
  it("puts a bind without the header (an older connector) on shard 0", () => {
    expect(placeBind(null, 4)).toEqual({ ok: true, shard: 0 });
    expect(placeBind(undefined, 1)).toEqual({ ok: true, shard: 0 });
  });

  it("places a bind on the shard it asks for, and one beyond N on shard mod N", () => {
    expect(placeBind("2", 4)).toEqual({ ok: true, shard: 2 });
    expect(placeBind("3", 2)).toEqual({ ok: true, shard: 1 });
    expect(placeBind("5", 1)).toEqual({ ok: true, shard: 0 });
  });

  it.each(["", "-1", "1.5", " 1", "0x1", "12345", "one"])("refuses the header %j", (h) => {
    expect(placeBind(h, 4)).toEqual({ ok: false });
  });
});

describe("client shard choice", () => {
  it("is shard 0 alone for one shard", () => {
    expect(clientShards(1, 5, Math.random)).toEqual([0]);
  });

  it("goes round the shards first, exactly even, and falls back to a distinct shard", () => {
    const counts = [0, 0, 0, 0];
    let seed = 1;
    // A fixed LCG: the test is deterministic.
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const seconds = [0, 0, 0, 0];
    for (let turn = 7; turn < 7 + 4000; turn++) {
      const [a, b] = clientShards(4, turn, random) as [number, number];
      expect(a).not.toBe(b);
      counts[a]!++;
      seconds[b]!++;
    }
    expect(counts).toEqual([1000, 1000, 1000, 1000]);
    for (const c of seconds) expect(Math.abs(c - 1000)).toBeLessThan(150);
  });

  it("covers the fallback's range at the edges of [0, 1)", () => {
    expect(clientShards(3, 0, () => 0)).toEqual([0, 1]);
    expect(clientShards(3, 0, () => 0.999_999)).toEqual([0, 2]);
  });
});

describe("limits split over shards", () => {
  it("gives each shard its share, rounded up", () => {
    expect(perShard(512, 1)).toBe(512);
    expect(perShard(512, 4)).toBe(128);
    expect(perShard(10, 4)).toBe(3);
  });
});

describe("connector: binds per shard", () => {
  it("keeps max(prepared, N) binds, at least one per shard, the rest even", () => {
    expect(shardTargets(4, 1)).toEqual([4]);
    expect(shardTargets(8, 4)).toEqual([2, 2, 2, 2]);
    expect(shardTargets(10, 4)).toEqual([3, 3, 2, 2]);
    expect(shardTargets(2, 4)).toEqual([1, 1, 1, 1]);
  });

  it("fills the shard that lacks most first", () => {
    expect(neediestShard([2, 2, 2], [2, 0, 1])).toBe(1);
    expect(neediestShard([1, 1], [1, 1])).toBeUndefined();
    expect(neediestShard([1, 1], [])).toBe(0);
  });

  it("retires every bind on a shard the edge no longer has, and those over target", () => {
    const have = new Map([
      [0, 3],
      [1, 1],
      [3, 2],
    ]);
    expect(excessPerShard([2, 2], have)).toEqual(
      new Map([
        [0, 1],
        [3, 2],
      ]),
    );
  });
});

describe("status over shards", () => {
  const shard = (connectors: ServiceStatus["connectors"], parked: number, sessions: number): ServiceStatus => ({
    service: "echo",
    connectors,
    parkedBinds: parked,
    waitingClients: 0,
    activeSessions: sessions,
    bytesToConnectors: 10,
    bytesToClients: 20,
    pairings: 5,
    messagesReceived: 100,
  });
  const conn = (id: string, since: string, parked: number, sessions: number) => ({
    connectorId: id,
    instance: "i",
    connectedSince: since,
    parked,
    sessions,
  });

  it("sums the shards, merges each connector across them, and keeps the per-shard breakdown", () => {
    const s = aggregate("echo", [
      shard([conn("a", "2026-01-02T00:00:00.000Z", 2, 1), conn("b", "2026-01-01T00:00:00.000Z", 1, 0)], 3, 1),
      shard([conn("a", "2026-01-01T00:00:00.000Z", 1, 2)], 1, 2),
      shard([], 0, 0),
    ]);
    expect(s).toMatchObject({
      parkedBinds: 4,
      activeSessions: 3,
      bytesToConnectors: 30,
      bytesToClients: 60,
      pairings: 15,
      messagesReceived: 300,
    });
    expect(s.connectors).toEqual([conn("a", "2026-01-01T00:00:00.000Z", 3, 3), conn("b", "2026-01-01T00:00:00.000Z", 1, 0)]);
    expect(s.shards!.map((h) => [h.shard, h.connectors, h.parkedBinds])).toEqual([
      [0, 2, 3],
      [1, 1, 1],
      [2, 0, 0],
    ]);
    // The page shows one row per shard and flags the shard no connector serves.
    const page = renderStatusPage([s], new Date(0));
    expect(page).toContain("<td>shard 1</td>");
    expect(page).toContain("<td>shard 2 ⚠</td>");
  });
});

describe("connector: what the edge's 101 says", () => {
  it("reads an edge from before shards (no headers) as one shard", () => {
    expect(placementOf({})).toEqual({ shard: 0, shards: 1 });
  });

  it("reads the placement and N", () => {
    expect(placementOf({ [SHARD_HEADER]: "3", [SHARDS_HEADER]: "4" })).toEqual({ shard: 3, shards: 4 });
  });

  it("believes no N above MAX_SHARDS, no shard beyond N, and nothing malformed", () => {
    expect(placementOf({ [SHARD_HEADER]: "1", [SHARDS_HEADER]: "9999" })).toEqual({ shard: 1, shards: 64 });
    expect(placementOf({ [SHARD_HEADER]: "5", [SHARDS_HEADER]: "2" })).toEqual({ shard: 0, shards: 2 });
    expect(placementOf({ [SHARD_HEADER]: "x", [SHARDS_HEADER]: "0" })).toEqual({ shard: 0, shards: 1 });
    expect(placementOf({ [SHARD_HEADER]: ["1", "2"], [SHARDS_HEADER]: "-3" })).toEqual({ shard: 0, shards: 1 });
  });
});
