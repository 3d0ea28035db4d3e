import { randomBytes } from "node:crypto";
import WebSocket from "ws";
import { afterEach, describe, expect, it } from "vitest";
import { sha256, watchedEchoBackend } from "../helpers/backends.ts";
import { Cleanup } from "../helpers/cleanup.ts";
import { type FaultRelay, startFaultRelay } from "../helpers/fault-relay.ts";
import { startFaultEdge, startNode } from "../helpers/fault-kit.ts";
import { LocalConn, startForwarder } from "../helpers/local-conn.ts";
import { type LogLine, msgIs } from "../helpers/processes.ts";
import { Condition, since } from "../helpers/wait.ts";

/**
 * Resume under link faults (issue 12, protocol v3), with real processes and the fault relay:
 * a link reset on either leg or both, a black-holed connector leg found by the heartbeat, the
 * resume window running out, and resume attempts with a forged or replayed ticket.
 */

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const MiB = 1024 * 1024;

interface Rig {
  readonly edge: Awaited<ReturnType<typeof startFaultEdge>>;
  readonly backend: Awaited<ReturnType<typeof watchedEchoBackend>>;
  readonly node: Awaited<ReturnType<typeof startNode>>;
  readonly client: Awaited<ReturnType<typeof startForwarder>>;
  /** In front of the edge for the connector, and for the client. */
  readonly connectorLink: FaultRelay;
  readonly clientLink: FaultRelay;
}

async function rig(settings: Record<string, string> = {}): Promise<Rig> {
  const edge = await startFaultEdge(cleanup, { "socks.timeout": "5 seconds", ...settings });
  const backend = await watchedEchoBackend(cleanup);
  const connectorLink = await startFaultRelay(cleanup, { target: edge.port, name: "connector↔edge" });
  const node = await startNode(cleanup, { edge: connectorLink.url, token: edge.token, connect: backend.uri, id: "rs", prepared: 2 });
  await node.registered();
  const clientLink = await startFaultRelay(cleanup, { target: edge.port, name: "client↔edge" });
  const client = await startForwarder(cleanup, new URL("/svc", clientLink.url).href);
  return { edge, backend, node, client, connectorLink, clientLink };
}

/** An 8 MiB echo through one session with `fault` done mid-transfer: every byte back once, in order. */
async function survives(r: Rig, fault: () => void | Promise<void>): Promise<void> {
  const conn = new LocalConn(cleanup, r.client.port);
  const data = randomBytes(8 * MiB);
  await conn.write(data.subarray(0, 4 * MiB));
  await conn.until(() => conn.received >= MiB, 20_000, "the first MiB echoed");
  await fault();
  await conn.write(data.subarray(4 * MiB));
  conn.socket.end();
  await conn.until(() => conn.ended, 60_000, "every byte echoed, then EOF");
  expect(conn.received).toBe(data.length);
  expect(conn.digest()).toBe(sha256(data));
  await r.client.proc.waitForLog(msgIs("session resumed"), 5000, "the client's resume");
  await r.node.proc.waitForLog(msgIs("session resumed"), 5000, "the connector's resume");
  expect(r.backend.closedAt).toHaveLength(1); // the one backend connection, closed at the end: never dialed again
}

