/**
 * The client address the edge passes to the connector in `paired`, for its logs. It comes
 * from a request header (CF-Connecting-IP) that the edge does not write, so it is checked
 * here: anything but one IPv4 or IPv6 address becomes UNKNOWN_CLIENT_ADDRESS. A value the
 * connector's codec rejected (a space, a list, 80 characters) would otherwise make it drop
 * the bind as a protocol error, letting any client burn binds.
 */

/** What `paired` carries when the edge has no valid address for the client. */
export const UNKNOWN_CLIENT_ADDRESS = "unknown";

/** Dotted quad, each octet 0-255 without leading zeros (010 would read as octal to some tools). */
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
/** Hex groups, colons, and an embedded IPv4 tail; no zone id (`%eth0` is meaningless off-host). */
const IPV6_CHARS = /^[0-9A-Fa-f:.]{2,45}$/;

/** The canonical address (`2001:db8::1`), or UNKNOWN_CLIENT_ADDRESS. */
export function clientAddress(header: string | null | undefined): string {
  if (!header) return UNKNOWN_CLIENT_ADDRESS;
  if (IPV4.test(header)) return header;
  if (!IPV6_CHARS.test(header) || !header.includes(":")) return UNKNOWN_CLIENT_ADDRESS;
  try {
    // The URL parser implements RFC 4291 text forms and prints RFC 5952's canonical one.
    const host = new URL(`http://[${header}]/`).hostname;
    return host.slice(1, -1);
  } catch {
    return UNKNOWN_CLIENT_ADDRESS;
  }
}
