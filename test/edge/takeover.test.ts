import { describe, expect, it } from "vitest";
import { CloseCode } from "../../shared/protocol/close-codes.ts";
import { MAX_HEARTBEAT_MS } from "../../shared/protocol/constants.ts";
import { MAX_CLOCK_SKEW_MS, formatInstance } from "../../shared/protocol/instance.ts";
import { bindMessage, bytes, objectSockets, openBind, openClient, parkedBind, text } from "./helpers.ts";
import { freshService } from "./services.ts";

/**
 * Takeover is a connector's restart replacing its own old binds. Issue 11, item 2: a holder
 * of another token of the same service claimed the victim's connectorId with instance
 * "zzzz…", evicted its parked binds, got every later bind of it refused (4030), and took its
 * next client. Takeover is now keyed on the token, and the instance must be one a connector
 * could have generated.
 */

const VICTIM = "victim-host";
const now = (): number => Date.now();

describe("takeover only within one credential", () => {
  it(
    "another token of the same service, the victim's connectorId and the largest instance it may claim: " +
      "the victim keeps its binds and its clients",
    async () => {
      const svc = freshService();
      const instance = formatInstance(now(), "aaaaaa");
      const victim = await parkedBind(svc, { connectorId: VICTIM, instance });
      // The attack as reported is refused outright: "zzzz…" is no instance a connector generates.
      const zzz = await openBind(svc, { Authorization: `Bearer ${svc.otherToken}` });
      zzz.send(bindMessage(svc, { connectorId: VICTIM, instance: "zzzzzzzzzzzzzzz" }));
      expect(await zzz.closed()).toMatchObject({ code: CloseCode.PROTOCOL_ERROR, reason: "protocol error" });
      // The most it may claim: start time as far ahead as clock skew allows. It parks — but only as itself.
      const attacker = await parkedBind(
        svc,
        { connectorId: VICTIM, instance: formatInstance(now() + MAX_CLOCK_SKEW_MS - 1000, "ffffff") },
        1,
        { Authorization: `Bearer ${svc.otherToken}` },
      );
      // The victim's next bind, of the same instance, is not refused: it parks.
      const victim2 = await parkedBind(svc, { connectorId: VICTIM, instance });
      // Its first bind was not evicted: the next client is paired with it (parked longest), and bytes flow.
      const client = await openClient(svc);
      expect(await victim.control()).toMatchObject({ t: "paired" });
      client.send(bytes("to the victim"));
      expect(text(await victim.binaryMessage())).toBe("to the victim");
      expect(attacker.pending).toBe(0);
      expect(victim2.pending).toBe(0);
      const binds = (await objectSockets(svc)).filter((s) => s.att?.role === "bind").map((s) => s.att!.state);
      expect(binds.sort()).toStrictEqual(["paired", "parked", "parked"]);
      for (const s of [client, attacker, victim, victim2]) s.close();
    },
  );

  it("the same token still takes over: a newer instance evicts, an older one is refused 4030", async () => {
    const svc = freshService();
    const old = await parkedBind(svc, { connectorId: VICTIM, instance: formatInstance(now() - 10_000, "000000") });
    const fresh = await parkedBind(svc, { connectorId: VICTIM, instance: formatInstance(now(), "000000") });
    expect((await old.closed()).code).toBe(CloseCode.REPLACED);
    const stale = await openBind(svc);
    stale.send(bindMessage(svc, { connectorId: VICTIM, instance: formatInstance(now() - 20_000, "000000") }));
    expect((await stale.closed()).code).toBe(CloseCode.REPLACED);
    expect(fresh.pending).toBe(0);
    fresh.close();
  });
});

describe("what a bind may claim", () => {
  it.each([
    ["an instance of another shape", { instance: "inst-1" }],
    ["an instance starting beyond clock skew", { instance: formatInstance(Date.now() + MAX_CLOCK_SKEW_MS + 60_000, "000000") }],
    ["a heartbeat interval over the ceiling (it would keep a dead bind parked for hours)", { heartbeatMs: MAX_HEARTBEAT_MS + 1 }],
    ["a heartbeat interval of an hour", { heartbeatMs: 3_600_000 }],
  ])("closes 1002 on %s", async (_what, fields) => {
    const svc = freshService();
    const bind = await openBind(svc);
    bind.send(bindMessage(svc, fields));
    expect(await bind.closed()).toMatchObject({ code: CloseCode.PROTOCOL_ERROR });
    expect(await objectSockets(svc)).toEqual([]);
  });

  it(`parks a bind declaring the ceiling, ${MAX_HEARTBEAT_MS} ms`, async () => {
    const svc = freshService();
    const bind = await parkedBind(svc, { heartbeatMs: MAX_HEARTBEAT_MS });
    bind.close();
  });
});
