// Sallyport browser helper. Generated from client/browser/entry.ts by client/browser/build.ts (npm run build:browser): do not edit.

// shared/protocol/constants.ts
var PROTOCOL_VERSIONS = [3, 2, 1];
var BIND_SUBPROTOCOLS = Object.freeze({
  1: "sallyport.bind.v1",
  2: "sallyport.bind.v2",
  3: "sallyport.bind.v3"
});
var HEARTBEAT_REQUEST = "\0sallyport:ping:1";
var HEARTBEAT_RESPONSE = "\0sallyport:pong:1";
var HEARTBEAT_MISSES = 3;
var MIN_HEARTBEAT_MS = 100;
var MAX_HEARTBEAT_MS = 6e4;
var SESSION_HEARTBEAT_MS = 2e3;
var CLIENT_SUBPROTOCOLS = Object.freeze({
  1: "sallyport.client.v1",
  2: "sallyport.client.v2",
  3: "sallyport.client.v3"
});
var RESUME_SUBPROTOCOL_PREFIX = "sallyport.resume.";
var MAX_TICKET_LENGTH = 512;
var INITIAL_WINDOW_BYTES = 8 * 1024 * 1024;
var MAX_CREDIT_BYTES = 2 ** 31;
var MARK_INTERVAL_BYTES = INITIAL_WINDOW_BYTES / 8;
var V2_INITIAL_CREDIT_BYTES = MARK_INTERVAL_BYTES;
var MAX_OFFSET = Number.MAX_SAFE_INTEGER;
var MIN_MESSAGE_BYTES = 65536;
var MAX_MESSAGE_BYTES = 1048576;
var MAX_CONTROL_MESSAGE_BYTES = 4096;
var MAX_RECEIVE_BYTES = MAX_MESSAGE_BYTES + MAX_CONTROL_MESSAGE_BYTES;
var MAX_ID_LENGTH = 64;
var MAX_URI_LENGTH = 2048;
var MAX_ADDRESS_LENGTH = 64;

// shared/protocol/negotiate.ts
function offered(names, newest = PROTOCOL_VERSIONS[0]) {
  return PROTOCOL_VERSIONS.filter((v) => v <= newest).map((v) => names[v]);
}
function versionOf(selected, names) {
  return PROTOCOL_VERSIONS.find((v) => names[v] === selected);
}
var usesMarks = (v) => v >= 2;
var resumes = (v) => v >= 3;

// shared/protocol/close-codes.ts
var CloseCode = {
  NORMAL: 1e3,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  /**
   * RFC 6455 "try again later": the service's edge object is at its memory budget and this
   * session held the most, or a plain client went past what the edge holds for it.
   */
  TRY_AGAIN_LATER: 1013,
  /** RFC 1928 REP 0x01: general SOCKS server failure. */
  GENERAL_FAILURE: 4001,
  /** REP 0x02: connection not allowed by ruleset (credential/service mismatch). */
  NOT_ALLOWED: 4002,
  /** REP 0x03: network unreachable (connector lost while the session ran). */
  NETWORK_UNREACHABLE: 4003,
  /** REP 0x04: host unreachable (backend did not answer in time). */
  HOST_UNREACHABLE: 4004,
  /** REP 0x05: connection refused (backend refused the connection). */
  CONNECTION_REFUSED: 4005,
  /** REP 0x06: TTL expired — no bind within socks.timeout. */
  TTL_EXPIRED: 4006,
  /** REP 0x07: command not supported (a message the peer must not send). */
  COMMAND_NOT_SUPPORTED: 4007,
  /** Not in RFC 1928 (after WebSocket's 1013 "try again later"): connectors are there, none was free within socks.timeout. */
  BUSY: 4013,
  /** Not in RFC 1928: too many binds or clients for this credential or service. */
  LIMIT: 4029,
  /** Not in RFC 1928: the edge is replacing this bind (takeover, shutdown). */
  REPLACED: 4030,
  /**
   * Not in RFC 1928 (v3): the session's link dropped (the other leg, or this one found silent)
   * and the session is resumable: reconnect with the resume ticket (protocol.md, "Resume").
   */
  RESUME: 4032,
  /** Not in RFC 1928 (v3): a resume did not complete within session.resume.timeout (or its proof was stale): the session is over. */
  RESUME_FAILED: 4034,
  /** Not in RFC 1928 (v2): the peer sent data beyond the credit it had, or granted credit it had not proved by reading. */
  CREDIT_EXCEEDED: 4090,
  /**
   * Not in RFC 1928 (after HTTP's 408; 4008 would read as SOCKS REP 0x08): no session data
   * moved either way for the service's session.idle.timeout.
   */
  IDLE_TIMEOUT: 4408
};
var CLOSE_REASONS = Object.freeze({
  NORMAL: "",
  GOING_AWAY: "going away",
  PROTOCOL_ERROR: "protocol error",
  MESSAGE_TOO_BIG: "message too big",
  INTERNAL_ERROR: "internal error",
  TRY_AGAIN_LATER: "try again later",
  GENERAL_FAILURE: "general failure",
  NOT_ALLOWED: "not allowed",
  NETWORK_UNREACHABLE: "connector lost",
  HOST_UNREACHABLE: "backend unreachable",
  CONNECTION_REFUSED: "backend refused",
  TTL_EXPIRED: "no connector available",
  COMMAND_NOT_SUPPORTED: "not supported",
  BUSY: "busy",
  LIMIT: "limit reached",
  REPLACED: "replaced",
  RESUME: "resume",
  RESUME_FAILED: "resume failed",
  CREDIT_EXCEEDED: "credit exceeded",
  IDLE_TIMEOUT: "idle timeout"
});
var BY_VALUE = new Map(
  Object.keys(CloseCode).map((name) => [CloseCode[name], name])
);

