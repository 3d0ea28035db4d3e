import net from "node:net";

/**
 * A TCP tool run inside a network namespace (`ip netns exec NS node --import tsx …`), where
 * the test's own process cannot open sockets:
 *   echo HOST            listen on HOST port 0, print `listening PORT`, then `accepted ADDRESS`
 *                        for each connection, and echo its bytes
 *   connect HOST PORT MS try one connection, print `connected`, `refused`, `timeout` (no
 *                        answer within MS: a firewall that drops) or `failed CODE`, exit 0
 */

const [mode, host, port, ms] = process.argv.slice(2);

if (mode === "echo") {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    process.stdout.write(`accepted ${s.remoteAddress}\n`);
    s.on("error", () => s.destroy());
    s.pipe(s);
  });
  server.listen(0, host, () => process.stdout.write(`listening ${(server.address() as net.AddressInfo).port}\n`));
} else if (mode === "connect") {
  const socket = net.connect({ host: host!, port: Number(port) });
  const done = (outcome: string): void => {
    clearTimeout(timer);
    socket.destroy();
    process.stdout.write(`${outcome}\n`);
  };
  const timer = setTimeout(() => done("timeout"), Number(ms));
  socket.on("connect", () => done("connected"));
  socket.on("error", (e: NodeJS.ErrnoException) => done(e.code === "ECONNREFUSED" ? "refused" : `failed ${e.code ?? e.message}`));
} else {
  process.stderr.write("usage: netns-tcp.ts echo HOST | connect HOST PORT MS\n");
  process.exitCode = 2;
}
