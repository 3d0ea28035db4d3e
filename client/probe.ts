import { randomBytes } from "node:crypto";
import type { EdgeRoute } from "../net/edge-socket.ts";
import { dial, type DialFailure } from "./dial.ts";
import { CloseCode } from "../shared/protocol/close-codes.ts";
import type { CloseInfo, SallyportStream } from "./stream.ts";

/**
 * `sallyport probe`: one session as a client, measured. The client protocol has no
 * "paired" signal, so what is reported is what was seen:
 *  - handshake: the WebSocket upgrade at the edge (the edge answers it whether or not a
 *    bind is free; an unpaired client waits up to socks.timeout);
 *  - paired: the backend's first byte arrived — a connector took the session and dialed
 *    the backend (16 random bytes are sent at once, so an echo backend answers them);
 *  - round trip: 16 more bytes, until any reply.
 * No reply within the timeout while the session stays open is reported as just that.
 */

export const PROBE_BYTES = 16;
/**
 * The edge's close frame is the answer; the TCP close after it adds nothing. workerd keeps the
 * connection of a client it closed on arrival (the edge already knows the backend is down), so
 * the probe stops waiting for it after this long instead of ws's 30 s, well within --timeout.
 */
export const PROBE_CLOSE_TIMEOUT_MS = 250;

export type ProbeResult =
  | {
      readonly outcome: "paired";
      readonly handshakeMs: number;
      readonly pairedMs: number;
      readonly echoed: boolean;
      readonly roundTripMs: number | undefined;
    }
  | { readonly outcome: "open"; readonly handshakeMs: number; readonly openMs: number }
  | { readonly outcome: "closed"; readonly handshakeMs: number; readonly afterMs: number; readonly close: CloseInfo }
  | { readonly outcome: "refused"; readonly failure: DialFailure };

export interface ProbeOptions {
  readonly url: string;
  readonly token?: string | undefined;
  readonly timeoutMs: number;
  readonly route?: EdgeRoute;
}

export function probe(opts: ProbeOptions): Promise<ProbeResult> {
  const started = performance.now();
  const since = (): number => performance.now() - started;
  return new Promise((resolve) => {
    const ws = dial(
      {
        url: opts.url,
        token: opts.token,
        handshakeTimeoutMs: opts.timeoutMs,
        closeTimeoutMs: PROBE_CLOSE_TIMEOUT_MS,
        route: opts.route,
      },
      {
        failed: (failure) => resolve({ outcome: "refused", failure }),
        opened: (stream, handshakeMs) =>
          void measure(stream, handshakeMs, since, opts.timeoutMs, () => ws.readyState !== ws.OPEN).then((result) => {
            // Let the close handshake finish (briefly), so the process can exit at once.
            if (ws.readyState === ws.CLOSED) return resolve(result);
            const timer = setTimeout(() => ws.terminate(), 1000);
            ws.once("close", () => {
              clearTimeout(timer);
              resolve(result);
            });
          }),
      },
    );
  });
}

/**
 * `closing()`: the socket left OPEN. Until the probe closes it, that is the edge's close frame
 * having arrived: a session that ended, however long the "close" event takes to follow.
 */
async function measure(
  stream: SallyportStream,
  handshakeMs: number,
  since: () => number,
  timeoutMs: number,
  closing: () => boolean,
): Promise<ProbeResult> {
  let received = Buffer.alloc(0);
  let wake: () => void = () => {};
  stream.onData = (chunk) => {
    received = Buffer.concat([received, chunk]);
    stream.consumed(chunk.byteLength);
    wake();
  };
  stream.onEnd = () => wake();
  stream.onClose = () => wake();
  /** Waits until `ready()` or the session closes or the overall deadline passes. */
  const until = (ready: () => boolean): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => {
        if (ready() || stream.closed || stream.endReceived || since() >= timeoutMs) {
          clearTimeout(timer);
          resolve();
        }
      };
      const timer = setTimeout(check, Math.max(0, timeoutMs - since()) + 1);
      wake = check;
      check();
    });
  const finish = <T extends ProbeResult>(r: T): T => {
    if (!stream.closed) stream.close(CloseCode.NORMAL);
    return r;
  };

  const first = randomBytes(PROBE_BYTES);
  stream.send(first);
  await until(() => received.length > 0);
  // Closed by the edge with nothing received: a failure with its reason, never "open". The
  // close event follows the close frame within PROBE_CLOSE_TIMEOUT_MS.
  if (!stream.closed && received.length === 0 && closing()) await closeEvent(stream, PROBE_CLOSE_TIMEOUT_MS + 1000);
  if (stream.closed && received.length === 0) return { outcome: "closed", handshakeMs, afterMs: since(), close: stream.closed };
  if (received.length === 0) return finish({ outcome: "open", handshakeMs, openMs: since() });
  const pairedMs = since();
  // An echo backend: wait for the whole first echo so it is not taken for the second reply.
  const echoes = first.subarray(0, Math.min(received.length, PROBE_BYTES)).equals(received.subarray(0, PROBE_BYTES));
  if (echoes) await until(() => received.length >= PROBE_BYTES);
  const echoed = echoes && received.length >= PROBE_BYTES && received.subarray(0, PROBE_BYTES).equals(first);
  if (stream.closed || stream.endReceived) return finish({ outcome: "paired", handshakeMs, pairedMs, echoed, roundTripMs: undefined });
  const before = received.length;
  const sentAt = performance.now();
  stream.send(randomBytes(PROBE_BYTES));
  await until(() => received.length > before);
  const roundTripMs = received.length > before ? performance.now() - sentAt : undefined;
  return finish({ outcome: "paired", handshakeMs, pairedMs, echoed, roundTripMs });
}

/** Resolves at the stream's close event, or after `ms` (then the caller reports what it has). */
function closeEvent(stream: SallyportStream, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    const previous = stream.onClose;
    stream.onClose = (info) => {
      clearTimeout(timer);
      previous?.(info);
      resolve();
    };
  });
}
