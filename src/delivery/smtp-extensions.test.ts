import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseOrcpt } from '../mail/address.js';
import { NO_EXTENSIONS, encodeOrcpt, hasNonAscii, mailCommand, parseEhloReply, rcptCommand, type PeerExtensions } from './smtp-extensions.js';

const ALL: PeerExtensions = { ...NO_EXTENSIONS, esmtp: true, pipelining: true, size: 0, eightBitMime: true, smtpUtf8: true, dsn: true };

describe('parseEhloReply', () => {
  it('reads the extensions after the first line', () => {
    const ext = parseEhloReply({
      code: 250,
      lines: ['mx.example greets you', 'PIPELINING', 'SIZE 35882577', '8BITMIME', 'auth login Plain', 'AUTH=CRAM-MD5', 'ENHANCEDSTATUSCODES', 'STARTTLS', 'DSN', 'SMTPUTF8', 'CHUNKING'],
    });
    assert.deepEqual(ext, {
      esmtp: true,
      pipelining: true,
      size: 35882577,
      eightBitMime: true,
      smtpUtf8: true,
      dsn: true,
      enhancedStatusCodes: true,
      startTls: true,
      auth: ['LOGIN', 'PLAIN', 'CRAM-MD5'],
    });
  });

  it('takes SIZE without a number as no fixed limit, and ignores the greeting line', () => {
    assert.equal(parseEhloReply({ code: 250, lines: ['x', 'SIZE'] }).size, 0);
    assert.equal(parseEhloReply({ code: 250, lines: ['x', 'SIZE lots'] }).size, 0);
    assert.equal(parseEhloReply({ code: 250, lines: ['PIPELINING'] }).pipelining, false);
  });
});

describe('MAIL and RCPT commands', () => {
  const input = { reversePath: 'a@b.test', bodyType: '8bitmime' as const, smtpUtf8: true, dsn: { ret: 'HDRS' as const, envid: 'id=1 +x' } };

  it('carry each parameter only when the server offered its extension', () => {
    assert.equal(mailCommand(input, 1234, ALL), 'MAIL FROM:<a@b.test> SIZE=1234 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=id+3D1+20+2Bx');
    assert.equal(mailCommand(input, 1234, NO_EXTENSIONS), 'MAIL FROM:<a@b.test>');
    assert.equal(mailCommand({ ...input, reversePath: '', bodyType: '7bit', smtpUtf8: false, dsn: { ret: null, envid: null } }, 5, ALL), 'MAIL FROM:<> SIZE=5');
  });

  it('put DSN parameters on each recipient (RFC 3461 §4.1, §4.2)', () => {
    assert.equal(
      rcptCommand({ forwardPath: 'x@y.test', notify: ['SUCCESS', 'DELAY'], orcpt: { addrType: 'rfc822', address: 'X+1@y.test' } }, ALL),
      'RCPT TO:<x@y.test> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;X+2B1@y.test',
    );
    assert.equal(rcptCommand({ forwardPath: 'x@y.test', notify: null, orcpt: null }, ALL), 'RCPT TO:<x@y.test>');
    assert.equal(rcptCommand({ forwardPath: 'x@y.test', notify: ['NEVER'], orcpt: null }, NO_EXTENSIONS), 'RCPT TO:<x@y.test>');
  });

  it('encode ORCPT so that our own parser reads the same address back', () => {
    assert.equal(encodeOrcpt({ addrType: 'utf-8', address: 'pošta+x=\\@b.test' }), 'utf-8;po\\x{161}ta\\x{2B}x\\x{3D}\\x{5C}@b.test');
    const address = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }).map((s) => s + '@b.test');
    fc.assert(
      fc.property(address, fc.constantFrom('rfc822', 'utf-8'), (addr, addrType) => {
        fc.pre(![...addr].some((c) => (c.codePointAt(0) as number) < 0x20 || c === '\x7f' || /[\x80-\x9f]/.test(c)));
        const encoded = encodeOrcpt({ addrType, address: addr });
        assert.ok(!hasNonAscii(encoded));
        assert.deepEqual(parseOrcpt(encoded), { addrType, address: addr });
      }),
    );
  });
});
