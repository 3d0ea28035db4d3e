import { describe, expect, it } from "vitest";
import { decodeFromEdge } from "../../shared/protocol/codec.ts";
import { parkedBind, upgrade } from "./helpers.ts";
import { freshService } from "./services.ts";

/**
 * The client address in `paired` comes from a request header (CF-Connecting-IP) that the edge
 * does not control: whatever it holds, the connector must receive a `paired` it accepts, or
 * each such client would burn a bind and a backoff step.
 */

const cases: Array<[string, string | undefined, string]> = [
  ["an IPv4 address", "198.51.100.7", "198.51.100.7"],
  ["an IPv6 address, in its canonical form", "2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
  ["an IPv4-mapped IPv6 address", "::ffff:192.0.2.1", "::ffff:c000:201"],
  ["no header", undefined, "unknown"],
  ["a list with spaces", "203.0.113.7, 10.0.0.1", "unknown"],
  ["a value with inner spaces", "not an address", "unknown"],
  ["an IPv4 octet over 255", "256.1.1.1", "unknown"],
  ["an IPv4 address with a leading zero", "010.1.1.1", "unknown"],
  ["an IPv6 zone id", "fe80::1%eth0", "unknown"],
  ["a host name", "example.com", "unknown"],
  ["80 printable characters", "1".repeat(80), "unknown"],
];

describe("the client address in paired", () => {
  it.each(cases)("%s → a paired message the connector accepts", async (_name, header, expected) => {
    const svc = freshService();
    const bind = await parkedBind(svc);
    const client = await upgrade(svc.path, header === undefined ? {} : { "cf-connecting-ip": header });
    const decoded = decodeFromEdge(JSON.stringify(await bind.control()), 1); // parkedBind speaks v1
    expect(decoded).toMatchObject({ ok: true, value: { t: "paired", clientAddress: expected } });
    client.close();
    await bind.closed();
  });
});