// client/describe.ts
var PHRASES = {
  [CloseCode.NORMAL]: "closed normally",
  [CloseCode.GOING_AWAY]: "going away",
  [CloseCode.PROTOCOL_ERROR]: "protocol error",
  [CloseCode.MESSAGE_TOO_BIG]: "message too big",
  [CloseCode.INTERNAL_ERROR]: "edge internal error",
  [CloseCode.GENERAL_FAILURE]: "general failure",
  [CloseCode.NOT_ALLOWED]: "not allowed",
  [CloseCode.NETWORK_UNREACHABLE]: "connector lost",
  [CloseCode.HOST_UNREACHABLE]: "backend unreachable",
  [CloseCode.CONNECTION_REFUSED]: "backend refused the connection",
  [CloseCode.TTL_EXPIRED]: "no connector available",
  [CloseCode.COMMAND_NOT_SUPPORTED]: "not supported",
  [CloseCode.BUSY]: "busy: every connector is in use",
  [CloseCode.LIMIT]: "limit reached",
  [CloseCode.REPLACED]: "replaced",
  1005: "closed without a status",
  1006: "connection lost (no close frame)"
};
function describeClose(code, reason = "") {
  const phrase = PHRASES[code] ?? (reason ? `closed: ${reason.slice(0, 123)}` : "closed");
  return `${phrase} (${code})`;
}

// shared/protocol/resume-subprotocol.ts
function resumeSubprotocol(r) {
  return `${RESUME_SUBPROTOCOL_PREFIX}${r.received}.${r.end ? 1 : 0}.${r.ticket}`;
}

// shared/result.ts
var ok = (value) => ({ ok: true, value });
var err = (error) => ({ ok: false, error });
function assertNever(x) {
  throw new Error(`unreachable: ${JSON.stringify(x)}`);
}

// shared/protocol/messages.ts
var TO_CLIENT_TYPES = /* @__PURE__ */ new Set(["end", "credit", "opened", "done", "mark", "ticket", "resumed"]);

// shared/protocol/codec.ts
var perr = (code, detail) => err({ code, detail });
var FIELDS_V1 = {
  bind: { accept: "uri", bindId: "id", connectorId: "id", instance: "id", heartbeatMs: "interval" },
  bound: { bindId: "id" },
  paired: {
    sessionId: "id",
    clientAddress: "address",
    clientProtocol: "clientProtocol",
    maxMessageBytes: "messageBytes?",
    standby: "true?"
  },
  demand: { waiting: "count" },
  opened: { maxMessageBytes: "messageBytes?" },
  end: {},
  credit: { bytes: "bytes" },
  start: {},
  done: {}
};
var FIELDS_V2 = { ...FIELDS_V1, credit: { upTo: "offset", mark: "id?" }, mark: { id: "id" } };
var FIELDS_V3 = {
  ...FIELDS_V2,
  ticket: { ticket: "ticket", timeoutMs: "timeout" },
  resumed: { offset: "offset", end: "true?" }
};
var FIELDS = { 1: FIELDS_V1, 2: FIELDS_V2, 3: FIELDS_V3 };
var END_MAY_CARRY_DONE = { 3: { ...FIELDS_V3, end: { done: "true?" } } };
var MIN_RESUME_TIMEOUT_MS = 1e3;
var MAX_RESUME_TIMEOUT_MS = 6e5;
var ID_PATTERN = /^[A-Za-z0-9_-]+$/;
var TICKET_PATTERN = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
var PRINTABLE = /^[\x21-\x7e]+$/;
var URI_CHARS = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
function checkField(kind, value) {
  switch (kind) {
    case "id":
      return typeof value === "string" && value.length <= MAX_ID_LENGTH && ID_PATTERN.test(value) ? void 0 : `an id of 1-${MAX_ID_LENGTH} characters [A-Za-z0-9_-]`;
    case "uri":
      return typeof value === "string" && value.length <= MAX_URI_LENGTH && URI_CHARS.test(value) ? void 0 : `a URI of 1-${MAX_URI_LENGTH} printable ASCII characters other than " and \\`;
    case "address":
      return typeof value === "string" && value.length <= MAX_ADDRESS_LENGTH && PRINTABLE.test(value) ? void 0 : `an address of 1-${MAX_ADDRESS_LENGTH} printable ASCII characters`;
    case "bytes":
      return Number.isSafeInteger(value) && value >= 1 && value <= MAX_CREDIT_BYTES ? void 0 : `an integer from 1 to ${MAX_CREDIT_BYTES}`;
    case "offset":
      return Number.isSafeInteger(value) && value >= 0 && value <= MAX_OFFSET ? void 0 : `an integer from 0 to ${MAX_OFFSET}`;
    case "interval":
      return Number.isSafeInteger(value) && value >= MIN_HEARTBEAT_MS && value <= MAX_HEARTBEAT_MS ? void 0 : `an integer from ${MIN_HEARTBEAT_MS} to ${MAX_HEARTBEAT_MS} (milliseconds)`;
    case "clientProtocol":
      return value === "plain" || value === "sallyport" ? void 0 : 'either "plain" or "sallyport"';
    case "true":
      return value === true ? void 0 : "true";
    case "messageBytes":
      return Number.isSafeInteger(value) && value >= MIN_MESSAGE_BYTES && value <= MAX_MESSAGE_BYTES ? void 0 : `an integer from ${MIN_MESSAGE_BYTES} to ${MAX_MESSAGE_BYTES}`;
    case "ticket":
      return typeof value === "string" && value.length <= MAX_TICKET_LENGTH && TICKET_PATTERN.test(value) ? void 0 : `a ticket of at most ${MAX_TICKET_LENGTH} characters (base64url "." base64url)`;
    case "timeout":
      return Number.isSafeInteger(value) && value >= MIN_RESUME_TIMEOUT_MS && value <= MAX_RESUME_TIMEOUT_MS ? void 0 : `an integer from ${MIN_RESUME_TIMEOUT_MS} to ${MAX_RESUME_TIMEOUT_MS} (milliseconds)`;
    case "count":
      return Number.isSafeInteger(value) && value >= 0 && value <= 1e6 ? void 0 : "an integer from 0 to 1000000";
    default:
      return assertNever(kind);
  }
}
function isPlainObject(v) {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
function decodeAny(text, allowed, version, table = FIELDS) {
  const known = CONSTANTS.get(table)?.get(version)?.get(text);
  return known !== void 0 && allowed.has(known.value.t) ? known : parse(text, allowed, version, table);
}
function constantsOf(table, version) {
  const texts = /* @__PURE__ */ new Map();
  const fields = table[version] ?? FIELDS[version];
  for (const [type, spec] of Object.entries(fields)) {
    if (!Object.values(spec).every((f) => f.endsWith("?"))) continue;
    const flags = Object.keys(spec).filter((k) => spec[k] === "true?");
    for (let subset = 0; subset < 1 << flags.length; subset++) {
      const set = flags.filter((_, i) => subset & 1 << i).map((k) => [k, true]);
      const text = encode({ t: type, ...Object.fromEntries(set) }, version);
      const decoded = parse(text, /* @__PURE__ */ new Set([type]), version, table);
      if (decoded.ok) texts.set(text, Object.freeze(decoded));
    }
  }
  return texts;
}
var CONSTANTS = new Map(
  [FIELDS, END_MAY_CARRY_DONE].map((table) => [table, new Map(PROTOCOL_VERSIONS.map((v) => [v, constantsOf(table, v)]))])
);
function parse(text, allowed, version, table) {
  if (text.length * 3 > MAX_CONTROL_MESSAGE_BYTES && new TextEncoder().encode(text).length > MAX_CONTROL_MESSAGE_BYTES) {
    return perr("TOO_LARGE", `control message over ${MAX_CONTROL_MESSAGE_BYTES} bytes`);
  }
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    return perr("NOT_JSON", "control message is not JSON");
  }
  if (!isPlainObject(parsed)) return perr("NOT_OBJECT", "control message is not an object");
  if (parsed.v !== version) return perr("BAD_VERSION", `unsupported version ${String(JSON.stringify(parsed.v)).slice(0, 16)}`);
  const fields = table[version] ?? FIELDS[version];
  const t = parsed.t;
  if (typeof t !== "string" || !Object.hasOwn(fields, t)) return perr("UNKNOWN_TYPE", "unknown message type");
  const type = t;
  if (!allowed.has(type)) return perr("WRONG_SIDE", `message type ${type} not allowed from this peer`);
  const spec = fields[type];
  for (const key of Object.keys(parsed)) {
    if (key !== "v" && key !== "t" && !Object.hasOwn(spec, key)) return perr("BAD_FIELD", `unknown field in ${type}`);
  }
  const out = { t: type };
  for (const [key, fieldSpec] of Object.entries(spec)) {
    const optional = fieldSpec.endsWith("?");
    if (optional && parsed[key] === void 0) continue;
    const problem = checkField(optional ? fieldSpec.slice(0, -1) : fieldSpec, parsed[key]);
    if (problem) return perr("BAD_FIELD", `${type}.${key} must be ${problem}`);
    out[key] = parsed[key];
  }
  return ok(Object.freeze(out));
}
function decodeForClient(text, version) {
  return decodeAny(text, TO_CLIENT_TYPES, version, END_MAY_CARRY_DONE);
}
function encode(message, version) {
  return JSON.stringify({ v: version, ...message });
}

