import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { BindAttachment, ClientAttachment } from "../../edge/attachments.ts";
import { checkSession, type SessionView } from "../../edge/liveness.ts";
import { HEARTBEAT_MISSES, SESSION_HEARTBEAT_MS } from "../../shared/protocol/constants.ts";

const T = 1_000_000;
const CLIENT_LIMIT = SESSION_HEARTBEAT_MS * HEARTBEAT_MISSES;

function view(
  over: { heartbeatMs?: number; bindBeat?: number; protocol?: "plain" | "sallyport"; clientBeat?: number; lastData?: number } = {},
): SessionView {
  const bind: BindAttachment = {
    role: "bind",
    id: "b",
    service: "s",
    credential: "c",
    state: "opened",
    openedAt: T - 10,
    parkedAt: T,
    heartbeatMs: over.heartbeatMs ?? 1000,
    peer: "c",
  };
  const client: ClientAttachment = {
    role: "client",
    id: "c",
    service: "s",
    state: "paired",
    protocol: over.protocol ?? "plain",
    address: "a",
    arrivedAt: T,
    peer: "b",
  };
  return {
    bind: { att: bind, lastHeartbeat: over.bindBeat },
    client: { att: client, lastHeartbeat: over.clientBeat },
    lastData: over.lastData ?? T,
  };
}

describe("checkSession", () => {
  it.each<[string, Parameters<typeof view>[0], number, number | undefined, string | undefined, number | undefined]>([
    ["a fresh session: looked at when the connector could first be late", {}, T, undefined, undefined, T + 3001],
    ["connector silent exactly three intervals: not yet", {}, T + 3000, undefined, undefined, T + 3001],
    ["connector silent longer: ended", {}, T + 3001, undefined, "connector-silent", undefined],
    ["connector heartbeating: due from its last beat", { bindBeat: T + 5000 }, T + 6000, undefined, undefined, T + 8001],
    ["idle past the timeout: ended", { heartbeatMs: 60_000, lastData: T }, T + 1001, 1000, "idle", undefined],
    [
      "idle within the timeout: looked at when it would run out",
      { heartbeatMs: 60_000, lastData: T + 500 },
      T + 1000,
      1000,
      undefined,
      T + 1501,
    ],
    ["no idle timeout: idleness never ends a session", { heartbeatMs: 60_000, lastData: T - 1e9 }, T, undefined, undefined, T + 180_001],
    [
      "Sallyport client that has not beaten yet: looked at once, never judged then",
      { heartbeatMs: 60_000, protocol: "sallyport" },
      T + 10,
      undefined,
      undefined,
      T + CLIENT_LIMIT + 1,
    ],
    [
      "Sallyport client that never beat, past the first look: an older client, not held to it",
      { heartbeatMs: 60_000, protocol: "sallyport" },
      T + CLIENT_LIMIT + 1,
      undefined,
      undefined,
      T + 180_001,
    ],
    [
      "Sallyport client silent since its last beat: ended",
      { heartbeatMs: 60_000, protocol: "sallyport", clientBeat: T + 100 },
      T + 100 + CLIENT_LIMIT + 1,
      undefined,
      "client-silent",
      undefined,
    ],
    [
      "plain client: never judged by heartbeats",
      { heartbeatMs: 60_000, protocol: "plain", clientBeat: T },
      T + 100_000,
      undefined,
      undefined,
      T + 180_001,
    ],
  ])("%s", (_label, over, now, idle, verdict, next) => {
    expect(checkSession(view(over), now, idle)).toStrictEqual({ verdict, next });
  });

  it("never ends a session before a limit has passed, and always names a later time to look when it does not end it", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 100, max: 60_000 }),
        fc.option(fc.integer({ min: T, max: T + 1e6 }), { nil: undefined }),
        fc.constantFrom("plain" as const, "sallyport" as const),
        fc.option(fc.integer({ min: T, max: T + 1e6 }), { nil: undefined }),
        fc.integer({ min: T, max: T + 1e6 }),
        fc.option(fc.integer({ min: 1000, max: 1e6 }), { nil: undefined }),
        fc.integer({ min: T, max: T + 2e6 }),
        (heartbeatMs, bindBeat, protocol, clientBeat, lastData, idle, now) => {
          const r = checkSession(view({ heartbeatMs, bindBeat, protocol, clientBeat, lastData }), now, idle);
          const connectorLate = now - Math.max(T, bindBeat ?? 0) > heartbeatMs * HEARTBEAT_MISSES;
          const clientLate = protocol === "sallyport" && clientBeat !== undefined && now - clientBeat > CLIENT_LIMIT;
          const idleLate = idle !== undefined && now - lastData > idle;
          expect(r.verdict !== undefined).toBe(connectorLate || clientLate || idleLate);
          if (!r.verdict) expect(r.next).toBeGreaterThan(now);
        },
      ),
    );
  });
});
