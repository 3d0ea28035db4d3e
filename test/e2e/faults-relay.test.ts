import { randomBytes } from "node:crypto";
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { Cleanup } from "../helpers/cleanup.ts";
import { startFaultRelay } from "../helpers/fault-relay.ts";
import { closeServer, listen } from "../helpers/net.ts";
import { Condition, since, within } from "../helpers/wait.ts";

/**
 * The fault relay itself, against plain TCP endpoints: each mode does what the fault tests
 * rely on it doing. Seconds in total.
 */

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** A TCP peer that records what it got and how its connection ended. */
class Peer {
  readonly received: Buffer[] = [];
  ended = false;
  closed = false;
  error: string | undefined;
  private readonly changed = new Condition();
  constructor(readonly socket: net.Socket) {
    socket.on("data", (d: Buffer) => {
      this.received.push(d);
      this.changed.notify();
    });
    socket.on("end", () => {
      this.ended = true;
      this.changed.notify();
    });
    socket.on("error", (e: NodeJS.ErrnoException) => {
      this.error = e.code ?? e.message;
      this.changed.notify();
    });
    socket.on("close", () => {
      this.closed = true;
      this.changed.notify();
    });
  }
  get bytes(): number {
    return this.received.reduce((n, b) => n + b.length, 0);
  }
  all(): Buffer {
    return Buffer.concat(this.received);
  }
  wait<T>(check: () => T | undefined | false, ms: number, what: string): Promise<T> {
    return this.changed.wait(check, ms, what);
  }
}

/** A target that hands every accepted connection to the test, half-open allowed. */
async function target(): Promise<{ port: number; accepted: Peer[]; next(ms: number): Promise<Peer> }> {
  const accepted: Peer[] = [];
  const changed = new Condition();
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    accepted.push(new Peer(s));
    changed.notify();
  });
  const port = await listen(server);
  cleanup.add("relay test target", () => closeServer(server, sockets));
  let taken = 0;
  return { port, accepted, next: (ms) => changed.wait(() => accepted[taken] && accepted[taken++], ms, "a connection at the target") };
}

/** Connects through the relay; resolves once connected, or once a reset ended the attempt. */
async function dial(port: number): Promise<Peer> {
  const s = net.connect({ host: "127.0.0.1", port, allowHalfOpen: true });
  cleanup.add("relay test client", () => s.destroy());
  const peer = new Peer(s);
  await within(
    new Promise((r) => {
      s.once("connect", r);
      s.once("close", r);
    }),
    5000,
    "connect to the relay",
  );
  return peer;
}

