import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { PoolMetrics, PoolStats } from "./pool.ts";
import type { ResumeOutcome } from "./bind.ts";
import type { SessionOutcome } from "./session.ts";

/**
 * Prometheus metrics of a connector. Counters and the histogram are fed as things happen;
 * the gauges are read from the pools at scrape time, so they can never drift.
 */
export class ConnectorMetrics implements PoolMetrics {
  readonly registry = new Registry();
  private readonly pairings = new Counter({
    name: "sallyport_pairings_total",
    help: "Binds taken by a client",
    labelNames: ["service"],
    registers: [this.registry],
  });
  private readonly reconnects = new Counter({
    name: "sallyport_reconnects_total",
    help: "Binds to the edge that failed and were retried",
    labelNames: ["service"],
    registers: [this.registry],
  });
  private readonly backendFailures = new Counter({
    name: "sallyport_backend_failures_total",
    help: "Sessions whose backend connection failed",
    labelNames: ["service"],
    registers: [this.registry],
  });
  private readonly bytes = new Counter({
    name: "sallyport_bytes_total",
    help: "Session bytes relayed, by direction",
    labelNames: ["service", "direction"],
    registers: [this.registry],
  });
  private readonly sessions = new Counter({
    name: "sallyport_sessions_total",
    help: "Sessions ended, by close code",
    labelNames: ["service", "code"],
    registers: [this.registry],
  });
  private readonly duration = new Histogram({
    name: "sallyport_session_duration_seconds",
    help: "Session duration",
    labelNames: ["service"],
    buckets: [0.01, 0.1, 1, 10, 60, 600, 3600],
    registers: [this.registry],
  });

  /** v3 (docs/protocol.md, "Resume"): each resume of a session's link, as the connector saw it. */
  private readonly resumes = new Counter({
    name: "sallyport_session_resumes_total",
    help: "Session link resumes, by side and outcome (resumed, failed)",
    labelNames: ["service", "side", "outcome"],
    registers: [this.registry],
  });
  private readonly resumeStall = new Histogram({
    name: "sallyport_session_resume_stall_seconds",
    help: "From a session link's drop to its resume (or to giving up)",
    labelNames: ["service", "outcome"],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  private readonly resent = new Counter({
    name: "sallyport_session_resent_bytes_total",
    help: "Bytes sent again to clients after a resume",
    labelNames: ["service"],
    registers: [this.registry],
  });

  constructor(stats: () => readonly PoolStats[]) {
    const gauge = (name: string, help: string, pick: (s: PoolStats) => number): void => {
      new Gauge({
        name,
        help,
        labelNames: ["service"],
        registers: [this.registry],
        collect() {
          this.reset();
          for (const s of stats()) this.set({ service: s.service }, pick(s));
        },
      });
    };
    gauge("sallyport_parked_binds", "Binds parked at the edge", (s) => s.parked);
    gauge("sallyport_offered_binds", "Binds dialing, registering or parked", (s) => s.offered);
    gauge("sallyport_active_sessions", "Sessions in progress", (s) => s.sessions);
    gauge("sallyport_standby_sessions", "Pairs held by clients for later use, no backend connection", (s) => s.standby);
    gauge("sallyport_edge_shards", "Objects the edge spreads the service over (learned from the edge)", (s) => s.shards);
    new Gauge({
      name: "sallyport_parked_binds_by_shard",
      help: "Binds parked at the edge, by shard",
      labelNames: ["service", "shard"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const s of stats())
          for (const [shard, n] of s.parkedByShard.entries()) this.set({ service: s.service, shard: String(shard) }, n);
      },
    });
    gauge("sallyport_backend_up", "1 unless the pool has withdrawn because its backend is down", (s) =>
      s.state === "backend-down" ? 0 : 1,
    );
  }

  pairing(service: string): void {
    this.pairings.inc({ service });
  }
  reconnect(service: string): void {
    this.reconnects.inc({ service });
  }
  backendFailure(service: string): void {
    this.backendFailures.inc({ service });
  }
  resumeEnded(service: string, r: ResumeOutcome): void {
    this.resumes.inc({ service, side: "connector", outcome: r.outcome });
    this.resumeStall.observe({ service, outcome: r.outcome }, r.stallMs / 1000);
    this.resent.inc({ service }, r.resentBytes);
  }
  sessionEnded(service: string, outcome: SessionOutcome, durationMs: number): void {
    this.bytes.inc({ service, direction: "to_backend" }, outcome.bytesToBackend);
    this.bytes.inc({ service, direction: "to_client" }, outcome.bytesToClient);
    this.sessions.inc({ service, code: String(outcome.close.code) });
    this.duration.observe({ service }, durationMs / 1000);
  }
}
