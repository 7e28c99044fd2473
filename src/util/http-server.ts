import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Starts `server` listening; resolves with the bound port, rejects with the listen error (EADDRINUSE, ...). */
export async function listen(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/** Stops listening and closes open connections (keep-alive ones included); resolves once closed. */
export async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
