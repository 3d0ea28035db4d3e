import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, closeSync, createWriteStream, openSync, readFileSync, readdirSync, type WriteStream } from "node:fs";

/**
 * /proc accounting and child-process bookkeeping for the bench. Every process the bench
 * starts is a `Child` here, tracked by PID; `killAll()` ends them and their descendants
 * (TERM, then KILL) and runs on exit, SIGINT and SIGTERM. Nothing is ever killed by name.
 */

const CLK_TCK = 100; // Linux's USER_HZ on every architecture we run on
const PAGE_KB = 4;

interface ProcInfo {
  readonly ppid: number;
  /** utime + stime + cutime + cstime (so reaped children still count). */
  readonly ticks: number;
  readonly rssKb: number;
  readonly comm: string;
}

function readStat(pid: number): ProcInfo | undefined {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, "utf8");
    const comm = st.slice(st.indexOf("(") + 1, st.lastIndexOf(")"));
    const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
    // f[0]=state f[1]=ppid; utime..cstime = f[11..14]; rss (pages) = f[21]
    return { ppid: Number(f[1]), ticks: +f[11]! + +f[12]! + +f[13]! + +f[14]!, rssKb: +f[21]! * PAGE_KB, comm };
  } catch {
    return undefined;
  }
}

function allProcs(): Map<number, ProcInfo> {
  const out = new Map<number, ProcInfo>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    const i = readStat(Number(d));
    if (i) out.set(Number(d), i);
  }
  return out;
}

/** `roots` and all their descendants that are alive now. */
export function withDescendants(roots: readonly number[], procs = allProcs()): number[] {
  const kids = new Map<number, number[]>();
  for (const [pid, i] of procs) {
    const list = kids.get(i.ppid) ?? [];
    list.push(pid);
    kids.set(i.ppid, list);
  }
  const seen = new Set<number>();
  const stack = roots.filter((p) => procs.has(p));
  while (stack.length > 0) {
    const p = stack.pop()!;
    if (seen.has(p)) continue;
    seen.add(p);
    for (const k of kids.get(p) ?? []) stack.push(k);
  }
  return [...seen];
}

/** First descendant of `root` whose command name is `comm` (e.g. workerd under the Miniflare host). */
export function findDescendant(root: number, comm: string): number | undefined {
  const procs = allProcs();
  return withDescendants([root], procs).find((p) => p !== root && procs.get(p)?.comm === comm);
}

/**
 * The sum of `measure` over `pids` and their descendants, minus the `exclude` subtrees. A
 * process gone meanwhile counts 0 (measure may throw).
 */
