/** Starting an HTTP server of ours: one way for the API, the relay and the codec server. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Listens on `host:port` (port 0 picks a free one) and resolves with the bound address; rejects when the server cannot
 * listen (the port is taken, the host is not ours).
 */
export function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}
