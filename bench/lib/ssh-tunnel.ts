import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";
import { freePort, launch, probe, type TunnelSpec } from "./tunnels.ts";

/**
 * OpenSSH in Sallyport's shape, for the "where the user pays" comparison (issue 15): a
 * throwaway sshd is the edge, `ssh -R` dials out to it from the trusted side (the connector),
 * and `ssh -L` on the client's machine carries each local connection to the port the -R
 * forward listens on (the client side, as `sallyport client` is). Same roles as Sallyport
 * (client, edge, connector), so CPU-s per GiB compares process for process.
 *
 * Both ssh processes run a session (`exec sleep`), not -N: sshd sets TCP_NODELAY on its
 * socket only when a session starts (../shared/bench/RESULTS-peers.md), so this is ssh at
 * its fastest. The cipher is pinned so its class matches the TLS suite Sallyport negotiates.
 */

/** Cipher names as OpenSSH spells them, by the short name the bench's --tunnels uses. */
export const SSH_CIPHERS = {
  "ssh-aes128": "aes128-gcm@openssh.com",
  "ssh-aes256": "aes256-gcm@openssh.com",
  "ssh-chacha": "chacha20-poly1305@openssh.com",
} as const;

export type SshTunnelName = keyof typeof SSH_CIPHERS;

export function sshTunnel(name: SshTunnelName): TunnelSpec {
  const cipher = SSH_CIPHERS[name];
  return {
    name,
    kind: "ssh",
    up: (env, opts) =>
      launch(env, name, async (l) => {
        const state = join(env.logDir, `${name}-${l.n}-state`);
        mkdirSync(state, { recursive: true, mode: 0o700 });
        // sshd's privilege-separation directory; absent on a machine that never ran sshd.
        mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
        for (const key of ["host_key", "user_key"]) execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(state, key)]);
        const [edgePort, forwardPort, localPort] = [await freePort(), await freePort(), await freePort()];
        const user = userInfo().username;
        const restrictions = `restrict,port-forwarding,permitlisten="127.0.0.1:${forwardPort}",permitopen="127.0.0.1:${forwardPort}"`;
        writeFileSync(join(state, "authorized_keys"), `${restrictions} ${readFileSync(join(state, "user_key.pub"), "utf8")}`);
        const hostKey = readFileSync(join(state, "host_key.pub"), "utf8").split(" ").slice(0, 2).join(" ");
        writeFileSync(join(state, "known_hosts"), `[127.0.0.1]:${edgePort} ${hostKey}\n`);
        writeFileSync(
          join(state, "sshd_config"),
          [
            `ListenAddress 127.0.0.1:${edgePort}`,
            `HostKey ${join(state, "host_key")}`,
            `PidFile ${join(state, "sshd.pid")}`,
            `AuthorizedKeysFile ${join(state, "authorized_keys")}`,
            `AllowUsers ${user}`,
            "AuthenticationMethods publickey",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "PermitRootLogin prohibit-password",
            "StrictModes no",
            "AllowTcpForwarding yes",
            "GatewayPorts no",
            "X11Forwarding no",
            "PermitTTY no",
            "MaxStartups 100:30:200",
            `Ciphers ${cipher}`,
            "LogLevel ERROR",
            "",
          ].join("\n"),
        );
        const edge = l.spawn("edge", ["-D", "-e", "-f", join(state, "sshd_config")], env.repoRoot, "/usr/sbin/sshd");
        const ssh = (role: string, forward: string[]) =>
          l.spawn(
            role,
            [
              "-F",
              "/dev/null",
              "-i",
              join(state, "user_key"),
              "-o",
              "IdentitiesOnly=yes",
              "-o",
              "BatchMode=yes",
              "-o",
              "ExitOnForwardFailure=yes",
              "-o",
              `UserKnownHostsFile=${join(state, "known_hosts")}`,
              "-o",
              "GlobalKnownHostsFile=/dev/null",
              "-o",
              "ConnectionAttempts=20",
              "-o",
              "LogLevel=ERROR",
              "-c",
              cipher,
              "-p",
              String(edgePort),
              "-T",
              ...forward,
              `${user}@127.0.0.1`,
              "exec sleep 86400",
            ],
            env.repoRoot,
            "ssh",
          );
        const connector = ssh("connector", ["-R", `127.0.0.1:${forwardPort}:127.0.0.1:${opts.backendPort}`]);
        const client = ssh("client", ["-L", `127.0.0.1:${localPort}:127.0.0.1:${forwardPort}`]);
        const addr = { host: "127.0.0.1", port: localPort };
        // Neither ssh says when its forward is up: a session end to end is the signal.
        await probe(addr, opts.backendKind, 30_000);
        return { addr, roles: { client: { pids: [client.pid] }, edge: { pids: [edge.pid] }, connector: { pids: [connector.pid] } } };
      }),
  };
}
