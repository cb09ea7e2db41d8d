// MX routing against a real DNS server on loopback (DESIGN.md §7): RFC 5321 §5.1, RFC 7505.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startTestDns, type TestDns } from '../../test/helpers/test-dns.js';
import { MxRouter, type MxRouterOptions } from './mx-route.js';
import { DnsResolver } from './resolver.js';
import type { Route } from './types.js';
import { prng } from '../../test/helpers/prng.js';

const OUR_ADDRESS = '127.0.0.99';

async function setup(
  t: TestContext,
  options: Partial<Omit<MxRouterOptions, 'lookup'>> = {},
): Promise<{ dns: TestDns; router: MxRouter }> {
  const dns = await startTestDns();
  t.after(() => dns.close());
  // Short timeout and a single try keep the timeout cases quick; no test asserts durations.
  const lookup = new DnsResolver({ servers: [dns.address], timeoutMs: 300, tries: 1 });
  const router = new MxRouter({
    lookup,
    ourHostnames: ['mail.ours.example'],
    isOurAddress: (ip) => ip === OUR_ADDRESS,
    ...options,
  });
  return { dns, router };
}

function hostsOf(route: Route): { name: string; preference: number; addresses: string[] }[] {
  assert.equal(route.kind, 'hosts', JSON.stringify(route));
  return route.kind === 'hosts' ? route.hosts : [];
}

function errorOf(route: Route): { permanent: boolean; enhancedCode: string; text: string } {
  assert.equal(route.kind, 'error', JSON.stringify(route));
  return route.kind === 'error' ? route : { permanent: false, enhancedCode: '', text: '' };
}


test('MX hosts come by preference, each with its A then AAAA addresses', async (t) => {
  const { dns, router } = await setup(t);
  dns.zone.mx('example.org', [
    { preference: 20, exchange: 'MX2.Example.org.' },
    { preference: 10, exchange: 'mx1.example.org' },
  ]);
  dns.zone.a('mx1.example.org', ['127.0.0.3', '127.0.0.4']);
  dns.zone.aaaa('mx1.example.org', ['::1']);
  dns.zone.aaaa('mx2.example.org', ['2001:db8::25']);

  assert.deepEqual(hostsOf(await router.route('Example.ORG.')), [
    { name: 'mx1.example.org', preference: 10, addresses: ['127.0.0.3', '127.0.0.4', '::1'] },
    { name: 'mx2.example.org', preference: 20, addresses: ['2001:db8::25'] },
  ]);
});

test('equal preferences are shuffled with the injected random; groups never mix', async (t) => {
  const draws: number[] = [];
  let next = () => 0;
  const { dns, router } = await setup(t, {
    random: () => {
      const r = next();
      draws.push(r);
      return r;
    },
  });
  dns.zone.mx('example.org', [
    { preference: 10, exchange: 'first.example.org' },
    { preference: 20, exchange: 'b1.example.org' },
    { preference: 20, exchange: 'b2.example.org' },
    { preference: 20, exchange: 'b3.example.org' },
    { preference: 30, exchange: 'last.example.org' },
  ]);
  for (const h of ['first', 'b1', 'b2', 'b3', 'last']) dns.zone.a(`${h}.example.org`, ['127.0.0.5']);
  const names = async () => hostsOf(await router.route('example.org')).map((h) => h.name.split('.')[0]);

  // Random near 1 keeps each position (Fisher–Yates picks j = i): the DNS order.
  next = () => 0.999;
  assert.deepEqual(await names(), ['first', 'b1', 'b2', 'b3', 'last']);
  // Random 0 swaps each position with the group's first: [b1 b2 b3] → [b3 b2 b1] → [b2 b3 b1].
  next = () => 0;
  assert.deepEqual(await names(), ['first', 'b2', 'b3', 'b1', 'last']);
  // Only the group of three draws: singletons need no shuffle.
  draws.length = 0;
  await names();
  assert.equal(draws.length, 2);

  // Over a seeded sequence every order of the group shows up, always between first and last.
  const sequence = prng(7);
  next = sequence;
  const seen = new Set<string>();
  for (let i = 0; i < 40; i++) {
    const order = await names();
    assert.equal(order[0], 'first');
    assert.equal(order[4], 'last');
    assert.deepEqual([...order.slice(1, 4)].sort(), ['b1', 'b2', 'b3']);
    seen.add(order.join(' '));
  }
  assert.equal(seen.size, 6);
});

