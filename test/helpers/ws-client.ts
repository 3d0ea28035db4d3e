import WebSocket from "ws";
import type { Cleanup } from "./cleanup.ts";
import { Condition, within } from "./wait.ts";

/**
 * A plain WebSocket client as a test drives one: no compression (perMessageDeflate off, as
 * Sallyport's own sockets), every event recorded from the first moment, and every wait
 * bounded. Received binary and text data is kept in arrival order as one byte stream.
 */

export interface ClientClose {
  readonly code: number;
  readonly reason: string;
  /** performance.now() when the close arrived. */
  readonly at: number;
}

export interface TestClientOptions {
  readonly protocols?: string | string[];
  readonly headers?: Record<string, string>;
  /** Keep received bytes (default true); off for bulk downloads only hashed. */
  readonly keep?: boolean;
  /** Called with every received chunk (e.g. to hash it). */
  readonly onData?: (chunk: Buffer) => void;
}

export class TestClient {
  readonly ws: WebSocket;
  /** performance.now() when the client was created (before the handshake). */
  readonly startedAt = performance.now();
  openedAt: number | undefined;
  closedWith: ClientClose | undefined;
  /** HTTP status when the server refused the upgrade. */
  refusedWith: number | undefined;
  error: Error | undefined;
  /** Every message as received (text frames as their UTF-8 bytes). */
  readonly messages: Array<{ data: Buffer; binary: boolean }> = [];
  bytesReceived = 0;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private readonly changed = new Condition();

  constructor(
    readonly url: string,
    opts: TestClientOptions = {},
  ) {
    this.ws = new WebSocket(url, opts.protocols ?? [], {
      perMessageDeflate: false,
      headers: opts.headers,
      handshakeTimeout: 10_000,
    });
    this.ws.on("open", () => {
      this.openedAt = performance.now();
      this.changed.notify();
    });
    this.ws.on("message", (data: Buffer, binary: boolean) => {
      this.bytesReceived += data.length;
      opts.onData?.(data);
      if (opts.keep !== false) {
        this.messages.push({ data, binary });
        this.chunks.push(data);
        this.buffered += data.length;
      }
      this.changed.notify();
    });
    this.ws.on("close", (code: number, reason: Buffer) => {
      this.closedWith = { code, reason: reason.toString("utf8"), at: performance.now() };
      this.changed.notify();
    });
    this.ws.on("unexpected-response", (_req, res) => {
      this.refusedWith = res.statusCode;
      res.resume();
      this.ws.terminate();
      this.changed.notify();
    });
    this.ws.on("error", (e) => {
      this.error = e;
      this.changed.notify();
    });
  }

  /** Resolves when the handshake completed; rejects if it was refused or failed. */
  opened(ms: number): Promise<void> {
    return this.changed
      .wait(
        () => {
          if (this.openedAt !== undefined) return true;
          if (this.refusedWith !== undefined) throw new Error(`${this.url}: upgrade refused with HTTP ${this.refusedWith}`);
          if (this.error) throw new Error(`${this.url}: ${this.error.message}`);
          if (this.closedWith) throw new Error(`${this.url}: closed (${this.closedWith.code}) before open`);
          return undefined;
        },
        ms,
        `${this.url} to open`,
      )
      .then(() => undefined);
  }

  /** The close, whenever it comes (or came). */
  closed(ms: number): Promise<ClientClose> {
    return this.changed.wait(() => this.closedWith, ms, `${this.url} to close`);
  }

  /** Removes and returns the next `n` received bytes, waiting for them. */
  async take(n: number, ms: number): Promise<Buffer> {
    await this.changed.wait(
      () => {
        if (this.buffered >= n) return true;
        if (this.closedWith)
          throw new Error(
            `closed (${this.closedWith.code} ${JSON.stringify(this.closedWith.reason)}) after ${this.buffered} of ${n} bytes`,
          );
        return undefined;
      },
      ms,
      `${n} bytes from ${this.url} (have ${this.buffered})`,
    );
    const all = Buffer.concat(this.chunks);
    this.chunks = [all.subarray(n)];
    this.buffered = all.length - n;
    return all.subarray(0, n);
  }

  /** Removes and returns the received bytes up to and excluding the next "\n". */
  async takeLine(ms: number): Promise<string> {
    const at = await this.changed.wait(
      () => {
        const i = Buffer.concat(this.chunks).indexOf(0x0a);
        if (i >= 0) return i;
        if (this.closedWith) throw new Error(`closed (${this.closedWith.code}) before a line arrived`);
        return undefined;
      },
      ms,
      `a line from ${this.url}`,
    );
    const line = await this.take(at + 1, 1);
    return line.subarray(0, at).toString("utf8");
  }

  /** Sends one message; resolves when it has been written to the socket. */
  send(data: Buffer | string, ms = 10_000): Promise<void> {
    return within(
      // ws throws at once when the socket is no longer open: a rejection like any other failure.
      new Promise<void>((resolve, reject) => this.ws.send(data, { binary: typeof data !== "string" }, (e) => (e ? reject(e) : resolve()))),
      ms,
      "a send to complete",
    );
  }

  /** Sends `data` as binary messages of `chunk` bytes, keeping at most ~1 MiB queued locally. */
  async sendChunked(data: Buffer, chunk: number, ms: number): Promise<void> {
    const deadline = performance.now() + ms;
    let last: Promise<void> = Promise.resolve();
    for (let off = 0; off < data.length; off += chunk) {
      last = this.send(data.subarray(off, off + chunk), Math.max(1, deadline - performance.now()));
      if (this.ws.bufferedAmount > 1024 * 1024) await last;
    }
    await last;
  }

  close(code = 1000, reason?: string): void {
    this.ws.close(code, reason);
  }

  terminate(): void {
    this.ws.terminate();
  }
}

/** A TestClient that cleanup terminates. */
export function openClient(cleanup: Cleanup, url: string, opts?: TestClientOptions): TestClient {
  const c = new TestClient(url, opts);
  cleanup.add(`client ${url}`, () => c.terminate());
  return c;
}
