import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildBrowserHelper } from "../../client/browser/build.ts";
import {
  Cleanup,
  ROOT,
  echoBackend,
  msgIs,
  randomToken,
  startConnectorWithConfig,
  startEdge,
  within,
  type TestEdge,
} from "../helpers/index.ts";
import { findChromium, needTool } from "../helpers/tools.ts";

/**
 * The browser helper in real headless Chromium (Debian's, installed by
 * .ci/install-browser.sh; missing, it skips locally and fails under CI=true), driven by
 * playwright-core: a page from a local HTTP server opens sessions through the real edge (workerd)
 * and a real connector to a TCP echo backend.
 * sallyport.js is built from client/stream.ts for this run, never taken from disk.
 */

const CHROMIUM = findChromium();
const hasChromium = needTool("test/e2e/browser.test.ts", CHROMIUM);

const MiB = 1024 * 1024;
const FIXTURES = join(ROOT, "test/fixtures/browser");
const ARTIFACTS = join(ROOT, "test-artifacts");

const file = new Cleanup();
afterAll(() => file.run());

const ACCEPT = "ws://sallyport.test/echo";
let edge: TestEdge;
let edgeOptions: Parameters<typeof startEdge>[1];
let connector: Awaited<ReturnType<typeof startConnectorWithConfig>>;
let context: BrowserContext;
let page: Page;

/** Serves the fixture page, its script and the freshly built helper on 127.0.0.1:0. */
async function servePage(cleanup: Cleanup): Promise<string> {
  const helper = await buildBrowserHelper();
  const files: Record<string, [string, string]> = {
    "/": [await readFile(join(FIXTURES, "index.html"), "utf8"), "text/html; charset=utf-8"],
    "/page.js": [await readFile(join(FIXTURES, "page.js"), "utf8"), "text/javascript; charset=utf-8"],
    "/sallyport.js": [helper, "text/javascript; charset=utf-8"],
  };
  const server = http.createServer((req, res) => {
    const hit = files[new URL(req.url ?? "/", "http://x").pathname];
    if (!hit) return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": hit[1], "cache-control": "no-store" }).end(hit[0]);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanup.add("page server", () => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return `http://127.0.0.1:${(server.address() as import("node:net").AddressInfo).port}/`;
}

describe.skipIf(!hasChromium)("browser: sallyport.js and plain WebSocket in headless Chromium", () => {
  beforeAll(async () => {
    const echo = await echoBackend(file);
    const token = randomToken();
    edgeOptions = { services: { echo: { accept: ACCEPT, "socks.timeout": "10 seconds" } }, tokens: { echo: [token] } };
    edge = await startEdge(file, edgeOptions);
    connector = await startConnectorWithConfig(file, edge.ws, [{ name: "echo", accept: ACCEPT, connect: echo.uri, token, prepared: 2 }]);
    await connector.proc.waitForLog(msgIs("registered with the edge"), 20_000);

    const pageUrl = await servePage(file);
    const userDataDir = await mkdtemp(join(tmpdir(), "sallyport-chromium-"));
    file.add("chromium profile", () => rm(userDataDir, { recursive: true, force: true }));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM.path!,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
      timeout: 30_000,
    });
    file.add("chromium", () => context.close());
    page = context.pages()[0] ?? (await context.newPage());
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(pageUrl);
    await within(
      page.waitForFunction(() => (globalThis as unknown as { pageReady?: boolean }).pageReady === true),
      15_000,
      "the page to load",
    ).catch((e: Error) => {
      throw new Error(`${e.message}; page errors: ${errors.join("; ") || "none"}`);
    });
  });

  it("a plain WebSocket: a text frame reaches the backend as its UTF-8 bytes, binary as is", async () => {
    const text = "héllo, ✓ sallyport 🚀";
    const r = await page.evaluate(
      ([url, t]) => (globalThis as unknown as { plainEcho(u: string, t: string): Promise<unknown> }).plainEcho(url, t),
      [edge.clientUrl("/echo"), text] as const,
    );
    // No subprotocol offered: the edge answers with none, and every frame is data.
    expect(r).toEqual({ protocol: "", text, binaryOk: true, kinds: ["binary"], closeCode: 1000 });
  });

  it("the helper: 12 MiB up with credit, end() (half-close), the whole echo back, clean close", async () => {
    const size = 12 * MiB; // over the 8 MiB window: the page must wait for credit on the way up
    const r = (await page.evaluate(
      ([url, n]) => (globalThis as unknown as { protocolEcho(u: string, n: number): Promise<unknown> }).protocolEcho(url, n),
      [edge.clientUrl("/echo"), size] as const,
    )) as {
      protocol: string;
      received: number;
      sentSha: string;
      receivedSha: string;
      close: { code: number; clean: boolean };
      ms: number;
      stalls: number;
    };
    expect(r.protocol).toBe("sallyport");
    expect(r.received).toBe(size);
    expect(r.receivedSha).toBe(r.sentSha);
    expect(r.close).toMatchObject({ code: 1000, clean: true });
    console.info(
      `browser helper: 12 MiB echoed with half-close in ${r.ms} ms (${((12 / r.ms) * 1000).toFixed(1)} MiB/s), send() asked to wait ` +
        `${r.stalls} times`,
    );
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, "browser-client.png"), fullPage: true });
  });

  it("the helper reports a refused handshake (unknown path) as an error, not a session", async () => {
    const message = await page.evaluate(
      (url) => (globalThis as unknown as { refused(u: string): Promise<string> }).refused(url),
      edge.clientUrl("/nowhere"),
    );
    expect(message).toMatch(/1006.*404/);
  });

  it("the helper resumes its session across an edge restart (a deploy): every byte once, in order, nothing redialed", async () => {
    const size = 8 * MiB;
    const started = (await page.evaluate(
      ([url, n]) => (globalThis as unknown as { resumeStart(u: string, n: number): Promise<unknown> }).resumeStart(url, n),
      [edge.clientUrl("/echo"), size] as const,
    )) as { protocol: string; received: number };
    expect(started.protocol).toBe("sallyport");
    const sessionsBefore = connector.proc.lines.filter(msgIs("session resumed")).length;

    await edge.stop();
    edge = await startEdge(file, { ...edgeOptions, port: edge.port, resumeSecret: edge.resumeSecret });
    const r = (await page.evaluate(() => (globalThis as unknown as { resumeFinish(): Promise<unknown> }).resumeFinish())) as {
      received: number;
      sentSha: string;
      receivedSha: string;
      close: { code: number; clean: boolean };
      resumes: { outcome: string; stallMs: number; resentBytes: number }[];
    };
    expect(r.received).toBe(size);
    expect(r.receivedSha).toBe(r.sentSha);
    expect(r.close).toMatchObject({ code: 1000, clean: true });
    expect(r.resumes.map((x) => x.outcome)).toEqual(["resumed"]);
    const resumed = await connector.proc.waitForLogCount(msgIs("session resumed"), sessionsBefore + 1, 5000, "the resume logged");
    expect(resumed.length - sessionsBefore).toBe(1);
    console.info(`browser helper: resumed after the edge restart, stall ${Math.round(r.resumes[0]!.stallMs)} ms`);
  });
});
