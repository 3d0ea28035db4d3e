/**
 * Headers the Worker sets when it hands a request to a service object. The Worker strips
 * any copy arriving from outside first, so the object can trust them.
 */
export const INTERNAL_HEADERS = Object.freeze({
  service: "x-sallyport-service",
  role: "x-sallyport-role",
  clientAddress: "x-sallyport-client-address",
  /** SHA-256 (hex) of the service token that admitted a connector (auth.ts Credential). */
  credential: "x-sallyport-credential",
  /** "sallyport" when the client negotiated the client subprotocol. */
  clientProtocol: "x-sallyport-client-protocol",
  /** The protocol version the Worker selected from the offered subprotocols ("1", "2"). */
  version: "x-sallyport-version",
  /** "1" for a Sallyport client's session opened ahead of use (STANDBY_HEADER). */
  standby: "x-sallyport-standby",
  /**
   * The name the Worker gave idFromName for this object (edge/shards.ts objectName: service, or
   * service#shard); the object puts it in the tickets it issues, so a resume finds its shard.
   */
  objectName: "x-sallyport-object-name",
  /** "1": a client's first-choice shard, which declines it (COLD_SHARD) when it has no parked bind. */
  declineIfCold: "x-sallyport-decline-if-cold",
  /** A verified resume (edge/resume-request.ts): JSON {sessionId, epoch, received, end}. */
  resume: "x-sallyport-resume",
});

/**
 * The object's answer to a client sent with declineIfCold when it has no parked bind: the
 * WebSocket is not accepted, so the Worker can still send the client to another shard.
 * Never leaves the Worker.
 */
export const COLD_SHARD = { status: 503, header: "x-sallyport-cold-shard" } as const;
