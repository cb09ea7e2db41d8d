// The loopback test DNS server itself, queried through node's own resolver (c-ares).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { promises as dnsPromises } from 'node:dns';
import { startTestDns } from './helpers/test-dns.js';

function resolverFor(address: string): dnsPromises.Resolver {
  const r = new dnsPromises.Resolver({ timeout: 300, tries: 1 });
  r.setServers([address]);
  return r;
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? 'unknown';
  }
}

test('answers from the zone; NXDOMAIN vs NODATA; names are case-insensitive', async (t) => {
  const dns = await startTestDns();
  t.after(() => dns.close());
  assert.equal(dns.address, `127.0.0.1:${dns.port}`);
  const r = resolverFor(dns.address);

  dns.zone.mx('Example.ORG.', [
    { preference: 10, exchange: 'mx1.example.org' },
    { preference: 20, exchange: 'mx2.example.org' },
  ]);
  dns.zone.a('mx1.example.org', ['127.0.0.3']);
  dns.zone.aaaa('mx1.example.org', ['::1', '2001:db8::1', '::ffff:192.0.2.1']);

  assert.deepEqual(await r.resolveMx('EXAMPLE.org'), [
    { exchange: 'mx1.example.org', priority: 10 },
    { exchange: 'mx2.example.org', priority: 20 },
  ]);
  assert.deepEqual(await r.resolve4('MX1.example.org'), ['127.0.0.3']);
  assert.deepEqual(await r.resolve6('mx1.example.org'), ['::1', '2001:db8::1', '::ffff:192.0.2.1']);
  assert.equal(await code(r.resolve4('nosuch.example')), 'ENOTFOUND');
  assert.equal(await code(r.resolve4('example.org')), 'ENODATA'); // has MX only
  assert.equal(await code(r.resolveMx('org')), 'ENODATA'); // parent of a name: exists (RFC 8020)
  assert.equal(await code(r.resolveMx('mx2.example.org')), 'ENOTFOUND'); // only named as an exchange
});

test('failures: servfail, refused, timeout, per name and optionally per type', async (t) => {
  const dns = await startTestDns();
  t.after(() => dns.close());
  const r = resolverFor(dns.address);
  dns.zone.servfail('broken.example');
  dns.zone.refused('refused.example');
  dns.zone.timeout('slow.example');
  dns.zone.a('half.example', ['127.0.0.4']);
  dns.zone.servfail('half.example', ['AAAA']);

  assert.equal(await code(r.resolveMx('broken.example')), 'ESERVFAIL');
  assert.equal(await code(r.resolve4('broken.example')), 'ESERVFAIL');
  assert.equal(await code(r.resolveMx('refused.example')), 'EREFUSED');
  assert.equal(await code(r.resolveMx('slow.example')), 'ETIMEOUT');
  assert.deepEqual(await r.resolve4('half.example'), ['127.0.0.4']);
  assert.equal(await code(r.resolve6('half.example')), 'ESERVFAIL');

  dns.zone.heal('broken.example'); // exists without records now
  assert.equal(await code(r.resolveMx('broken.example')), 'ENODATA');
});

test('records change while the server runs; remove and clear', async (t) => {
  const dns = await startTestDns();
  t.after(() => dns.close());
  const r = resolverFor(dns.address);
  dns.zone.a('host.example', ['127.0.0.5']);
  assert.deepEqual(await r.resolve4('host.example'), ['127.0.0.5']);
  dns.zone.a('host.example', ['127.0.0.6']); // TTL 0: no cache may keep the old answer
  assert.deepEqual(await r.resolve4('host.example'), ['127.0.0.6']);
  dns.zone.remove('HOST.example');
  assert.equal(await code(r.resolve4('host.example')), 'ENOTFOUND');
  dns.zone.a('other.example', ['127.0.0.7']);
  dns.zone.clear();
  assert.equal(await code(r.resolve4('other.example')), 'ENOTFOUND');
});

test('counts queries per name and type', async (t) => {
  const dns = await startTestDns();
  t.after(() => dns.close());
  const r = resolverFor(dns.address);
  dns.zone.a('host.example', ['127.0.0.5']);
  await r.resolve4('host.example');
  await r.resolve4('Host.Example');
  await code(r.resolveMx('host.example'));
  assert.equal(dns.queries('host.example', 'A'), 2);
  assert.equal(dns.queries('host.example', 'MX'), 1);
  assert.equal(dns.queries('HOST.example.'), 3);
  assert.equal(dns.queries('host.example', 'AAAA'), 0);
  dns.resetQueries();
  assert.equal(dns.queries('host.example'), 0);
});

test('an answer too big for UDP is truncated and retried over TCP on the same port', async (t) => {
  const dns = await startTestDns();
  t.after(() => dns.close());
  const r = resolverFor(dns.address);
  const many = Array.from({ length: 60 }, (_, i) => `127.0.1.${i}`);
  dns.zone.a('big.example', many);
  assert.deepEqual(await r.resolve4('big.example'), many);
  assert.equal(dns.queries('big.example', 'A'), 2); // UDP (TC=1), then TCP
});

test('close() releases the UDP and TCP sockets', async () => {
  const dns = await startTestDns();
  const r = resolverFor(dns.address);
  dns.zone.a('big.example', Array.from({ length: 60 }, (_, i) => `127.0.1.${i}`));
  await r.resolve4('big.example'); // leaves an idle TCP connection open on the server
  await dns.close();
  await dns.close(); // idempotent

  const udp = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(dns.port, '127.0.0.1', () => resolve());
  });
  await new Promise<void>((resolve) => udp.close(() => resolve()));
  const tcp = net.createServer();
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(dns.port, '127.0.0.1', () => resolve());
  });
  await new Promise<void>((resolve) => tcp.close(() => resolve()));
});
