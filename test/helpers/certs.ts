import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Cleanup } from "./cleanup.ts";

/**
 * Real X.509 certificates, made at test time with the `openssl` CLI (EC P-256, valid two
 * days): a test CA, a server certificate it signed for 127.0.0.1/localhost, a client
 * certificate it signed, and a self-signed "rogue" server certificate nobody trusts. Files
 * live in a 0700 temp directory that cleanup removes; fingerprints are computed by Node from
 * the PEM, so they are what a TLS peer (or Cloudflare's certFingerprintSHA256) would report.
 */

const run = promisify(execFile);

export interface CertFiles {
  /** PEM paths, for flags such as --cert-file / --key-file / --ca-file. */
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: Buffer;
  readonly key: Buffer;
  /** SHA-256 of the DER certificate, lowercase hex without colons (edge.cert.sha256, socks.ssl.client-cert-sha256). */
  readonly sha256: string;
}

export interface TestPki {
  readonly dir: string;
  readonly ca: CertFiles;
  /** Signed by `ca`, SAN IP:127.0.0.1, DNS:localhost and makePki's serverNames, serverAuth. */
  readonly server: CertFiles;
  /** Signed by `ca`, clientAuth. */
  readonly client: CertFiles;
  /** Self-signed, the server's SAN: a man in the middle without the CA's key. */
  readonly rogue: CertFiles;
}

export function fingerprint256(pem: Buffer | string): string {
  return new X509Certificate(pem).fingerprint256.replace(/:/g, "").toLowerCase();
}

async function openssl(args: string[], cwd: string): Promise<void> {
  await run("openssl", args, { cwd });
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

async function files(dir: string, name: string): Promise<CertFiles> {
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  const [cert, key] = await Promise.all([readFile(certFile), readFile(keyFile)]);
  return { certFile, keyFile, cert, key, sha256: fingerprint256(cert) };
}

async function leaf(dir: string, name: string, cn: string, ext: string): Promise<CertFiles> {
  await openssl(["req", ...EC, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`], dir);
  await writeFile(join(dir, `${name}.ext`), ext);
  await openssl(
    [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
    ],
    dir,
  );
  return files(dir, name);
}

/** `serverNames`: more subjectAltName entries for the server certificate (e.g. "IP:10.1.2.3"). */
export async function makePki(cleanup: Cleanup, serverNames: readonly string[] = []): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), "sallyport-pki-"));
  cleanup.add(`pki ${dir}`, () => rm(dir, { recursive: true, force: true }));
  const caExt = ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"];
  const san = `subjectAltName=${["IP:127.0.0.1", "DNS:localhost", ...serverNames].join(",")}`;
  await Promise.all([
    openssl(["req", "-x509", ...EC, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Sallyport Test CA", ...caExt], dir),
    openssl(
      ["req", "-x509", ...EC, "-keyout", "rogue.key", "-out", "rogue.pem", "-days", "2", "-subj", "/CN=localhost", "-addext", san],
      dir,
    ),
  ]);
  const [ca, rogue] = await Promise.all([files(dir, "ca"), files(dir, "rogue")]);
  const server = await leaf(dir, "server", "localhost", `${san}\nextendedKeyUsage=serverAuth\n`);
  const client = await leaf(dir, "client", "sallyport-connector", "extendedKeyUsage=clientAuth\n");
  return { dir, ca, server, client, rogue };
}
