import { createHash } from "node:crypto";
import net from "node:net";
import type { Cleanup } from "./cleanup.ts";
import { msgIs, type Proc, spawnSallyport } from "./processes.ts";
import { Condition } from "./wait.ts";

/**
 * Local TCP connections through a `sallyport client` process (the forwarder), for tests of
 * sessions that must survive the edge: what each sent, what came back (SHA-256), how it ended.
 */

/** One local connection through the client: what it sent and what came back. */
export class LocalConn {
  readonly socket: net.Socket;
  received = 0;
  private readonly hash = createHash("sha256");
  ended = false;
  error: string | undefined;
  readonly changed = new Condition();
  readonly texts: string[] = [];

  constructor(cleanup: Cleanup, port: number, keepText = false) {
    this.socket = net.connect({ port, host: "127.0.0.1", allowHalfOpen: true });
    this.socket.on("data", (c: Buffer) => {
      this.received += c.length;
      this.hash.update(c);
      if (keepText) this.texts.push(c.toString("utf8"));
      this.changed.notify();
    });
    this.socket.on("end", () => {
      this.ended = true;
      this.changed.notify();
    });
    this.socket.on("error", (e: NodeJS.ErrnoException) => {
      this.error = e.code ?? e.message;
      this.changed.notify();
    });
    cleanup.add("local connection", () => void this.socket.destroy());
  }

  /** Writes `data` honouring backpressure. */
  async write(data: Buffer): Promise<void> {
    for (let off = 0; off < data.length; off += 256 * 1024) {
      if (this.error) throw new Error(`local connection failed: ${this.error}`);
      if (!this.socket.write(data.subarray(off, off + 256 * 1024))) await new Promise((r) => this.socket.once("drain", r));
    }
  }

  until(pred: () => boolean, ms: number, what: string): Promise<true> {
    return this.changed.wait(
      () => {
        if (this.error) throw new Error(`local connection failed: ${this.error} (${what})`);
        return pred() || undefined;
      },
      ms,
      what,
    );
  }

  digest(): string {
    return this.hash.digest("hex");
  }
}

/** `sallyport client` listening on a free port; `preopen` sessions in standby (default none); more flags (--ca-file …). */
export async function startForwarder(
  cleanup: Cleanup,
  url: string,
  preopen = 0,
  extraArgs: readonly string[] = [],
): Promise<{ proc: Proc; port: number }> {
  const proc = spawnSallyport(["client", "--url", url, "--listen", "127.0.0.1:0", "--preopen", String(preopen), ...extraArgs], {
    name: "sallyport client",
    cleanup,
  });
  const listening = await proc.waitForLog(msgIs("listening"), 20_000, "the client to listen");
  return { proc, port: Number(String(listening.json!.listen).split(":").pop()) };
}

/** Writes `data` on every connection, then ends each; resolves once each got all of it back (an echo), then EOF. */
export async function echoAll(conns: ReadonlyArray<{ conn: LocalConn; data: Buffer }>, ms: number): Promise<void> {
  await Promise.all(conns.map((s) => s.conn.write(s.data)));
  for (const s of conns) s.conn.socket.end();
  await Promise.all(conns.map((s) => s.conn.until(() => s.conn.ended, ms, "every byte echoed, then EOF")));
}
