import { describe, expect, it } from "vitest";
import { bypasses, chooseProxy, type Environment } from "../../net/proxy-env.ts";
import { proxyRoute } from "../../net/proxy.ts";
import { parseProxyCredentials, parseProxyUrl } from "../../shared/config/proxy-url.ts";

/** Which proxy a dial takes: the explicit setting, the environment as curl reads it, NO_PROXY. */

const WSS = new URL("wss://edge.example.com/_sallyport/bind");
const WS = new URL("ws://edge.example.com:8080/_sallyport/bind");
const P = "http://proxy.corp:3128";
const Q = "http://other.corp:8080";

describe("chooseProxy: precedence", () => {
  const table: Array<[string, URL, string | undefined, Environment, string | undefined]> = [
    ["nothing set: direct", WSS, undefined, {}, undefined],
    ["HTTPS_PROXY for a wss:// edge", WSS, undefined, { HTTPS_PROXY: P }, "HTTPS_PROXY"],
    ["https_proxy (lowercase) first", WSS, undefined, { HTTPS_PROXY: Q, https_proxy: P }, "https_proxy"],
    ["HTTP_PROXY is not for a wss:// edge", WSS, undefined, { HTTP_PROXY: P }, undefined],
    ["HTTP_PROXY for a ws:// edge", WS, undefined, { HTTP_PROXY: P }, "HTTP_PROXY"],
    ["http_proxy (lowercase) first", WS, undefined, { HTTP_PROXY: Q, http_proxy: P }, "http_proxy"],
    ["HTTPS_PROXY is not for a ws:// edge", WS, undefined, { HTTPS_PROXY: P }, undefined],
    ["ALL_PROXY as the fallback", WSS, undefined, { ALL_PROXY: P }, "ALL_PROXY"],
    ["HTTPS_PROXY over ALL_PROXY", WSS, undefined, { ALL_PROXY: Q, HTTPS_PROXY: P }, "HTTPS_PROXY"],
    ["an empty variable is unset", WSS, undefined, { https_proxy: "", HTTPS_PROXY: P }, "HTTPS_PROXY"],
    ["blank too", WSS, undefined, { HTTPS_PROXY: "  " }, undefined],
    ["NO_PROXY naming the host: direct", WSS, undefined, { HTTPS_PROXY: P, NO_PROXY: "edge.example.com" }, undefined],
    ["no_proxy (lowercase) first", WSS, undefined, { HTTPS_PROXY: P, no_proxy: "other.example", NO_PROXY: "*" }, "HTTPS_PROXY"],
    ["NO_PROXY=* : direct", WSS, undefined, { HTTPS_PROXY: P, NO_PROXY: "*" }, undefined],
    ["the explicit setting wins over the environment", WSS, Q, { HTTPS_PROXY: P }, "--proxy"],
    ["… NO_PROXY included", WSS, Q, { HTTPS_PROXY: P, NO_PROXY: "*" }, "--proxy"],
    ["… and with nothing else set", WS, Q, {}, "--proxy"],
  ];
  it.each(table)("%s", (_name, target, explicit, env, source) => {
    const choice = chooseProxy(target, explicit === undefined ? undefined : { text: explicit, source: "--proxy" }, env);
    expect(choice?.source).toBe(source);
    if (source) expect(choice?.text).toBe(source === "--proxy" ? Q : env[source]);
  });
});

describe("NO_PROXY entries", () => {
  const table: Array<[string, string, boolean]> = [
    ["edge.example.com", "wss://edge.example.com/", true],
    ["EDGE.Example.COM", "wss://edge.example.com/", true],
    ["example.com", "wss://edge.example.com/", true],
    [".example.com", "wss://edge.example.com/", true],
    [".example.com", "wss://example.com/", true],
    ["*.example.com", "wss://edge.example.com/", true],
    ["example.com", "wss://badexample.com/", false],
    ["ample.com", "wss://example.com/", false],
    ["example.com.", "wss://edge.example.com./", true],
    ["other.net, example.com", "wss://edge.example.com/", true],
    ["other.net example.com", "wss://edge.example.com/", true],
    ["other.net,,", "wss://edge.example.com/", false],
    ["edge.example.com:443", "wss://edge.example.com/", true],
    ["edge.example.com:8443", "wss://edge.example.com/", false],
    ["edge.example.com:8443", "wss://edge.example.com:8443/", true],
    ["edge.example.com:80", "ws://edge.example.com/", true],
    ["127.0.0.1", "wss://127.0.0.1:8443/", true],
    ["127.0.0.2", "wss://127.0.0.1:8443/", false],
    ["127.0.0.1:8443", "wss://127.0.0.1:8443/", true],
    ["10.0.0.0/8", "wss://10.1.2.3/", true],
    ["10.0.0.0/8", "wss://11.1.2.3/", false],
    ["10.0.0.0/8", "wss://ten.example/", false],
    ["::1", "wss://[::1]:8443/", true],
    ["[::1]", "wss://[::1]:8443/", true],
    ["[::1]:8443", "wss://[::1]:8443/", true],
    ["[::1]:9", "wss://[::1]:8443/", false],
    ["2001:db8::/32", "wss://[2001:db8::7]/", true],
    ["2001:db8::/32", "wss://[2001:db9::7]/", false],
    ["*", "wss://anything.example/", true],
    ["*.", "wss://anything.example/", false],
    ["localhost", "wss://127.0.0.1/", false],
  ];
  it.each(table)("%j against %s → %s", (list, url, expected) => {
    expect(bypasses(list, new URL(url))).toBe(expected);
  });
});

