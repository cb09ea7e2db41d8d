import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { buildReceivedHeader, foldHeaderLine, formatRfc5322Date, generateMessageId, type ReceivedInfo } from './received.js';

const date = new Date(Date.UTC(2026, 10, 29, 7, 14, 22));

function unfold(h: string): string {
  return h.replace(/\r\n$/, '').replace(/\r\n(?=[ \t])/g, '');
}

function base(over: Partial<ReceivedInfo> = {}): ReceivedInfo {
  return {
    fromHelo: 'client.example.org',
    clientIp: '192.0.2.7',
    clientHostname: 'mail.example.org',
    byHost: 'mx.posta.test',
    protocol: 'ESMTPS',
    id: '01JD8ZQ3K4',
    forAddress: 'user@posta.test',
    tls: { protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' },
    date,
    ...over,
  };
}

describe('formatRfc5322Date', () => {
  it('formats in UTC per RFC 5322 §3.3', () => {
    assert.equal(formatRfc5322Date(date), 'Sun, 29 Nov 2026 07:14:22 +0000');
    assert.equal(formatRfc5322Date(new Date(Date.UTC(2027, 0, 1, 0, 0, 5))), 'Fri, 1 Jan 2027 00:00:05 +0000');
  });

  it('rejects an invalid date', () => {
    assert.throws(() => formatRfc5322Date(new Date(NaN)), RangeError);
  });
});

describe('generateMessageId', () => {
  it('makes unique RFC 5322 §3.6.4 msg-ids', () => {
    const a = generateMessageId('mx.posta.test');
    const b = generateMessageId('mx.posta.test');
    assert.notEqual(a, b);
    // msg-id = "<" dot-atom-text "@" dot-atom-text ">"
    assert.match(a, /^<[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+(\.[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+)*@mx\.posta\.test>$/);
  });

  it('uses the A-label of an IDN host and never emits an invalid domain', () => {
    assert.match(generateMessageId('Pošta.SI'), /@xn--pota-h6a\.si>$/);
    assert.match(generateMessageId('bad host\r\n'), /@badhost>$/);
    assert.match(generateMessageId(''), /@localhost>$/);
  });
});

describe('buildReceivedHeader', () => {
  it('builds the RFC 5321 §4.4 trace line', () => {
    const h = buildReceivedHeader(base());
    assert.ok(h.endsWith('\r\n'));
    assert.equal(
      unfold(h),
      'Received: from client.example.org (mail.example.org [192.0.2.7]) (using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)' +
        ' by mx.posta.test (Posta) with ESMTPS id 01JD8ZQ3K4 for <user@posta.test>; Sun, 29 Nov 2026 07:14:22 +0000',
    );
    for (const line of h.slice(0, -2).split('\r\n')) assert.ok(line.length <= 78, line);
  });

  it('works without hostname, TLS and for, and with IPv6', () => {
    const h = buildReceivedHeader(base({ clientHostname: null, tls: null, forAddress: null, protocol: 'ESMTP', clientIp: '2001:DB8::1' }));
    assert.equal(
      unfold(h),
      'Received: from client.example.org ([IPv6:2001:db8::1]) by mx.posta.test (Posta) with ESMTP id 01JD8ZQ3K4; Sun, 29 Nov 2026 07:14:22 +0000',
    );
    const mapped = buildReceivedHeader(base({ clientIp: '::ffff:192.0.2.9', clientHostname: null }));
    assert.match(unfold(mapped), /\(\[192\.0\.2\.9\]\)/);
  });

  it('neutralizes a hostile HELO', () => {
    const h = buildReceivedHeader(base({ fromHelo: 'evil\r\nX-Injected: yes\r\n\r\nbody (x) ; [' + 'a'.repeat(2000) }));
    const lines = h.slice(0, -2).split('\r\n');
    for (const [i, line] of lines.entries()) {
      if (i > 0) assert.match(line, /^[ \t]/, 'continuation lines start with WSP');
      assert.ok(line.length < 998);
      assert.doesNotMatch(line, /[\r\n\0]/);
    }
    assert.match(unfold(h), /^Received: from evilX-Injected:yesbodyx\[a{200,255} \(/);
    assert.equal(buildReceivedHeader(base({ fromHelo: '' })).startsWith('Received: from unknown ('), true);
  });

  it('never produces a bare CR/LF, for any input', () => {
    const any = fc.string({ unit: 'binary', maxLength: 400 });
    fc.assert(
      fc.property(any, any, any, any, any, (helo, host, by, id, rcpt) => {
        const h = buildReceivedHeader(base({ fromHelo: helo, clientHostname: host, byHost: by, id, forAddress: rcpt, clientIp: host }));
        assert.ok(h.endsWith('\r\n'));
        const body = h.slice(0, -2);
        assert.doesNotMatch(body.replace(/\r\n[ \t]/g, ''), /[\r\n]/);
        for (const line of body.split('\r\n')) {
          assert.ok(line.length <= 998);
          assert.match(line, /\S/);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('uses the RFC 6531 protocol names', () => {
    assert.match(unfold(buildReceivedHeader(base({ protocol: 'UTF8SMTPSA' }))), / with UTF8SMTPSA /);
    assert.throws(() => buildReceivedHeader(base({ protocol: 'HTTP' as never })), TypeError);
  });
});

describe('foldHeaderLine', () => {
  it('folds at whitespace only and unfolds to the original', () => {
    const line = 'Subject: ' + Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ');
    const folded = foldHeaderLine(line);
    assert.equal(folded.replace(/\r\n/g, ''), line);
    for (const l of folded.split('\r\n')) assert.ok(l.length <= 78);
  });

  it('leaves a long word whole and never makes a whitespace-only line', () => {
    const line = `X: ${'a'.repeat(100)}  b   c`;
    const folded = foldHeaderLine(line, 10);
    assert.equal(folded.replace(/\r\n/g, ''), line);
    for (const l of folded.split('\r\n')) assert.match(l, /\S/);
  });
});