test('a host listed twice is tried once, at its best preference', async (t) => {
  const { dns, router } = await setup(t);
  dns.zone.mx('example.org', [
    { preference: 30, exchange: 'mx.example.org' },
    { preference: 10, exchange: 'MX.example.org' },
    { preference: 20, exchange: 'backup.example.org' },
  ]);
  dns.zone.a('mx.example.org', ['127.0.0.3']);
  dns.zone.a('backup.example.org', ['127.0.0.4']);
  assert.deepEqual(
    hostsOf(await router.route('example.org')).map((h) => [h.name, h.preference]),
    [
      ['mx.example.org', 10],
      ['backup.example.org', 20],
    ],
  );
});

test('no MX records: the domain itself is the implicit MX with preference 0', async (t) => {
  const { dns, router } = await setup(t);
  dns.zone.a('plain.example', ['127.0.0.7']);
  dns.zone.aaaa('plain.example', ['::1']);
  assert.deepEqual(hostsOf(await router.route('plain.example')), [
    { name: 'plain.example', preference: 0, addresses: ['127.0.0.7', '::1'] },
  ]);
  assert.equal(dns.queries('plain.example', 'MX'), 1);
});

test('no MX and no address records: permanent "no mail host"', async (t) => {
  const { dns, router } = await setup(t);
  // The domain exists (it has a child name) but has no records of its own.
  dns.zone.a('www.empty.example', ['127.0.0.8']);
  const e = errorOf(await router.route('empty.example'));
  assert.equal(e.permanent, true);
  assert.equal(e.enhancedCode, '5.1.2');
  assert.match(e.text, /no mail host for domain empty\.example/);
});

test('MX hosts without addresses: permanent 5.4.4, never the domain A record', async (t) => {
  const { dns, router } = await setup(t);
  dns.zone.mx('example.org', [
    { preference: 10, exchange: 'gone.example.org' }, // NXDOMAIN
    { preference: 20, exchange: 'bare.example.org' }, // exists, no A/AAAA
  ]);
  dns.zone.mx('bare.example.org', [{ preference: 10, exchange: 'elsewhere.example' }]);
  dns.zone.a('example.org', ['127.0.0.9']); // must not be used
  const e = errorOf(await router.route('example.org'));
  assert.equal(e.permanent, true);
  assert.equal(e.enhancedCode, '5.4.4');
  assert.match(e.text, /no address for the MX hosts of example\.org/);
  assert.equal(dns.queries('example.org', 'A'), 0);
  assert.equal(dns.queries('example.org', 'AAAA'), 0);
});

test('MX hosts whose lookups fail temporarily: temporary 4.4.3, no A fallback', async (t) => {
  const { dns, router } = await setup(t);
  dns.zone.mx('example.org', [
    { preference: 10, exchange: 'broken.example.org' },
    { preference: 20, exchange: 'gone.example.org' },
  ]);
  dns.zone.servfail('broken.example.org');
  dns.zone.a('example.org', ['127.0.0.9']);
  const e = errorOf(await router.route('example.org'));
  assert.equal(e.permanent, false);
  assert.equal(e.enhancedCode, '4.4.3');
  assert.match(e.text, /broken\.example\.org.*SERVFAIL/);
  assert.equal(dns.queries('example.org', 'A'), 0);

  // Once the host answers again the same domain routes (records change while the server runs).
  dns.zone.heal('broken.example.org');
  dns.zone.a('broken.example.org', ['127.0.0.10']);
  assert.deepEqual(hostsOf(await router.route('example.org')), [
    { name: 'broken.example.org', preference: 10, addresses: ['127.0.0.10'] },
  ]);
});

