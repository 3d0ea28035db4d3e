import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { objectName } from "../../edge/shards.ts";
import { BIND_PATH, SHARD_HEADER, SHARDS_HEADER } from "../../shared/protocol/constants.ts";
import { bindMessage, bytes, edgeFetch, openBind, openClient, refusedFull, text, type TestSocket } from "./helpers.ts";
import { freshService, type TestService } from "./services.ts";

/**
 * A service spread over four objects (edge/shards.ts, issue 13): where the Worker puts binds
 * and clients, and the limit split over the shards. These services have `shards: 4` and
 * `max.clients: 8` (two per shard).
 */

const SHARDS = 4;

/** Role of every socket one shard's object holds. */
function rolesOn(svc: TestService, shard: number): Promise<string[]> {
  const stub = env.SERVICE.get(env.SERVICE.idFromName(objectName(svc.name, shard)));
  return runInDurableObject(stub, (_instance, state) =>
    state.getWebSockets().map((ws) => (ws.deserializeAttachment() as { role: string } | null)?.role ?? "?"),
  );
}

async function parkedOn(svc: TestService, shard: string | undefined): Promise<TestSocket> {
  const bind = await openBind(svc, shard === undefined ? {} : { [SHARD_HEADER]: shard });
  bind.send(bindMessage(svc));
  expect(await bind.control()).toMatchObject({ t: "bound" });
  return bind;
}

describe("binds over shards", () => {
  it("lands a bind on the shard it asks for (one beyond N on shard mod N), and the 101 says where and how many", async () => {
    const svc = freshService("sharded");
    const asked = await openBind(svc, { [SHARD_HEADER]: "2" });
    expect(asked.response.headers.get(SHARD_HEADER)).toBe("2");
    expect(asked.response.headers.get(SHARDS_HEADER)).toBe(String(SHARDS));
    const beyond = await openBind(svc, { [SHARD_HEADER]: "7" });
    expect(beyond.response.headers.get(SHARD_HEADER)).toBe("3");
    // A connector from before shards sends no header: shard 0, today's one object.
    const older = await openBind(svc);
    expect(older.response.headers.get(SHARD_HEADER)).toBe("0");
    expect(await Promise.all([0, 1, 2, 3].map((s) => rolesOn(svc, s)))).toEqual([["bind"], [], ["bind"], ["bind"]]);
  });

  it("answers a malformed shard header 404, like any refusal", async () => {
    const svc = freshService("sharded");
    const res = await edgeFetch(BIND_PATH, {
      headers: { Upgrade: "websocket", Authorization: `Bearer ${svc.token}`, [SHARD_HEADER]: "one" },
    });
    expect(res.status).toBe(404);
  });
});

describe("clients over shards", () => {
  it("sends every client to a shard with a parked bind when only one shard has any (a connector from before shards)", async () => {
    const svc = freshService("sharded");
    const binds = [await parkedOn(svc, undefined), await parkedOn(svc, undefined)];
    for (let i = 0; i < 2; i++) {
      await openClient(svc);
      // Paired at once: never left waiting on a cold shard.
      expect(await binds[i]!.control()).toMatchObject({ t: "paired" });
    }
    expect((await rolesOn(svc, 0)).filter((r) => r === "client")).toHaveLength(2);
    for (const s of [1, 2, 3]) expect(await rolesOn(svc, s)).toEqual([]);
  });

  it("spreads clients over the shards that have binds, pairing each at once", async () => {
    const svc = freshService("sharded");
    const binds: TestSocket[] = [];
    for (let s = 0; s < SHARDS; s++) for (let i = 0; i < 2; i++) binds.push(await parkedOn(svc, String(s)));
    const clients = await Promise.all(Array.from({ length: 6 }, () => openClient(svc)));
    // Six clients, eight binds: every client found a parked bind, wherever it landed.
    const perShard = await Promise.all([0, 1, 2, 3].map(async (s) => (await rolesOn(svc, s)).filter((r) => r === "client").length));
    expect(perShard.reduce((a, b) => a + b, 0)).toBe(clients.length);
    const states = await Promise.all(
      [0, 1, 2, 3].map((s) =>
        runInDurableObject(env.SERVICE.get(env.SERVICE.idFromName(objectName(svc.name, s))), (_i, state) =>
          state.getWebSockets().map((ws) => ws.deserializeAttachment() as { role: string; state: string }),
        ),
      ),
    );
    expect(states.flat().filter((a) => a.role === "client" && a.state !== "paired")).toEqual([]);
  });

  it("splits max.clients over the shards: 8 over 4 is two per object", async () => {
    const svc = freshService("sharded");
    await parkedOn(svc, undefined);
    // Shard 0 alone has a bind, so every client lands there (see above): the third is over its share.
    const first = await openClient(svc);
    const second = await openClient(svc);
    await refusedFull(svc);
    expect(first.isClosed || second.isClosed).toBe(false);
  });
});

describe("one shard's object restarted", () => {
  it("ends only the sessions that shard held; the others relay on", async () => {
    const svc = freshService("sharded");
    const binds: TestSocket[] = [];
    for (let s = 0; s < SHARDS; s++) binds.push(await parkedOn(svc, String(s)));
    // Four clients in turn: one per shard, each paired with that shard's bind.
    const clients: TestSocket[] = [];
    for (let i = 0; i < SHARDS; i++) clients.push(await openClient(svc));
    for (const b of binds) expect(await b.control()).toMatchObject({ t: "paired" });
    const stub = env.SERVICE.get(env.SERVICE.idFromName(objectName(svc.name, 2)));
    // abort() resets the object as a crash or an exceeded limit would (workerd logs it as uncaught).
    await runInDurableObject(stub, (_instance, state) => {
      state.abort("test: shard 2 restarted");
    }).catch(() => undefined);
    expect((await binds[2]!.closed()).code).not.toBe(1000);
    // Its client is closed too (abnormally), and it is the only one.
    const lost = await Promise.any(clients.map(async (c, i) => ((await c.closed()).code !== 1000 ? i : Promise.reject())));
    const others = clients.filter((_, i) => i !== lost);
    for (const [i, c] of others.entries()) c.send(bytes(`from ${i}`));
    const got = await Promise.all([0, 1, 3].map(async (s) => text(await binds[s]!.binaryMessage())));
    expect(got.sort()).toEqual(["from 0", "from 1", "from 2"]);
    expect(others.every((c) => !c.isClosed)).toBe(true);
  });
});
