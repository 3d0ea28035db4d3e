import { EventEmitter } from "node:events";
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { describeRefusal } from "../../client/describe.ts";
import type { DialHandlers, DialOptions } from "../../client/dial.ts";
import { Forwarder, type ForwarderIo, STOP_GRACE_MS } from "../../client/forwarder.ts";
import { SallyportStream } from "../../client/stream.ts";
import { CLIENT_SUBPROTOCOLS } from "../../shared/protocol/constants.ts";
import { FakeClientSocket, FakeClock, recordingLogger } from "../helpers/fakes.ts";
import { Condition, once, within } from "../helpers/wait.ts";

/**
 * client/forwarder.ts with its sessions faked (no edge: each dial is a SallyportStream over an
 * in-memory socket the test plays) and a manual clock; the local side is real TCP on 127.0.0.1.
 */

const START = '{"v":1,"t":"start"}';
const END = '{"v":1,"t":"end"}';
const DONE = '{"v":1,"t":"done"}';
const text = (s: string) => new TextEncoder().encode(s);
const decode = (frames: Array<string | Uint8Array>) =>
  frames.map((f) => (typeof f === "string" ? f : `data:${new TextDecoder().decode(f)}`));

/** The WebSocket under a faked session: closes when the forwarder terminates it. */
class FakeDialed extends EventEmitter {
  terminated = false;
  terminate(): void {
    this.terminated = true;
    this.emit("close");
  }
}

interface Dialed {
  readonly opts: DialOptions;
  readonly handlers: DialHandlers;
  readonly ws: FakeDialed;
}

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const s of stops.splice(0)) await s();
});

async function harness(preopen = 1) {
  const clock = new FakeClock();
  const dials: Dialed[] = [];
  const dialed = new Condition();
  const io: ForwarderIo = {
    dial: (opts, handlers) => {
      const ws = new FakeDialed();
      dials.push({ opts, handlers, ws });
      dialed.notify();
      return ws;
    },
    clock,
  };
  const log = recordingLogger();
  const forwarder = new Forwarder(
    { url: "wss://edge.test/app", host: "127.0.0.1", port: 0, token: "t", preopen, retryMaxMs: 1000, log },
    io,
  );
  const { port } = await forwarder.listen();
  const locals: net.Socket[] = [];
  stops.push(async () => {
    for (const l of locals) l.destroy();
    const stopped = forwarder.stop();
    clock.advance(STOP_GRACE_MS);
    await stopped;
  });
  /** The edge completes dial `i`'s handshake: a Sallyport session over an in-memory socket. */
  const open = (i: number): FakeClientSocket => {
    const socket = new FakeClientSocket(CLIENT_SUBPROTOCOLS[1]);
    dials[i]!.handlers.opened(new SallyportStream(socket, { clock }), 1);
    return socket;
  };
  const connect = async (): Promise<net.Socket> => {
    const local = net.connect({ host: "127.0.0.1", port, allowHalfOpen: true });
    locals.push(local);
    await once(local, "connect", 2000, "the local connection");
    return local;
  };
  return { clock, dials, dialed, log, forwarder, open, connect };
}