function sumOver(pids: readonly number[], exclude: readonly number[], measure: (pid: number, info: ProcInfo) => number): number {
  const procs = allProcs();
  const ex = new Set(withDescendants(exclude, procs));
  let total = 0;
  for (const p of withDescendants(pids, procs)) {
    if (ex.has(p)) continue;
    try {
      total += measure(p, procs.get(p)!);
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

/** CPU seconds used so far by `pids` (each with its descendants, minus `exclude` subtrees). */
export function cpuSeconds(pids: readonly number[], exclude: readonly number[] = []): number {
  return sumOver(pids, exclude, (_p, info) => info.ticks) / CLK_TCK;
}

export function rssKb(pids: readonly number[], exclude: readonly number[] = []): number {
  return sumOver(pids, exclude, (_p, info) => info.rssKb);
}

/** Proportional set size: pages shared between processes are split among them, not counted twice. */
export function pssKb(pids: readonly number[], exclude: readonly number[] = []): number {
  return sumOver(pids, exclude, (p) => Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${p}/smaps_rollup`, "utf8"))?.[1] ?? 0));
}

export function load1(): number {
  try {
    return Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]);
  } catch {
    return NaN;
  }
}

// ---- children ------------------------------------------------------------------------------

const children = new Set<Child>();

/**
 * A process the bench started. Its stdout (a few start-up lines: ports, readiness) comes
 * through a pipe; its stderr (the log lines, one or more per session) goes straight to its log
 * file, so the bench process — which is also the load generator and the clock — never handles
 * a tunnel's logging while it measures. waitLine() on stderr reads the file.
 */
export class Child {
  readonly pid: number;
  readonly exited: Promise<void>;
  exitCode: number | null | undefined;
  private lines: Array<{ stream: "stdout" | "stderr"; text: string }> = [];
  private waiters: Array<() => void> = [];

  constructor(
    readonly name: string,
    proc: ChildProcess,
    log: WriteStream,
    private readonly logFile: string,
  ) {
    if (proc.pid === undefined) throw new Error(`${name}: spawn failed`);
    this.pid = proc.pid;
    children.add(this);
    let rest = "";
    proc.stdout!.setEncoding("utf8");
    proc.stdout!.on("data", (d: string) => {
      log.write(d);
      rest += d;
      const parts = rest.split("\n");
      rest = parts.pop()!;
      // Only the first lines are kept for waitLine(); a chatty child must not grow without bound.
      for (const text of parts) if (this.lines.length < 2000) this.lines.push({ stream: "stdout", text });
      for (const w of this.waiters.splice(0)) w();
    });
    this.exited = new Promise((resolve) => {
      proc.on("close", (code) => {
        this.exitCode = code;
        children.delete(this);
        log.end();
        for (const w of this.waiters.splice(0)) w();
        resolve();
      });
    });
  }

  /** Resolves with the regexp match of the first line (from the start) that matches. */
  async waitLine(re: RegExp, timeoutMs: number, stream?: "stdout" | "stderr"): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const lines = stream === "stdout" ? this.lines : [...this.lines, ...this.stderrLines()];
      for (const l of lines) {
        if (stream && l.stream !== stream) continue;
        const m = re.exec(l.text);
        if (m) return m;
      }
      if (this.exitCode !== undefined) throw new Error(`${this.name} exited (${this.exitCode}) before printing ${re}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: no line matching ${re} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        // stderr is only in the file: look again soon.
        const t = setTimeout(resolve, Math.min(left, stream === "stdout" ? 1000 : 50));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** The log file's lines (stderr, interleaved with the stdout copy and the command line). */
  private stderrLines(): Array<{ stream: "stderr"; text: string }> {
    try {
      return readFileSync(this.logFile, "utf8")
        .split("\n")
        .map((text) => ({ stream: "stderr" as const, text }));
    } catch {
      return [];
    }
  }

  /** TERM this process and its descendants; KILL whatever is left after `graceMs`. */
  async stop(graceMs = 3000): Promise<void> {
    const pids = withDescendants([this.pid]);
    for (const p of pids) signal(p, "SIGTERM");
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && pids.some(alive)) await new Promise((r) => setTimeout(r, 25));
    for (const p of pids) if (alive(p)) signal(p, "SIGKILL");
    await Promise.race([this.exited, new Promise((r) => setTimeout(r, 1000))]);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie is dead for our purposes.
    return readStat(pid) !== undefined && !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ");
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

export interface SpawnOptions {
  readonly logFile: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

export function spawnChild(name: string, cmd: string, args: readonly string[], opts: SpawnOptions): Child {
  appendFileSync(opts.logFile, `# ${cmd} ${args.join(" ")}\n`);
  const stderr = openSync(opts.logFile, "a");
  try {
    const proc = spawn(cmd, args, { stdio: ["ignore", "pipe", stderr], env: opts.env ?? process.env, cwd: opts.cwd });
    return new Child(name, proc, createWriteStream(opts.logFile, { flags: "a" }), opts.logFile);
  } finally {
    closeSync(stderr); // the child has its own copy
  }
}

/** Stop every child still running (each with its descendants). */
export async function stopAll(): Promise<void> {
  await Promise.all([...children].map((c) => c.stop()));
}

/** Synchronous last resort for process exit: KILL every child and descendant we know of. */
function killAllNow(): void {
  const roots = [...children].map((c) => c.pid);
  if (roots.length === 0) return;
  for (const p of withDescendants(roots)) signal(p, "SIGKILL");
}

let installed = false;
/** On exit, SIGINT and SIGTERM: end every child. `onSignal` runs first (e.g. to print a note). */
export function installCleanup(onSignal: (sig: string) => void): void {
  if (installed) return;
  installed = true;
  process.on("exit", killAllNow);
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, () => {
      onSignal(sig);
      const hard = setTimeout(() => {
        killAllNow();
        process.exit(130);
      }, 5000);
      hard.unref();
      void stopAll().finally(() => process.exit(130));
    });
  }
}

/**
 * For a bench helper process that serves until told to stop (edge hosts): on SIGTERM or
 * SIGINT run `stop` and exit 0; exit 1 if it takes over 5 s, 130 on a second signal. Keeps
 * the process alive meanwhile.
 */
export function serveUntilSignal(stop: () => Promise<unknown>): void {
  let stopping = false;
  for (const sig of ["SIGTERM", "SIGINT"] as const) {
    process.on(sig, () => {
      if (stopping) process.exit(130);
      stopping = true;
      setTimeout(() => process.exit(1), 5000).unref();
      void stop().finally(() => process.exit(0));
    });
  }
  setInterval(() => {}, 1 << 30);
}

/** Open file descriptors of `pids` (with descendants, minus `exclude` subtrees). */
export function fdCount(pids: readonly number[], exclude: readonly number[] = []): number {
  return sumOver(pids, exclude, (p) => readdirSync(`/proc/${p}/fd`).length);
}

/** This process's soft limit on open files (children inherit it). */
export function nofileLimit(): number {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync("/proc/self/limits", "utf8"));
    return m ? Number(m[1]) : Infinity;
  } catch {
    return Infinity;
  }
}
