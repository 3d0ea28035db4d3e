import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Cleanup } from "./cleanup.ts";
import { Condition, within } from "./wait.ts";

/**
 * Child processes the e2e tier starts, by PID: each runs in its own process group (so
 * anything it starts in turn — tsx's worker, workerd — goes with it), its stdout and
 * stderr are captured line by line, and JSON lines are parsed for `waitForLog`.
 */

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** The installed entry point (`bin` in package.json): one node process, tsx registered in it. */
export const SALLYPORT_BIN = `${ROOT}bin/sallyport.mjs`;
/** tsx's CLI, run by this same Node (never a `node` found on PATH, which may be older). */
export const TSX_CLI = `${ROOT}node_modules/tsx/dist/cli.mjs`;

export interface LogLine {
  readonly stream: "stdout" | "stderr";
  readonly raw: string;
  /** The record when the line is a JSON object (the connector's log format). */
  readonly json: Record<string, unknown> | undefined;
  /** json.msg, or the raw line. */
  readonly msg: string;
  /** performance.now() when it arrived. */
  readonly at: number;
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export type LogPredicate = (line: LogLine) => boolean;

/** Matches a JSON record whose msg is `msg` (and whose fields include `fields`, when given). */
export function msgIs(msg: string, fields: Record<string, unknown> = {}): LogPredicate {
  return (l) => l.json?.msg === msg && Object.entries(fields).every(([k, v]) => l.json?.[k] === v);
}

export class Proc {
  readonly pid: number;
  readonly lines: LogLine[] = [];
  readonly exited: Promise<Exit>;
  exit: Exit | undefined;
  private readonly changed = new Condition();

  constructor(
    readonly name: string,
    child: ChildProcess,
  ) {
    if (child.pid === undefined) throw new Error(`${name}: spawn failed`);
    this.pid = child.pid;
    this.capture(child.stdout!, "stdout");
    this.capture(child.stderr!, "stderr");
    this.exited = new Promise((resolve) => {
      // 'close', not 'exit': by then every line it wrote has been read.
      child.on("close", (code, signal) => {
        this.exit = { code, signal };
        this.changed.notify();
        resolve(this.exit);
      });
    });
  }

