import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface CertificateFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

/**
 * A self-signed certificate for 127.0.0.1, made with the `openssl` CLI for one bench run (the
 * edge serves it, the connector and client trust it with --ca-file). EC P-256, as a Cloudflare
 * edge certificate is; the TLS 1.3 suite is whatever Node and workerd negotiate by default.
 */
export async function selfSignedCertificate(dir: string, name: string): Promise<CertificateFiles> {
  const certFile = join(dir, `${name}-edge.pem`);
  const keyFile = join(dir, `${name}-edge.key`);
  await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    keyFile,
    "-out",
    certFile,
    "-days",
    "2",
    "-subj",
    "/CN=127.0.0.1",
    "-addext",
    "subjectAltName=IP:127.0.0.1",
  ]);
  return { certFile, keyFile };
}