describe("resume: link faults", () => {
  it("client↔edge link reset mid-transfer: the session resumes, every byte once", async () => {
    const r = await rig();
    await survives(r, () => r.clientLink.resetAll());
  });

  it("connector↔edge link reset mid-transfer: the session resumes, every byte once", async () => {
    const r = await rig();
    await survives(r, () => r.connectorLink.resetAll());
  });

  it("both links reset at once: the session resumes", async () => {
    const r = await rig();
    await survives(r, () => {
      r.connectorLink.resetAll();
      r.clientLink.resetAll();
    });
  });

  it("connector↔edge black-holed (no RST): the heartbeat notices within 10 s, and the session resumes once the path heals", async () => {
    const r = await rig();
    await survives(r, async () => {
      r.connectorLink.blackhole();
      const cut = performance.now();
      await r.node.proc.waitForLog(msgIs("edge silent; resuming the session"), 15_000, "the connector to notice");
      const noticedMs = since(cut);
      console.log(`connector↔edge black-holed: noticed after ${Math.round(noticedMs)} ms`);
      expect(noticedMs).toBeLessThanOrEqual(10_000);
      r.connectorLink.pass();
    });
  });

  it("a draining connector (SIGTERM) finishes a resume in flight, then exits 0", async () => {
    const r = await rig();
    const conn = new LocalConn(cleanup, r.client.port);
    const data = randomBytes(8 * MiB);
    await conn.write(data.subarray(0, 4 * MiB));
    await conn.until(() => conn.received >= MiB, 20_000, "the first MiB echoed");
    // The connector's link drops and stays refused: its session is resuming when the drain starts.
    r.connectorLink.reset();
    await r.node.proc.waitForLog(msgIs("session link lost; resuming"), 10_000, "the connector to start resuming");
    r.node.proc.signal("SIGTERM");
    await r.node.proc.waitForLog(msgIs("draining"), 5000, "the drain");
    r.connectorLink.pass();
    await r.node.proc.waitForLog(msgIs("session resumed"), 15_000, "the resume, during the drain");
    await conn.write(data.subarray(4 * MiB));
    conn.socket.end();
    await conn.until(() => conn.ended, 60_000, "every byte echoed, then EOF");
    expect(conn.digest()).toBe(sha256(data));
    expect((await r.node.proc.waitForExit(15_000)).code).toBe(0);
    expect(r.backend.closedAt).toHaveLength(1);
  });

  it("resuming binds are not counted by max.binds: the pool parks again while two sessions wait to resume", async () => {
    const r = await rig({ "max.binds": "2" });
    const conns = [new LocalConn(cleanup, r.client.port), new LocalConn(cleanup, r.client.port)];
    const data = conns.map(() => randomBytes(4 * MiB));
    await Promise.all(conns.map((c, i) => c.write(data[i]!.subarray(0, 2 * MiB))));
    await Promise.all(conns.map((c) => c.until(() => c.received >= MiB, 20_000, "the first MiB echoed")));
    const from = r.node.proc.lines.length;
    const edgeFrom = r.edge.logs.length;
    // Both links drop; the clients cannot come back yet, so the connector's halves wait at the edge.
    r.clientLink.reset();
    r.connectorLink.resetAll();
    const waiting = (): number =>
      r.edge.logs.slice(edgeFrom).filter((l) => l.json?.msg === "resume: waiting for the other half" && l.json.side === "bind").length;
    await r.edge.waitForLog(() => waiting() === 2, 10_000, "both connector halves waiting");
    // Two binds resuming, max.binds 2: the pool's binds park all the same (they would be refused if resuming ones counted).
    await r.node.proc.waitForLog(
      (l) => l.msg === "registered with the edge" && r.node.proc.lines.indexOf(l) >= from,
      10_000,
      "parked again",
    );
    expect(r.edge.logs.filter((l) => l.json?.msg === "bind refused: limit reached")).toHaveLength(0);
    r.clientLink.pass();
    await Promise.all(conns.map((c, i) => c.write(data[i]!.subarray(2 * MiB))));
    for (const c of conns) c.socket.end();
    await Promise.all(conns.map((c) => c.until(() => c.ended, 60_000, "every byte echoed, then EOF")));
    for (const [i, c] of conns.entries()) expect(c.digest()).toBe(sha256(data[i]!));
    // Info lines reach stderr up to 50 ms after the event (cli/line-buffer.ts): waited for, then counted.
    const resumedSince = (l: LogLine): boolean => r.node.proc.lines.indexOf(l) >= from && msgIs("session resumed")(l);
    expect(await r.node.proc.waitForLogCount(resumedSince, 2, 5000, "both resumes logged")).toHaveLength(2);
  });

  it("resume window expiry: the client never comes back; both ends close with the documented reason, nothing hangs", async () => {
    const r = await rig({ "session.resume.timeout": "2 seconds" });
    const conn = new LocalConn(cleanup, r.client.port);
    conn.socket.write("are you there?");
    await conn.until(() => conn.received === 14, 10_000, "the echo");
    r.clientLink.reset(); // resets the client's link and refuses its every attempt to come back
    const cut = performance.now();
    await r.backend.closes(1, 10_000, "the backend connection to close");
    const failed = await r.node.proc.waitForLog(msgIs("session resume failed; backend connection reset"), 1000, "the connector's reason");
    expect(failed.json).toMatchObject({ outcome: "failed", level: "warn" });
    await conn.changed.wait(() => (conn.error ? true : undefined), 10_000, "the local connection to be reset");
    expect(conn.error).toBe("ECONNRESET");
    expect(conn.ended).toBe(false);
    const closed = await r.client.proc.waitForLog(msgIs("connection closed"), 1000, "the client's account");
    expect(closed.json).toMatchObject({ closeCode: 4034, clean: false });
    expect(r.client.proc.lines.filter(msgIs("session resume failed"))).toHaveLength(1);
    console.log(`resume window 2 s: both ends closed ${Math.round(since(cut))} ms after the drop`);
  });
});