describe("fault relay", () => {
  it("passes bytes and half-closes both ways, and counts them", async () => {
    const t = await target();
    const relay = await startFaultRelay(cleanup, { target: t.port });
    const client = await dial(relay.port);
    const server = await t.next(5000);
    const up = randomBytes(300_000);
    const down = randomBytes(200_000);
    client.socket.end(up);
    await server.wait(() => server.ended, 5000, "FIN at the target");
    expect(server.all().equals(up)).toBe(true);
    // The other direction still flows after the client's FIN.
    server.socket.end(down);
    await client.wait(() => client.ended, 5000, "FIN at the client");
    expect(client.all().equals(down)).toBe(true);
    await relay.waitFor((r) => r.stats().open === 0, 5000, "the connection to close");
    expect(relay.stats()).toMatchObject({ accepted: 1, open: 0, bytesUp: up.length, bytesDown: down.length, droppedUp: 0, droppedDown: 0 });
  });

  it("blackhole keeps sockets but drops data and closes; passing again resets what lost data and releases held connections", async () => {
    const t = await target();
    const relay = await startFaultRelay(cleanup, { target: t.port });
    const client = await dial(relay.port);
    const server = await t.next(5000);
    client.socket.write("before");
    await server.wait(() => server.bytes === 6, 5000, "bytes before the blackhole");

    relay.blackhole();
    client.socket.write("lost");
    server.socket.write("lost too");
    await relay.waitFor((r) => r.stats().droppedUp === 4 && r.stats().droppedDown === 8, 5000, "both directions dropped");
    server.socket.end(); // a FIN is swallowed as well
    const late = await dial(relay.port); // accepted, but held: not yet dialed upstream
    await new Promise((r) => setTimeout(r, 100)); // (only to give a wrongly forwarded FIN or dial time to show)
    expect(client.ended || client.closed).toBe(false);
    expect(t.accepted.length).toBe(1);

    relay.pass();
    // The connection that lost data cannot carry on: both ends see a reset.
    await client.wait(() => client.closed, 5000, "the broken connection to be reset");
    expect(client.error).toBe("ECONNRESET");
    // The held one goes through now, and works.
    const lateServer = await t.next(5000);
    late.socket.write("hello");
    await lateServer.wait(() => lateServer.bytes === 5, 5000, "the held connection's bytes");
  });

  it("blackholes a single connection while the others pass", async () => {
    const t = await target();
    const relay = await startFaultRelay(cleanup, { target: t.port });
    const a = await dial(relay.port);
    const sa = await t.next(5000);
    const b = await dial(relay.port);
    const sb = await t.next(5000);
    relay.connections[0]!.set("blackhole");
    a.socket.write("x");
    b.socket.write("y");
    await sb.wait(() => sb.bytes === 1, 5000, "the passing connection's byte");
    await relay.waitFor((r) => r.connections[0]!.droppedUp === 1, 5000, "the blackholed byte dropped");
    expect(sa.bytes).toBe(0);
  });

  it("reset destroys current connections with RST and refuses new ones", async () => {
    const t = await target();
    const relay = await startFaultRelay(cleanup, { target: t.port });
    const client = await dial(relay.port);
    const server = await t.next(5000);
    relay.reset();
    await client.wait(() => client.closed, 5000, "the client side reset");
    await server.wait(() => server.closed, 5000, "the target side reset");
    expect(client.error).toBe("ECONNRESET");
    expect(server.error).toBe("ECONNRESET");
    const again = await dial(relay.port);
    await again.wait(() => again.closed, 5000, "a new connection refused");
    expect(again.error).toBe("ECONNRESET");
  });

  it("adds latency and caps bandwidth, pushing back on the sender", async () => {
    const t = await target();
    const relay = await startFaultRelay(cleanup, { target: t.port });
    relay.setLatency(150);
    const client = await dial(relay.port);
    const server = await t.next(5000);
    const started = performance.now();
    client.socket.write("ping");
    await server.wait(() => server.bytes === 4, 5000, "the delayed bytes");
    expect(since(started)).toBeGreaterThanOrEqual(140);

    relay.setLatency(0);
    relay.setBandwidth(100_000, "down");
    const data = randomBytes(50_000);
    const t0 = performance.now();
    server.socket.write(data);
    await client.wait(() => client.bytes === data.length, 5000, "the capped bytes");
    const ms = since(t0);
    expect(ms).toBeGreaterThan(400); // 50 kB at 100 kB/s
    expect(ms).toBeLessThan(1500);
    expect(client.all().equals(data)).toBe(true);

    // A sender far faster than the cap is paused rather than buffered for: the relay holds
    // at most its queue, the rest stays in the sender's socket.
    relay.setBandwidth(10_000, "down");
    // More than the kernel can take in between: the sender's send buffer (tcp_wmem, up to
    // 4 MiB here) and the relay's receive buffer (tcp_rmem, up to 32 MiB) before the relay reads.
    const big = Buffer.alloc(48 * 1024 * 1024, 7);
    server.socket.write(big);
    await new Promise((r) => setTimeout(r, 300)); // (measurement interval, not synchronisation)
    expect(server.socket.writableLength).toBeGreaterThan(1024 * 1024);
    expect(relay.connections[0]!.bytesDown - data.length - 4).toBeLessThan(20_000);
  });

  it("half-closes one direction on demand while the other keeps flowing", async () => {
    const t = await target();
    const relay = await startFaultRelay(cleanup, { target: t.port });
    const client = await dial(relay.port);
    const server = await t.next(5000);
    relay.halfClose("up");
    await server.wait(() => server.ended, 5000, "a FIN at the target");
    client.socket.write("dropped");
    server.socket.write("still flows");
    await client.wait(() => client.bytes === 11, 5000, "the other direction");
    await relay.waitFor((r) => r.connections[0]!.droppedUp === 7, 5000, "data after the half-close dropped");
  });
});
