// DnsResolver and error classification against a real DNS server on loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestDns } from '../../test/helpers/test-dns.js';
import { classifyDnsError, DnsResolver } from './resolver.js';

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  assert.fail('the lookup succeeded');
}

test('resolves MX, A and AAAA through the configured server', async (t) => {
  const dns = await startTestDns();
  t.after(() => dns.close());
  const resolver = new DnsResolver({ servers: [dns.address], timeoutMs: 300, tries: 1 });
  assert.deepEqual(resolver.servers(), [dns.address]);

  dns.zone.mx('example.org', [{ preference: 10, exchange: 'mx.example.org' }]);
  dns.zone.nullMx('nomail.example');
  dns.zone.a('mx.example.org', ['127.0.0.3']);
  dns.zone.aaaa('mx.example.org', ['2001:db8::3']);
  assert.deepEqual(await resolver.resolveMx('example.org'), [{ exchange: 'mx.example.org', priority: 10 }]);
  // node reports the root exchange of a null MX as ''.
  assert.deepEqual(await resolver.resolveMx('nomail.example'), [{ exchange: '', priority: 0 }]);
  assert.deepEqual(await resolver.resolve4('mx.example.org'), ['127.0.0.3']);
  assert.deepEqual(await resolver.resolve6('mx.example.org'), ['2001:db8::3']);
});

test('classifies what node reports for each DNS outcome', async (t) => {
  const dns = await startTestDns();
  t.after(() => dns.close());
  const resolver = new DnsResolver({ servers: [dns.address], timeoutMs: 300, tries: 1 });
  dns.zone.a('host.example', ['127.0.0.3']);
  dns.zone.servfail('broken.example');
  dns.zone.refused('refused.example');
  dns.zone.timeout('slow.example');

  const cases: [string, Promise<unknown>, string, string][] = [
    ['NXDOMAIN', resolver.resolveMx('nosuch.example'), 'ENOTFOUND', 'nxdomain'],
    ['NOERROR, no answer', resolver.resolveMx('host.example'), 'ENODATA', 'nodata'],
    ['empty non-terminal', resolver.resolve4('example'), 'ENODATA', 'nodata'],
    ['SERVFAIL', resolver.resolveMx('broken.example'), 'ESERVFAIL', 'temporary'],
    ['REFUSED', resolver.resolve4('refused.example'), 'EREFUSED', 'temporary'],
    ['no answer', resolver.resolve6('slow.example'), 'ETIMEOUT', 'temporary'],
  ];
  for (const [what, lookup, code, kind] of cases) {
    const c = classifyDnsError(await failure(lookup));
    assert.deepEqual([c.code, c.kind], [code, kind], what);
    assert.ok(c.text.length > 0);
  }
});

test('a server that is not there: ECONNREFUSED, temporary', async (t) => {
  const dns = await startTestDns();
  t.after(() => dns.close());
  await dns.close();
  const resolver = new DnsResolver({ servers: [dns.address], timeoutMs: 300, tries: 1 });
  const c = classifyDnsError(await failure(resolver.resolveMx('example.org')));
  assert.deepEqual([c.code, c.kind], ['ECONNREFUSED', 'temporary']);
});

test('a cancelled query is temporary', async (t) => {
  const dns = await startTestDns();
  t.after(() => dns.close());
  dns.zone.timeout('slow.example');
  const resolver = new DnsResolver({ servers: [dns.address], timeoutMs: 300, tries: 1 });
  const pending = resolver.resolveMx('slow.example');
  resolver.cancel();
  const c = classifyDnsError(await failure(pending));
  assert.deepEqual([c.code, c.kind], ['ECANCELLED', 'temporary']);
});

test('unknown errors are temporary', () => {
  assert.equal(classifyDnsError(new Error('boom')).kind, 'temporary');
  assert.equal(classifyDnsError(Object.assign(new Error('x'), { code: 'EWHATEVER' })).kind, 'temporary');
  assert.match(classifyDnsError(Object.assign(new Error('x'), { code: 'EWHATEVER' })).text, /EWHATEVER/);
  assert.equal(classifyDnsError(undefined).kind, 'temporary');
  assert.equal(classifyDnsError('text').kind, 'temporary');
});

test('server list forms: ip, ip:port, [v6], [v6]:port; empty means the system resolvers', () => {
  const r = new DnsResolver({ servers: ['127.0.0.1', '127.0.0.1:5353', '[::1]', '[::1]:5353', '::2', '127.0.0.2:53'] });
  // node drops the default port 53 from what it reports (and merges duplicates).
  assert.deepEqual(r.servers(), ['127.0.0.1', '127.0.0.1:5353', '::1', '[::1]:5353', '::2', '127.0.0.2']);
  assert.doesNotThrow(() => new DnsResolver({ servers: [] }));
});

test('a bad server entry throws a RangeError instead of reaching node', () => {
  // node 20 aborts the process on "127.0.0.1:0" (a native assertion) and drops the port of
  // "[::1]:0"; neither may get to setServers().
  for (const bad of ['127.0.0.1:0', '[::1]:0', '127.0.0.1:65536', 'localhost', 'dns.example:53', '']) {
    assert.throws(() => new DnsResolver({ servers: [bad] }), RangeError, bad);
  }
});
