import tls, { type SecureContext } from "node:tls";

/**
 * The TLS context toward the edge (or a proxy), built once per configuration: parsing Node's
 * ~150–300 default CAs costs tens of milliseconds, which must not be paid on every dial.
 *  - `ca` alone: trusted IN ADDITION to Node's default CAs (its bundle, NODE_EXTRA_CA_CERTS,
 *    and the system store where Node is told to use it) — a private edge CA, a corporate CA;
 *  - `ca` with `caOnly`: the only CAs trusted (a closed deployment that trusts nothing public);
 *  - `cert` + `key`: the client certificate presented to the edge (socks.ssl.verify-client).
 * Undefined when nothing differs from Node's defaults. Throws on a file that is not PEM.
 */
export interface TrustMaterial {
  readonly ca?: Buffer | undefined;
  readonly caOnly?: boolean;
  readonly cert?: Buffer | undefined;
  readonly key?: Buffer | undefined;
}

export function secureContextFor(m: TrustMaterial): SecureContext | undefined {
  if (!m.ca && !m.cert && !m.key) return undefined;
  const ca = m.ca ? (m.caOnly ? [m.ca] : [...defaultCas(), m.ca]) : undefined;
  return tls.createSecureContext({ ...(ca ? { ca } : {}), ...(m.cert ? { cert: m.cert } : {}), ...(m.key ? { key: m.key } : {}) });
}

/** What Node trusts when given no `ca` (getCACertificates: Node ≥ 22.15; older: the bundled roots). */
function defaultCas(): readonly string[] {
  const get = (tls as { getCACertificates?: (type: "default") => string[] }).getCACertificates;
  return get ? get("default") : tls.rootCertificates;
}

/** Checks that `pem` holds at least one certificate Node can parse; the reason when not. */
export function pemProblem(pem: Buffer): string | undefined {
  if (!/-----BEGIN CERTIFICATE-----/.test(pem.toString("latin1"))) return "holds no PEM certificate (-----BEGIN CERTIFICATE-----)";
  try {
    tls.createSecureContext({ ca: [pem] });
    return undefined;
  } catch (e) {
    return `is not a valid PEM certificate (${(e as Error).message})`;
  }
}
