import { afterEach, describe, expect, it } from "vitest";
import { INITIAL_WINDOW_BYTES, V2_INITIAL_CREDIT_BYTES } from "../../shared/protocol/constants.ts";
import { Cleanup } from "../helpers/cleanup.ts";
import { echoBackend } from "../helpers/backends.ts";
import {
  CLIENT_OPTIONS,
  halfCloseBackend,
  protocolClient,
  pushSource,
  randomBytes,
  rssBytes,
  sendAll,
  sha256,
  startFaultEdge,
  startNode,
} from "../helpers/fault-kit.ts";
import { loopbackHopBytes } from "../helpers/net.ts";
import { msgIs } from "../helpers/processes.ts";
import { Condition, within } from "../helpers/wait.ts";
import WebSocket from "ws";

/**
 * The data path under pressure: a slow reader against a fast backend (credit-based flow
 * control bounds what sits anywhere on the path to one window), half-close each way, and
 * one long session of many small messages. The message count is scaled to stay quick;
 * FAULTS_FULL=1 runs the full 250,000 (~50 s here).
 */

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const FULL = process.env.FAULTS_FULL === "1";
const MiB = 1024 * 1024;

describe("faults: data path", () => {
  it(
    "slow Sallyport client against a backend sending a lot: the backend stalls at one window, connector memory stays flat, then " +
      "everything arrives intact",
    async () => {
      const TOTAL = 256 * MiB;
      const edge = await startFaultEdge(cleanup);
      const source = await pushSource(cleanup, TOTAL);
      const node = await startNode(cleanup, { edge: edge.ws, token: edge.token, connect: source.uri, id: "slow", prepared: 1 });
      await node.registered();
      const rssBefore = rssBytes(node.proc.pid);

      const client = await protocolClient(cleanup, edge.url, { autoConsume: false });
      // Reading ~1 KiB/s: 100 bytes every 100 ms, reported as consumed.
      let consumed = 0;
      const slow = setInterval(() => {
        const n = Math.min(100, client.bytes() - consumed);
        consumed += n;
        client.stream.consumed(n);
      }, 100);
      cleanup.add("slow reader", () => clearInterval(slow));

      // The backend is pushed back: what it has handed its socket stops growing… A v2 reader that
      // has not yet used the data up to the first mark gets only the first limit
      // (V2_INITIAL_CREDIT_BYTES), not a whole window: it has proved nothing yet.
      const FIRST = V2_INITIAL_CREDIT_BYTES;
      await source.wait(() => source.state.handed >= FIRST || undefined, 10_000, "the first limit to flow");
      // All of it reaches the client before the stall is judged: on a loaded machine the last
      // messages may still be on their way when the backend's writes have stopped for a second.
      await client.changed.wait(() => client.bytes() >= FIRST || undefined, 10_000, "the first limit to reach the client");
      const stalled = await within(
        (async () => {
          for (;;) {
            const before = source.state.handed;
            await new Promise((r) => setTimeout(r, 1000)); // (sampling interval of the stall check)
            if (source.state.handed === before) return before;
          }
        })(),
        10_000,
        "the backend's writes to stall",
      );
      // …at one window plus what the kernel buffers between backend and connector (one hop, and
      // a margin for the connector's read in flight), far short of the whole.
      const slack = loopbackHopBytes() + MiB;
      expect(INITIAL_WINDOW_BYTES + slack).toBeLessThan(TOTAL);
      expect(stalled).toBeLessThanOrEqual(INITIAL_WINDOW_BYTES + slack);
      expect(source.state.done).toBe(false);
      // The client got exactly the first limit and no more.
      expect(client.bytes()).toBe(FIRST);
      // And stays stalled while the reader goes on at its pace: a few seconds in all.
      const clientHeld = client.bytes();
      await new Promise((r) => setTimeout(r, 1500)); // (sampling interval, as above)
      expect(source.state.handed).toBe(stalled);
      expect(client.bytes()).toBe(clientHeld);
      expect(consumed).toBeGreaterThan(0);
      const rssStalled = rssBytes(node.proc.pid);
      console.log(
        `slow reader: backend stalled after handing over ${stalled} bytes; client holds ${client.bytes()}; connector RSS ` +
          `+${((rssStalled - rssBefore) / MiB).toFixed(1)} MiB`,
      );
      expect(rssStalled - rssBefore).toBeLessThan(48 * MiB);

      // The reader speeds up: consume as it comes.
      clearInterval(slow);
      let peakRss = rssStalled;
      const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssBytes(node.proc.pid))), 100);
      cleanup.add("rss sampler", () => clearInterval(sampler));
      client.stream.consumed(client.bytes() - consumed);
      client.stream.onData = ((prev) => (chunk: Uint8Array) => {
        prev?.(chunk);
        client.stream.consumed(chunk.byteLength);
      })(client.stream.onData);
      await client.ended(60_000);
      clearInterval(sampler);
      expect(client.bytes()).toBe(TOTAL);
      expect(client.hash.digest("hex")).toBe(source.state.sha256);
      // Flow control held memory down while it streamed at full speed too.
      console.log(`fast reader: ${TOTAL} bytes intact; connector RSS peak +${((peakRss - rssBefore) / MiB).toFixed(1)} MiB`);
      expect(peakRss - rssBefore).toBeLessThan(64 * MiB);
      client.stream.end();
      const closed = await client.closed(5000);
      expect(closed).toMatchObject({ code: 1000, clean: true });
    },
  );

  it("half-close, client first: the client sends 1 MiB and ends; the backend reads to EOF, then replies in full and ends", async () => {
    const edge = await startFaultEdge(cleanup);
    const reply = randomBytes(MiB);
    const backend = await halfCloseBackend(cleanup, "reply-after-eof", reply);
    const node = await startNode(cleanup, { edge: edge.ws, token: edge.token, connect: backend.uri, id: "hc1", prepared: 1 });
    await node.registered();
    const client = await protocolClient(cleanup, edge.url);
    const data = randomBytes(MiB);
    await sendAll(client, data, 10_000);
    client.stream.end();
    const rec = await backend.waitForEof(0, 10_000);
    expect(rec).toMatchObject({ received: data.length, sha256: sha256(data) });
    await client.ended(10_000);
    expect(client.bytes()).toBe(reply.length);
    expect(client.hash.digest("hex")).toBe(sha256(reply));
    expect(await client.closed(5000)).toMatchObject({ code: 1000, clean: true });
  });

  it(
    "half-close, backend first: the backend sends 1 MiB and ends at once; the client keeps sending 1 MiB, which the backend receives in " +
      "full",
    async () => {
      const edge = await startFaultEdge(cleanup);
      const reply = randomBytes(MiB);
      const backend = await halfCloseBackend(cleanup, "fin-first", reply);
      const node = await startNode(cleanup, { edge: edge.ws, token: edge.token, connect: backend.uri, id: "hc2", prepared: 1 });
      await node.registered();
      const client = await protocolClient(cleanup, edge.url);
      await client.ended(10_000);
      expect(client.bytes()).toBe(reply.length);
      expect(client.hash.digest("hex")).toBe(sha256(reply));
      // The backend's FIN did not end the session: the other direction still flows.
      expect(client.stream.closed).toBeUndefined();
      const data = randomBytes(MiB);
      await sendAll(client, data, 10_000);
      client.stream.end();
      expect(await backend.waitForEof(0, 10_000)).toMatchObject({ received: data.length, sha256: sha256(data) });
      expect(await client.closed(5000)).toMatchObject({ code: 1000, clean: true });
    },
  );

  it("a plain client has no half-close: the backend's FIN closes the session with 1000 after the data", async () => {
    const edge = await startFaultEdge(cleanup);
    const reply = randomBytes(256 * 1024);
    const backend = await halfCloseBackend(cleanup, "fin-first", reply);
    const node = await startNode(cleanup, { edge: edge.ws, token: edge.token, connect: backend.uri, id: "hc3", prepared: 1 });
    await node.registered();
    const ws = new WebSocket(edge.url, CLIENT_OPTIONS);
    cleanup.add("plain client", () => ws.terminate());
    const got: Buffer[] = [];
    const done = new Promise<number>((resolve) => ws.on("close", (code) => resolve(code)));
    ws.on("message", (d: Buffer) => got.push(d));
    ws.on("error", () => {});
    expect(await within(done, 10_000, "the plain session to close")).toBe(1000);
    expect(sha256(Buffer.concat(got))).toBe(sha256(reply));
  });

  it("one session carries many small messages without being closed, connector memory bounded", async () => {
    const COUNT = FULL ? 250_000 : 50_000;
    const SIZE = 32;
    const edge = await startFaultEdge(cleanup);
    const backend = await echoBackend(cleanup);
    const node = await startNode(cleanup, { edge: edge.ws, token: edge.token, connect: backend.uri, id: "many", prepared: 1 });
    await node.registered();
    const ws = new WebSocket(edge.url, CLIENT_OPTIONS);
    cleanup.add("many-messages client", () => ws.terminate());
    const changed = new Condition();
    let received = 0;
    let closedWith: number | undefined;
    const hashIn = (await import("node:crypto")).createHash("sha256");
    ws.on("message", (d: Buffer) => {
      received += d.length;
      hashIn.update(d);
      changed.notify();
    });
    ws.on("close", (code) => {
      closedWith = code;
      changed.notify();
    });
    ws.on("error", () => {});
    await within(new Promise((r) => ws.once("open", r)), 10_000, "open");
    await node.proc.waitForLog(msgIs("session started"), 5000, "the session to start");
    const rssStart = rssBytes(node.proc.pid);
    let peakRss = rssStart;
    const hashOut = (await import("node:crypto")).createHash("sha256");
    const WINDOW = 256 * 1024; // bytes in flight at most
    for (let i = 0; i < COUNT; i++) {
      const msg = randomBytes(SIZE);
      hashOut.update(msg);
      ws.send(msg);
      const sent = (i + 1) * SIZE;
      if (sent - received > WINDOW) {
        await changed.wait(
          () => closedWith !== undefined || sent - received <= WINDOW / 2 || undefined,
          10_000,
          `echo to catch up at message ${i}`,
        );
        expect(closedWith).toBeUndefined();
        if (i % 50 === 0) peakRss = Math.max(peakRss, rssBytes(node.proc.pid));
      }
    }
    await changed.wait(() => closedWith !== undefined || received >= COUNT * SIZE || undefined, 30_000, "the last echo");
    expect(closedWith).toBeUndefined();
    expect(received).toBe(COUNT * SIZE);
    expect(hashIn.digest("hex")).toBe(hashOut.digest("hex"));
    console.log(`${COUNT} messages of ${SIZE} bytes: connector RSS peak +${((peakRss - rssStart) / MiB).toFixed(1)} MiB`);
    expect(peakRss - rssStart).toBeLessThan(32 * MiB);
    ws.close(1000);
    await node.proc.waitForLog(
      msgIs("session ended", { closeCode: 1000, bytesToBackend: COUNT * SIZE, bytesToClient: COUNT * SIZE }),
      5000,
      "a clean end with every byte counted",
    );
  });
});
