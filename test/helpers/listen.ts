import type { AddressInfo, Server } from 'node:net';

/**
 * Listens on an ephemeral port of `host`; returns the port and the host as
 * it goes in a URL (IPv6 in brackets).
 */
export async function listenEphemeral(server: Pick<Server, 'once' | 'listen' | 'removeListener' | 'address'>, host: string): Promise<{ port: number; urlHost: string }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host, exclusive: true }, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return { port, urlHost: host.includes(':') ? `[${host}]` : host };
}