// shared/chunks.ts
var FULL_READ_BYTES = 65536;
function leadingBytes(queue, limit) {
  let n = 0;
  for (const item of queue) {
    if (!(item instanceof Uint8Array) || n >= limit) break;
    n += item.byteLength;
  }
  return Math.min(n, limit);
}
function takeParts(queue, n) {
  const parts = [];
  let left = n;
  while (left > 0) {
    const head = queue[0];
    if (!(head instanceof Uint8Array)) throw new RangeError("takeParts: fewer bytes at the front than asked for");
    if (head.byteLength <= left) {
      parts.push(head);
      queue.shift();
      left -= head.byteLength;
    } else {
      parts.push(head.subarray(0, left));
      queue[0] = head.subarray(left);
      left = 0;
    }
  }
  return parts;
}
function takeBytes(queue, n) {
  const parts = takeParts(queue, n);
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(n);
  let off = 0;
  for (const part of parts) {
    out.set(part, off);
    off += part.byteLength;
  }
  return out;
}

// shared/protocol/resend.ts
var ResendBuffer = class {
  /** `dropped`: told of each chunk it held once acknowledged, as held (a trimmed one as its view; none rewound or reset). */
  constructor(dropped) {
    this.dropped = dropped;
  }
  dropped;
  chunks = [];
  /** Offset of the first byte kept (everything before it is acknowledged). */
  base = 0;
  /** Offset just past the last byte sent. */
  top = 0;
  /** Bytes kept, not yet acknowledged. */
  get bytes() {
    return this.top - this.base;
  }
  /** The offset the next byte sent will have. */
  get sentOffset() {
    return this.top;
  }
  /** A chunk went out (kept by reference: the caller must not reuse its memory). */
  sent(chunk) {
    if (chunk.byteLength === 0) return;
    this.chunks.push(chunk);
    this.top += chunk.byteLength;
  }
  /** The reader has everything before `offset`: drop it. Offsets beyond what was sent are clamped. */
  acknowledge(offset) {
    let upTo = Math.min(offset, this.top);
    if (upTo <= this.base) return;
    let drop = 0;
    while (drop < this.chunks.length && this.base + this.chunks[drop].byteLength <= upTo) {
      this.base += this.chunks[drop].byteLength;
      this.dropped?.(this.chunks[drop]);
      drop++;
    }
    if (drop > 0) this.chunks = this.chunks.slice(drop);
    upTo -= this.base;
    if (upTo > 0) {
      this.chunks[0] = this.chunks[0].subarray(upTo);
      this.base += upTo;
    }
  }
  /** A limit from the edge (credit `upTo`): the reader has read at least one window less. */
  limitSeen(upTo) {
    this.acknowledge(upTo - INITIAL_WINDOW_BYTES);
  }
  /**
   * A resume: the reader has received `offset` bytes. Returns what to send again, in order (the
   * buffer is then empty, its offsets rewound to `offset`: the caller sends the chunks through its
   * usual path, which keeps them again). Undefined when `offset` is not one this writer can resume
   * from (before what it dropped, or past what it sent): the session cannot continue.
   */
  rewind(offset) {
    if (offset < this.base || offset > this.top) return void 0;
    this.acknowledge(offset);
    const again = this.chunks;
    this.chunks = [];
    this.top = this.base;
    return again;
  }
  /** A new session on the same pair (standby): fresh offsets. */
  reset() {
    this.chunks = [];
    this.base = this.top = 0;
  }
};

