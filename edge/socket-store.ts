import type { Close } from "../shared/protocol/close-codes.ts";
import type { Attachment, BindAttachment, ClientAttachment } from "./attachments.ts";

/**
 * The object's sockets and what each remembers. The attachment is the truth (it survives
 * hibernation); the maps are a cache, filled from the runtime's list once per life of the
 * object and kept up to date after, so that neither the relay path nor a pairing asks the
 * runtime for its sockets or deserializes an attachment (with a thousand sockets, listing
 * them per event made a burst of clients quadratic).
 */
export class SocketStore {
  private readonly attachments = new Map<WebSocket, Attachment>();
  private readonly byId = new Map<string, WebSocket>();
  private loaded = false;
  /**
   * Sockets whose close event is being (or has been) handled. The runtime still lists a socket
   * in getWebSockets() while its own webSocketClose runs, with the attachment it had: a parked
   * bind being withdrawn would count itself as still parked.
   */
  private readonly gone = new WeakSet<WebSocket>();

  constructor(private readonly ctx: DurableObjectState) {}

  accept(ws: WebSocket, att: Attachment): void {
    this.load();
    // No tags: the attachment carries role and id, and the maps above find a socket by either.
    this.ctx.acceptWebSocket(ws);
    this.save(ws, att);
  }

  save(ws: WebSocket, att: Attachment): void {
    ws.serializeAttachment(att);
    this.remember(ws, att);
  }

  get(ws: WebSocket): Attachment | undefined {
    this.load();
    let att = this.attachments.get(ws);
    if (!att && !this.gone.has(ws)) {
      att = ws.deserializeAttachment() as Attachment | undefined;
      if (att) this.remember(ws, att);
    }
    return att;
  }

  forget(ws: WebSocket): void {
    const att = this.attachments.get(ws) ?? (ws.deserializeAttachment() as Attachment | undefined);
    this.attachments.delete(ws);
    if (att && this.byId.get(att.id) === ws) this.byId.delete(att.id);
    this.gone.add(ws);
  }

  socket(id: string): WebSocket | undefined {
    this.load();
    return this.byId.get(id);
  }

  binds(): Array<[WebSocket, BindAttachment]> {
    this.load();
    const out: Array<[WebSocket, BindAttachment]> = [];
    for (const [ws, a] of this.attachments) if (a.role === "bind") out.push([ws, a]);
    return out;
  }

  clients(): Array<[WebSocket, ClientAttachment]> {
    this.load();
    const out: Array<[WebSocket, ClientAttachment]> = [];
    for (const [ws, a] of this.attachments) if (a.role === "client") out.push([ws, a]);
    return out;
  }

  all(): Attachment[] {
    this.load();
    return [...this.attachments.values()];
  }

  lastHeartbeat(ws: WebSocket): number | undefined {
    return this.ctx.getWebSocketAutoResponseTimestamp(ws)?.getTime();
  }

  private remember(ws: WebSocket, att: Attachment): void {
    this.attachments.set(ws, att);
    this.byId.set(att.id, ws);
  }

  /** After a restart or a wake from hibernation: what the runtime kept, once. */
  private load(): void {
    if (this.loaded) return;
    this.loaded = true;
    for (const ws of this.ctx.getWebSockets()) {
      if (this.gone.has(ws)) continue;
      const att = ws.deserializeAttachment() as Attachment | undefined;
      if (att) this.remember(ws, att);
    }
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
