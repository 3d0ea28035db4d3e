import { describe, expect, it } from "vitest";
import { maskingNeeded, maskOptions } from "../../shared/masking.ts";

describe("masking: random keys only where an intermediary could read the frames", () => {
  it.each([
    ["wss://edge.example.com/_sallyport/bind", false],
    ["wss://203.0.113.7/x", false],
    ["ws://127.0.0.1:8787/x", false],
    ["ws://127.9.8.7/x", false],
    ["ws://localhost:8787/x", false],
    ["ws://sallyport.localhost/x", false],
    ["ws://[::1]:8787/x", false],
    ["ws://edge.example.com/x", true],
    ["ws://10.0.0.1/x", true],
    ["ws://127.0.0.1.example.com/x", true],
    ["ws://localhost.example.com/x", true],
    ["ws://[::2]/x", true],
  ])("%s → masked %s", (url, masked) => {
    expect(maskingNeeded(url)).toBe(masked);
    expect("generateMask" in maskOptions(url)).toBe(!masked);
  });

  it("the zero key is all zeros, whatever the buffer held", () => {
    const key = Uint8Array.from([1, 2, 3, 4]);
    maskOptions("wss://edge.example.com/").generateMask!(key);
    expect([...key]).toEqual([0, 0, 0, 0]);
  });
});
