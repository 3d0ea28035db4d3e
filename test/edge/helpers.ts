import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { expect } from "vitest";
import { env, exports } from "cloudflare:workers";
import type { Attachment } from "../../edge/attachments.ts";
import { BIND_PATH, BIND_SUBPROTOCOLS, type ProtocolVersion } from "../../shared/protocol/constants.ts";
import { encode } from "../../shared/protocol/codec.ts";
import type { BindMessage } from "../../shared/protocol/messages.ts";
import { formatInstance } from "../../shared/protocol/instance.ts";
import type { TestService } from "./services.ts";
import { TEST_HOST } from "./services.ts";

/**
 * Socket plumbing for tests that run inside workerd. Every wait has a deadline and rejects
 * when it passes, so a missing message fails its test with a message instead of hanging it.
 */

export const WAIT_MS = 5000;

export type Frame = { kind: "text"; data: string } | { kind: "binary"; data: Uint8Array };
export interface Closed {
  readonly code: number;
  readonly reason: string;
  readonly wasClean: boolean;
}
type Event = { type: "message"; frame: Frame } | { type: "close"; closed: Closed };

const decoder = new TextDecoder();
export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
export const text = (data: Uint8Array): string => decoder.decode(data);

/**
 * One end of a WebSocket that a test drives: it records every event from the moment it is
 * accepted, and hands them out in order.
 */
export class TestSocket {
  private readonly events: Event[] = [];
  private waiter: (() => void) | undefined;
  private closedWith: Closed | undefined;

  constructor(
    readonly ws: WebSocket,
    readonly response: Response,
  ) {
    // From compatibility date 2026-03-17 (websocket_standard_binary_type) binary messages
    // arrive as Blob unless asked otherwise, as in browsers (the object's hibernation
    // handlers still get ArrayBuffer).
    ws.binaryType = "arraybuffer";
    ws.addEventListener("message", (e) => {
      const frame: Frame =
        typeof e.data === "string" ? { kind: "text", data: e.data } : { kind: "binary", data: new Uint8Array(e.data as ArrayBuffer) };
      this.push({ type: "message", frame });
    });
    ws.addEventListener("close", (e) => {
      this.closedWith = { code: e.code, reason: e.reason, wasClean: e.wasClean };
      this.push({ type: "close", closed: this.closedWith });
    });
    ws.accept();
  }

  private push(event: Event): void {
    this.events.push(event);
    this.waiter?.();
  }

