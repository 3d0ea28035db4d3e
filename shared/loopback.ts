/**
 * Whether a host name or address always means this machine: `localhost` and its subdomains
 * (RFC 6761 §6.3), 127.0.0.0/8, ::1. IPv6 literals may keep their brackets. Deliberately
 * literal: `localhost.` and `127.0.0.1.example.com` are names a resolver may send anywhere.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  if (h === "localhost" || h.endsWith(".localhost") || h === "::1") return true;
  return /^127(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(h);
}
