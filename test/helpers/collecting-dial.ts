import { dial } from "../../client/dial.ts";
import type { SallyportStream } from "../../client/stream.ts";
import type { Cleanup } from "./cleanup.ts";
import { Condition } from "./wait.ts";

/** What `client/dial.ts`'s stream delivered to `onData`, as it came. */
export interface Collected {
  readonly got: Buffer[];
  /** Notified at each delivery. */
  readonly changed: Condition;
  bytes(): Buffer;
}

/**
 * The product's dial (the forwarder's and the probe's) to `url`, its stream's data collected
 * from the open event on; a failed dial throws. The socket is terminated at cleanup.
 */
export function collectingDial(cleanup: Cleanup, url: string): Collected {
  const got: Buffer[] = [];
  const changed = new Condition();
  const ws = dial(
    { url },
    {
      opened: (stream: SallyportStream) => {
        stream.onData = (chunk) => {
          got.push(Buffer.from(chunk));
          changed.notify();
        };
      },
      failed: (f) => {
        throw new Error(`dial failed: ${f.description}`);
      },
    },
  );
  cleanup.add("dialed socket", () => ws.terminate());
  return { got, changed, bytes: () => Buffer.concat(got) };
}
