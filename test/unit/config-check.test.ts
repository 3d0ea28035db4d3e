import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { checkConfigText } from "../../cli/config-check.ts";

/**
 * `sallyport config check` as a pure function (cli/config-check.ts): the edge's own files —
 * wrangler.toml and the vars as JSON — with several services, and the secrets they leave out.
 */

const read = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), "utf8");
const DOCS_SERVICES = JSON.parse(read("test/fixtures/config/edge-services.json")) as Record<string, unknown>;
/** The worked example's TOML block, as docs/configuration.md shows it. */
const DOCS_TOML = /<!-- example: test\/fixtures\/config\/edge-services\.json -->\n```toml\n([\s\S]*?)\n```/.exec(
  read("docs/configuration.md"),
)![1]!;

const SECRETS_NOTE = "SALLYPORT_CONNECTOR_TOKENS is not in the file (it is a secret): not checked";
const CLIENT_NOTE = "SALLYPORT_CLIENT_TOKENS is not in the file (it is a secret): not checked";

describe("config check of the edge's vars as JSON", () => {
  it("accepts the docs' two-service example, each service standing in with its own token", () => {
    const r = checkConfigText("vars.json", JSON.stringify({ SALLYPORT_SERVICES: DOCS_SERVICES }));
    expect(r).toStrictEqual({
      kind: "edge",
      issues: [],
      lines: [
        "SALLYPORT_SERVICES.echo: wss://gateway.example.com/echo, socks.timeout 2000 ms",
        "SALLYPORT_SERVICES.chat: wss://gateway.example.com/chat, socks.timeout 5000 ms",
        SECRETS_NOTE,
        CLIENT_NOTE,
      ],
    });
  });

  it("checks the tokens when the file has them, and still finds one token under two services", () => {
    const tokens = { echo: "same-token-0123456789", chat: "same-token-0123456789" };
    const r = checkConfigText("vars.json", JSON.stringify({ SALLYPORT_SERVICES: DOCS_SERVICES, SALLYPORT_CONNECTOR_TOKENS: tokens }));
    expect(r.issues).toStrictEqual([
      { path: "SALLYPORT_CONNECTOR_TOKENS.chat[0]", message: "token already used by SALLYPORT_CONNECTOR_TOKENS.echo[0]" },
    ]);
  });
});

describe("config check of a wrangler.toml", () => {
  it("accepts the repository's wrangler.toml as an edge configuration", () => {
    const r = checkConfigText("wrangler.toml", read("wrangler.toml"));
    expect(r).toStrictEqual({
      kind: "edge",
      issues: [],
      lines: ["SALLYPORT_SERVICES.echo: wss://gateway.example.com/echo, socks.timeout 2000 ms", SECRETS_NOTE],
    });
  });

  it("accepts the docs' worked example", () => {
    const r = checkConfigText("wrangler.toml", `name = "sallyport-edge"\n\n${DOCS_TOML}\n`);
    expect(r.issues).toStrictEqual([]);
    expect(r.lines.slice(0, 2)).toStrictEqual([
      "SALLYPORT_SERVICES.echo: wss://gateway.example.com/echo, socks.timeout 2000 ms",
      "SALLYPORT_SERVICES.chat: wss://gateway.example.com/chat, socks.timeout 5000 ms",
    ]);
  });

  it.each<[string, string, Array<{ path: string; message: string }>]>([
    [
      "a bad setting, named by its path",
      '[vars.SALLYPORT_SERVICES.echo]\naccept = "wss://gateway.example.com/echo"\n"socks.timeout" = "soon"\n',
      [{ path: "SALLYPORT_SERVICES.echo.socks.timeout", message: expect.stringMatching(/^"soon" is not a duration/) as unknown as string }],
    ],
    [
      "no SALLYPORT_SERVICES in [vars]",
      'name = "x"\n[vars]\nOTHER = "1"\n',
      [
        { path: "[vars].SALLYPORT_SERVICES", message: expect.stringMatching(/^is not set/) as unknown as string },
        { path: "[vars].OTHER", message: expect.stringMatching(/^is not a Sallyport edge variable/) as unknown as string },
      ],
    ],
    [
      "a secret written into [vars]",
      '[vars]\nSALLYPORT_CONNECTOR_TOKENS = \'{"echo": "a-token-in-the-file-0123"}\'\n' +
        '[vars.SALLYPORT_SERVICES.echo]\naccept = "wss://gateway.example.com/echo"\n',
      [
        {
          path: "[vars].SALLYPORT_CONNECTOR_TOKENS",
          message:
            "is a secret: wrangler.toml is committed and shown in the dashboard; " +
            "set it with wrangler secret put SALLYPORT_CONNECTOR_TOKENS",
        },
      ],
    ],
    [
      "SALLYPORT_TLS other than cloudflare or workerd",
      '[vars]\nSALLYPORT_TLS = "nginx"\n[vars.SALLYPORT_SERVICES.echo]\naccept = "wss://gateway.example.com/echo"\n',
      [{ path: "[vars].SALLYPORT_TLS", message: 'must be "cloudflare" or "workerd"' }],
    ],
  ])("refuses %s", (_name, toml, issues) => {
    const r = checkConfigText("wrangler.toml", toml);
    expect(r.kind).toBe("edge");
    expect(r.issues).toStrictEqual(issues);
  });

  it("reports a TOML syntax error by position only (the line may hold a secret)", () => {
    const r = checkConfigText("wrangler.toml", 'name = "x"\n[vars]\nSECRET = "s3cr3t-value\n');
    expect(r.kind).toBe(undefined);
    expect(r.issues).toHaveLength(1);
    expect(r.issues[0]!.path).toBe("(file)");
    expect(r.issues[0]!.message).toMatch(/^is not valid TOML \(line 3 column \d+\)$/);
    expect(JSON.stringify(r)).not.toContain("s3cr3t");
  });
});
