import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeXtext } from '../mail/address.js';
import { buildDsn, dsnKind } from './build-dsn.js';
import { parseAddressField, parseDsn, type ParsedDsn } from './parse-dsn.js';
import type { DsnInput, DsnRecipientReport } from './types.js';

/** Exactly the header fields a notice has: nothing injected, nothing missing. */
const NOTICE_HEADER_FIELDS = ['auto-submitted', 'content-transfer-encoding', 'content-type', 'date', 'from', 'message-id', 'mime-version', 'subject', 'to'];

const ARRIVAL = Date.UTC(2026, 10, 29, 7, 14, 22);
const ATTEMPT = Date.UTC(2026, 10, 29, 9, 0, 5);
const UNTIL = Date.UTC(2026, 11, 4, 7, 14, 22);
const NOW = Date.UTC(2026, 10, 29, 9, 0, 7);

const ORIGINAL = Buffer.from(
  'Received: from client.example.org (client.example.org [192.0.2.7])\r\n' +
    '\tby mail.posta.test (Posta) with ESMTPSA id Q1A2B3C4; Sun, 29 Nov 2026 07:14:22 +0000\r\n' +
    'From: Alice <alice@posta.test>\r\n' +
    'To: bob@example.org\r\n' +
    'Subject: Quarterly report\r\n' +
    'Message-ID: <abc@posta.test>\r\n' +
    '\r\n' +
    'Hello Bob,\r\n' +
    '\r\n' +
    'the numbers are attached.\r\n',
);
const ORIGINAL_HEADER = ORIGINAL.subarray(0, ORIGINAL.indexOf('\r\n\r\n') + 2).toString('latin1');

function rcpt(over: Partial<DsnRecipientReport> = {}): DsnRecipientReport {
  return {
    finalRecipient: 'bob@example.org',
    originalRecipient: null,
    action: 'failed',
    status: '5.1.1',
    remoteMta: 'mx.example.org',
    diagnostic: '550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown',
    lastAttemptAt: ATTEMPT,
    willRetryUntil: null,
    ...over,
  };
}

function input(over: Partial<DsnInput> = {}): DsnInput {
  return {
    reportingMta: 'mail.posta.test',
    language: 'en',
    to: 'alice@posta.test',
    queueId: 'Q1A2B3C4',
    originalSender: 'alice@posta.test',
    envid: null,
    arrivalDate: ARRIVAL,
    recipients: [rcpt()],
    original: ORIGINAL,
    ret: 'HDRS',
    now: NOW,
    ...over,
  };
}

/** The rules every notice must keep, checked on the raw octets. */
function assertWellFormed(msg: Buffer): void {
  const text = msg.toString('latin1');
  assert.doesNotMatch(text, /\r(?!\n)|(?<!\r)\n/, 'bare CR or LF');
  assert.ok(!text.includes('\x00'), 'NUL');
  assert.ok(text.endsWith('\r\n'));
  for (const [i, line] of text.split('\r\n').entries()) assert.ok(line.length <= 998, `line ${i + 1} is ${line.length} octets`);
  const header = text.slice(0, text.indexOf('\r\n\r\n'));
  assert.match(header, /^[\x20-\x7e\r\n\t]*$/, 'header section is not 7-bit');
}

function build(over: Partial<DsnInput> = {}): { msg: Buffer; dsn: ParsedDsn } {
  const msg = buildDsn(input(over));
  assertWellFormed(msg);
  return { msg, dsn: parseDsn(msg) };
}

describe('dsnKind', () => {
  it('is failure if any recipient failed, else delay if any is delayed, else success', () => {
    assert.equal(dsnKind([{ action: 'failed' }]), 'failure');
    assert.equal(dsnKind([{ action: 'delayed' }, { action: 'failed' }]), 'failure');
    assert.equal(dsnKind([{ action: 'delayed' }, { action: 'delivered' }]), 'delay');
    assert.equal(dsnKind([{ action: 'delivered' }, { action: 'relayed' }, { action: 'expanded' }]), 'success');
  });
});

