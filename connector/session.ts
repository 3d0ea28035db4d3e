import type net from "node:net";
import type WebSocket from "ws";
import type { Clock } from "../shared/clock.ts";
import { close, type Close } from "../shared/protocol/close-codes.ts";
import { takeParts } from "../shared/chunks.ts";
import { sendFragments } from "../net/ws-fragments.ts";
import { chunkPool } from "../net/reused-reads.ts";
import { readBackend } from "./backend-reads.ts";
import { encode } from "../shared/protocol/codec.ts";
import { INITIAL_WINDOW_BYTES, type ProtocolVersion, V2_INITIAL_CREDIT_BYTES } from "../shared/protocol/constants.ts";
import { ResendBuffer } from "../shared/protocol/resend.ts";
import { initialCredit, ReaderCredit } from "../shared/protocol/credit.ts";
import { endCarriesDone, resumes, usesMarks } from "../shared/protocol/negotiate.ts";
import type { ClientProtocol, MarkMessage, StreamMessage } from "../shared/protocol/messages.ts";
import { WriteBatch } from "../net/write-batch.ts";

/**
 * One relayed session: bytes between a paired bind and its backend connection.
 *
 * Backpressure toward the client: the backend socket is paused while the WebSocket's
 * buffered amount is above HIGH_WATER, and — for clients that speak Sallyport's protocol —
 * while no credit is left (the client grants credit as it consumes, so a slow reader holds
 * at most one window anywhere on the path; workerd itself applies no backpressure).
 * Backpressure toward the backend: clients are granted credit only as the backend takes their
 * bytes (v2: every client; v1: Sallyport clients), and the WebSocket is read on, so that the
 * credit for the other direction is never stuck behind data. Only a v1 plain client, which
 * nothing bounds, has the WebSocket paused while the backend's write buffer is full.
 *
 * Backend reads are coalesced: a read is at most the socket's read buffer (net/reused-reads.ts:
 * up to a whole message for a plain TCP backend, Node's 64 KiB through TLS), but several often
 * arrive in one turn of the event loop; they go out as one message of up to the edge's
 * max.message.size (fewer, larger messages cost the edge less, and Cloudflare bills per message),
 * each read one fragment of it, uncopied (net/ws-fragments.ts).
 * Nothing waits for more data: after a full read (it filled the read buffer) what has arrived is
 * sent at the end of the turn (setImmediate); a short read, which drained the socket, or a whole
 * message goes at once.
 *
 * Protocol v2 (docs/protocol.md): credit is cumulative and the edge checks it. We grant every
 * client (plain ones too: the edge holds their upload past our grant) as the backend takes
 * its bytes, echoing the edge's marks (ReaderCredit); a Sallyport client's grants reach us as
 * limits (`upTo`). v1: increments, and only Sallyport clients have credit.
 *
 * Half-close: a Sallyport client's `end` becomes a FIN to the backend; the backend's FIN
 * becomes `end` to the client; the session closes (1000) once both directions ended. A
 * plain WebSocket client has no half-close: the backend's FIN closes the session.
 *
 * Protocol v3 (docs/protocol.md, "Resume"): what went to the client is kept (by reference)
 * until acknowledged, so that when the bind drops, the bind can detach() the session — the
 * backend connection stays open, paused — and hand it a new WebSocket with resumed(), which
 * sends again from what the client said it received.
 */

export const HIGH_WATER = 4 * 1024 * 1024;
export const LOW_WATER = 1024 * 1024;
/** How long the backend may take to finish after the client has gone. */
export const BACKEND_LINGER_MS = 5_000;

export interface SessionOptions {
  readonly protocol: ClientProtocol;
  /** The protocol version negotiated with the edge. */
  readonly version: ProtocolVersion;
  /** The edge's max.message.size: the largest message we send. */
  readonly maxMessageBytes: number;
  /** A clean end keeps the WebSocket (the client opened it in standby) instead of closing it. */
  readonly keep: boolean;
  readonly clock: Clock;
}

export interface SessionOutcome {
  /** Ended cleanly on a session in standby: the WebSocket stays open for the next one. */
  readonly kept?: boolean;
  /** Kept, and our `end` is not sent yet: it goes with the bind's `done`, as one message (v3). */
  readonly endWithDone?: boolean;
  readonly by: "client" | "backend";
  readonly close: Close;
  readonly bytesToBackend: number;
  readonly bytesToClient: number;
}

