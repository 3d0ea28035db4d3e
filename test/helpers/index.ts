/** The e2e tier's toolkit: real edge, real connector processes, real sockets on 127.0.0.1. */
export * from "./backends.ts";
export * from "./cleanup.ts";
export * from "./connector.ts";
export * from "./edge.ts";
export * from "./files.ts";
export * from "./net.ts";
export * from "./processes.ts";
export * from "./proxy.ts";
export * from "./wait.ts";
export * from "./wire-tap.ts";
export * from "./ws-client.ts";
