import { describe, expect, it } from "vitest";
import { edgeFetch } from "./helpers.ts";

describe("smoke", () => {
  it("health", async () => {
    const res = await edgeFetch("/_sallyport/health");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
  });
});