export class Session {
  private toBackend = 0;
  private toClient = 0;
  /** Bytes we may send the client (Sallyport clients), and bytes it may send us. */
  private sendAllowance: number;
  private receiveAllowance = INITIAL_WINDOW_BYTES;
  private written = 0;
  private granted = 0;
  private clientEnded = false;
  private backendEnded = false;
  private endSent = false;
  private finished = false;
  /**
   * Backend bytes read but not yet sent: gathered into the next message, or beyond the
   * client's credit (Sallyport clients; a read takes what it can, whatever credit is left,
   * and sending past the credit is a protocol error). The backend is paused once a whole
   * message is held, so this stays under two messages.
   */
  private held: Uint8Array[] = [];
  private heldBytes = 0;
  private releaseQueued = false;
  private readonly protocol: ClientProtocol;
  private readonly maxMessage: number;
  private readonly keep: boolean;
  private readonly clock: Clock;
  private readonly version: ProtocolVersion;
  /** The client sends only what we granted (v2 grants every client; v1 only Sallyport clients). */
  private readonly creditBounded: boolean;
  /** v2: what we grant, proved by the edge's marks. */
  private readonly reader = new ReaderCredit();
  /** v3: what went to the client and is not yet acknowledged, for a resume. */
  private readonly out: ResendBuffer | undefined;
  /** v3: the WebSocket dropped and the bind is resuming; nothing is sent, the backend is paused. */
  private detached = false;
  /** Client data to the backend, one `writev` per turn of the event loop. */
  private readonly writes: WriteBatch;

  constructor(
    private ws: WebSocket,
    private readonly backend: net.Socket,
    options: SessionOptions,
    private readonly done: (outcome: SessionOutcome) => void,
  ) {
    this.protocol = options.protocol;
    this.writes = new WriteBatch(backend);
    this.maxMessage = options.maxMessageBytes;
    this.keep = options.keep;
    this.clock = options.clock;
    this.version = options.version;
    this.creditBounded = usesMarks(options.version) || options.protocol === "sallyport";
    this.sendAllowance = initialCredit(options.version);
    if (resumes(options.version) && options.protocol === "sallyport") this.out = new ResendBuffer((c) => chunkPool.letGo(c));
    ws.on("message", this.onMessage);
    ws.on("close", this.onClose);
    readBackend(backend, (chunk, full) => this.fromBackend(chunk, full));
    backend.on("end", () => this.backendEnd());
    backend.on("error", () => this.fail(close("GENERAL_FAILURE")));
    backend.on("close", () => !this.backendEnded && this.fail(close("GENERAL_FAILURE")));
  }

  private readonly onMessage = (data: Buffer, isBinary: boolean): void => {
    if (isBinary) this.fromClient(data);
  };
  private readonly onClose = (code: number): void => this.clientClosed(code);

  /** `end` and `credit` from a Sallyport client (relayed by the edge); the edge's `mark`s. */
  control(msg: StreamMessage | MarkMessage): void {
    if (msg.t === "mark") {
      const grant = this.reader.mark(msg.id);
      if (grant && !this.finished && !this.clientEnded) this.ws.send(encode(grant, this.version));
      return;
    }
    if (this.protocol !== "sallyport") return this.fail(close("PROTOCOL_ERROR"));
    if (msg.t === "credit") {
      // v1: an increment; v2: a cumulative limit on what we send.
      if ("bytes" in msg) this.sendAllowance += msg.bytes;
      else {
        this.sendAllowance = Math.max(this.sendAllowance, msg.upTo - this.toClient);
        this.out?.limitSeen(msg.upTo);
      }
      this.release(true);
      this.flow();
    } else if (!this.clientEnded) {
      this.clientEnded = true;
      this.backend.end();
      this.maybeDone();
    }
  }

  private fromClient(data: Buffer): void {
    if (this.clientEnded) return this.fail(close("PROTOCOL_ERROR"));
    this.toBackend += data.byteLength;
    if (usesMarks(this.version)) {
      if (!this.reader.data(data.byteLength)) return this.fail(close("PROTOCOL_ERROR")); // beyond our grant
    } else if (this.protocol === "sallyport") {
      this.receiveAllowance -= data.byteLength;
      if (this.receiveAllowance < 0) return this.fail(close("PROTOCOL_ERROR")); // sent beyond its credit
    }
    const more = this.writes.write(data, () => this.wrote(data.byteLength));
    // A client our credit bounds sends at most a window we have not seen the backend take: its
    // bytes wait in the backend socket's buffer, and the WebSocket is read on. Pausing it would
    // also stop the edge's credit for the other direction, queued behind that data: with the
    // backend paused for want of it, an echoing backend stops reading, the buffer never drains,
    // and both directions wait for ever (small windows made it happen: bench/resume.ts). Only a
    // client nothing bounds (plain, v1: no grants at all) is held back by pausing the WebSocket.
    if (!more && !this.creditBounded) {
      this.ws.pause();
      this.backend.once("drain", () => this.ws.resume());
    }
  }

