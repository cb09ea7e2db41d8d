/**
 * A small internet on loopback for outbound delivery tests (issue #3): a real DNS server
 * and several posta servers, each on its own address (127.0.0.2, 127.0.0.3, ...) and all
 * on one common SMTP port, the port they deliver to (`delivery.smtp_port`).
 */
import type { TestContext } from 'node:test';
import { startTestServer, type TestServer } from './harness.js';
import { probePort } from './ports.js';
import { PASSWORD } from './smtp-fixtures.js';
import { startTestDns, type TestDns } from './test-dns.js';

type Overrides = Parameters<typeof startTestServer>[0];

export interface MailNetwork {
  dns: TestDns;
  /** The SMTP port every host of this network listens on and delivers to. */
  smtpPort: number;
  /**
   * Starts a posta server for `domain` on `ip`: MX record, A record, the domain and the
   * given users (password PASSWORD). Closed after the test.
   */
  addServer(ip: string, domain: string, users: string[], overrides?: Overrides): Promise<TestServer>;
  /** Publishes MX and A records for a domain served at `ip` (by a fake MX, or by nobody). */
  publish(domain: string, ip: string): void;
}

/** Fast retries for tests; each test overrides what it needs. */
export const FAST_QUEUE = { retry_min: '200ms', retry_max: '400ms', delay_warning: '1h', lifetime: '1h' };

export async function startMailNetwork(t: TestContext): Promise<MailNetwork> {
  const dns = await startTestDns();
  t.after(() => dns.close());
  const smtpPort = await freePortOn(['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5']);
  const network: MailNetwork = {
    dns,
    smtpPort,
    publish(domain, ip) {
      dns.zone.mx(domain, [{ preference: 10, exchange: `mx.${domain}` }]);
      dns.zone.a(`mx.${domain}`, [ip]);
    },
    async addServer(ip, domain, users, overrides = {}) {
      network.publish(domain, ip);
      const server = await startTestServer({
        hostname: `mx.${domain}`,
        primary_domain: domain,
        dns: { servers: [dns.address], timeout: '2s' },
        queue: FAST_QUEUE,
        ...overrides,
        listen: { smtp: `${ip}:${smtpPort}`, submission: '127.0.0.1:0', submissions: '', ...overrides.listen },
        delivery: { smtp_port: smtpPort, command_timeout: '10s', data_timeout: '10s', connect_timeout: '5s', ...overrides.delivery },
      });
      t.after(() => server.close());
      await server.admin.addDomain(domain);
      for (const user of users) await server.admin.addUser(`${user}@${domain}`, PASSWORD);
      return server;
    },
  };
  return network;
}

/** A port number free on every one of the addresses (probed by binding each). */
async function freePortOn(ips: string[]): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await probePort(ips[0]);
    let free = true;
    for (const ip of ips.slice(1)) {
      if ((await probePort(ip, port).catch(() => null)) === null) {
        free = false;
        break;
      }
    }
    if (free) return port;
  }
  throw new Error(`no port free on all of ${ips.join(', ')}`);
}
