import { describe, expect, it } from "vitest";
import { BULK_BYTES_PER_S, BulkGauge, ioBytesOf, QUIET_MS } from "../../cli/bulk-gauge.ts";

/** Bytes moved in `ms` at `perS` bytes a second. */
const at = (perS: number, ms: number): number => Math.round((perS * ms) / 1000);

/** Feeds a gauge a sample every 250 ms, at the given rates; collects each change with its time. */
class Feed {
  private bytes = 0;
  private t = 0;
  readonly changes: Array<[number, string]> = [];
  constructor(readonly gauge = new BulkGauge()) {
    gauge.sample(0, 0);
  }
  rates(...perS: number[]): this {
    for (const rate of perS) {
      this.bytes += at(rate, 250);
      this.t += 250;
      const change = this.gauge.sample(this.bytes, this.t);
      if (change) this.changes.push([this.t, change]);
    }
    return this;
  }
}

describe("BulkGauge: when a relaying process moves bulk bytes", () => {
  it("the first sample is a baseline: a large count alone is no rate", () => {
    const g = new BulkGauge();
    expect(g.sample(10 * 1024 ** 3, 0)).toBeUndefined();
    expect(g.mode).toBe("default");
  });

  it("turns to bulk at the first sample at the threshold, and not below it", () => {
    const feed = new Feed().rates(BULK_BYTES_PER_S - 4096, BULK_BYTES_PER_S / 2);
    expect(feed.changes).toEqual([]);
    feed.rates(BULK_BYTES_PER_S);
    expect(feed.changes).toEqual([[750, "bulk"]]);
    expect(feed.gauge.mode).toBe("bulk");
  });

  it("stays in bulk through pauses shorter than QUIET_MS, and leaves after QUIET_MS of slow samples", () => {
    const fast = 500 * 1024 * 1024;
    const pause = Array.from({ length: QUIET_MS / 250 - 1 }, () => 0);
    const feed = new Feed().rates(fast, ...pause, fast, ...pause, 0, 0);
    // The second pause begins after the fast sample at 250 + QUIET_MS; QUIET_MS later it is over.
    expect(feed.changes).toEqual([
      [250, "bulk"],
      [250 + 2 * QUIET_MS, "default"],
    ]);
    expect(feed.gauge.mode).toBe("default");
  });

  it("ignores a sample that goes back in time or in count (a baseline again)", () => {
    const g = new BulkGauge();
    g.sample(1000, 1000);
    expect(g.sample(500 * 1024 * 1024, 1000)).toBeUndefined(); // no time passed
    expect(g.sample(10, 1250)).toBeUndefined(); // the count went down
    expect(g.sample(10 + at(BULK_BYTES_PER_S, 250), 1500)).toBe("bulk");
  });

  it("reports each change once", () => {
    const feed = new Feed().rates(...Array.from({ length: 40 }, () => BULK_BYTES_PER_S * 2));
    expect(feed.changes).toEqual([[250, "bulk"]]);
  });
});

describe("ioBytesOf: /proc/PID/io", () => {
  it("adds what the process read and wrote, sockets included (rchar, wchar)", () => {
    const text = "rchar: 1000\nwchar: 234\nsyscr: 5\nsyscw: 6\nread_bytes: 0\nwrite_bytes: 0\ncancelled_write_bytes: 0\n";
    expect(ioBytesOf(text)).toBe(1234);
  });

  it("is undefined when a field is missing", () => {
    expect(ioBytesOf("rchar: 1000\n")).toBeUndefined();
    expect(ioBytesOf("")).toBeUndefined();
  });
});
