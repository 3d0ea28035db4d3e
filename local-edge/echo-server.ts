import net from "node:net";

/**
 * The echo backend: `sallyport dev`'s built-in one, the bench's, and the tests'. Echoes every
 * byte and honours half-close (a FIN from the client is echoed once the bytes before it are).
 */

export interface EchoServerOptions {
  /** 127.0.0.1 port to listen on; 0 (the default) picks a free one. */
  readonly port?: number;
  /** Written first on every connection, before any echo (tells tests which backend answered). */
  readonly greeting?: string;
  readonly backlog?: number;
  /** Called on every accepted connection (tests wait on it: a peer's connect callback can run before our accept). */
  readonly onConnection?: () => void;
}

export interface EchoServer {
  readonly port: number;
  /** Connections accepted so far. */
  connections(): number;
  /** Stops listening and destroys every open connection. */
  stop(): Promise<void>;
}

export async function startEchoServer(opts: EchoServerOptions = {}): Promise<EchoServer> {
  const sockets = new Set<net.Socket>();
  let count = 0;
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    count++;
    opts.onConnection?.();
    sockets.add(s);
    s.setNoDelay(true);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => s.destroy());
    if (opts.greeting !== undefined) s.write(opts.greeting);
    s.pipe(s);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port: opts.port ?? 0, host: "127.0.0.1", backlog: opts.backlog }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => count,
    stop: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
