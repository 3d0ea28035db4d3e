import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import type { LoadedService } from "./config-load.ts";
import type { Logger } from "./log.ts";
import { BindPool, type PoolStats } from "./pool.ts";

/** Default identity: the host name. Replicas on one host need distinct `connector.id`s. */
export function defaultConnectorId(): string {
  return hostname().replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 40) || "connector";
}

/** This run: start time first so instances sort by age (the edge's takeover rule). */
export function newInstance(now = Date.now()): string {
  return `${now.toString(36).padStart(9, "0")}${randomBytes(3).toString("hex")}`;
}

/** A running connector: one bind pool per configured service. */
export class Connector {
  readonly id: string;
  readonly instance = newInstance();
  private readonly pools: BindPool[];

  constructor(services: readonly LoadedService[], log: Logger, id?: string) {
    this.id = id ?? defaultConnectorId();
    const clog = log.child({ connectorId: this.id });
    this.pools = services.map((s) => new BindPool({ ...s, connectorId: this.id, instance: this.instance, log: clog }));
  }

  start(): void {
    for (const p of this.pools) p.start();
  }

  /**
   * Stop offering binds at once and let sessions finish; after `graceMs` whatever is left
   * is closed. Resolves when nothing is left.
   */
  async drain(graceMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    await Promise.race([Promise.all(this.pools.map((p) => p.drain())), grace]);
    clearTimeout(timer);
    this.stop();
  }

  stop(): void {
    for (const p of this.pools) p.stop();
  }

  stats(): PoolStats[] {
    return this.pools.map((p) => p.stats());
  }

  get idle(): boolean {
    return this.pools.every((p) => p.idle);
  }
}