// shared/backoff.ts
function nextDelayMs(attempt, opts, random) {
  const exp = Math.min(attempt, 30);
  const base = Math.min(opts.maximumMs, opts.initialMs * 2 ** exp);
  return Math.round(base * (1 - opts.jitter * random()));
}

// shared/resume-window.ts
function linkLost(code) {
  return code === 1006 || code === CloseCode.RESUME;
}
var RETRY = { initialMs: 100, maximumMs: 1e3, jitter: 0.2 };
var ResumeWindow = class {
  constructor(clock, timeoutMs) {
    this.clock = clock;
    this.timeoutMs = timeoutMs;
    this.droppedAt = clock.now();
  }
  clock;
  timeoutMs;
  attempt = 0;
  droppedAt;
  /** Milliseconds since the drop. */
  get elapsed() {
    return this.clock.now() - this.droppedAt;
  }
  /** How long until the next attempt; undefined once the window has passed (give up). */
  nextDelay() {
    if (this.elapsed >= this.timeoutMs) return void 0;
    const delay = this.attempt === 0 ? 0 : nextDelayMs(this.attempt - 1, RETRY, Math.random);
    this.attempt++;
    return Math.min(delay, Math.max(0, this.timeoutMs - this.elapsed));
  }
  get attempts() {
    return this.attempt;
  }
};

// shared/protocol/credit.ts
function initialCredit(version) {
  return usesMarks(version) ? V2_INITIAL_CREDIT_BYTES : INITIAL_WINDOW_BYTES;
}
var MAX_PENDING_MARKS = 64;
var ReaderCredit = class {
  received = 0;
  consumed = 0;
  /**
   * The limit granted so far: the sender oversteps beyond it. A whole window at first, whatever
   * the writer's own first limit: a v1 writer (through the edge) starts with that much.
   */
  granted = INITIAL_WINDOW_BYTES;
  marks = [];
  /** Data arrived; false if it went past what was granted. */
  data(n) {
    this.received += n;
    return this.received <= this.granted;
  }
  /**
   * A mark arrived: it sits at the offset of the data before it. The grant to send, if the data
   * before it is already used (a mark comes after its data, often after it was consumed).
   */
  mark(id) {
    this.marks.push({ id, at: this.received });
    if (this.marks.length > MAX_PENDING_MARKS) this.marks.shift();
    return this.consume(0);
  }
  /** `n` more bytes were used; the grant to send, if one is due. */
  consume(n) {
    this.consumed += n;
    let last;
    while (this.marks.length > 0 && this.marks[0].at <= this.consumed) last = this.marks.shift();
    if (!last) return void 0;
    const upTo = last.at + INITIAL_WINDOW_BYTES;
    if (upTo <= this.granted) return void 0;
    this.granted = upTo;
    return { t: "credit", upTo, mark: last.id };
  }
  /**
   * v3: the session resumed, perhaps on an edge object that knows nothing of it: marks placed
   * before are not ones it can check, and the writer may go a first V2_INITIAL_CREDIT_BYTES
   * past what we received (docs/protocol.md, "Resume").
   */
  resumed() {
    this.marks = [];
    this.granted = Math.max(this.granted, this.received + V2_INITIAL_CREDIT_BYTES);
  }
  /** A new session on the same pair (standby): fresh offsets. */
  reset() {
    this.received = this.consumed = 0;
    this.granted = INITIAL_WINDOW_BYTES;
    this.marks = [];
  }
};

// shared/clock.ts
var systemClock = {
  now: () => Date.now(),
  setTimeout: (run, ms) => setTimeout(run, ms),
  setInterval: (run, ms) => setInterval(run, ms),
  clear: (timer) => clearTimeout(timer)
};

// shared/heartbeat.ts
var Heartbeat = class {
  constructor(clock, beat, silent, listening = () => true) {
    this.clock = clock;
    this.beat = beat;
    this.silent = silent;
    this.listening = listening;
    this.lastHeard = clock.now();
  }
  clock;
  beat;
  silent;
  listening;
  timer;
  lastHeard;
  intervalMs = 0;
  /** Starts, or changes the interval; the silence counted so far starts over. */
  every(ms) {
    if (ms === this.intervalMs && this.timer !== void 0) return;
    this.stop();
    this.intervalMs = ms;
    this.lastHeard = this.clock.now();
    this.timer = this.clock.setInterval(() => this.tick(), ms);
    this.timer.unref?.();
  }
  get interval() {
    return this.intervalMs;
  }
  heard() {
    this.lastHeard = this.clock.now();
  }
  stop() {
    this.clock.clear(this.timer);
    this.timer = void 0;
  }
  tick() {
    if (!this.listening()) this.lastHeard = this.clock.now();
    const silentMs = this.clock.now() - this.lastHeard;
    if (silentMs > this.intervalMs * HEARTBEAT_MISSES) {
      this.stop();
      this.silent(silentMs);
    } else this.beat();
  }
};

