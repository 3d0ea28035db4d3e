import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import type { LoadedService } from "./config-load.ts";
import type { Logger } from "../shared/log.ts";
import { BindPool, type PoolMetrics, type PoolStats } from "./pool.ts";
import { formatInstance } from "../shared/protocol/instance.ts";

/** Default identity: the host name. Replicas on one host need distinct `connector.id`s. */
export function defaultConnectorId(): string {
  return (
    hostname()
      .replace(/[^A-Za-z0-9_-]/g, "-")
      .slice(0, 40) || "connector"
  );
}

/** This run: start time first so instances sort by age (the edge's takeover rule). */
export function newInstance(now = Date.now()): string {
  return formatInstance(now, randomBytes(3).toString("hex"));
}

/** A running connector: one bind pool per configured service. */
export class Connector {
  readonly id: string;
  readonly instance = newInstance();
  private readonly pools = new Map<string, BindPool>();
  private readonly log: Logger;

  constructor(
    services: readonly LoadedService[],
    log: Logger,
    id?: string,
    private readonly metrics?: PoolMetrics,
  ) {
    this.id = id ?? defaultConnectorId();
    this.log = log.child({ connectorId: this.id });
    for (const s of services) this.pools.set(s.service.name, this.newPool(s));
  }

  private newPool(s: LoadedService): BindPool {
    return new BindPool({ ...s, connectorId: this.id, instance: this.instance, log: this.log, metrics: this.metrics });
  }

  /** SIGHUP: apply a new configuration without dropping sessions in flight. */
  reload(services: readonly LoadedService[]): void {
    const names = new Set(services.map((s) => s.service.name));
    for (const [name, pool] of this.pools) {
      if (!names.has(name)) {
        void pool.drain();
        this.pools.delete(name);
      }
    }
    for (const s of services) {
      const pool = this.pools.get(s.service.name);
      if (pool) pool.update(s);
      else {
        const fresh = this.newPool(s);
        this.pools.set(s.service.name, fresh);
        fresh.start();
      }
    }
  }

  start(): void {
    for (const p of this.pools.values()) p.start();
  }

  /**
   * Stop offering binds at once and let sessions finish; after `graceMs` whatever is left
   * is closed. Resolves when nothing is left.
   */
  async drain(graceMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    await Promise.race([Promise.all([...this.pools.values()].map((p) => p.drain())), grace]);
    clearTimeout(timer);
    this.stop();
  }

  stop(): void {
    for (const p of this.pools.values()) p.stop();
  }

  stats(): PoolStats[] {
    return [...this.pools.values()].map((p) => p.stats());
  }

  get idle(): boolean {
    return [...this.pools.values()].every((p) => p.idle);
  }
}
