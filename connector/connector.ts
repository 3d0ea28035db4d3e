import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import type { LoadedService } from "./config-load.ts";
import type { Logger } from "./log.ts";
import { BindPool, type PoolStats } from "./pool.ts";

/** A running connector: one bind pool per configured service. */
export class Connector {
  readonly id: string;
  private readonly pools: BindPool[];

  constructor(services: readonly LoadedService[], log: Logger, id?: string) {
    // Host name plus a per-process suffix: readable in the edge's logs, unique per run.
    this.id = id ?? `${hostname().replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 40)}-${randomBytes(4).toString("hex")}`;
    const clog = log.child({ connectorId: this.id });
    this.pools = services.map((s) => new BindPool({ ...s, connectorId: this.id, log: clog }));
  }

  start(): void {
    for (const p of this.pools) p.start();
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
