import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DsnParseError, parseAddressField, parseContentType, parseDsn } from './parse-dsn.js';

/** A Postfix-style bounce, written by hand, CRLF line ends. */
function sample(over: { status?: string; perMessage?: string; recipient?: string; third?: string; header?: string } = {}): string {
  const lines = [
    'Date: Sun, 29 Nov 2026 09:00:07 +0000 (UTC)',
    'From: MAILER-DAEMON@mx.example.net (Mail Delivery System)',
    'Subject: =?UTF-8?Q?Nedostavljeno_sporo=C4=8Dilo?=',
    '  =?UTF-8?Q?_vrnjeno?=',
    'To: alice@posta.test',
    over.header ?? 'X-Extra: 1',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type="delivery-status";',
    '\tboundary="B1/mx.example.net"',
    '',
    'This is a MIME-encapsulated message.',
    '',
    '--B1/mx.example.net',
    'Content-Description: Notification',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    'Sporo=C4=8Dilo ni bilo dostavljeno. Zelo dolga vrstica, ki se nadaljuje=',
    ' v naslednji.',
    '',
    '--B1/mx.example.net',
    'Content-Description: Delivery report',
    'Content-Type: message/delivery-status',
    '',
    over.perMessage ?? 'Reporting-MTA: dns; mx.example.net\r\nX-Postfix-Queue-ID: 4XYZ\r\nArrival-Date: Sun, 29 Nov 2026 07:14:22 +0000 (UTC)',
    '',
    over.recipient ??
      'Final-Recipient: rfc822; bob@example.org\r\nORIGINAL-RECIPIENT: rfc822;bob@example.org\r\nAction: failed\r\n' +
        `Status: ${over.status ?? '5.1.1'}\r\nRemote-MTA: dns; mx.example.org\r\nDiagnostic-Code: smtp; 550 5.1.1 user\r\n\tunknown`,
    '',
    '--B1/mx.example.net',
    'Content-Description: Undelivered Message',
    over.third ?? 'Content-Type: message/rfc822',
    '',
    'Subject: hi',
    '',
    'body',
    '',
    '--B1/mx.example.net--',
    '',
  ];
  return lines.join('\r\n');
}