test('a host that fails temporarily keeps its place, without addresses, beside working hosts', async (t) => {
  const { dns, router } = await setup(t);
  dns.zone.mx('example.org', [
    { preference: 10, exchange: 'slow.example.org' },
    { preference: 20, exchange: 'gone.example.org' },
    { preference: 30, exchange: 'ok.example.org' },
  ]);
  dns.zone.timeout('slow.example.org');
  dns.zone.a('ok.example.org', ['127.0.0.11']);
  assert.deepEqual(hostsOf(await router.route('example.org')), [
    { name: 'slow.example.org', preference: 10, addresses: [] },
    { name: 'ok.example.org', preference: 30, addresses: ['127.0.0.11'] },
  ]);
});

test('one address family is enough when the other has none or fails', async (t) => {
  const { dns, router } = await setup(t);
  dns.zone.mx('example.org', [{ preference: 10, exchange: 'mx.example.org' }]);
  dns.zone.a('mx.example.org', ['127.0.0.12']);
  assert.deepEqual(hostsOf(await router.route('example.org')), [
    { name: 'mx.example.org', preference: 10, addresses: ['127.0.0.12'] },
  ]);
  dns.zone.a('mx.example.org', []);
  dns.zone.aaaa('mx.example.org', ['::1']);
  assert.deepEqual(hostsOf(await router.route('example.org')), [
    { name: 'mx.example.org', preference: 10, addresses: ['::1'] },
  ]);
  // A failure of one family does not hide the other's addresses.
  dns.zone.servfail('mx.example.org', ['A']);
  assert.deepEqual(hostsOf(await router.route('example.org')), [
    { name: 'mx.example.org', preference: 10, addresses: ['::1'] },
  ]);
});

test('null MX: permanent 5.1.10, no address lookups', async (t) => {
  const { dns, router } = await setup(t);
  dns.zone.nullMx('nomail.example');
  dns.zone.a('nomail.example', ['127.0.0.13']);
  const e = errorOf(await router.route('nomail.example'));
  assert.equal(e.permanent, true);
  assert.equal(e.enhancedCode, '5.1.10');
  assert.equal(e.text, 'domain nomail.example does not accept mail (null MX, RFC 7505)');
  assert.equal(dns.queries('nomail.example', 'A'), 0);
});

test('a null MX mixed with other MX records is ignored (RFC 7505 §3 forbids the mix)', async (t) => {
  const { dns, router } = await setup(t);
  dns.zone.mx('mixed.example', [
    { preference: 0, exchange: '.' },
    { preference: 10, exchange: 'mx.mixed.example' },
  ]);
  dns.zone.a('mx.mixed.example', ['127.0.0.14']);
  assert.deepEqual(hostsOf(await router.route('mixed.example')), [
    { name: 'mx.mixed.example', preference: 10, addresses: ['127.0.0.14'] },
  ]);

  // Only root exchanges but not a null MX (preference 10): no host to try.
  dns.zone.mx('odd.example', [{ preference: 10, exchange: '.' }]);
  const e = errorOf(await router.route('odd.example'));
  assert.equal(e.permanent, true);
  assert.equal(e.enhancedCode, '5.4.4');
});

test('NXDOMAIN: permanent 5.1.2', async (t) => {
  const { router } = await setup(t);
  const e = errorOf(await router.route('nosuch.example'));
  assert.deepEqual(e, {
    kind: 'error',
    permanent: true,
    enhancedCode: '5.1.2',
    text: 'domain nosuch.example does not exist (NXDOMAIN)',
  });
});