  /** Grant the client credit for what the backend has taken, in half-window steps. */
  private wrote(n: number): void {
    // Once the client has ended it sends nothing more: credit would be of no use to it.
    if (this.finished || this.clientEnded) return;
    if (usesMarks(this.version)) {
      const grant = this.reader.consume(n);
      // Detached: the grant names a mark the next edge object will not know; it grants afresh.
      if (grant && !this.detached) this.ws.send(encode(grant, this.version));
      return;
    }
    if (this.protocol !== "sallyport") return;
    this.written += n;
    const grant = this.written - this.granted;
    if (grant >= INITIAL_WINDOW_BYTES / 2) {
      this.granted = this.written;
      this.receiveAllowance += grant;
      this.send({ t: "credit", bytes: grant }); // v1 only: v2 grants above
    }
  }

  private fromBackend(chunk: Buffer, full: boolean): void {
    this.held.push(chunk);
    this.heldBytes += chunk.byteLength;
    if (this.heldBytes >= this.maxMessage) this.release(false);
    else if (!full) this.release(true);
    else if (!this.releaseQueued) {
      this.releaseQueued = true;
      setImmediate(() => {
        this.releaseQueued = false;
        this.release(true);
        this.flow();
      });
    }
    this.flow();
  }

  /**
   * One message of the held reads `parts`, as they lie: one read goes whole, several go as the
   * fragments of one message (net/ws-fragments.ts) rather than copied into one array.
   */
  private sendData(parts: Uint8Array[]): void {
    let n = 0;
    for (const chunk of parts) {
      // Held by the resend buffer until acknowledged, and by ws until written (net/chunk-pool.ts).
      if (this.out) chunkPool.hold(chunk);
      this.out?.sent(chunk);
      chunkPool.hold(chunk);
      n += chunk.byteLength;
    }
    this.toClient += n;
    if (this.protocol === "sallyport") this.sendAllowance -= n;
    const written = (): void => {
      for (const chunk of parts) chunkPool.letGo(chunk);
      this.flow();
    };
    if (parts.length === 1) this.ws.send(parts[0]!, { binary: true }, written);
    else sendFragments(this.ws, parts, written);
  }

  /**
   * Sends held bytes in messages of up to maxMessage, as far as the credit goes; `all` sends
   * a last, partial message too (else it waits to be filled). The backend's `end` follows the
   * last of them.
   */
  private release(all: boolean): void {
    if (this.detached) return;
    while (this.heldBytes > 0 && !this.finished) {
      const room = this.protocol === "sallyport" ? Math.min(this.maxMessage, this.sendAllowance) : this.maxMessage;
      if (room <= 0 || (!all && this.heldBytes < this.maxMessage)) break;
      const n = Math.min(room, this.heldBytes);
      this.heldBytes -= n;
      this.sendData(takeParts(this.held, n));
    }
    if (this.heldBytes === 0 && this.backendEnded && !this.endSent && this.protocol === "sallyport") this.sendEnd();
  }

  /** Pause the backend while the client cannot take more; resume when it can. */
  private flow(): void {
    if (this.finished) return;
    const blocked =
      this.detached ||
      this.ws.bufferedAmount > HIGH_WATER ||
      this.heldBytes >= this.maxMessage ||
      (this.protocol === "sallyport" && this.heldBytes >= this.sendAllowance);
    if (blocked && !this.backend.isPaused()) this.backend.pause();
    else if (!blocked && this.backend.isPaused() && this.ws.bufferedAmount < LOW_WATER) this.backend.resume();
  }

  private backendEnd(): void {
    this.backendEnded = true;
    // Sallyport: release() sends `end` after the last held byte (now, or as credit comes).
    this.release(true);
    if (this.protocol === "plain") this.finish("backend", close("NORMAL"));
  }

