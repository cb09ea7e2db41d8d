/** Loopback port probes for tests and benchmarks. */
import net from 'node:net';

/**
 * Binds `host:port` (port 0: any free one) and releases it at once; resolves with the
 * port, rejects (EADDRINUSE) when it is taken. Nothing listens there afterwards, so it
 * also serves as a "connection refused" port.
 */
export function probePort(host: string, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(port, host, () => {
      const bound = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(bound));
    });
  });
}