describe("Forwarder: pre-opened sessions", () => {
  it("opens `preopen` sessions in standby once listening", async () => {
    const h = await harness(2);
    expect(h.dials.map((d) => [d.opts.url, d.opts.token, d.opts.standby])).toEqual([
      ["wss://edge.test/app", "t", true],
      ["wss://edge.test/app", "t", true],
    ]);
  });

  it("a local connection takes one: `start` goes first, then its bytes both ways; the pool refills", async () => {
    const h = await harness(1);
    const session = h.open(0);
    const local = await h.connect();
    local.write("hello");
    await session.changed.wait(() => session.frames.length >= 2, 2000, "start and the local bytes");
    expect(decode(session.frames)).toEqual([START, "data:hello"]);
    expect(h.dials).toHaveLength(2);
    expect(h.dials[1]!.opts.standby).toBe(true);
    const [back] = await Promise.all([once<[Buffer]>(local, "data", 2000, "the backend's bytes"), session.receive(text("world"))]);
    expect(back[0].toString()).toBe("world");
  });

  it("retries a failed pre-open after the backoff, not before, and says so once", async () => {
    const h = await harness(1);
    const failure = { kind: "error", detail: "ECONNREFUSED", description: "cannot reach the edge (ECONNREFUSED)" } as const;
    h.dials[0]!.handlers.failed(failure);
    h.clock.advance(79); // 100 ms less at most a fifth of jitter
    expect(h.dials).toHaveLength(1);
    h.clock.advance(21);
    expect(h.dials).toHaveLength(2);
    h.dials[1]!.handlers.failed(failure);
    const said = h.log.records.filter((r) => r.msg === "pre-opened session closed").map((r) => r.level);
    expect(said).toEqual(["warn", "debug"]);
  });

  it("a service at max.clients (HTTP 503) is retried after the backoff as a warning, not reported as a wrong --url", async () => {
    const h = await harness(1);
    const full = { kind: "refused", status: 503, description: describeRefusal(503) } as const;
    h.dials[0]!.handlers.failed(full);
    h.clock.advance(100);
    expect(h.dials).toHaveLength(2);
    expect(h.log.records.filter((r) => r.msg === "edge refused the session")).toHaveLength(0);
    const said = h.log.records.filter((r) => r.msg === "pre-opened session closed");
    expect(said.map((r) => [r.level, r.fields.reason])).toEqual([["warn", describeRefusal(503)]]);
    // Any other refusal is the operator's to fix, and said so.
    h.dials[1]!.handlers.failed({ kind: "refused", status: 404, description: describeRefusal(404) });
    const refused = h.log.records.filter((r) => r.msg === "edge refused the session");
    expect(refused.map((r) => [r.level, r.fields.fix])).toEqual([["error", "check --url (the service's accept path) and --token-file"]]);
  });

  it("drops an idle session whose backend ended, closes it cleanly, and replaces it after the backoff", async () => {
    const h = await harness(1);
    const session = h.open(0);
    session.receive(END);
    expect(session.closedWith).toEqual({ code: 1000, reason: "" });
    expect(h.dials).toHaveLength(1);
    h.clock.advance(100);
    expect(h.dials).toHaveLength(2);
  });

  it("a connection that finished cleanly gives its session back: the next connection starts on it", async () => {
    const h = await harness(1);
    const session = h.open(0);
    const first = await h.connect();
    first.resume();
    first.end("one");
    await session.changed.wait(() => session.frames.includes(END), 2000, "the local FIN as `end`");
    session.receive(END);
    await once(first, "end", 2000, "the backend's FIN");
    h.open(1); // the refill the first connection started
    session.receive(DONE); // kept: newer in the pool than the refill
    session.frames.length = 0;
    const second = await h.connect();
    second.write("two");
    await session.changed.wait(() => session.frames.length >= 2, 2000, "the second connection on the kept session");
    expect(decode(session.frames)).toEqual([START, "data:two"]);
    expect(h.log.records.filter((r) => r.msg === "connection closed" && r.fields.kept === true)).toHaveLength(1);
  });
});

describe("Forwarder: ending", () => {
  it("an abnormal session end resets the local connection (never a clean EOF)", async () => {
    const h = await harness(1);
    const session = h.open(0);
    const local = await h.connect();
    local.on("error", () => {});
    local.write("x");
    await session.changed.wait(() => session.frames.length >= 2, 2000, "the session in use");
    const closed = within(new Promise<boolean>((r) => local.once("close", r)), 2000, "the local connection to close");
    session.peerClose(4005, "backend refused");
    expect(await closed).toBe(true); // hadError: reset
  });

  it("stop closes idle sessions with 1000 and gives their sockets STOP_GRACE_MS before terminating them", async () => {
    const h = await harness(1);
    const session = h.open(0);
    let stopped = false;
    const stopping = h.forwarder.stop().then(() => (stopped = true));
    expect(session.closedWith).toEqual({ code: 1000, reason: "" });
    h.clock.advance(STOP_GRACE_MS - 1);
    await new Promise((r) => setImmediate(r));
    expect(h.dials[0]!.ws.terminated).toBe(false);
    expect(stopped).toBe(false);
    h.clock.advance(1);
    await stopping;
    expect(h.dials[0]!.ws.terminated).toBe(true);
  });
});