  private capture(stream: NodeJS.ReadableStream, name: LogLine["stream"]): void {
    let rest = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const raw of parts) this.push(name, raw);
      this.changed.notify();
    });
    stream.on("end", () => {
      if (rest) this.push(name, rest);
      rest = "";
      this.changed.notify();
    });
  }

  private push(stream: LogLine["stream"], raw: string): void {
    let json: Record<string, unknown> | undefined;
    if (raw.startsWith("{")) {
      try {
        const v: unknown = JSON.parse(raw);
        if (v && typeof v === "object" && !Array.isArray(v)) json = v as Record<string, unknown>;
      } catch {
        // not a record: kept raw
      }
    }
    this.lines.push({ stream, raw, json, msg: typeof json?.msg === "string" ? json.msg : raw, at: performance.now() });
  }

  /** Lines so far that match. */
  logs(pred: LogPredicate): LogLine[] {
    return this.lines.filter(pred);
  }

  /** The first line (already seen or still to come) that matches; fails early if the process exits first. */
  waitForLog(pred: LogPredicate, timeoutMs: number, what = "a matching log line"): Promise<LogLine> {
    return this.changed
      .wait(
        () => {
          const hit = this.lines.find(pred);
          if (hit) return hit;
          if (this.exit) throw new Error(`${this.name} exited (${JSON.stringify(this.exit)}) before ${what}\n${this.output()}`);
          return undefined;
        },
        timeoutMs,
        `${this.name}: ${what}`,
      )
      .catch((e: Error) => {
        throw e.name === "WaitTimeout" ? new Error(`${e.message}\n--- ${this.name} output ---\n${this.output()}`) : e;
      });
  }

  /** Waits until `count` matching lines have been seen. */
  waitForLogCount(pred: LogPredicate, count: number, timeoutMs: number, what = `${count} matching log lines`): Promise<LogLine[]> {
    return this.changed.wait(
      () => {
        const hits = this.lines.filter(pred);
        if (hits.length >= count) return hits;
        if (this.exit) throw new Error(`${this.name} exited before ${what}\n${this.output()}`);
        return undefined;
      },
      timeoutMs,
      `${this.name}: ${what}`,
    );
  }

  waitForExit(timeoutMs: number): Promise<Exit> {
    return within(this.exited, timeoutMs, `${this.name} (pid ${this.pid}) to exit`);
  }

  signal(sig: NodeJS.Signals): void {
    process.kill(this.pid, sig);
  }

  /** Everything it wrote, for failure messages. */
  output(): string {
    return this.lines.map((l) => l.raw).join("\n");
  }

  /**
   * Live members of its process group (it, or what it started), zombies excepted: an
   * orphan's zombie waits on an init that may never reap it (as in some sandboxes).
   * Reads /proc; where there is none, falls back to signal 0 (which counts zombies).
   */
  groupMembers(): number[] {
    let pids: string[];
    try {
      pids = readdirSync("/proc").filter((d) => /^\d+$/.test(d));
    } catch {
      try {
        process.kill(-this.pid, 0);
        return [this.pid];
      } catch {
        return [];
      }
    }
    const live: number[] = [];
    for (const p of pids) {
      try {
        // /proc/PID/stat: "pid (comm) state ppid pgrp …"; comm may hold spaces or parentheses.
        const stat = readFileSync(`/proc/${p}/stat`, "utf8");
        const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        if (Number(pgrp) === this.pid && state !== "Z") live.push(Number(p));
      } catch {
        // gone meanwhile
      }
    }
    return live;
  }

  /** Kills its whole process group (SIGKILL) unless it has exited and left nothing behind. */
  async kill(): Promise<void> {
    try {
      process.kill(-this.pid, "SIGKILL");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e;
    }
    await within(this.exited, 5000, `${this.name} (pid ${this.pid}) to die after SIGKILL`);
  }
}

export interface SpawnOptions {
  readonly name: string;
  readonly env?: Record<string, string>;
  readonly cleanup: Cleanup;
}

/**
 * Environment for children: ours minus any SALLYPORT_* setting, and minus proxy variables
 * (HTTPS_PROXY, NO_PROXY …), that would leak into them: a test gives those explicitly.
 */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("SALLYPORT_") && !/^(https?|all|no)_proxy$/i.test(k)) env[k] = v;
  return { ...env, ...extra };
}

/** Starts `command args…` in its own process group (in `cwd`, default the checkout); cleanup kills the group. */
export function spawnCommand(command: string, args: string[], opts: SpawnOptions & { readonly cwd?: string }): Proc {
  const child = spawn(command, args, {
    cwd: opts.cwd ?? ROOT,
    env: childEnv(opts.env),
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const proc = new Proc(opts.name, child);
  opts.cleanup.add(`${opts.name} pid ${proc.pid}`, () => proc.kill());
  return proc;
}

/** Starts `node args…` (this Node) in its own process group; cleanup kills the group. */
export function spawnNode(args: string[], opts: SpawnOptions): Proc {
  return spawnCommand(process.execPath, args, opts);
}

/** `sallyport ARGS…` through the installed bin entry. */
export function spawnSallyport(args: string[], opts: SpawnOptions): Proc {
  return spawnNode([SALLYPORT_BIN, ...args], opts);
}

export interface Finished {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `command args…` to its end (bounded by `timeoutMs`) and returns what it wrote. */
export async function runCommand(
  command: string,
  args: string[],
  opts: SpawnOptions & { readonly cwd?: string },
  timeoutMs: number,
): Promise<Finished> {
  const proc = spawnCommand(command, args, opts);
  const exit = await proc.waitForExit(timeoutMs);
  const text = (stream: LogLine["stream"]): string =>
    proc.lines
      .filter((l) => l.stream === stream)
      .map((l) => l.raw)
      .join("\n");
  return { code: exit.code, stdout: text("stdout"), stderr: text("stderr") };
}
