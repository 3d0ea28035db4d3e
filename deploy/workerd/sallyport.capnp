# Sallyport edge, self-hosted: the same Worker and Durable Object that run on Cloudflare, served
# by the open-source runtime `workerd` on your own (DMZ) server. See deploy/workerd/README.md.
#
#   workerd serve /etc/sallyport-edge/sallyport.capnp --import-path=SECRETS_DIR
#
# Files, relative to this one (`tsx deploy/workerd/build.ts --out DIR` writes the first two):
#   edge.js               the edge bundle (edge/index.ts, bundled as for Cloudflare)
#   sallyport.capnp       this file
#   services.json         SALLYPORT_SERVICES: the [vars.SALLYPORT_SERVICES] of wrangler.toml as JSON
#   tls/edge.crt          the edge's certificate chain (PEM, leaf first)
#   tls/connector-ca.pem  the CA(s) whose certificates connectors present (socks.ssl.verify-client)
# Secrets, found through --import-path (an absolute embed, "/name", is looked up there; the
# systemd unit passes its credentials directory, so the files can stay root-only):
#   /edge.key               the edge's private key (PEM)
#   /connector-tokens.json  SALLYPORT_CONNECTOR_TOKENS: {"service": ["token", ...]}
#   /client-tokens.json     SALLYPORT_CLIENT_TOKENS (services with client.auth "token"); {} if none
# and from the environment, optionally:
#   SALLYPORT_ADMIN_TOKEN   bearer token for /_sallyport/status (unset: status disabled)
#   SALLYPORT_RESUME_SECRET key of resume tickets, 32+ characters, kept across restarts
#                           (unset: sessions do not resume across a restart; docs/protocol.md, "Resume")
#
# Two listeners, because a TLS listener either demands a client certificate from everyone or asks
# no one, and the Worker never sees the certificate:
#   "https"       (*:443)  clients, and connectors of services that do not require a certificate.
#                          No client certificate is requested. Served by worker "edge", which does
#                          not set SALLYPORT_TLS, so it judges verify-client as on Cloudflare from
#                          `request.cf`; workerd gives no `request.cf` here (no cfBlobHeader), which
#                          reads as "no certificate": a service with "required" refuses the bind.
#   "connectors"  (*:8443) connectors only. The TLS handshake fails unless the connector presents
#                          a certificate that chains to tls/connector-ca.pem. Served by worker
#                          "edge-mtls", whose SALLYPORT_TLS = "workerd" tells the edge that the
#                          listener has verified it. Both workers share one Durable Object
#                          namespace, so a connector here and a client on "https" meet.
# The addresses are defaults: override them without editing this file, e.g.
#   --socket-addr https=203.0.113.10:443 --socket-addr connectors=10.0.0.5:8443
# A deployment where no service requires a certificate can drop the "connectors" socket, the
# "edge-mtls" service and tls/connector-ca.pem.

using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "edge", worker = .edgeWorker),
    (name = "edge-mtls", worker = .mtlsWorker),
    # Durable Object state (SQLite files). Override with --directory-path storage=PATH.
    (name = "storage", disk = (path = "/var/lib/sallyport-edge", writable = true)),
  ],
  sockets = [
    ( name = "https", address = "*:443", service = "edge",
      https = (options = .listenerHttp, tlsOptions = .publicTls) ),
    ( name = "connectors", address = "*:8443", service = "edge-mtls",
      https = (options = .listenerHttp, tlsOptions = .connectorTls) ),
  ],
);

# cf-connecting-ip means something only behind Cloudflare; here a client could send any value,
# so each listener removes it (a header injected without a value is removed).
const listenerHttp :Workerd.HttpOptions = (
  injectRequestHeaders = [(name = "cf-connecting-ip")],
);

const publicTls :Workerd.TlsOptions = (
  keypair = (privateKey = embed "/edge.key", certificateChain = embed "tls/edge.crt"),
  minVersion = tls1Dot2,
);

const connectorTls :Workerd.TlsOptions = (
  keypair = (privateKey = embed "/edge.key", certificateChain = embed "tls/edge.crt"),
  minVersion = tls1Dot2,
  requireClientCerts = true,
  # Only this CA: never the public web's.
  trustBrowserCas = false,
  trustedCertificates = [embed "tls/connector-ca.pem"],
);

# Must match compatibility_date in wrangler.toml (test/e2e/self-hosted.test.ts checks it).
const edgeWorker :Workerd.Worker = (
  modules = [(name = "edge.js", esModule = embed "edge.js")],
  compatibilityDate = "2026-08-01",
  bindings = [
    (name = "SALLYPORT_SERVICES", json = embed "services.json"),
    # Secrets as text, not json: a malformed file is reported by the edge without quoting it.
    (name = "SALLYPORT_CONNECTOR_TOKENS", text = embed "/connector-tokens.json"),
    (name = "SALLYPORT_CLIENT_TOKENS", text = embed "/client-tokens.json"),
    # Optional: the status endpoints' bearer token. Unset (null) = status disabled.
    (name = "SALLYPORT_ADMIN_TOKEN", fromEnvironment = "SALLYPORT_ADMIN_TOKEN"),
    # Optional: the resume tickets' key; the same in both workers, and across restarts.
    (name = "SALLYPORT_RESUME_SECRET", fromEnvironment = "SALLYPORT_RESUME_SECRET"),
    (name = "SERVICE", durableObjectNamespace = "ServiceObject"),
  ],
  durableObjectNamespaces = [
    # uniqueKey derives the objects' ids and names their storage directory: keep it. (The objects
    # store only their next alarm; parked binds and sessions are sockets, gone at a restart.)
    (className = "ServiceObject", uniqueKey = "sallyport-edge-ServiceObject", enableSql = true),
  ],
  durableObjectStorage = (localDisk = "storage"),
);

const mtlsWorker :Workerd.Worker = (
  modules = [(name = "edge.js", esModule = embed "edge.js")],
  compatibilityDate = "2026-08-01",
  bindings = [
    (name = "SALLYPORT_SERVICES", json = embed "services.json"),
    (name = "SALLYPORT_CONNECTOR_TOKENS", text = embed "/connector-tokens.json"),
    (name = "SALLYPORT_CLIENT_TOKENS", text = embed "/client-tokens.json"),
    (name = "SALLYPORT_ADMIN_TOKEN", fromEnvironment = "SALLYPORT_ADMIN_TOKEN"),
    (name = "SALLYPORT_RESUME_SECRET", fromEnvironment = "SALLYPORT_RESUME_SECRET"),
    # Only ever reachable through the "connectors" socket, whose handshake verified the connector.
    (name = "SALLYPORT_TLS", text = "workerd"),
    # The objects live in "edge"; this worker only routes to them.
    (name = "SERVICE", durableObjectNamespace = (className = "ServiceObject", serviceName = "edge")),
  ],
);