test('SERVFAIL, REFUSED and a timeout on the MX query: temporary 4.4.3 naming the cause', async (t) => {
  const { dns, router } = await setup(t);
  dns.zone.servfail('broken.example');
  dns.zone.refused('refused.example');
  dns.zone.timeout('slow.example');
  const cases: [string, RegExp][] = [
    ['broken.example', /SERVFAIL/],
    ['refused.example', /REFUSED/],
    ['slow.example', /timed out/],
  ];
  for (const [domain, cause] of cases) {
    const e = errorOf(await router.route(domain));
    assert.equal(e.permanent, false, domain);
    assert.equal(e.enhancedCode, '4.4.3', domain);
    assert.match(e.text, new RegExp(`MX lookup for ${domain.replace('.', '\\.')} failed`));
    assert.match(e.text, cause);
  }
});

test('implicit MX whose address lookups fail temporarily: temporary 4.4.3', async (t) => {
  const { dns, router } = await setup(t);
  dns.zone.aaaa('flaky.example', []); // exists: the MX query answers NODATA
  dns.zone.servfail('flaky.example', ['A']);
  const e = errorOf(await router.route('flaky.example'));
  assert.equal(e.permanent, false);
  assert.equal(e.enhancedCode, '4.4.3');
  assert.match(e.text, /address lookup for flaky\.example failed: .*SERVFAIL/);
});

test('we are an MX: hosts with our preference or worse are dropped', async (t) => {
  const { dns, router } = await setup(t);
  dns.zone.mx('example.org', [
    { preference: 10, exchange: 'primary.example.org' },
    { preference: 20, exchange: 'mail.ours.example' }, // us by name
    { preference: 20, exchange: 'peer.example.org' }, // equal preference: dropped too
    { preference: 30, exchange: 'backup.example.org' }, // worse: dropped
  ]);
  for (const h of ['primary', 'peer', 'backup']) dns.zone.a(`${h}.example.org`, ['127.0.0.15']);
  dns.zone.a('mail.ours.example', ['127.0.0.16']);
  assert.deepEqual(
    hostsOf(await router.route('example.org')).map((h) => h.name),
    ['primary.example.org'],
  );

  // Us by address, under another name, at the best preference: nothing is left.
  dns.zone.mx('loop.example', [
    { preference: 10, exchange: 'alias.loop.example' },
    { preference: 20, exchange: 'other.loop.example' },
  ]);
  dns.zone.a('alias.loop.example', [OUR_ADDRESS]);
  dns.zone.a('other.loop.example', ['127.0.0.17']);
  const e = errorOf(await router.route('loop.example'));
  assert.deepEqual(e, {
    kind: 'error',
    permanent: true,
    enhancedCode: '5.4.6',
    text: 'mail for loop.example loops back to myself',
  });
});

test('we are the only MX, even without addresses of our own: routing loop', async (t) => {
  const { dns, router } = await setup(t);
  dns.zone.mx('hosted.example', [{ preference: 10, exchange: 'MAIL.OURS.EXAMPLE.' }]);
  const e = errorOf(await router.route('hosted.example'));
  assert.equal(e.enhancedCode, '5.4.6');
  assert.equal(e.permanent, true);
});

test('implicit MX pointing at us: routing loop', async (t) => {
  const { dns, router } = await setup(t);
  dns.zone.a('self.example', [OUR_ADDRESS]);
  const e = errorOf(await router.route('self.example'));
  assert.equal(e.enhancedCode, '5.4.6');
  assert.equal(e.text, 'mail for self.example loops back to myself');
});