// client/stream-state.ts
function initialState(protocol) {
  return { phase: "open", protocol, pairing: "waiting", out: "open", in: "open" };
}
var to = (state) => ({ ok: true, state });
var live = (s) => s.phase === "open" || s.phase === "resuming";
var refuse = (error) => ({ ok: false, error });
function step(s, e) {
  if (s.phase === "closed") return to(s);
  switch (e.t) {
    case "paired":
      return to({ ...s, pairing: "paired" });
    case "end-queued":
      return to(live(s) && s.out === "open" ? { ...s, out: "ending" } : s);
    case "end-sent":
      return to(s.out === "ending" ? { ...s, out: "ended" } : s);
    case "data-received":
      return s.in === "ended" ? refuse("data after the connector's end") : to(s);
    case "end-received":
      return s.in === "ended" ? refuse("a second end") : to({ ...s, in: "ended" });
    case "done":
      return s.out === "ended" && s.in === "ended" ? to({ ...s, out: "open", in: "open" }) : refuse("done before both directions ended");
    case "socket-lost":
      return to(s.phase === "open" ? { ...s, phase: "resuming" } : s);
    case "resumed":
      return s.phase === "resuming" ? to({ ...s, phase: "open" }) : refuse("resumed outside a resume");
    case "close":
      return to(live(s) ? { ...s, phase: "closing", code: e.code, reason: e.reason } : s);
    case "socket-closed":
      return to({ ...s, phase: "closed", info: closeInfo(s, e.code, e.reason) });
  }
}
function closeInfo(s, peerCode, peerReason) {
  const byUs = s.phase === "closing";
  const { code, reason } = s.phase === "closing" ? s : { code: peerCode, reason: peerReason };
  const clean = s.protocol === "sallyport" ? code === CloseCode.NORMAL && s.out === "ended" && s.in === "ended" : code === CloseCode.NORMAL || code === 1005;
  return { code, reason, clean, byUs, description: describeClose(code, reason) };
}

