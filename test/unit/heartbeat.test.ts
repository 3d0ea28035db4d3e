import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { systemClock } from "../../shared/clock.ts";
import { Heartbeat } from "../../shared/heartbeat.ts";
import { HEARTBEAT_MISSES } from "../../shared/protocol/constants.ts";

beforeEach(() => void vi.useFakeTimers());
afterEach(() => void vi.useRealTimers());

function make(listening = () => true) {
  const seen = { beats: 0, silent: [] as number[] };
  const hb = new Heartbeat(
    systemClock,
    () => seen.beats++,
    (ms) => seen.silent.push(ms),
    listening,
  );
  return { hb, seen };
}

describe("Heartbeat", () => {
  it("beats every interval and finds silence after HEARTBEAT_MISSES intervals, at the next tick, once", () => {
    const { hb, seen } = make();
    hb.every(1000);
    vi.advanceTimersByTime(1000 * HEARTBEAT_MISSES);
    expect(seen).toEqual({ beats: HEARTBEAT_MISSES, silent: [] });
    vi.advanceTimersByTime(1000);
    expect(seen.silent).toEqual([4000]);
    vi.advanceTimersByTime(10_000);
    expect(seen.silent).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("anything heard starts the silence over", () => {
    const { hb, seen } = make();
    hb.every(1000);
    for (let i = 0; i < 20; i++) {
      vi.advanceTimersByTime(1000);
      hb.heard();
    }
    expect(seen.silent).toEqual([]);
    hb.stop();
  });

  it("a new interval starts the silence over, at the new rate", () => {
    const { hb, seen } = make();
    hb.every(15_000);
    vi.advanceTimersByTime(14_000);
    hb.every(2000);
    vi.advanceTimersByTime(6000);
    expect(seen.silent).toEqual([]);
    vi.advanceTimersByTime(2000);
    expect(seen.silent).toEqual([8000]);
  });

  it("does not count silence while the owner is not reading (paused), and counts again after", () => {
    let reading = false;
    const { hb, seen } = make(() => reading);
    hb.every(1000);
    vi.advanceTimersByTime(20_000);
    expect(seen.silent).toEqual([]);
    expect(seen.beats).toBe(20);
    reading = true;
    vi.advanceTimersByTime(4000);
    expect(seen.silent).toEqual([4000]);
  });
});
