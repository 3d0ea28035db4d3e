import { afterEach, describe, expect, it } from "vitest";
import { Cleanup, TSX_CLI, openClient, spawnNode } from "../helpers/index.ts";

/**
 * `npm start` is `tsx cli/main.ts dev`: the whole topology in one command. Run as
 * a user would (tsx's CLI, a child process), on a free port.
 */

const perTest = new Cleanup();
afterEach(() => perTest.run());

describe("npm start (sallyport dev)", () => {
  it("prints a client URL and ready, echoes through it, and exits 0 on SIGTERM", async () => {
    const dev = spawnNode([TSX_CLI, "cli/main.ts", "dev", "--port", "0"], { name: "sallyport dev", cleanup: perTest });
    await dev.waitForLog((l) => l.stream === "stdout" && l.raw === "ready", 30_000, '"ready"');
    const urlLine = dev.lines.find((l) => l.stream === "stdout" && l.raw.startsWith("client URL: "));
    expect(urlLine).toBeDefined();
    const url = urlLine!.raw.slice("client URL: ".length);
    expect(url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/dev$/);

    const c = openClient(perTest, url);
    await c.opened(5000);
    await c.send(Buffer.from("hello sallyport"));
    // The connector may still be filling its pool at "ready": the edge holds the client meanwhile.
    expect((await c.take(15, 10_000)).toString()).toBe("hello sallyport");
    c.close(1000);
    expect((await c.closed(5000)).code).toBe(1000);

    dev.signal("SIGTERM");
    expect(await dev.waitForExit(15_000)).toEqual({ code: 0, signal: null });
    expect(dev.logs((l) => l.json?.msg === "stopping")).toHaveLength(1);
    // Nothing it started (tsx's worker, workerd, the echo server) outlives it.
    expect(dev.groupMembers()).toEqual([]);
  });
});
