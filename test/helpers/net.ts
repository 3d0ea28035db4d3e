import { readFileSync } from "node:fs";
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

/**
 * The most one loopback TCP hop can hold when its reader stops reading: the sender's send
 * queue and the receiver's receive queue, each at the ceiling the kernel's autotuning may grow
 * it to (net.ipv4.tcp_wmem and tcp_rmem, third field). Read from this machine, because that
 * ceiling differs between machines (6 MiB receive on a Debian default, 32 MiB on this VM) and a
 * flow-control test that hard-codes one fails on the other.
 */
export function loopbackHopBytes(): number {
  const ceiling = (name: string): number => {
    const fields = readFileSync(`/proc/sys/net/ipv4/${name}`, "utf8").trim().split(/\s+/).map(Number);
    const max = fields[2];
    if (max === undefined || !Number.isFinite(max)) throw new Error(`/proc/sys/net/ipv4/${name}: expected three numbers`);
    return max;
  };
  return ceiling("tcp_wmem") + ceiling("tcp_rmem");
}