  /** The next event, or a rejection after `ms`. */
  private async nextEvent(what: string, ms: number): Promise<Event> {
    const deadline = Date.now() + ms;
    while (this.events.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    return this.events.shift()!;
  }

  /** The next message; a close instead of one fails the wait. */
  async message(ms = WAIT_MS): Promise<Frame> {
    const e = await this.nextEvent("a message", ms);
    if (e.type === "close") throw new Error(`socket closed (${e.closed.code} "${e.closed.reason}") while a message was awaited`);
    return e.frame;
  }

  async textMessage(ms = WAIT_MS): Promise<string> {
    const f = await this.message(ms);
    if (f.kind !== "text") throw new Error(`expected a text frame, got ${f.data.byteLength} binary bytes`);
    return f.data;
  }

  async binaryMessage(ms = WAIT_MS): Promise<Uint8Array> {
    const f = await this.message(ms);
    if (f.kind !== "binary") throw new Error(`expected a binary frame, got text ${JSON.stringify(f.data.slice(0, 80))}`);
    return f.data;
  }

  /** A decoded control message (text frame). */
  async control(ms = WAIT_MS): Promise<Record<string, unknown>> {
    return JSON.parse(await this.textMessage(ms)) as Record<string, unknown>;
  }

  /** The close, skipping nothing: a message before it fails the wait. */
  async closed(ms = WAIT_MS): Promise<Closed> {
    const e = await this.nextEvent("the close", ms);
    if (e.type === "message") throw new Error(`expected the close, got a ${e.frame.kind} message`);
    return e.closed;
  }

  /** The close, after skipping any messages still ahead of it (data, marks). */
  async closedAfterMessages(ms = WAIT_MS): Promise<Closed> {
    for (;;) {
      const e = await this.nextEvent("the close", ms);
      if (e.type === "close") return e.closed;
    }
  }

  /** Messages received so far and not yet taken. */
  get pending(): number {
    return this.events.length;
  }

  get isClosed(): boolean {
    return this.closedWith !== undefined;
  }

  send(data: string | Uint8Array | ArrayBuffer): void {
    this.ws.send(data);
  }

  close(code = 1000, reason = ""): void {
    try {
      this.ws.close(code, reason);
    } catch {
      // Already closed by the other side.
    }
  }
}

export const url = (path: string): string => `https://${TEST_HOST}${path}`;

/** A request through the Worker's own fetch handler (the `main` in wrangler.toml). */
export function edgeFetch(path: string, init?: RequestInit): Promise<Response> {
  return exports.default.fetch(new Request(url(path), init));
}

export async function upgrade(path: string, headers: Record<string, string> = {}): Promise<TestSocket> {
  const res = await edgeFetch(path, { headers: { Upgrade: "websocket", ...headers } });
  if (res.status !== 101 || !res.webSocket) throw new Error(`expected 101 with a WebSocket for ${path}, got ${res.status}`);
  return new TestSocket(res.webSocket, res);
}

/**
 * A connector's bind socket, upgraded but not yet registered. Version 1 unless asked: most
 * edge tests pin the behaviour every version shares, and v1 is still served.
 */
export function openBind(service: TestService, headers: Record<string, string> = {}, version: ProtocolVersion = 1): Promise<TestSocket> {
  return upgrade(BIND_PATH, {
    Authorization: `Bearer ${service.token}`,
    "Sec-WebSocket-Protocol": BIND_SUBPROTOCOLS[version],
    ...headers,
  });
}

let bindSeq = 0;

/** The instance test binds claim unless told otherwise: the shape a connector started now generates. */
export const TEST_INSTANCE = formatInstance(Date.now(), "0a0a0a");

/** A `bind` control message for `service`, as a connector sends it. */
export function bindMessage(service: TestService, fields: Partial<Omit<BindMessage, "t">> = {}, version: ProtocolVersion = 1): string {
  return encode(
    {
      t: "bind",
      accept: service.accept,
      bindId: `b${++bindSeq}`,
      connectorId: "conn-1",
      instance: TEST_INSTANCE,
      heartbeatMs: 15_000,
      ...fields,
    },
    version,
  );
}

/** A bind that has sent its `bind` message and been answered `bound`: parked. */
export async function parkedBind(
  service: TestService,
  fields: Partial<Omit<BindMessage, "t">> = {},
  version: ProtocolVersion = 1,
  headers: Record<string, string> = {},
): Promise<TestSocket> {
  const bind = await openBind(service, headers, version);
  const bindId = fields.bindId ?? `b${++bindSeq}`;
  bind.send(bindMessage(service, { ...fields, bindId }, version));
  const bound = await bind.control();
  if (bound.t !== "bound" || bound.bindId !== bindId) throw new Error(`expected bound for ${bindId}, got ${JSON.stringify(bound)}`);
  return bind;
}

export function openClient(service: TestService, headers: Record<string, string> = {}): Promise<TestSocket> {
  return upgrade(service.path, headers);
}

/** The service's object, for runInDurableObject and evictDurableObject. */
export function serviceStub(service: TestService): DurableObjectStub {
  return env.SERVICE.get(env.SERVICE.idFromName(service.name));
}

/**
 * Polls `check` until it holds or `ms` pass. For state only observable by asking the object
 * (attachments), never for ordering that a message would show.
 */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, ms = WAIT_MS): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await scheduler.wait(20);
  }
}

/** Every socket the service's object holds, with its attachment, in runtime order. */
export async function objectSockets(service: TestService): Promise<Array<{ att: Attachment | null }>> {
  return runInDurableObject(serviceStub(service), (_instance, state) =>
    state.getWebSockets().map((ws) => ({ att: ws.deserializeAttachment() as Attachment | null })),
  );
}

/** The object's bind sockets (inside runInDurableObject), found by their attachments. */
export function bindSockets(state: DurableObjectState): WebSocket[] {
  return state.getWebSockets().filter((ws) => (ws.deserializeAttachment() as Attachment | null)?.role === "bind");
}

/** Evicts the service's object, keeping its sockets, and proves a new instance was built. */
export async function hibernate(svc: TestService): Promise<void> {
  const stub = serviceStub(svc);
  const marker = Symbol.for("sallyport.test.instance");
  await runInDurableObject(stub, (instance) => {
    (instance as unknown as Record<symbol, boolean>)[marker] = true;
  });
  await evictDurableObject(stub, { webSockets: "hibernate" });
  const survived = await runInDurableObject(stub, (instance) => (instance as unknown as Record<symbol, boolean>)[marker] === true);
  expect(survived, "the object was not rebuilt").toBe(false);
}

/** A client the service refuses for max.clients: HTTP 503 before any upgrade, nothing accepted. */
export async function refusedFull(svc: TestService): Promise<void> {
  const res = await edgeFetch(svc.path, { headers: { Upgrade: "websocket" } });
  expect(res.status).toBe(503);
  expect(res.webSocket).toBeNull();
  expect(res.headers.get("retry-after")).toBe("5");
  expect(await res.text()).toMatch(/^limit reached: the service holds max.clients clients; try again later/);
}
