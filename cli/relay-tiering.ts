import v8 from "node:v8";

/**
 * When V8 compiles a relaying process's functions with TurboFan: after 300 calls instead of its
 * default 3,000 (docs/performance.md, "A new session ran in the interpreter").
 *
 * V8 optimises a function once it has run about `--invocation-count-for-turbofan` times with
 * its type feedback settled (`--minimum-invocations-after-ic-update` calls since the last
 * change). A relay's per-session code — taking a bind, dialing the backend, Node's own
 * `net.connect`, a session's objects and listeners, its log line — runs once per session, so at
 * the defaults it stayed in the interpreter and the baseline compiler for the first ~3,000
 * sessions (traced with `--trace-opt`: `connectBackend` optimised at session 2,917,
 * `internalConnect` at 2,943, the Session constructor at 3,786, `handleWriteReq` at 5,548); a
 * connector that serves a few hundred sessions a day never got there. Per message the same
 * held for a tunnel's first ~3,000 messages: its first GiB, an interactive session's first
 * minutes. With these settings the same functions were optimised by sessions 300–1,100; on the
 * bench, a new session's latency fell by a fifth and a fresh tunnel's slowest round trips by
 * half. The cost: compiling sooner (more functions, earlier, on V8's helper threads: the first
 * thousand sessions' slowest take longer), and on the bench's VM a warm round trip's median
 * 40–50 µs higher, which an idle-priority spinner per vCPU makes go away (cause not found).
 * 1,000 calls kept little of the gain.
 */
export const RELAY_TIERING_FLAGS: readonly string[] = ["--invocation-count-for-turbofan=300", "--minimum-invocations-after-ic-update=100"];

/** Called by the relaying commands (connector, client, dev) before their first session. */
export function tierUpSooner(): void {
  for (const flag of RELAY_TIERING_FLAGS) v8.setFlagsFromString(flag);
}
