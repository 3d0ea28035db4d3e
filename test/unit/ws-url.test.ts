import { describe, expect, it } from "vitest";
import { parseWsUrl } from "../../shared/ws-url.ts";

const wording = { noun: "URL", example: "wss://edge.example.com", tokenHint: "put the token in token.file" } as const;

describe("parseWsUrl: the one ws(s) URL check (config edge and accept, the CLI's --url)", () => {
  it.each([
    ["wss://edge.example.com/a", "wss://edge.example.com/a"],
    ["ws://127.0.0.1:8787", "ws://127.0.0.1:8787/"],
  ])("takes %s", (text, href) => {
    const r = parseWsUrl(text, wording);
    expect(r.ok && r.value.href).toBe(href);
  });

  it.each([
    ["edge.example.com", '"edge.example.com" is not a URL; write e.g. "wss://edge.example.com"'],
    ["wss://user:TOKEN@[bad", 'is not a URL; write e.g. "wss://edge.example.com"'],
    ["https://edge.example.com", "must be a ws:// or wss:// URL"],
    ["wss://user:pw@edge.example.com", "must not have credentials, a query or a fragment; put the token in token.file"],
    ["wss://edge.example.com/?token=x", "must not have credentials, a query or a fragment; put the token in token.file"],
    ["wss://edge.example.com/#x", "must not have credentials, a query or a fragment; put the token in token.file"],
  ])("refuses %s", (text, message) => {
    expect(parseWsUrl(text, wording)).toStrictEqual({ ok: false, error: message });
  });

  it("leaves the hint out where there is no token to put elsewhere", () => {
    expect(parseWsUrl("wss://a.example/?x", { noun: "URI", example: "wss://a.example/p" })).toStrictEqual({
      ok: false,
      error: "must not have credentials, a query or a fragment",
    });
  });
});
