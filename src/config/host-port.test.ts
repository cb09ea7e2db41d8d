import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dnsServerProblem, HostPortSyntaxError, isHostname, parseHostPort } from './host-port.js';

void describe('parseHostPort', () => {
  void it('splits IPv4, host name and bracketed IPv6 addresses', () => {
    assert.deepEqual(parseHostPort('127.0.0.1:2525'), { host: '127.0.0.1', port: 2525 });
    assert.deepEqual(parseHostPort('mail.example.com:25'), { host: 'mail.example.com', port: 25 });
    assert.deepEqual(parseHostPort('localhost:0'), { host: 'localhost', port: 0 });
    assert.deepEqual(parseHostPort('[::1]:25'), { host: '::1', port: 25 });
    assert.deepEqual(parseHostPort('[::]:65535'), { host: '::', port: 65535 });
  });

  const bad: [string, RegExp][] = [
    ['127.0.0.1', /missing ":port"/],
    ['::1:25', /without brackets/],
    ['[::1]', /missing ":port"/],
    ['[1.2.3.4]:25', /not an IPv6 address/],
    [':25', /has no host/],
    ['a b:25', /not an IP address or a host name/],
    ['-x.com:25', /not an IP address or a host name/],
    ['1.2.3.999:25', /not an IP address or a host name/],
    ['127.0.0.1:65536', /port "65536"/],
    ['127.0.0.1:-1', /port "-1"/],
    ['127.0.0.1:', /port ""/],
    ['127.0.0.1:2x', /port "2x"/],
  ];
  for (const [text, why] of bad) {
    void it(`rejects ${JSON.stringify(text)}`, () => {
      assert.throws(() => parseHostPort(text), (err: unknown) => err instanceof HostPortSyntaxError && why.test(err.message));
    });
  }
});

void describe('isHostname', () => {
  void it('accepts RFC 1123 names and refuses the rest', () => {
    for (const ok of ['localhost', 'mail.example.com', 'xn--pota-fqa.si', 'a-b.c0', 'example.com.']) assert.ok(isHostname(ok), ok);
    for (const no of ['', '.', 'a..b', '-a.com', 'a-.com', 'a_b.com', 'pošta.si', '1.2.3.4', 'x'.repeat(64) + '.com']) {
      assert.ok(!isHostname(no), no);
    }
  });
});

void describe('dnsServerProblem', () => {
  void it('accepts the forms dns.setServers takes', () => {
    for (const ok of ['1.1.1.1', '127.0.0.1:5353', '::1', '[::1]', '[2001:db8::1]:53']) assert.equal(dnsServerProblem(ok), null, ok);
  });
  void it('refuses host names and junk', () => {
    for (const no of ['dns.google', 'dns.google:53', '1.2.3.4:0', '[x]', 'garbage']) assert.notEqual(dnsServerProblem(no), null, no);
  });
});