describe("resume: forged and replayed proofs", () => {
  /** A raw v3 client session: resolves with the edge's ticket for it. */
  async function rawSession(url: string): Promise<{ ws: WebSocket; ticket: string }> {
    const ws = new WebSocket(url, ["sallyport.client.v3"]);
    cleanup.add("raw client", () => ws.terminate());
    const got = new Condition();
    let ticket: string | undefined;
    ws.on("message", (d: Buffer, binary: boolean) => {
      if (binary) return;
      const m = JSON.parse(d.toString()) as { t?: string; ticket?: string };
      if (m.t === "ticket") ticket = m.ticket;
      got.notify();
    });
    await got.wait(() => ticket, 10_000, "a ticket");
    return { ws, ticket: ticket! };
  }

  /** The HTTP answer to a resume attempt (a refusal), or the close code of the socket it got. */
  function attempt(url: string, headers: Record<string, string>, protocol = "sallyport.client.v3") {
    return new Promise<{ status?: number; body?: string; code?: number }>((resolve) => {
      const ws = new WebSocket(url, [protocol], { headers });
      cleanup.add("resume attempt", () => ws.terminate());
      ws.on("unexpected-response", (_req, res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode, body }));
      });
      ws.on("close", (code) => resolve({ code }));
      ws.on("error", () => undefined);
    });
  }

  it("a forged ticket (right session, wrong proof) and a ticket on the wrong side get the same 404 as any refusal", async () => {
    const r = await rig();
    const { ticket } = await rawSession(r.edge.url);
    const [payload, mac] = ticket.split(".") as [string, string];
    const forged = `${payload}.${(mac[0] === "A" ? "B" : "A") + mac.slice(1)}`;
    const unknownPath = await attempt(new URL("/nothing-here", r.edge.url).href, {});
    expect(unknownPath.status).toBe(404);
    const headers = (t: string) => ({ "sallyport-resume": t, "sallyport-resume-received": "0" });
    expect(await attempt(r.edge.url, headers(forged))).toEqual(unknownPath);
    const bindUrl = new URL("/_sallyport/bind", r.edge.url).href;
    const asConnector = { ...headers(ticket), authorization: `Bearer ${r.edge.token}` };
    expect(await attempt(bindUrl, asConnector, "sallyport.bind.v3")).toEqual(unknownPath);
    // Logged at the edge (never told to the caller), the ticket itself never.
    await r.edge.waitForLog((l) => l.json?.why === "ticket of the other side", 5000, "the second refusal");
    expect(r.edge.logs.filter((l) => l.json?.msg === "resume refused").map((l) => l.json?.why)).toEqual([
      "ticket not verified",
      "ticket of the other side",
    ]);
    expect(r.edge.logs.some((l) => l.raw.includes(mac))).toBe(false);
  });

  it("a replay after the session ended waits out session.resume.timeout and is closed 4034, like any resume nobody answers", async () => {
    const r = await rig({ "session.resume.timeout": "2 seconds" });
    const { ws, ticket } = await rawSession(r.edge.url);
    ws.close(1001); // the session ends: the connector closes its backend connection
    await r.backend.closes(1, 10_000, "the backend connection to close");
    const t0 = performance.now();
    const headers = { "sallyport-resume": ticket, "sallyport-resume-received": "0" };
    const replay = attempt(r.edge.url, headers);
    await r.edge.waitForLog((l) => l.json?.msg === "resume: waiting for the other half", 5000, "the first replay to wait");
    // A second attempt of the same half replaces the first (an end retrying after its link died mid-handshake).
    const again = await attempt(r.edge.url, headers);
    expect(await replay).toEqual({ code: 4034 });
    expect(again).toEqual({ code: 4034 });
    expect(since(t0)).toBeGreaterThanOrEqual(1900);
    expect(r.edge.logs.filter((l) => l.json?.msg === "resume: a newer attempt of this half replaces the one waiting")).toHaveLength(1);
    expect(r.backend.open()).toBe(0);
  });
});
