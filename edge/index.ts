import { Hono } from "hono";
import {
  BIND_PATH,
  BIND_SUBPROTOCOLS,
  CLIENT_SUBPROTOCOLS,
  HEALTH_PATH,
  SHARD_HEADER,
  SHARDS_HEADER,
  STANDBY_HEADER,
  STATUS_PAGE_PATH,
  STATUS_PATH,
  type ProtocolVersion,
} from "../shared/protocol/constants.ts";
import { selectVersion } from "../shared/protocol/negotiate.ts";
import { admitClient, admitConnectorCertificate, offeredSubprotocols } from "./admission.ts";
import { bearerToken, matchToken, serviceForToken } from "./auth.ts";
import { clientAddress } from "./client-address.ts";
import { aggregate, renderStatusPage, type ServiceStatus } from "./status.ts";
import { clientShards, MAX_SHARDS, objectName, placeBind } from "./shards.ts";
import type { EdgeService } from "../shared/config/edge-config.ts";
import { edgeConfig, type Env } from "./env.ts";
import { COLD_SHARD, INTERNAL_HEADERS } from "./internal.ts";
import { log } from "./log.ts";
import { ROLE_BIND, ROLE_CLIENT } from "./attachments.ts";
import { checkResume } from "./resume-request.ts";

export { ServiceObject } from "./service-object.ts";

/**
 * The Worker: routes a request to one of its service's objects (edge/shards.ts), after
 * authenticating connectors.
 * Anything it will not serve gets the same plain 404, whether the path is unknown or the
 * credential wrong, so probing learns nothing.
 */
const app = new Hono<{ Bindings: Env }>();

const notFound = (): Response => new Response("Not Found", { status: 404, headers: { "content-type": "text/plain" } });

function isUpgrade(request: Request): boolean {
  return request.headers.get("upgrade")?.toLowerCase() === "websocket";
}

/** Which object a request goes to: its service, and the name given to idFromName (edge/shards.ts objectName). */
interface Target {
  readonly service: string;
  readonly objectName: string;
}

/**
 * A verified resume goes to the object named in its ticket — its shard, whatever the shard
 * choice would be now (a shard count changed by the deploy strands no session) — with the
 * resume for that object to check against the connector. A ticket that does not verify is
 * refused here, before anything else is done for it.
 */
async function resumeRoute(
  env: Env,
  request: Request,
  side: "bind" | "client",
  service: string,
  version: ProtocolVersion | undefined,
): Promise<{ kind: "none" } | { kind: "refused" } | { kind: "resume"; target: Target; extra: Record<string, string> }> {
  const check = await checkResume(request, env.SALLYPORT_RESUME_SECRET, side, service, version);
  if (check.kind === "none") return check;
  if (check.kind === "refused") {
    log("warn", "resume refused", { service, side, why: check.why });
    return check;
  }
  const extra = { [INTERNAL_HEADERS.resume]: JSON.stringify(check.resume) };
  return { kind: "resume", target: { service, objectName: check.objectName }, extra };
}

/** Forward to one of the service's objects with trusted headers only; it learns the name it was addressed by. */
function toService(env: Env, request: Request, target: Target, role: string, extra: Record<string, string> = {}): Promise<Response> {
  const headers = new Headers(request.headers);
  for (const h of Object.values(INTERNAL_HEADERS)) headers.delete(h);
  headers.set(INTERNAL_HEADERS.service, target.service);
  headers.set(INTERNAL_HEADERS.objectName, target.objectName);
  headers.set(INTERNAL_HEADERS.role, role);
  for (const [k, v] of Object.entries(extra)) headers.set(k, v);
  headers.set(INTERNAL_HEADERS.clientAddress, clientAddress(request.headers.get("cf-connecting-ip")));
  const stub = env.SERVICE.get(env.SERVICE.idFromName(target.objectName));
  return stub.fetch(new Request(request.url, { method: request.method, headers }));
}

const shardTarget = (service: string, shard: number): Target => ({ service, objectName: objectName(service, shard) });