describe('buildDsn: a failure notice', () => {
  const { msg, dsn } = build({ envid: 'batch-42', recipients: [rcpt({ originalRecipient: { addrType: 'rfc822', address: 'Bob+news@example.org' } })] });

  it('has the RFC 5322 and RFC 3834 header fields of a bounce', () => {
    assert.equal(dsn.headers.from, '"Mail Delivery System" <MAILER-DAEMON@mail.posta.test>');
    assert.equal(dsn.headers.to, 'alice@posta.test');
    assert.equal(dsn.subject, 'Undelivered Mail Returned to Sender');
    assert.equal(dsn.headers.date, 'Sun, 29 Nov 2026 09:00:07 +0000');
    assert.match(dsn.headers['message-id'], /^<[^<>@\s]+@mail\.posta\.test>$/);
    assert.equal(dsn.headers['auto-submitted'], 'auto-replied');
    assert.equal(dsn.headers['mime-version'], '1.0');
    assert.match(dsn.headers['content-type'], /^multipart\/report; report-type=delivery-status; boundary="=_posta_[A-Za-z0-9_-]+"$/);
    assert.equal(dsn.reportType, 'delivery-status');
    assert.deepEqual(Object.keys(dsn.headers).sort(), NOTICE_HEADER_FIELDS);
  });

  it('has exactly the RFC 3464 per-message fields', () => {
    assert.deepEqual(dsn.perMessage, {
      'original-envelope-id': 'batch-42',
      'reporting-mta': 'dns; mail.posta.test',
      'arrival-date': 'Sun, 29 Nov 2026 07:14:22 +0000',
      'x-posta-queue-id': 'Q1A2B3C4',
      'x-posta-sender': 'rfc822; alice@posta.test',
    });
  });

  it('has exactly the RFC 3464 per-recipient fields, ORCPT xtext-encoded', () => {
    assert.deepEqual(dsn.perRecipient, [
      {
        'original-recipient': 'rfc822; Bob+2Bnews@example.org',
        'final-recipient': 'rfc822; bob@example.org',
        action: 'failed',
        status: '5.1.1',
        'remote-mta': 'dns; mx.example.org',
        'diagnostic-code': 'smtp; 550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown',
        'last-attempt-date': 'Sun, 29 Nov 2026 09:00:05 +0000',
      },
    ]);
    assert.deepEqual(parseAddressField(dsn.perRecipient[0]['original-recipient'], { xtext: true }), {
      addrType: 'rfc822',
      address: 'Bob+news@example.org',
    });
  });

  it('explains in plain words what happened, to whom, and that it will not be retried', () => {
    const t = dsn.humanText;
    assert.match(t, /This is the mail system at mail\.posta\.test\./);
    assert.match(t, /could not be delivered/);
    assert.match(t, /<bob@example\.org>/);
    assert.match(t, /The recipient's mailbox does not exist\./);
    assert.match(t, /The server mx\.example\.org replied:/);
    // The text is wrapped at 72 columns; the reply reads as one once unwrapped.
    assert.match(t.replace(/\r\n +/g, ' '), /550 5\.1\.1 <bob@example\.org>: Recipient address rejected: User unknown/);
    assert.match(t, /will not try again/);
    assert.match(t, /Subject: Quarterly report/);
    assert.match(t, /Queue ID: Q1A2B3C4/);
    assert.match(t, /Received: 29 November 2026, 07:14 UTC/);
    assert.match(t, /The headers of the original message are attached\./);
  });

  it('returns the original header section for RET=HDRS', () => {
    assert.equal(dsn.returned?.type, 'text/rfc822-headers');
    assert.equal(dsn.returned?.content, ORIGINAL_HEADER);
  });

  it('is 7-bit throughout for a 7-bit original', () => {
    assert.match(msg.toString('latin1'), /^[\x00-\x7f]*$/);
    assert.equal(dsn.headers['content-transfer-encoding'], '7bit');
  });

  it('has a quoted-printable text part with short lines', () => {
    const text = msg.toString('latin1');
    assert.match(text, /Content-Type: text\/plain; charset=utf-8\r\nContent-Language: en\r\nContent-Transfer-Encoding: quoted-printable\r\n/);
  });
});

describe('buildDsn: RET', () => {
  it('returns the whole original, byte for byte, as message/rfc822 for RET=FULL', () => {
    const { dsn } = build({ ret: 'FULL' });
    assert.equal(dsn.returned?.type, 'message/rfc822');
    assert.deepEqual(dsn.returned?.bytes, ORIGINAL);
    assert.match(dsn.humanText, /The original message is attached\./);
  });

  it('marks an 8-bit original 8bit, in the part and at the top', () => {
    const original = Buffer.from('Subject: Pozdrav iz Čateža\r\nFrom: ana@primer.si\r\n\r\nŽivjo!\r\n', 'utf8');
    for (const ret of ['FULL', 'HDRS'] as const) {
      const { msg, dsn } = build({ original, ret });
      assert.equal(dsn.headers['content-transfer-encoding'], '8bit');
      assert.match(msg.toString('latin1'), /Content-Type: (message\/rfc822|text\/rfc822-headers)\r\nContent-Transfer-Encoding: 8bit\r\n\r\n/);
      assert.match(dsn.humanText, /Subject: Pozdrav iz Čateža/);
      if (ret === 'FULL') assert.deepEqual(dsn.returned?.bytes, original);
      else assert.equal(dsn.returned?.content, 'Subject: Pozdrav iz Čateža\r\nFrom: ana@primer.si\r\n');
    }
  });

  it('returns only the headers when a body line is too long to send as message/rfc822', () => {
    const original = Buffer.from(`Subject: long\r\n\r\n${'x'.repeat(2000)}\r\n`);
    const { dsn } = build({ original, ret: 'FULL' });
    assert.equal(dsn.returned?.type, 'text/rfc822-headers');
    assert.equal(dsn.returned?.content, 'Subject: long\r\n');
  });

  it('makes an original with bare LF, bare CR and NUL fit to send', () => {
    const original = Buffer.from('Subject: odd\nX-A: 1\r\n\r\nline\rline\x00\nend');
    const { dsn } = build({ original, ret: 'FULL' });
    assert.equal(dsn.returned?.content, 'Subject: odd\r\nX-A: 1\r\n\r\nline\r\nline\r\nend');
  });

  it('copes with an original that is all header, or empty', () => {
    assert.equal(build({ original: Buffer.from('Subject: x\r\nFrom: a@b'), ret: 'HDRS' }).dsn.returned?.content, 'Subject: x\r\nFrom: a@b\r\n');
    const empty = build({ original: Buffer.alloc(0), ret: 'FULL' }).dsn;
    assert.equal(empty.returned?.type, 'message/rfc822');
    assert.equal(empty.returned?.content, '');
    assert.match(empty.humanText, /Subject: \(no subject\)/);
  });

  it('decodes an RFC 2047 Subject for the text, and keeps its controls out', () => {
    const original = Buffer.from('Subject: =?UTF-8?Q?Ra=C4=8Dun?=\r\n =?UTF-8?Q?=0D=0ABcc:_x@y?=\r\n\r\nbody\r\n');
    const { dsn } = build({ original });
    assert.match(dsn.humanText, /Subject: Račun Bcc: x@y\r\n/);
  });
});

describe('buildDsn: a delay notice', () => {
  const delayed = rcpt({
    action: 'delayed',
    status: '4.4.1',
    remoteMta: null,
    diagnostic: 'connect to mx.example.org[192.0.2.25]:25: Connection timed out',
    willRetryUntil: UNTIL,
  });

  it('has Will-Retry-Until and says until when it keeps trying', () => {
    const { dsn } = build({ recipients: [delayed] });
    assert.equal(dsn.subject, 'Delayed Mail (still being retried)');
    assert.deepEqual(dsn.perRecipient, [
      {
        'final-recipient': 'rfc822; bob@example.org',
        action: 'delayed',
        status: '4.4.1',
        'diagnostic-code': 'X-Posta; connect to mx.example.org[192.0.2.25]:25: Connection timed out',
        'last-attempt-date': 'Sun, 29 Nov 2026 09:00:05 +0000',
        'will-retry-until': 'Fri, 4 Dec 2026 07:14:22 +0000',
      },
    ]);
    assert.match(dsn.humanText.replace(/\r\n/g, ' '), /will keep trying until 4 December 2026, 07:14 UTC\./);
    assert.match(dsn.humanText, /only a warning/);
    assert.match(dsn.humanText, /Details:\r\n +connect to mx\.example\.org/);
  });

  it('says so in Slovenian too', () => {
    const { dsn } = build({ recipients: [delayed], language: 'sl' });
    assert.equal(dsn.subject, 'Zakasnjena dostava sporočila (še poskušamo)');
    assert.match(dsn.humanText.replace(/\r\n/g, ' '), /Poštni sistem bo dostavo poskušal do 4\. decembra 2026 ob 07:14 \(UTC\)\./);
  });

  it('without a date, says it keeps trying for a while', () => {
    const { dsn } = build({ recipients: [{ ...delayed, willRetryUntil: null }] });
    assert.equal(dsn.perRecipient[0]['will-retry-until'], undefined);
    assert.match(dsn.humanText.replace(/\r\n/g, ' '), /will keep trying for a while/);
  });
});

describe('buildDsn: success notices', () => {
  it('reports delivered and relayed recipients, without Will-Retry-Until', () => {
    const { dsn } = build({
      ret: 'HDRS',
      recipients: [
        rcpt({ action: 'delivered', status: '2.0.0', diagnostic: '250 2.0.0 Ok: queued as 4XYZ', willRetryUntil: UNTIL }),
        rcpt({ finalRecipient: 'carol@example.net', action: 'relayed', status: '2.0.0', remoteMta: 'mx.example.net', diagnostic: null }),
      ],
    });
    assert.equal(dsn.subject, 'Successful Mail Delivery Report');
    assert.deepEqual(
      dsn.perRecipient.map((r) => [r['final-recipient'], r.action, r.status, r['will-retry-until']]),
      [
        ['rfc822; bob@example.org', 'delivered', '2.0.0', undefined],
        ['rfc822; carol@example.net', 'relayed', '2.0.0', undefined],
      ],
    );
    assert.equal(dsn.perRecipient[0]['diagnostic-code'], 'smtp; 250 2.0.0 Ok: queued as 4XYZ');
    assert.equal(dsn.perRecipient[1]['diagnostic-code'], undefined);
    assert.match(dsn.humanText, /It was delivered to:/);
    assert.match(dsn.humanText, /It was passed on to:/);
    assert.match(dsn.humanText, /do not send delivery reports/);
    assert.doesNotMatch(dsn.humanText, /Reason:|mail administrator/);
  });

  it('has a Slovenian subject and text', () => {
    const { dsn } = build({ language: 'sl', recipients: [rcpt({ action: 'delivered', status: '2.0.0' })] });
    assert.equal(dsn.subject, 'Poročilo o uspešni dostavi sporočila');
    assert.match(dsn.humanText, /Sporočilo je bilo dostavljeno naslednjim prejemnikom:/);
  });
});

describe('buildDsn: languages', () => {
  it('uses RFC 2047 for the Slovenian subjects and 7-bit headers', () => {
    const cases: Array<[DsnRecipientReport, string]> = [
      [rcpt(), 'Nedostavljeno sporočilo vrnjeno pošiljatelju'],
      [rcpt({ action: 'delayed', status: '4.2.2' }), 'Zakasnjena dostava sporočila (še poskušamo)'],
      [rcpt({ action: 'delivered', status: '2.0.0' }), 'Poročilo o uspešni dostavi sporočila'],
    ];
    for (const [r, subject] of cases) {
      const { msg, dsn } = build({ language: 'sl', recipients: [r] });
      assert.equal(dsn.subject, subject);
      assert.match(dsn.headers.subject, /^=\?UTF-8\?Q\?/);
      const subjectLines = /\r\nSubject: [^\r]*(?:\r\n [^\r]*)*/.exec(msg.toString('latin1'))?.[0].slice(2).split('\r\n') ?? [];
      for (const line of subjectLines) assert.ok(line.length <= 76, `RFC 2047 §2: ${line}`);
    }
  });

  it('writes the Slovenian text with its own dates and words', () => {
    const { msg, dsn } = build({ language: 'sl' });
    assert.match(msg.toString('latin1'), /Content-Language: sl\r\n/);
    assert.match(dsn.humanText, /To je poštni sistem na strežniku mail\.posta\.test\./);
    assert.match(dsn.humanText, /Prejemnikov poštni predal ne obstaja\./);
    assert.match(dsn.humanText, /Strežnik mx\.example\.org je odgovoril:/);
    assert.match(dsn.humanText, /Prejeto: 29\. novembra 2026 ob 07:14 \(UTC\)/);
    assert.match(dsn.humanText, /Oznaka v čakalni vrsti: Q1A2B3C4/);
    assert.match(dsn.humanText, /Zadeva: Quarterly report/);
    // The machine-readable part does not change with the language.
    assert.equal(dsn.perRecipient[0].action, 'failed');
  });
});

describe('buildDsn: ENVID and ORCPT', () => {
  it('leaves out Original-Envelope-Id and Original-Recipient when not given', () => {
    const { dsn } = build();
    assert.equal(dsn.perMessage['original-envelope-id'], undefined);
    assert.equal(dsn.perRecipient[0]['original-recipient'], undefined);
  });

  it('xtext-encodes the ENVID (RFC 3464 §2.2.1)', () => {
    const envid = 'a b+c=d\r\nBcc: x';
    const { dsn } = build({ envid });
    assert.equal(dsn.perMessage['original-envelope-id'], 'a+20b+2Bc+3Dd+0D+0ABcc:+20x');
    assert.equal(decodeXtext(dsn.perMessage['original-envelope-id']), envid);
  });

  it('uses the RFC 6533 utf-8 type for non-ASCII addresses', () => {
    const { dsn } = build({
      recipients: [rcpt({ finalRecipient: 'čebela@primer.si', originalRecipient: { addrType: 'utf-8', address: 'Čebela@primer.si' } })],
    });
    const r = dsn.perRecipient[0];
    assert.equal(r['final-recipient'], 'utf-8; \\x{10D}ebela@primer.si');
    assert.equal(r['original-recipient'], 'utf-8; \\x{10C}ebela@primer.si');
    assert.deepEqual(parseAddressField(r['final-recipient']), { addrType: 'utf-8', address: 'čebela@primer.si' });
    assert.deepEqual(parseAddressField(r['original-recipient'], { xtext: true }), { addrType: 'utf-8', address: 'Čebela@primer.si' });
    assert.match(dsn.humanText, /<čebela@primer\.si>/);
  });

  it('switches an rfc822 ORCPT with non-ASCII to the utf-8 type, and keeps other types', () => {
    const a = build({ recipients: [rcpt({ originalRecipient: { addrType: 'rfc822', address: 'žan@primer.si' } })] }).dsn;
    assert.equal(a.perRecipient[0]['original-recipient'], 'utf-8; \\x{17E}an@primer.si');
    const b = build({ recipients: [rcpt({ originalRecipient: { addrType: 'X400', address: '/C=SI/S=Novak/' } })] }).dsn;
    assert.equal(b.perRecipient[0]['original-recipient'], 'x400; /C+3DSI/S+3DNovak/');
  });
});

describe('buildDsn: To and From', () => {
  it('writes the To address with an A-label domain', () => {
    assert.equal(build({ to: 'ana@bücher.example' }).dsn.headers.to, 'ana@xn--bcher-kva.example');
    assert.equal(build({ to: '<ana@example.org>' }).dsn.headers.to, 'ana@example.org');
    assert.equal(build({ to: '"john doe"@example.org' }).dsn.headers.to, '"john doe"@example.org');
  });

  it('uses an empty group when the address cannot be a 7-bit header', () => {
    assert.equal(build({ to: 'čebela@primer.si' }).dsn.headers.to, 'undisclosed-recipients:;');
    assert.equal(build({ to: 'a@b.example\r\nBcc: victim@example.com' }).dsn.headers.to, 'undisclosed-recipients:;');
    assert.equal(build({ to: '' }).dsn.headers.to, 'undisclosed-recipients:;');
  });

  it('keeps a hostile reporting MTA name out of the structure', () => {
    const { dsn } = build({ reportingMta: 'mail.posta.test\r\nBcc: x@y' });
    assert.equal(dsn.headers.bcc, undefined);
    assert.match(dsn.headers.from, /^"Mail Delivery System" <MAILER-DAEMON@[A-Za-z0-9.-]+>$/);
    assert.match(dsn.perMessage['reporting-mta'], /^dns; [A-Za-z0-9.-]+$/);
  });
});

describe('buildDsn: no header or field injection', () => {
  const hostile = [
    'bob@example.org\r\nBcc: victim@example.com',
    'bob@example.org\nContent-Type: text/html',
    'bob@example.org\r\n\r\nFinal-Recipient: rfc822; mallory@evil.example',
    'bob\x00@example.org\x1b[2J\u202E',
  ];

  it('keeps a multi-line remote reply with fake header lines in one Diagnostic-Code', () => {
    const diagnostic =
      '550-5.7.1 rejected\r\nBcc: victim@example.com\r\nContent-Type: text/html\r\n\r\n' +
      'Final-Recipient: rfc822; mallory@evil.example\r\nAction: delivered\r\n550 5.7.1 bye\r\n.\r\n';
    const { msg, dsn } = build({ recipients: [rcpt({ diagnostic, status: '5.7.1' })] });
    assert.equal(dsn.headers.bcc, undefined);
    assert.equal(dsn.perRecipient.length, 1);
    assert.deepEqual(Object.keys(dsn.perRecipient[0]), [
      'final-recipient',
      'action',
      'status',
      'remote-mta',
      'diagnostic-code',
      'last-attempt-date',
    ]);
    assert.equal(dsn.perRecipient[0].action, 'failed');
    assert.equal(
      dsn.perRecipient[0]['diagnostic-code'],
      'smtp; 550 5.7.1 rejected Bcc: victim@example.com Content-Type: text/html Final-Recipient: rfc822; mallory@evil.example Action: delivered bye .',
    );
    // No line of the notice starts with the injected field names.
    assert.doesNotMatch(msg.toString('latin1'), /\r\n(Bcc|Action: delivered|Final-Recipient: rfc822; mallory)/);
  });

  it('keeps hostile addresses, hosts and queue ids inside their fields', () => {
    for (const bad of hostile) {
      const { dsn } = build({
        queueId: bad,
        originalSender: bad,
        envid: bad,
        recipients: [rcpt({ finalRecipient: bad, remoteMta: bad, originalRecipient: { addrType: 'rfc822', address: bad } }), rcpt()],
      });
      assert.equal(dsn.headers.bcc, undefined);
      assert.equal(dsn.headers['content-type'].startsWith('multipart/report;'), true);
      assert.equal(dsn.perRecipient.length, 2);
      assert.deepEqual(Object.keys(dsn.perMessage), ['original-envelope-id', 'reporting-mta', 'arrival-date', 'x-posta-queue-id', 'x-posta-sender']);
      assert.deepEqual(Object.keys(dsn.perRecipient[0]), [
        'original-recipient',
        'final-recipient',
        'action',
        'status',
        'remote-mta',
        'diagnostic-code',
        'last-attempt-date',
      ]);
      assert.equal(decodeXtext(dsn.perMessage['original-envelope-id']), bad);
      assert.doesNotMatch(dsn.perRecipient[0]['final-recipient'], /[\x00-\x1f\x7f]/);
      assert.doesNotMatch(dsn.humanText, /\x00|\x1b|\u202E/);
    }
  });

  it('caps a huge reply and keeps every line within 998 octets', () => {
    const huge = '550 ' + 'A'.repeat(200_000) + '\r\n550 ' + 'b '.repeat(50_000);
    const { msg, dsn } = build({ recipients: [rcpt({ diagnostic: huge }), rcpt({ diagnostic: 'x'.repeat(5000), finalRecipient: 'c@example.org' })] });
    assert.ok(msg.length < 20_000, `notice is ${msg.length} octets`);
    assert.ok(dsn.perRecipient[0]['diagnostic-code'].length <= 'smtp; '.length + 900);
    assert.ok(dsn.perRecipient[1]['diagnostic-code'].length <= 'X-Posta; '.length + 900);
  });

  it('never lets the original end the report early', () => {
    const original = Buffer.from('Subject: tricky\r\n\r\n--=_posta_\r\n--=_posta_x--\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; evil\r\n');
    const { dsn } = build({ original, ret: 'FULL' });
    assert.deepEqual(dsn.returned?.bytes, original);
    assert.equal(dsn.perMessage['reporting-mta'], 'dns; mail.posta.test');
  });

  it('gives each recipient its own block, in order', () => {
    const recipients = ['a@example.org', 'b@example.org', 'c@example.org'].map((a, i) =>
      rcpt({ finalRecipient: a, action: i === 1 ? 'delayed' : 'failed', status: i === 1 ? '4.2.2' : '5.2.2' }),
    );
    const { dsn } = build({ recipients });
    assert.deepEqual(
      dsn.perRecipient.map((r) => r['final-recipient']),
      ['rfc822; a@example.org', 'rfc822; b@example.org', 'rfc822; c@example.org'],
    );
    // A mixed notice is a failure notice with a section per action.
    assert.equal(dsn.subject, 'Undelivered Mail Returned to Sender');
    assert.match(dsn.humanText, /It could not be delivered to:[\s\S]*It has not yet been delivered to:/);
    assert.match(dsn.humanText, /The recipient's mailbox is full\./);
  });
});

describe('buildDsn: input checks', () => {
  it('refuses a notice without recipients or with an unknown action', () => {
    assert.throws(() => buildDsn(input({ recipients: [] })), TypeError);
    assert.throws(() => buildDsn(input({ recipients: [rcpt({ action: 'bounced' as never })] })), TypeError);
  });

  it('replaces a malformed status with one that fits the action', () => {
    const { dsn } = build({
      recipients: [rcpt({ status: '550' }), rcpt({ action: 'delayed', status: '' }), rcpt({ action: 'delivered', status: 'x' })],
    });
    assert.deepEqual(
      dsn.perRecipient.map((r) => r.status),
      ['5.0.0', '4.0.0', '2.0.0'],
    );
  });

  it('leaves out the dates and hosts it was not given', () => {
    const { dsn } = build({ recipients: [rcpt({ remoteMta: null, diagnostic: null, lastAttemptAt: null })], originalSender: '' });
    assert.deepEqual(dsn.perRecipient[0], { 'final-recipient': 'rfc822; bob@example.org', action: 'failed', status: '5.1.1' });
    assert.equal(dsn.perMessage['x-posta-sender'], undefined);
  });

  it('uses a new random boundary and Message-ID each time', () => {
    const a = build().dsn;
    const b = build().dsn;
    assert.notEqual(a.headers['content-type'], b.headers['content-type']);
    assert.notEqual(a.headers['message-id'], b.headers['message-id']);
  });
});

describe('buildDsn: properties', () => {
  const address = fc
    .tuple(fc.stringMatching(/^[a-z0-9][a-z0-9.+_-]{0,20}$/), fc.stringMatching(/^[a-z0-9]{1,10}\.(org|si|example)$/))
    .map(([l, d]) => `${l}@${d}`);

  it('arbitrary replies never break the structure', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(address, fc.string({ unit: 'binary', maxLength: 1500 }), fc.constantFrom('failed', 'delayed', 'delivered', 'relayed')), {
          minLength: 1,
          maxLength: 5,
        }),
        fc.constantFrom('en', 'sl'),
        fc.constantFrom('FULL', 'HDRS'),
        (list, language, ret) => {
          const recipients = list.map(([finalRecipient, diagnostic, action]) =>
            rcpt({ finalRecipient, diagnostic, action: action as DsnRecipientReport['action'], remoteMta: diagnostic, willRetryUntil: UNTIL }),
          );
          const msg = buildDsn(input({ recipients, language: language as DsnInput['language'], ret: ret as DsnInput['ret'] }));
          assertWellFormed(msg);
          const dsn = parseDsn(msg);
          assert.deepEqual(
            dsn.perRecipient.map((r) => r['final-recipient']),
            list.map(([a]) => `rfc822; ${a}`),
          );
          assert.deepEqual(Object.keys(dsn.headers).sort(), NOTICE_HEADER_FIELDS);
          for (const r of dsn.perRecipient) {
            assert.ok(Object.keys(r).every((k) => /^(final-recipient|action|status|remote-mta|diagnostic-code|last-attempt-date|will-retry-until)$/.test(k)));
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('arbitrary addresses, ids and subjects never break the structure', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: 'binary', maxLength: 300 }), { minLength: 1, maxLength: 4 }),
        fc.string({ unit: 'binary', maxLength: 300 }),
        fc.string({ unit: 'binary', maxLength: 400 }),
        (addresses, junk, subject) => {
          const original = Buffer.from(`Subject: ${subject}\r\n\r\nbody\r\n`, 'utf8');
          const recipients = addresses.map((a) => rcpt({ finalRecipient: a, originalRecipient: { addrType: junk, address: a }, remoteMta: junk }));
          const msg = buildDsn(input({ recipients, to: junk, envid: junk, queueId: junk, originalSender: junk, original, ret: 'FULL' }));
          assertWellFormed(msg);
          const dsn = parseDsn(msg);
          assert.equal(dsn.perRecipient.length, addresses.length);
          assert.equal(dsn.returned?.type, 'message/rfc822');
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('buildDsn: over-long header lines', () => {
  it('cuts a header line over 998 octets rather than send it', () => {
    const original = Buffer.from(`Subject: x\r\nX-Long: ${'y'.repeat(1500)}\r\n\r\nbody\r\n`);
    for (const ret of ['FULL', 'HDRS'] as const) {
      const { dsn } = build({ original, ret });
      assert.equal(dsn.returned?.type, 'text/rfc822-headers');
      assert.equal(dsn.returned?.content, `Subject: x\r\nX-Long: ${'y'.repeat(998 - 'X-Long: '.length)}\r\n`);
    }
  });
});
