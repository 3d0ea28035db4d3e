import { describe, expect, it } from "vitest";
import { initialState, type Protocol, type StreamEvent, type StreamState, step } from "../../client/stream-state.ts";

/** client/stream-state.ts: every transition of a client session, as a table. */

type Regions = Partial<Pick<StreamState, "pairing" | "out" | "in">>;
const open = (r: Regions = {}, protocol: Protocol = "sallyport"): StreamState => ({ ...initialState(protocol), ...r });
const closing = (code: number, r: Regions = {}, protocol: Protocol = "sallyport"): StreamState => ({
  ...open(r, protocol),
  phase: "closing",
  code,
  reason: "ours",
});

const ALL_EVENTS: StreamEvent[] = [
  { t: "paired" },
  { t: "end-queued" },
  { t: "end-sent" },
  { t: "data-received" },
  { t: "end-received" },
  { t: "done" },
  { t: "close", code: 1000, reason: "" },
  { t: "socket-closed", code: 1000, reason: "" },
];

describe("stream state: transitions", () => {
  // [name, from, event, to (a state) or the protocol error]
  const TABLE: Array<[string, StreamState, StreamEvent, StreamState | string]> = [
    ["a new session waits for pairing, both directions open", initialState("sallyport"), { t: "end-sent" }, open()],
    ["the connector's first frame pairs it", open(), { t: "paired" }, open({ pairing: "paired" })],
    ["pairing twice changes nothing", open({ pairing: "paired" }), { t: "paired" }, open({ pairing: "paired" })],
    ["pairing while closing is still recorded", closing(1001), { t: "paired" }, closing(1001, { pairing: "paired" })],
    ["end() queues our end", open(), { t: "end-queued" }, open({ out: "ending" })],
    ["end() twice changes nothing", open({ out: "ending" }), { t: "end-queued" }, open({ out: "ending" })],
    ["end() after our end went out changes nothing", open({ out: "ended" }), { t: "end-queued" }, open({ out: "ended" })],
    ["end() while closing changes nothing", closing(1001), { t: "end-queued" }, closing(1001)],
    ["our end goes out", open({ out: "ending" }), { t: "end-sent" }, open({ out: "ended" })],
    ["data while the connector sends", open(), { t: "data-received" }, open()],
    ["data after the connector's end", open({ in: "ended" }), { t: "data-received" }, "data after the connector's end"],
    ["the connector's end", open(), { t: "end-received" }, open({ in: "ended" })],
    [
      "its end while we close still counts",
      closing(1000, { out: "ended" }),
      { t: "end-received" },
      closing(1000, { out: "ended", in: "ended" }),
    ],
    ["a second end", open({ in: "ended" }), { t: "end-received" }, "a second end"],
    [
      "done after both ends: the next session starts on this socket",
      open({ pairing: "paired", out: "ended", in: "ended" }),
      { t: "done" },
      open({ pairing: "paired" }),
    ],
    ["done before our end went out", open({ out: "ending", in: "ended" }), { t: "done" }, "done before both directions ended"],
    ["done before the connector's end", open({ out: "ended" }), { t: "done" }, "done before both directions ended"],
    ["we close", open({ out: "ended" }), { t: "close", code: 1001, reason: "ours" }, closing(1001, { out: "ended" })],
    ["closing twice keeps the first code", closing(1001), { t: "close", code: 1000, reason: "later" }, closing(1001)],
  ];
  for (const [name, from, event, expected] of TABLE) {
    it(name, () => {
      const r = step(from, event);
      if (typeof expected === "string") expect(r).toEqual({ ok: false, error: expected });
      else expect(r).toEqual({ ok: true, state: expected });
    });
  }

  it("v3: an `end` carrying `done` is end-received then done, each with its own check", () => {
    const both = (from: StreamState): ReturnType<typeof step> => {
      const ended = step(from, { t: "end-received" });
      return ended.ok ? step(ended.state, { t: "done" }) : ended;
    };
    expect(both(open({ pairing: "paired", out: "ended" }))).toEqual({ ok: true, state: open({ pairing: "paired" }) });
    expect(both(open({ out: "ending" }))).toEqual({ ok: false, error: "done before both directions ended" });
    expect(both(open({ out: "ended", in: "ended" }))).toEqual({ ok: false, error: "a second end" });
  });

  it("once closed, nothing changes", () => {
    const closed = step(open(), { t: "socket-closed", code: 4006, reason: "" });
    expect(closed.ok && closed.state.phase).toBe("closed");
    if (!closed.ok) return;
    for (const e of ALL_EVENTS) expect(step(closed.state, e), e.t).toEqual({ ok: true, state: closed.state });
  });
});

describe("stream state: how a session closed", () => {
  // [name, from, the code the socket closed with, expected info]
  const TABLE: Array<[string, StreamState, number, { code: number; clean: boolean; byUs: boolean; description: string }]> = [
    [
      "1000 after both ends is clean",
      open({ out: "ended", in: "ended" }),
      1000,
      { code: 1000, clean: true, byUs: false, description: "closed normally (1000)" },
    ],
    [
      "1000 before our end went out is not",
      open({ out: "ending", in: "ended" }),
      1000,
      { code: 1000, clean: false, byUs: false, description: "closed normally (1000)" },
    ],
    [
      "1000 without the connector's end is not",
      open({ out: "ended" }),
      1000,
      { code: 1000, clean: false, byUs: false, description: "closed normally (1000)" },
    ],
    [
      "any other code is abnormal",
      open({ out: "ended", in: "ended" }),
      4006,
      { code: 4006, clean: false, byUs: false, description: "no connector available (4006)" },
    ],
    [
      "our code counts over the peer's echo",
      closing(1000, { out: "ended", in: "ended" }),
      1005,
      { code: 1000, clean: true, byUs: true, description: "closed normally (1000)" },
    ],
    ["our abort stays an abort", closing(1001), 1000, { code: 1001, clean: false, byUs: true, description: "going away (1001)" }],
    ["plain: 1000 is clean", open({}, "plain"), 1000, { code: 1000, clean: true, byUs: false, description: "closed normally (1000)" }],
    [
      "plain: 1005 (no status) is clean",
      open({}, "plain"),
      1005,
      { code: 1005, clean: true, byUs: false, description: "closed without a status (1005)" },
    ],
    [
      "plain: 1006 is not",
      open({}, "plain"),
      1006,
      { code: 1006, clean: false, byUs: false, description: "connection lost (no close frame) (1006)" },
    ],
  ];
  for (const [name, from, code, expected] of TABLE) {
    it(name, () => {
      const r = step(from, { t: "socket-closed", code, reason: "" });
      expect(r.ok && r.state.phase === "closed" && r.state.info).toMatchObject(expected);
    });
  }
});
