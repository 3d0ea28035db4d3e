import { describe, expect, it } from "vitest";
import { turnOrder } from "../helpers/turn-order.ts";

describe("turnOrder (bench --interleave)", () => {
  it("starts repetition r at the r-th tunnel, wrapping around", () => {
    const t = ["chain", "sallyport", "base"];
    expect([1, 2, 3, 4].map((r) => turnOrder(t, r))).toEqual([
      ["chain", "sallyport", "base"],
      ["sallyport", "base", "chain"],
      ["base", "chain", "sallyport"],
      ["chain", "sallyport", "base"],
    ]);
  });

  it("puts each of two tunnels first in every other repetition", () => {
    const firsts = [1, 2, 3, 4].map((r) => turnOrder(["a", "b"], r)[0]);
    expect(firsts).toEqual(["a", "b", "a", "b"]);
  });

  it("leaves one tunnel, or none, as it is", () => {
    expect(turnOrder(["a"], 5)).toEqual(["a"]);
    expect(turnOrder([], 2)).toEqual([]);
  });
});