describe('parseDsn', () => {
  it('reads a well-formed DSN field by field, names in lower case, values unfolded', () => {
    const dsn = parseDsn(sample());
    assert.equal(dsn.subject, 'Nedostavljeno sporočilo vrnjeno');
    assert.equal(dsn.headers['x-extra'], '1');
    assert.equal(dsn.reportType, 'delivery-status');
    assert.equal(dsn.humanText, 'Sporočilo ni bilo dostavljeno. Zelo dolga vrstica, ki se nadaljuje v naslednji.\r\n');
    assert.deepEqual(dsn.perMessage, {
      'reporting-mta': 'dns; mx.example.net',
      'x-postfix-queue-id': '4XYZ',
      'arrival-date': 'Sun, 29 Nov 2026 07:14:22 +0000 (UTC)',
    });
    assert.deepEqual(dsn.perRecipient, [
      {
        'final-recipient': 'rfc822; bob@example.org',
        'original-recipient': 'rfc822;bob@example.org',
        action: 'failed',
        status: '5.1.1',
        'remote-mta': 'dns; mx.example.org',
        'diagnostic-code': 'smtp; 550 5.1.1 user\tunknown',
      },
    ]);
    assert.equal(dsn.returned?.type, 'message/rfc822');
    assert.equal(dsn.returned?.content, 'Subject: hi\r\n\r\nbody\r\n');
  });

  it('accepts a string or a Buffer', () => {
    assert.deepEqual(parseDsn(Buffer.from(sample())), parseDsn(sample()));
  });

  it('throws a clear error when the report part is missing', () => {
    const noReport = sample().replace('Content-Type: message/delivery-status', 'Content-Type: text/plain');
    assert.throws(() => parseDsn(noReport), { name: 'DsnParseError', message: /no message\/delivery-status part/ });
    assert.throws(() => parseDsn(noReport, { strict: false }), DsnParseError);
  });

  it('throws on a message that is not a multipart/report', () => {
    assert.throws(() => parseDsn('Subject: hi\r\nMIME-Version: 1.0\r\n\r\nbody\r\n'), /not a multipart\/report/);
    assert.throws(() => parseDsn(sample().replace('report-type="delivery-status"', 'report-type=feedback-report')), /report-type/);
    assert.throws(() => parseDsn(sample().replace(';\r\n\tboundary="B1/mx.example.net"', '')), /boundary/);
  });

  it('throws on bare LF, bare CR, NUL and over-long lines in strict mode', () => {
    assert.throws(() => parseDsn(sample().replace(/\r\n/g, '\n')), /bare LF/);
    assert.throws(() => parseDsn(sample().replace('X-Extra: 1', 'X-Extra: 1\rBcc: x')), /bare CR/);
    assert.throws(() => parseDsn(sample().replace('X-Extra: 1', 'X-Extra: 1\x00')), /NUL/);
    assert.throws(() => parseDsn(sample().replace('X-Extra: 1', `X-Extra: ${'x'.repeat(1000)}`)), /998/);
    // Not strict: LF line ends are fine.
    assert.equal(parseDsn(sample().replace(/\r\n/g, '\n'), { strict: false }).perRecipient.length, 1);
  });

  it('throws on 8-bit header text and duplicate unique header fields', () => {
    assert.throws(() => parseDsn(sample({ header: 'X-Extra: čebela' })), /8-bit/);
    assert.throws(() => parseDsn(sample({ header: 'Subject: second' })), /duplicate subject/);
    const dsn = parseDsn(sample({ header: 'X-Extra: 2\r\nX-Extra: 1' }));
    assert.equal(dsn.headers['x-extra'], '2\n1');
  });

  it('throws on malformed or missing delivery-status fields', () => {
    assert.throws(() => parseDsn(sample({ perMessage: 'Arrival-Date: x' })), /Reporting-MTA/);
    assert.throws(() => parseDsn(sample({ recipient: 'Action: failed\r\nStatus: 5.0.0' })), /no final-recipient/);
    assert.throws(() => parseDsn(sample({ status: '550' })), /malformed status/);
    assert.throws(() => parseDsn(sample({ recipient: 'Final-Recipient: rfc822; a@b\r\nAction: bounced\r\nStatus: 5.0.0' })), /unknown action/);
    assert.throws(
      () => parseDsn(sample({ recipient: 'Final-Recipient: rfc822; a@b\r\nAction: failed\r\nAction: delivered\r\nStatus: 5.0.0' })),
      /duplicate action/,
    );
    assert.throws(() => parseDsn(sample({ recipient: 'Final-Recipient: rfc822; a@b\r\nnot a field\r\nAction: failed\r\nStatus: 5.0.0' })), /malformed line/);
    assert.throws(() => parseDsn(sample({ perMessage: 'Reporting-MTA: dns; x\r\nFinal-Recipient: rfc822; a@b' })), /Final-Recipient among the per-message/);
    assert.doesNotThrow(() => parseDsn(sample({ status: '5.1.1 (user unknown)' })));
  });

  it('throws when the closing boundary is missing, or the returned part has another type', () => {
    assert.throws(() => parseDsn(sample().replace('--B1/mx.example.net--', '')), /closing boundary/);
    assert.throws(() => parseDsn(sample({ third: 'Content-Type: application/octet-stream' })), /returned part/);
    assert.equal(parseDsn(sample({ third: 'Content-Type: application/octet-stream' }), { strict: false }).returned, null);
  });

  it('reads text/rfc822-headers and a report without a third part', () => {
    const headers = parseDsn(sample({ third: 'Content-Type: text/rfc822-headers' }));
    assert.equal(headers.returned?.type, 'text/rfc822-headers');
    const two = sample().replace(/\r\n--B1\/mx\.example\.net\r\nContent-Description: Undelivered Message[\s\S]*$/, '\r\n--B1/mx.example.net--\r\n');
    assert.equal(parseDsn(two).returned, null);
  });

  it('only ever throws DsnParseError', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 2000 }), fc.integer({ min: 0, max: 3000 }), (junk, at) => {
        const base = sample();
        const text = base.slice(0, at) + junk + base.slice(at);
        try {
          parseDsn(text);
          parseDsn(text, { strict: false });
        } catch (err) {
          assert.ok(err instanceof DsnParseError, String(err));
        }
      }),
    );
  });
});

describe('parseContentType', () => {
  it('reads type, subtype and parameters, quoted or not', () => {
    assert.deepEqual(parseContentType('Multipart/Report; Report-Type=delivery-status; boundary="a \\"b\\" c"'), {
      type: 'multipart/report',
      params: { 'report-type': 'delivery-status', boundary: 'a "b" c' },
    });
    assert.deepEqual(parseContentType('text/plain'), { type: 'text/plain', params: {} });
    assert.throws(() => parseContentType('nonsense'), DsnParseError);
  });
});

describe('parseAddressField', () => {
  it('splits the type and decodes utf-8 and, when asked, xtext', () => {
    assert.deepEqual(parseAddressField('rfc822; bob+tag@example.org'), { addrType: 'rfc822', address: 'bob+tag@example.org' });
    assert.deepEqual(parseAddressField('RFC822;bob+2Btag@example.org', { xtext: true }), { addrType: 'rfc822', address: 'bob+tag@example.org' });
    assert.deepEqual(parseAddressField('utf-8; \\x{10D}ebela@primer.si'), { addrType: 'utf-8', address: 'čebela@primer.si' });
    assert.throws(() => parseAddressField('bob@example.org'), DsnParseError);
    assert.throws(() => parseAddressField('rfc822; a+zz@b', { xtext: true }), DsnParseError);
  });
});
