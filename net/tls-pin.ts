import { checkServerIdentity, type PeerCertificate } from "node:tls";

/** The code of the error a pin mismatch fails the handshake with (for the message that explains it). */
export const PIN_MISMATCH = "ERR_EDGE_CERT_PIN";

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
    if (actual === pin) return undefined;
    return Object.assign(new Error("edge certificate does not match edge.cert.sha256"), { code: PIN_MISMATCH });
  };
}