// client/stream.ts
var OPEN = 1;
var END = /* @__PURE__ */ Symbol("end");
var START = /* @__PURE__ */ Symbol("start");
var utf8 = new TextEncoder();
var SallyportStream = class {
  constructor(ws, opts = {}) {
    this.ws = ws;
    if (ws.readyState !== OPEN) throw new Error("SallyportStream needs an open WebSocket");
    const version = versionOf(ws.protocol, CLIENT_SUBPROTOCOLS);
    this.protocol = version ? "sallyport" : "plain";
    this.version = version ?? 1;
    this.credit.send = initialCredit(this.version);
    this.current = initialState(this.protocol);
    this.clock = opts.clock ?? systemClock;
    this.highWater = opts.highWaterBytes ?? 1024 * 1024;
    this.maxFrameCap = opts.maxFrameBytes ?? MAX_MESSAGE_BYTES;
    this.maxFrame = Math.min(this.maxFrameCap, MIN_MESSAGE_BYTES);
    this.defer = opts.defer;
    this.sendFragments = opts.sendFragments;
    this.chunks = opts.chunks;
    this.prePairBudget = opts.prePairBudgetBytes ?? 7 * 1024;
    this.pollMs = opts.pollMs ?? 4;
    this.autoConsume = opts.autoConsume ?? false;
    this.reconnect = opts.reconnect;
    this.inSession = opts.standby !== true;
    if (version && resumes(version) && this.reconnect) this.out = new ResendBuffer(this.chunks && ((c) => this.chunks.letGo(c)));
    if (ws.binaryType === "blob") ws.binaryType = "arraybuffer";
    this.listeners = [
      ["message", ((e) => this.received(e.data))],
      ["close", ((e) => this.socketClosed(e.code, e.reason))]
    ];
    for (const [type, l] of this.listeners) ws.addEventListener(type, l);
    this.pairTimer = this.clock.setTimeout(() => this.markPaired(), opts.assumePairedAfterMs ?? 2e3);
    this.heartbeat = new Heartbeat(
      this.clock,
      () => this.ws.send(HEARTBEAT_REQUEST),
      () => this.silent()
    );
    this.heartbeatMs = opts.heartbeatMs ?? SESSION_HEARTBEAT_MS;
    if (this.protocol === "sallyport") this.beat();
  }
  ws;
  protocol;
  /** The protocol version the edge selected (a plain session: 1, unused). */
  version;
  /** Data from the backend. In protocol mode call consumed(n) once it has been used. */
  onData;
  /** The backend finished sending (protocol mode only). */
  onEnd;
  /** Once, when the socket closed. */
  onClose;
  /** send() returned false earlier and more can be sent now. */
  onDrain;
  /** First evidence (or assumption) that a connector took the session. */
  onPaired;
  /**
   * A session started from standby (start()) finished cleanly and the socket is kept: the
   * stream is reset (fresh windows, counters at zero) and may start() again. Gets the
   * finished session's byte counts. Without a handler the socket is closed instead.
   */
  onDone;
  /** v3: a resume finished (resumed, or failed just before onClose). */
  onResume;
  current;
  credit = { send: INITIAL_WINDOW_BYTES, receive: INITIAL_WINDOW_BYTES };
  counts = { bytesSent: 0, bytesReceived: 0 };
  queue = [];
  queuedBytes = 0;
  consumedTotal = 0;
  granted = 0;
  prePairSent = 0;
  needDrain = false;
  pollTimer;
  pairTimer;
  clock;
  highWater;
  maxFrameCap;
  maxFrame;
  defer;
  sendFragments;
  chunks;
  flushQueued = false;
  prePairBudget;
  pollMs;
  autoConsume;
  listeners;
  /** v2: what we grant the connector, proved by the edge's marks. */
  reader = new ReaderCredit();
  heartbeat;
  heartbeatMs;
  /** v3: what went out and is not yet acknowledged, kept for a resume. */
  out;
  reconnect;
  /** v3: this session's latest ticket. */
  ticket;
  /**
   * v3: a session runs on the socket (from the start, or from start() in standby, until `done`):
   * only then is there a session to resume.
   */
  inSession;
  /** v3: while resuming. */
  resume;
  beat() {
    this.ws.send(HEARTBEAT_REQUEST);
    this.heartbeat.every(this.heartbeatMs);
  }
  // ---- state (read-only outside) ----
  get state() {
    return this.current;
  }
  /** Bytes we may still send (protocol mode). */
  get sendCredit() {
    return this.credit.send;
  }
  /** Bytes the connector may still send us before it oversteps (protocol mode). */
  get receiveCredit() {
    return this.credit.receive;
  }
  /** Data bytes sent in this session. */
  get bytesSent() {
    return this.counts.bytesSent;
  }
  /** Data bytes received in this session. */
  get bytesReceived() {
    return this.counts.bytesReceived;
  }
  /** A connector has taken the session (or is assumed to have). */
  get paired() {
    return this.current.pairing === "paired";
  }
  get endSent() {
    return this.current.out === "ended";
  }
  get endReceived() {
    return this.current.in === "ended";
  }
  /** How the session ended, once the socket has closed. */
  get closed() {
    return this.current.phase === "closed" ? this.current.info : void 0;
  }
  /** Moves the state; a step the peer had no right to cause closes the session (1002). */
  apply(event) {
    const next = step(this.current, event);
    if (!next.ok) {
      this.protocolError();
      return false;
    }
    this.current = next.state;
    return true;
  }
  // ---- sending ----
  /**
   * Queue data for the backend. Returns false when the caller should stop until onDrain:
   * out of credit, or the socket's buffer is over the high-water mark. Nothing is dropped.
   * In protocol mode strings go as their UTF-8 bytes (text frames are control there).
   * `fullRead`: the caller's read filled its buffer, so more is probably waiting (by default:
   * bytes of a full 'data' read, FULL_READ_BYTES or more).
   */
  send(data, fullRead) {
    if (this.current.out !== "open") throw new Error("send() after end()");
    if (this.current.phase !== "open" && this.current.phase !== "resuming") return false;
    let more = false;
    if (typeof data === "string" && this.protocol === "plain") {
      this.push(data, utf8.encode(data).byteLength);
    } else {
      const bytes = toBytes(data);
      this.push(bytes, bytes.byteLength);
      more = fullRead ?? bytes.byteLength >= FULL_READ_BYTES;
    }
    if (this.defer && more && this.queuedBytes < this.maxFrame) this.flushLater();
    else this.flush();
    const ok2 = this.writable();
    if (!ok2) {
      this.needDrain = true;
      if (this.isOpen() && this.ws.bufferedAmount >= this.highWater) this.poll();
    }
    return ok2;
  }
  /**
   * A session opened in standby is in use now: the connector dials the backend. Goes before
   * anything sent after it. Protocol mode only; a no-op on a plain session.
   */
  start() {
    if (this.protocol !== "sallyport" || this.current.phase !== "open") return;
    this.inSession = true;
    this.queue.push(START);
    this.flush();
  }
  /** We have finished sending (a FIN); the backend may go on sending. Protocol mode only. */
  end() {
    if (this.protocol !== "sallyport") throw new Error("end() needs the Sallyport protocol; a plain session ends with close()");
    if (this.current.out !== "open" || this.current.phase !== "open" && this.current.phase !== "resuming") return;
    this.apply({ t: "end-queued" });
    this.queue.push(END);
    this.flush();
  }
  /** Report that `n` received bytes have been used; grants the connector more credit. */
  consumed(n) {
    if (this.protocol !== "sallyport" || n <= 0) return;
    if (usesMarks(this.version)) return this.granting(this.reader.consume(n));
    this.consumedTotal += n;
    const grant = this.consumedTotal - this.granted;
    if (grant >= INITIAL_WINDOW_BYTES / 2 && this.current.in === "open" && this.isOpen()) {
      this.granted = this.consumedTotal;
      this.credit.receive += grant;
      this.ws.send(encode({ t: "credit", bytes: grant }, 1));
    }
  }
  /** v2: send a grant (once per mark read and used); nothing once the connector has finished. */
  granting(grant) {
    if (!grant || this.current.in !== "open" || !this.isOpen()) return;
    this.credit.receive = grant.upTo - this.counts.bytesReceived;
    this.ws.send(encode(grant, this.version));
  }
  /** Close the session. 1000 after end() both ways is a clean finish; anything else is an abort. */
  close(code = CloseCode.NORMAL, reason = "") {
    if (this.current.phase === "resuming") {
      this.apply({ t: "close", code, reason });
      this.ws.close(code, reason);
      return this.socketClosed(code, reason);
    }
    if (this.current.phase !== "open") return;
    this.apply({ t: "close", code, reason });
    this.stopTimers();
    if (this.ws.readyState <= OPEN) this.ws.close(code, reason);
  }
  /**
   * The socket can still carry a session. False as soon as a close has begun — also when the
   * peer's close frame has arrived but the socket's close event has not (ws waits for TCP).
   */
  get usable() {
    return this.isOpen();
  }
  /** Bytes accepted by send() but not yet handed to the socket (waiting for credit or pairing). */
  get pendingBytes() {
    return this.queuedBytes;
  }
  /** True when send() would not ask the caller to wait. */
  writable() {
    if (this.current.phase !== "open") return false;
    if (this.queue.length > 0 && !(this.flushQueued && this.queuedBytes < this.maxFrame)) return false;
    if (this.protocol === "sallyport" && this.credit.send <= this.queuedBytes) return false;
    return this.ws.bufferedAmount < this.highWater;
  }
  push(item, size) {
    if (size === 0) return;
    this.queue.push(item);
    this.queuedBytes += size;
  }
  flushLater() {
    if (this.flushQueued) return;
    this.flushQueued = true;
    this.defer(() => {
      this.flushQueued = false;
      this.flush();
    });
  }
  flush() {
    while (this.queue.length > 0 && this.isOpen()) {
      const item = this.queue[0];
      if (item === END || item === START) {
        if (!this.paired && this.prePairSent + 32 > this.prePairBudget) break;
        this.queue.shift();
        if (!this.paired) this.prePairSent += 32;
        this.ws.send(encode({ t: item === END ? "end" : "start" }, this.version));
        if (item === END) this.apply({ t: "end-sent" });
        continue;
      }
      if (this.ws.bufferedAmount >= this.highWater) {
        this.poll();
        break;
      }
      let allowance = Infinity;
      if (this.protocol === "sallyport") allowance = this.credit.send;
      if (!this.paired) allowance = Math.min(allowance, this.prePairBudget - this.prePairSent);
      if (allowance <= 0) break;
      let chunk = item;
      let parts;
      let size;
      if (typeof item === "string") {
        size = utf8.encode(item).byteLength;
        if (size > allowance) break;
        this.queue.shift();
      } else {
        size = leadingBytes(this.queue, Math.min(allowance, this.maxFrame));
        if (this.sendFragments && item.byteLength < size) parts = takeParts(this.queue, size);
        else chunk = takeBytes(this.queue, size);
      }
      this.queuedBytes -= size;
      if (this.protocol === "sallyport") this.credit.send -= size;
      if (!this.paired) this.prePairSent += size;
      this.counts.bytesSent += size;
      if (parts) {
        const sent2 = parts;
        for (const part of sent2) this.keep(part);
        this.sendFragments(this.ws, sent2, () => {
          for (const part of sent2) this.chunks?.letGo(part);
          this.sent();
        });
        continue;
      }
      if (typeof chunk === "string") {
        this.ws.send(chunk, () => this.sent());
        continue;
      }
      const sent = chunk;
      this.keep(sent);
      this.ws.send(sent, () => {
        this.chunks?.letGo(sent);
        this.sent();
      });
    }
    this.maybeDrain();
  }
  poll() {
    if (this.pollTimer !== void 0) return;
    this.pollTimer = this.clock.setTimeout(() => {
      this.pollTimer = void 0;
      this.flush();
      if (this.isOpen() && this.ws.bufferedAmount >= this.highWater && (this.queue.length > 0 || this.needDrain)) this.poll();
    }, this.pollMs);
  }
  /** `chunk` goes out: the resend buffer keeps it until acknowledged, the socket until written. */
  keep(chunk) {
    if (this.out) {
      this.chunks?.hold(chunk);
      this.out.sent(chunk);
    }
    this.chunks?.hold(chunk);
  }
  /** A frame was written (Node's `ws` only): the buffer may be below the mark before the poll fires. */
  sent() {
    if (this.pollTimer !== void 0 && this.isOpen() && this.ws.bufferedAmount < this.highWater) {
      this.clock.clear(this.pollTimer);
      this.pollTimer = void 0;
      this.flush();
    }
  }
  maybeDrain() {
    if (this.needDrain && this.writable()) {
      this.needDrain = false;
      this.onDrain?.();
    }
  }
  // ---- receiving ----
  received(data) {
    if (this.current.phase === "closed") return;
    this.heartbeat.heard();
    if (typeof data === "string") {
      if (this.protocol === "plain") return this.deliver(utf8.encode(data));
      return this.control(data);
    }
    this.deliver(toBytes(data));
  }
  control(text) {
    if (text === HEARTBEAT_RESPONSE) return;
    const decoded = decodeForClient(text, this.version);
    if (!decoded.ok) return this.protocolError();
    const msg = decoded.value;
    if (msg.t === "ticket") {
      this.ticket = { ticket: msg.ticket, timeoutMs: msg.timeoutMs };
      return;
    }
    if (msg.t === "resumed") return this.resumed(msg.offset, msg.end === true);
    if (this.current.phase === "resuming") return this.protocolError();
    if (msg.t === "done") return this.finishedKept();
    if (msg.t === "mark") return this.granting(this.reader.mark(msg.id));
    if (msg.t === "opened") {
      if (msg.maxMessageBytes !== void 0) this.maxFrame = Math.min(this.maxFrameCap, msg.maxMessageBytes);
      return this.markPaired();
    }
    this.markPaired();
    if (msg.t === "credit") {
      if ("bytes" in msg) this.credit.send += msg.bytes;
      else {
        this.credit.send = Math.max(this.credit.send, msg.upTo - this.counts.bytesSent);
        this.out?.limitSeen(msg.upTo);
      }
      this.flush();
    } else if (this.apply({ t: "end-received" })) {
      this.onEnd?.();
      if (msg.done) this.finishedKept();
    }
  }
  /** The connector's `done`: valid only after both `end`s, with nothing of ours still queued. */
  finishedKept() {
    if (this.queue.length > 0) return this.protocolError();
    if (!this.apply({ t: "done" })) return;
    const finished = this.counts;
    this.credit = { send: initialCredit(this.version), receive: INITIAL_WINDOW_BYTES };
    this.counts = { bytesSent: 0, bytesReceived: 0 };
    this.consumedTotal = this.granted = 0;
    this.reader.reset();
    this.out?.reset();
    this.inSession = false;
    if (this.onDone) this.onDone(finished);
    else this.close(CloseCode.NORMAL);
  }
  deliver(bytes) {
    if (bytes.byteLength === 0) return;
    this.markPaired();
    if (!this.apply({ t: "data-received" })) return;
    if (this.protocol === "sallyport") {
      this.credit.receive -= bytes.byteLength;
      if (this.credit.receive < 0) return this.protocolError();
      if (usesMarks(this.version)) this.reader.data(bytes.byteLength);
    }
    this.counts.bytesReceived += bytes.byteLength;
    this.onData?.(bytes);
    if (this.autoConsume) this.consumed(bytes.byteLength);
  }
  markPaired() {
    if (this.paired) return;
    this.apply({ t: "paired" });
    this.clock.clear(this.pairTimer);
    this.pairTimer = void 0;
    this.onPaired?.();
    this.flush();
  }
  protocolError() {
    this.close(CloseCode.PROTOCOL_ERROR, CLOSE_REASONS.PROTOCOL_ERROR);
  }
  /** Nothing heard for three heartbeats: reported now (the close handshake would never finish). */
  silent() {
    if (this.current.phase === "resuming") return this.ws.terminate?.();
    if (this.current.phase !== "open") return;
    if (this.canResume()) {
      const ws = this.ws;
      this.lost("heartbeat timeout");
      ws.terminate?.();
      if (!ws.terminate) ws.close();
      return;
    }
    this.close(CloseCode.NETWORK_UNREACHABLE, CLOSE_REASONS.NETWORK_UNREACHABLE);
    this.ws.terminate?.();
    this.socketClosed(CloseCode.NETWORK_UNREACHABLE, CLOSE_REASONS.NETWORK_UNREACHABLE);
  }
  // ---- closing ----
  socketClosed(code, reason) {
    if (this.current.phase === "closed") return;
    if (this.current.phase === "resuming") {
      if (code === CloseCode.RESUME_FAILED) return this.resumeFailed("the edge ended the resume");
      return this.retry();
    }
    if (this.current.phase === "open" && this.canResume() && linkLost(code)) return this.lost(`link lost (${code})`);
    this.stopTimers();
    for (const [type, l] of this.listeners) this.ws.removeEventListener(type, l);
    this.apply({ t: "socket-closed", code, reason });
    this.queue.length = 0;
    this.queuedBytes = 0;
    const info = this.closed;
    if (info) this.onClose?.(info);
  }
  // ---- resume (v3) ----
  /**
   * Only a session in progress resumes: not a standby socket between sessions, nor one whose
   * directions have both ended (the connector is done with it too, or is about to be).
   */
  canResume() {
    const finished = this.current.out === "ended" && this.current.in === "ended";
    return this.out !== void 0 && this.ticket !== void 0 && this.paired && this.inSession && !finished;
  }
  /** The socket dropped: keep everything, and dial again with the ticket. */
  lost(why) {
    this.apply({ t: "socket-lost" });
    this.stopTimers();
    for (const [type, l] of this.listeners) this.ws.removeEventListener(type, l);
    this.resume = { window: new ResumeWindow(this.clock, this.ticket.timeoutMs), why };
    this.retry();
  }
  retry() {
    const r = this.resume;
    if (!r || this.current.phase !== "resuming") return;
    for (const [type, l] of this.listeners) this.ws.removeEventListener(type, l);
    this.heartbeat.stop();
    this.clock.clear(r.timer);
    const delay = r.window.nextDelay();
    if (delay === void 0) return this.resumeFailed("session.resume.timeout passed");
    r.timer = this.clock.setTimeout(() => this.attempt(), delay);
  }
  attempt() {
    if (this.current.phase !== "resuming" || !this.ticket || !this.reconnect) return;
    const request = { ticket: this.ticket.ticket, received: this.counts.bytesReceived, end: this.current.in === "ended" };
    const opened = (ws) => {
      if (this.current.phase !== "resuming") return ws.close(CloseCode.NORMAL);
      this.ws = ws;
      if (ws.binaryType === "blob") ws.binaryType = "arraybuffer";
      for (const [type, l] of this.listeners) ws.addEventListener(type, l);
      this.beat();
    };
    this.reconnect(request, opened).catch(
      (e) => e?.refused ? this.resumeFailed("the edge refused the resume") : this.retry()
    );
  }
  /** `resumed`: the connector received `offset` bytes (and our `end`, with `peerHasEnd`); send again from there. */
  resumed(offset, peerHasEnd) {
    const r = this.resume;
    if (!r || this.current.phase !== "resuming") return this.protocolError();
    const again = this.out.rewind(offset);
    if (!again) return this.resumeFailed(`cannot resume from offset ${offset}`);
    this.resume = void 0;
    this.clock.clear(r.timer);
    const resent = again.reduce((n, c) => n + c.byteLength, 0);
    this.apply({ t: "resumed" });
    this.counts.bytesSent = offset;
    this.credit.send = V2_INITIAL_CREDIT_BYTES;
    this.queue.unshift(...again);
    this.queuedBytes += resent;
    if (this.current.out === "ended" && !peerHasEnd) this.queue.push(END);
    this.reader.resumed();
    this.credit.receive = this.reader.granted - this.counts.bytesReceived;
    this.onResume?.({ outcome: "resumed", why: r.why, stallMs: r.window.elapsed, resentBytes: resent, attempts: r.window.attempts });
    this.needDrain = true;
    this.flush();
  }
  /** The session cannot resume: it ends (not cleanly: the application's connection is reset). */
  resumeFailed(why) {
    const r = this.resume;
    if (!r || this.current.phase !== "resuming") return;
    this.resume = void 0;
    this.clock.clear(r.timer);
    this.onResume?.({ outcome: "failed", why, stallMs: r.window.elapsed, resentBytes: 0, attempts: r.window.attempts });
    this.close(CloseCode.RESUME_FAILED, CLOSE_REASONS.RESUME_FAILED);
  }
  isOpen() {
    return this.current.phase === "open" && this.ws.readyState === OPEN;
  }
  stopTimers() {
    this.heartbeat.stop();
    if (this.resume) this.clock.clear(this.resume.timer);
    this.clock.clear(this.pollTimer);
    this.clock.clear(this.pairTimer);
    this.pollTimer = this.pairTimer = void 0;
  }
};
function toBytes(data) {
  if (typeof data === "string") return utf8.encode(data);
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (Array.isArray(data)) return concat(data);
  throw new TypeError("unsupported data type");
}
function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

