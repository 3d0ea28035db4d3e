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
  /** The name the Worker addressed the object by (idFromName): the object puts it in the tickets it issues. */
  objectName: "x-sallyport-object-name",
  /** A verified resume (edge/resume-request.ts): JSON {sessionId, epoch, received, end}. */
  resume: "x-sallyport-resume",
});
