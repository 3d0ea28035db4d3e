import { Hono } from "hono";
import {
  BIND_PATH,
  BIND_SUBPROTOCOLS,
  CLIENT_SUBPROTOCOLS,
  HEALTH_PATH,
  STANDBY_HEADER,
  STATUS_PAGE_PATH,
  STATUS_PATH,
  type ProtocolVersion,
} from "../shared/protocol/constants.ts";
import { selectVersion } from "../shared/protocol/negotiate.ts";
import { admitClient, admitConnectorCertificate, offeredSubprotocols } from "./admission.ts";
import { bearerToken, matchToken, serviceForToken } from "./auth.ts";
import { clientAddress } from "./client-address.ts";
import { renderStatusPage, type ServiceStatus } from "./status.ts";
import { edgeConfig, type Env } from "./env.ts";
import { INTERNAL_HEADERS } from "./internal.ts";
import { log } from "./log.ts";
import { ROLE_BIND, ROLE_CLIENT } from "./attachments.ts";
import { checkResume } from "./resume-request.ts";

export { ServiceObject } from "./service-object.ts";

/**
 * The Worker: routes a request to its service's object, after authenticating connectors.
 * Anything it will not serve gets the same plain 404, whether the path is unknown or the
 * credential wrong, so probing learns nothing.
 */
const app = new Hono<{ Bindings: Env }>();

const notFound = (): Response => new Response("Not Found", { status: 404, headers: { "content-type": "text/plain" } });

function isUpgrade(request: Request): boolean {
  return request.headers.get("upgrade")?.toLowerCase() === "websocket";
}

/**
 * The object a new socket of `service` goes to, by name (idFromName). One per service today;
 * shards (issue 13) choose per request here. A resume goes instead to the object named in its
 * ticket (routeOf), whatever this would choose now.
 */
function objectNameFor(service: string): string {
  return service;
}

/**
 * Where a request goes: the object named by a verified resume ticket, else the service's own.
 * A ticket that does not verify is refused here, before anything else is done for it.
 */
async function routeOf(
  env: Env,
  request: Request,
  side: "bind" | "client",
  service: string,
  version: ProtocolVersion | undefined,
): Promise<{ objectName: string; extra: Record<string, string> } | undefined> {
  const check = await checkResume(request, env.SALLYPORT_RESUME_SECRET, side, service, version);
  if (check.kind === "none") return { objectName: objectNameFor(service), extra: {} };
  if (check.kind === "refused") {
    log("warn", "resume refused", { service, side, why: check.why });
    return undefined;
  }
  return { objectName: check.objectName, extra: { [INTERNAL_HEADERS.resume]: JSON.stringify(check.resume) } };
}

/** Forward to an object with trusted headers only; it learns the name it was addressed by. */
function toService(
  env: Env,
  request: Request,
  service: string,
  role: string,
  extra: Record<string, string>,
  objectName: string,
): Promise<Response> {
  const headers = new Headers(request.headers);
  for (const h of Object.values(INTERNAL_HEADERS)) headers.delete(h);
  headers.set(INTERNAL_HEADERS.service, service);
  headers.set(INTERNAL_HEADERS.role, role);
  headers.set(INTERNAL_HEADERS.objectName, objectName);
  for (const [k, v] of Object.entries(extra)) headers.set(k, v);
  headers.set(INTERNAL_HEADERS.clientAddress, clientAddress(request.headers.get("cf-connecting-ip")));
  const stub = env.SERVICE.get(env.SERVICE.idFromName(objectName));
  return stub.fetch(new Request(request.url, { method: request.method, headers }));
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
      const headers = new Headers({ [INTERNAL_HEADERS.service]: s.name, [INTERNAL_HEADERS.role]: "status" });
      const res = await c.env.SERVICE.get(c.env.SERVICE.idFromName(objectNameFor(s.name))).fetch("https://status/", { headers });
      return (await res.json()) as ServiceStatus;
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
  const route = await routeOf(c.env, c.req.raw, "bind", credential.service.name, version);
  if (!route) return notFound();
  const extra = { ...route.extra, [INTERNAL_HEADERS.credential]: credential.credential, [INTERNAL_HEADERS.version]: String(version) };
  return toService(c.env, c.req.raw, credential.service.name, ROLE_BIND, extra, route.objectName);
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
  const route = await routeOf(c.env, c.req.raw, "client", service.name, version);
  if (!route) return notFound();
  const extra = {
    ...route.extra,
    [INTERNAL_HEADERS.clientProtocol]: protocol,
    ...(version ? { [INTERNAL_HEADERS.version]: String(version) } : {}),
    ...(standby ? { [INTERNAL_HEADERS.standby]: "1" } : {}),
  };
  return toService(c.env, c.req.raw, service.name, ROLE_CLIENT, extra, route.objectName);
});

app.all("*", notFound);

export default app;