/** The object's 101, with headers added (a 101 carrying a WebSocket must be rebuilt to change its headers). */
function withHeaders(res: Response, add: Record<string, string>): Response {
  if (res.status !== 101 || !res.webSocket) return res;
  const headers = new Headers(res.headers);
  for (const [k, v] of Object.entries(add)) headers.set(k, v);
  return new Response(null, { status: 101, webSocket: res.webSocket, headers });
}

/** This isolate's count of clients routed, from a random start (clientShards' `turn`). */
let clientTurn = Math.floor(Math.random() * MAX_SHARDS);

/**
 * A client goes to the next shard in turn unless that shard has no parked bind: it declines before
 * accepting the upgrade (a WebSocket cannot move), and the client is offered to a second random
 * shard the same way. Both cold (rare under even load): shard 0 takes it whatever its state —
 * where a connector from before shards parks all its binds, and where a cold service's clients
 * wait for `demand` or get busy / TTL expired as one object always answered. One shard: today's
 * single object, no extra step.
 */
async function clientToShard(env: Env, request: Request, service: EdgeService, extra: Record<string, string>): Promise<Response> {
  const choices = clientShards(service.shards, clientTurn++, Math.random);
  if (choices.length === 1) return toService(env, request, shardTarget(service.name, 0), ROLE_CLIENT, extra);
  for (const shard of choices) {
    const res = await toService(env, request, shardTarget(service.name, shard), ROLE_CLIENT, {
      ...extra,
      [INTERNAL_HEADERS.declineIfCold]: "1",
    });
    if (res.status !== COLD_SHARD.status || res.headers.get(COLD_SHARD.header) !== "1") return res;
  }
  // Worth an operator's notice: connectors keep too few binds for the load, or none is there.
  log("info", "client's shards had no parked bind; sent to shard 0", { service: service.name, tried: choices.join(",") });
  return toService(env, request, shardTarget(service.name, 0), ROLE_CLIENT, extra);
}

app.get(HEALTH_PATH, (c) => {
  const config = edgeConfig(c.env);
  return c.json({ status: config.ok ? "ok" : "misconfigured" }, config.ok ? 200 : 503);
});

/** Status for operators, behind SALLYPORT_ADMIN_TOKEN (Bearer, or Basic with the token as password for a browser). */
async function statusOf(c: { env: Env; req: { raw: Request } }): Promise<ServiceStatus[] | undefined> {
  const config = edgeConfig(c.env);
  const admin = c.env.SALLYPORT_ADMIN_TOKEN;
  if (!config.ok || !admin || admin.length < 16) return undefined;
  const header = c.req.raw.headers.get("authorization") ?? "";
  const basic = header.startsWith("Basic ") ? safeAtob(header.slice(6)).split(":").slice(1).join(":") : undefined;
  const token = bearerToken(header) ?? basic;
  if (!token || !(await matchToken([admin], token))) return undefined;
  return Promise.all(
    config.value.services.map(async (s) => {
      const shards = await Promise.all(
        Array.from({ length: s.shards }, async (_, shard) => {
          const name = objectName(s.name, shard);
          const headers = new Headers({
            [INTERNAL_HEADERS.service]: s.name,
            [INTERNAL_HEADERS.objectName]: name,
            [INTERNAL_HEADERS.role]: "status",
          });
          const res = await c.env.SERVICE.get(c.env.SERVICE.idFromName(name)).fetch("https://status/", { headers });
          return (await res.json()) as ServiceStatus;
        }),
      );
      return aggregate(s.name, shards);
    }),
  );
}

function safeAtob(b64: string): string {
  try {
    return atob(b64.trim());
  } catch {
    return "";
  }
}

app.get(STATUS_PATH, async (c) => {
  const status = await statusOf(c);
  return status ? c.json({ services: status }) : notFound();
});