test('routeToHost: IP literals need no DNS', async (t) => {
  const { dns, router } = await setup(t);
  assert.deepEqual(hostsOf(await router.routeToHost('127.0.0.20')), [
    { name: '127.0.0.20', preference: 0, addresses: ['127.0.0.20'] },
  ]);
  assert.deepEqual(hostsOf(await router.routeToHost('[127.0.0.21]')), [
    { name: '127.0.0.21', preference: 0, addresses: ['127.0.0.21'] },
  ]);
  assert.deepEqual(hostsOf(await router.routeToHost('[::1]')), [{ name: '::1', preference: 0, addresses: ['::1'] }]);
  assert.deepEqual(hostsOf(await router.routeToHost('[IPv6:2001:db8::1]')), [
    { name: '2001:db8::1', preference: 0, addresses: ['2001:db8::1'] },
  ]);
  assert.equal(dns.queries('127.0.0.20'), 0);
});

test('routeToHost: a name gets A and AAAA, no MX lookup and no self check', async (t) => {
  const { dns, router } = await setup(t);
  dns.zone.mx('relay.example', [{ preference: 10, exchange: 'elsewhere.example' }]);
  dns.zone.a('relay.example', ['127.0.0.22']);
  dns.zone.aaaa('relay.example', ['::1']);
  assert.deepEqual(hostsOf(await router.routeToHost('Relay.Example')), [
    { name: 'relay.example', preference: 0, addresses: ['127.0.0.22', '::1'] },
  ]);
  assert.equal(dns.queries('relay.example', 'MX'), 0);

  dns.zone.a('mail.ours.example', [OUR_ADDRESS]);
  assert.deepEqual(hostsOf(await router.routeToHost('mail.ours.example')), [
    { name: 'mail.ours.example', preference: 0, addresses: [OUR_ADDRESS] },
  ]);
});

test('routeToHost: NXDOMAIN or no addresses is permanent 5.4.4, a failure temporary 4.4.3', async (t) => {
  const { dns, router } = await setup(t);
  let e = errorOf(await router.routeToHost('nosuch.example'));
  assert.deepEqual([e.permanent, e.enhancedCode], [true, '5.4.4']);
  assert.match(e.text, /NXDOMAIN/);

  dns.zone.mx('noaddr.example', [{ preference: 10, exchange: 'x.example' }]);
  e = errorOf(await router.routeToHost('noaddr.example'));
  assert.deepEqual([e.permanent, e.enhancedCode], [true, '5.4.4']);

  dns.zone.servfail('broken.example');
  e = errorOf(await router.routeToHost('broken.example'));
  assert.deepEqual([e.permanent, e.enhancedCode], [false, '4.4.3']);

  dns.zone.timeout('slow.example');
  e = errorOf(await router.routeToHost('slow.example'));
  assert.deepEqual([e.permanent, e.enhancedCode], [false, '4.4.3']);
});

test('an unreachable DNS server is a temporary failure', async (t) => {
  const { dns } = await setup(t);
  const port = dns.port;
  await dns.close();
  // Nothing listens on the port now: ICMP port unreachable, node's ECONNREFUSED.
  const router = new MxRouter({
    lookup: new DnsResolver({ servers: [`127.0.0.1:${port}`], timeoutMs: 300, tries: 1 }),
    ourHostnames: [],
    isOurAddress: () => false,
  });
  const e = errorOf(await router.route('example.org'));
  assert.deepEqual([e.permanent, e.enhancedCode], [false, '4.4.3']);
  const h = errorOf(await router.routeToHost('relay.example'));
  assert.deepEqual([h.permanent, h.enhancedCode], [false, '4.4.3']);
});

test('never throws: an unexpected exception becomes a temporary route', async (t) => {
  const { router } = await setup(t);
  // Not a string: node's resolver throws synchronously (ERR_INVALID_ARG_TYPE) once reached.
  const e = errorOf(await router.route(undefined as unknown as string));
  assert.deepEqual([e.permanent, e.enhancedCode], [false, '4.3.0']);
  const h = errorOf(await router.routeToHost(42 as unknown as string));
  assert.deepEqual([h.permanent, h.enhancedCode], [false, '4.3.0']);
});
