import type { Close } from "../shared/protocol/close-codes.ts";
import { ROLE_BIND, ROLE_CLIENT, idTag, type Attachment, type BindAttachment, type ClientAttachment } from "./attachments.ts";

/**
 * The object's sockets and what each remembers. The attachment is the truth (it survives
 * hibernation); the map is a cache so the relay path does not deserialize per message.
 */
export class SocketStore {
  private readonly cache = new Map<WebSocket, Attachment>();
  /**
   * Sockets whose close event is being (or has been) handled. The runtime still lists a socket
   * in getWebSockets() while its own webSocketClose runs, with the attachment it had: a parked
   * bind being withdrawn would count itself as still parked.
   */
  private readonly gone = new WeakSet<WebSocket>();

  constructor(private readonly ctx: DurableObjectState) {}

  accept(ws: WebSocket, att: Attachment): void {
    this.ctx.acceptWebSocket(ws, [att.role === "bind" ? ROLE_BIND : ROLE_CLIENT, idTag(att.id)]);
    this.save(ws, att);
  }

  save(ws: WebSocket, att: Attachment): void {
    ws.serializeAttachment(att);
    this.cache.set(ws, att);
  }

  get(ws: WebSocket): Attachment | undefined {
    let att = this.cache.get(ws);
    if (!att) {
      att = ws.deserializeAttachment() as Attachment | undefined;
      if (att) this.cache.set(ws, att);
    }
    return att;
  }

  forget(ws: WebSocket): void {
    this.cache.delete(ws);
    this.gone.add(ws);
  }

  private listed(tag: string): WebSocket[] {
    return this.ctx.getWebSockets(tag).filter((ws) => !this.gone.has(ws));
  }

  socket(id: string): WebSocket | undefined {
    return this.listed(idTag(id))[0];
  }

  binds(): Array<[WebSocket, BindAttachment]> {
    return this.listed(ROLE_BIND).flatMap((ws) => {
      const a = this.get(ws);
      return a?.role === "bind" ? [[ws, a] as [WebSocket, BindAttachment]] : [];
    });
  }

  clients(): Array<[WebSocket, ClientAttachment]> {
    return this.listed(ROLE_CLIENT).flatMap((ws) => {
      const a = this.get(ws);
      return a?.role === "client" ? [[ws, a] as [WebSocket, ClientAttachment]] : [];
    });
  }

  all(): Attachment[] {
    return [...this.binds(), ...this.clients()].map(([, a]) => a);
  }

  lastHeartbeat(ws: WebSocket): number | undefined {
    return this.ctx.getWebSocketAutoResponseTimestamp(ws)?.getTime();
  }
}

export function closeSocket(ws: WebSocket, how: Close): void {
  try {
    ws.close(how.code, how.reason);
  } catch {
    // Already closing or closed: nothing left to tell it.
  }
}

/**
 * Sends unless the socket no longer takes frames: closed by us, or closed by its peer (the
 * runtime answers a close frame at once, before the close event reaches the object), where
 * send() throws. False then; the close event that follows does the cleaning up.
 */
export function sendTo(ws: WebSocket, data: string | ArrayBuffer | ArrayBufferView): boolean {
  try {
    ws.send(data);
    return true;
  } catch {
    return false;
  }
}
