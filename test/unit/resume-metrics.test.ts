import { describe, expect, it } from "vitest";
import { ConnectorMetrics } from "../../connector/metrics.ts";

/** Issue 12's observability: each resume the connector sees is counted, its stall observed, its resent bytes added. */
describe("resume metrics", () => {
  it("counts resumes by side and outcome, observes the stall, adds the bytes resent", async () => {
    const m = new ConnectorMetrics(() => []);
    m.resumeEnded("svc", { outcome: "resumed", stallMs: 300, resentBytes: 1000, attempts: 2 });
    m.resumeEnded("svc", { outcome: "resumed", stallMs: 700, resentBytes: 24, attempts: 1 });
    m.resumeEnded("svc", { outcome: "failed", stallMs: 30_000, resentBytes: 0, attempts: 40 });
    const text = await m.registry.metrics();
    expect(text).toContain('sallyport_session_resumes_total{service="svc",side="connector",outcome="resumed"} 2');
    expect(text).toContain('sallyport_session_resumes_total{service="svc",side="connector",outcome="failed"} 1');
    expect(text).toContain('sallyport_session_resume_stall_seconds_bucket{le="0.5",service="svc",outcome="resumed"} 1');
    expect(text).toContain('sallyport_session_resume_stall_seconds_count{service="svc",outcome="resumed"} 2');
    expect(text).toContain('sallyport_session_resent_bytes_total{service="svc"} 1024');
  });
});
