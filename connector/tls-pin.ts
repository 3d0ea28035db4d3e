import { checkServerIdentity, type PeerCertificate } from "node:tls";

/**
 * Pinning on top of normal verification: the certificate must still be valid for the host,
 * and its SHA-256 fingerprint must be the configured one (so a CA that misissues cannot
 * impersonate the edge to this connector).
 */
export function pinnedIdentity(pin: string): (host: string, cert: PeerCertificate) => Error | undefined {
  return (host, cert) => {
    const normal = checkServerIdentity(host, cert);
    if (normal) return normal;
    const actual = (cert.fingerprint256 ?? "").replace(/:/g, "").toLowerCase();
    return actual === pin ? undefined : new Error("edge certificate does not match edge.cert.sha256");
  };
}