  private sendEnd(): void {
    this.endSent = true;
    // The last word of a kept session: in v3 our `end` rides on the bind's `done` (one message, not two).
    const withDone = this.keep && this.clientEnded && endCarriesDone(this.version);
    if (!withDone) this.send({ t: "end" });
    this.maybeDone(withDone);
  }

  private maybeDone(endWithDone = false): void {
    if (!this.clientEnded || !this.endSent) return;
    if (!this.keep) return this.finish("backend", close("NORMAL"));
    // Both FINs are through; the backend socket closes by itself once its last write is out.
    // Nothing of this session may reach the WebSocket after the bind's `done`.
    this.finished = true;
    this.ws.off("message", this.onMessage);
    this.ws.off("close", this.onClose);
    this.report("backend", close("NORMAL"), true, endWithDone);
  }

  private send(msg: StreamMessage): void {
    this.ws.send(encode(msg, this.version));
  }

  private fail(how: Close): void {
    this.finish("backend", how);
    resetSocket(this.backend);
  }

  /** Close the WebSocket once everything queued has been written (ws queues the close frame). */
  private finish(by: SessionOutcome["by"], how: Close): void {
    if (this.finished) return;
    this.finished = true;
    this.ws.close(how.code, how.reason);
    this.report(by, how);
  }

  private clientClosed(code: number): void {
    if (this.detached) return; // the bind is resuming: the close was the dropped link's
    if (!this.finished) {
      this.finished = true;
      this.report("client", { code: code as Close["code"], reason: "" });
    }
    if (this.backend.destroyed) return;
    // A clean close lets the backend flush and answer the FIN; anything else is a reset.
    if (code === 1000) {
      this.backend.end();
      this.clock.setTimeout(() => this.backend.destroy(), BACKEND_LINGER_MS).unref();
    } else resetSocket(this.backend);
  }

  // ---- resume (v3) ----

  /** Whether this session can resume (v3, a Sallyport client, not finished). */
  get resumable(): boolean {
    return this.out !== undefined && !this.finished;
  }

  /** What the bind presents when it resumes: client data received, and whether the client's `end` came. */
  get offer(): { readonly received: number; readonly end: boolean } {
    return { received: this.toBackend, end: this.clientEnded };
  }

  /** The WebSocket dropped: keep the backend connection (paused) and everything unacknowledged. */
  detach(): void {
    this.detached = true;
    this.ws.off("message", this.onMessage);
    this.ws.off("close", this.onClose);
    this.flow();
  }

  /**
   * The edge said `resumed` on `ws`: the client has received `offset` bytes (and our `end`, with
   * `peerHasEnd`). Sends again from there, through the usual path (credit, messages, `end`).
   * False when `offset` is not one we can resume from: the session cannot continue.
   */
  resumed(ws: WebSocket, offset: number, peerHasEnd: boolean): { ok: boolean; resent: number } {
    const again = this.out?.rewind(offset);
    if (!again || this.finished) return { ok: false, resent: 0 };
    const resent = again.reduce((n, c) => n + c.byteLength, 0);
    this.ws = ws;
    ws.on("message", this.onMessage);
    ws.on("close", this.onClose);
    this.detached = false;
    this.toClient = offset;
    // The edge's first limit past the offset, as at pairing, until the client grants again.
    this.sendAllowance = V2_INITIAL_CREDIT_BYTES;
    this.held = [...again, ...this.held];
    this.heldBytes += resent;
    if (this.endSent && !peerHasEnd) this.endSent = false;
    this.reader.resumed();
    this.release(true);
    this.flow();
    return { ok: true, resent };
  }

  /** The resume failed: the backend connection is reset (the client's stream is incomplete). */
  abandon(how: Close): void {
    this.detached = false;
    this.fail(how);
  }

  private reported = false;
  private report(by: SessionOutcome["by"], how: Close, kept = false, endWithDone = false): void {
    if (this.reported) return;
    this.reported = true;
    const flags = { ...(kept ? { kept } : {}), ...(endWithDone ? { endWithDone } : {}) };
    this.done({ ...flags, by, close: how, bytesToBackend: this.toBackend, bytesToClient: this.toClient });
  }
}

/**
 * An abnormal end reaches the backend as a TCP reset: destroy() alone sends a FIN, which a
 * backend cannot tell from the end of a complete stream (an upload cut short would look
 * finished). TLS sockets cannot be reset from Node; closing one without close_notify already
 * reads as a truncation to the backend.
 */
function resetSocket(socket: net.Socket): void {
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}