describe("proxy URLs", () => {
  it.each([
    ["http://proxy.corp:3128", "http://proxy.corp:3128", 3128, undefined],
    ["proxy.corp:3128", "http://proxy.corp:3128", 3128, undefined],
    ["http://proxy.corp", "http://proxy.corp", 80, undefined],
    ["https://proxy.corp", "https://proxy.corp", 443, undefined],
    ["http://proxy.corp:3128/", "http://proxy.corp:3128", 3128, undefined],
    ["http://[::1]:3128", "http://[::1]:3128", 3128, undefined],
    ["http://al%40ice:p%3Ass@proxy.corp:3128", "http://al%40ice:***@proxy.corp:3128", 3128, ["al@ice", "p:ss"]],
    ["http://alice@proxy.corp:3128", "http://alice@proxy.corp:3128", 3128, ["alice", undefined]],
  ])("%s → shown as %s", (text, display, port, credentials) => {
    const r = parseProxyUrl(text);
    if (!r.ok) throw new Error(r.error);
    expect(r.value.display).toBe(display);
    expect(r.value.port).toBe(port);
    expect(r.value.origin).not.toMatch(/@/);
    expect(credentials === undefined ? [r.value.username, r.value.password] : credentials).toStrictEqual([
      r.value.username,
      r.value.password,
    ]);
  });

  it.each([
    ["", /is empty/],
    ["socks5://proxy.corp:1080", /socks5:\/\/ is not supported/],
    ["http://proxy.corp:3128/path", /without a path or query/],
    ["http://proxy.corp:3128?x=1", /without a path or query/],
    ["http://user:secret@proxy.corp:99999", /the proxy URL is not a URL/],
    ["http://", /not a URL/],
  ])("%j is refused: %s", (text, message) => {
    const r = parseProxyUrl(text);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error).toMatch(message);
      expect(r.error).not.toMatch(/secret/);
    }
  });

  it("reads a credentials file's one line", () => {
    expect(parseProxyCredentials("alice:pa:ss\n")).toStrictEqual({ ok: true, value: { username: "alice", password: "pa:ss" } });
    expect(parseProxyCredentials("alice:\r\n")).toStrictEqual({ ok: true, value: { username: "alice", password: "" } });
    expect(parseProxyCredentials("alice").ok).toBe(false);
    expect(parseProxyCredentials(":secret").ok).toBe(false);
    expect(parseProxyCredentials("alice:a\nbob:b").ok).toBe(false);
  });
});

describe("proxyRoute: credentials go in a header, never in what is printed", () => {
  const basic = (s: string): string => `Basic ${Buffer.from(s).toString("base64")}`;

  it("from the URL", () => {
    const r = proxyRoute({ text: "http://alice:s3cret@proxy.corp:3128", source: "HTTPS_PROXY" });
    expect(r).toMatchObject({
      ok: true,
      value: {
        origin: "http://proxy.corp:3128",
        display: "http://alice:***@proxy.corp:3128",
        authorization: basic("alice:s3cret"),
        credentialsFrom: "the proxy URL (HTTPS_PROXY)",
      },
    });
  });

  it("from a file, which wins over the URL's", () => {
    const r = proxyRoute(
      { text: "http://alice:old@proxy.corp:3128", source: "proxy" },
      { credentials: { username: "bob", password: "new", file: "/etc/sallyport/proxy-credentials" } },
    );
    expect(r).toMatchObject({
      ok: true,
      value: { display: "http://proxy.corp:3128", authorization: basic("bob:new"), credentialsFrom: "/etc/sallyport/proxy-credentials" },
    });
  });

  it("none", () => {
    expect(proxyRoute({ text: "proxy.corp:3128", source: "proxy" })).toMatchObject({
      ok: true,
      value: { origin: "http://proxy.corp:3128", authorization: undefined, credentialsFrom: undefined },
    });
  });
});