app.get(STATUS_PAGE_PATH, async (c) => {
  // No 401 challenge: without the token this is the same generic 404 as any unknown path;
  // an operator's browser sends the header through an extension or a header-setting proxy.
  const status = await statusOf(c);
  return status ? c.html(renderStatusPage(status, new Date())) : notFound();
});

app.get(BIND_PATH, async (c) => {
  const config = edgeConfig(c.env);
  const token = bearerToken(c.req.header("authorization"));
  // Browsers always send Origin and a connector never does: a bind with one is a page
  // trying to use someone's credentials.
  if (!config.ok || !token || !isUpgrade(c.req.raw) || c.req.header("origin") !== undefined) return notFound();
  const credential = await serviceForToken(config.value, token);
  if (!credential) {
    log("warn", "connector rejected: unknown token");
    return notFound();
  }
  if (!admitConnectorCertificate(credential.service, c.req.raw, c.env.SALLYPORT_TLS)) {
    log("warn", "connector rejected: client certificate not verified", { service: credential.service.name });
    return notFound();
  }
  // The newest version both speak; a connector offering none of ours gets v1, as before versions were negotiated.
  const version = selectVersion(offeredSubprotocols(c.req.raw), BIND_SUBPROTOCOLS) ?? 1;
  const resume = await resumeRoute(c.env, c.req.raw, "bind", credential.service.name, version);
  if (resume.kind === "refused") return notFound();
  const extra = { [INTERNAL_HEADERS.credential]: credential.credential, [INTERNAL_HEADERS.version]: String(version) };
  if (resume.kind === "resume") return toService(c.env, c.req.raw, resume.target, ROLE_BIND, { ...resume.extra, ...extra });
  const shards = credential.service.shards;
  const placed = placeBind(c.req.header(SHARD_HEADER), shards);
  if (!placed.ok) {
    log("warn", "connector rejected: malformed shard header", { service: credential.service.name });
    return notFound();
  }
  const res = await toService(c.env, c.req.raw, shardTarget(credential.service.name, placed.shard), ROLE_BIND, extra);
  // The connector learns N here (not from its own configuration), and where this bind landed.
  return withHeaders(res, { [SHARD_HEADER]: String(placed.shard), [SHARDS_HEADER]: String(shards) });
});

app.get("*", async (c) => {
  const config = edgeConfig(c.env);
  if (!config.ok) return notFound();
  const path = new URL(c.req.url).pathname;
  const service = config.value.services.find((s) => s.accept.path === path);
  if (!service) return notFound();
  // Admission first: to a caller it would refuse, a service path answers like any unknown path.
  const refusal = await admitClient(service, c.req.raw);
  if (refusal) {
    log("info", "client not admitted", { service: service.name, refusal });
    return notFound();
  }
  if (!isUpgrade(c.req.raw)) return c.text("Upgrade Required", 426);
  const version = selectVersion(offeredSubprotocols(c.req.raw), CLIENT_SUBPROTOCOLS);
  const protocol = version ? "sallyport" : "plain";
  if (protocol === "plain" && service.clientPlain === "deny") {
    // Like any refusal: the same 404 (a plain client cannot read a reason anyway).
    log("info", "plain client refused: client.plain is deny", { service: service.name });
    return notFound();
  }
  // Only a client that can say `start` may ask for standby.
  const standby = protocol === "sallyport" && c.req.header(STANDBY_HEADER) === "1";
  const resume = await resumeRoute(c.env, c.req.raw, "client", service.name, version);
  if (resume.kind === "refused") return notFound();
  const extra = {
    [INTERNAL_HEADERS.clientProtocol]: protocol,
    ...(version ? { [INTERNAL_HEADERS.version]: String(version) } : {}),
    ...(standby ? { [INTERNAL_HEADERS.standby]: "1" } : {}),
  };
  if (resume.kind === "resume") return toService(c.env, c.req.raw, resume.target, ROLE_CLIENT, { ...resume.extra, ...extra });
  return clientToShard(c.env, c.req.raw, service, extra);
});

app.all("*", notFound);

export default app;