// client/browser/entry.ts
function connect(url, opts = {}) {
  const resume = opts.sallyport !== false && opts.resume !== false;
  const protocols = opts.sallyport === false ? [] : offered(CLIENT_SUBPROTOCOLS, resume ? 3 : 2);
  const reconnect = resume ? (r, opened) => reopen(url, r, opened) : void 0;
  return openSocket(
    url,
    protocols,
    (ws) => new SallyportStream(ws, { autoConsume: true, ...opts, ...reconnect ? { reconnect } : {} })
  ).catch((e) => {
    const why = e.code === 1006 ? "handshake failed or connection lost (1006); an HTTP 404 from the edge (unknown service, not admitted) also shows as this" : describeClose(e.code, e.reason);
    throw new Error(`${url}: ${why}`);
  });
}
function reopen(url, r, opened) {
  return openSocket(url, [CLIENT_SUBPROTOCOLS[3], resumeSubprotocol(r)], opened).catch((e) => {
    throw { refused: false, detail: `closed with ${e.code} before open` };
  });
}
function openSocket(url, protocols, use) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols);
    ws.binaryType = "arraybuffer";
    const onClose = (e) => reject(e);
    ws.addEventListener("close", onClose, { once: true });
    ws.addEventListener(
      "open",
      () => {
        ws.removeEventListener("close", onClose);
        resolve(use(ws));
      },
      { once: true }
    );
  });
}
export {
  CLIENT_SUBPROTOCOLS,
  INITIAL_WINDOW_BYTES,
  SallyportStream,
  connect,
  describeClose
};
