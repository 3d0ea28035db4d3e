import net from "node:net";
import { within } from "./wait.ts";

/**
 * A port on 127.0.0.1 that was free a moment ago: the OS picks it (port 0), we close the
 * listener and hand the number out. For things that must know their port before a
 * listener exists (a connector started before its edge, an edge restarted in place).
 */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await within(
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", resolve);
    }),
    5000,
    "a free port",
  );
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Listens on 127.0.0.1:`port` (0 = any); resolves with the bound port. */
export function listen(server: net.Server, port = 0): Promise<number> {
  return within(
    new Promise<number>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve((server.address() as net.AddressInfo).port);
      });
    }),
    5000,
    `listen on 127.0.0.1:${port}`,
  );
}

/** Closes a server and destroys its open sockets. */
export function closeServer(server: net.Server, sockets: Iterable<net.Socket>): Promise<void> {
  for (const s of sockets) s.destroy();
  return within(new Promise<void>((resolve) => server.close(() => resolve())), 5000, "server close");
}
