import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  decodeBase64,
  decodeQuotedPrintable,
  decodeTransferEncoding,
  isIdentityEncoding,
  UnknownTransferEncodingError,
} from './transfer-decoding.js';

const qp = (s: string) => decodeQuotedPrintable(Buffer.from(s, 'latin1')).toString('latin1');
const b64 = (s: string) => decodeBase64(Buffer.from(s, 'latin1')).toString('latin1');

describe('quoted-printable (RFC 2045 §6.7)', () => {
  it('decodes escapes and soft line breaks, keeps hard ones', () => {
    assert.equal(qp('Caf=C3=A9 =3D=\r\nnext\r\nline'), 'Caf\xc3\xa9 =next\r\nline');
    assert.equal(qp('soft=\nbreak with LF\n'), 'softbreak with LF\n');
    assert.equal(qp('lower =c3=a9'), 'lower \xc3\xa9');
  });

  it('deletes trailing whitespace (rule 3), also before a soft break', () => {
    assert.equal(qp('a  \r\nb\t\r\n=20 \r\nc=  \r\nd   '), 'a\r\nb\r\n \r\ncd');
  });

  it('keeps malformed escapes as they are', () => {
    assert.equal(qp('=ZZ =4 = x ='), '=ZZ =4 = x ');
    assert.equal(qp('keep =\r\nspace'), 'keep space');
  });
});

describe('base64 (RFC 2045 §6.8)', () => {
  it('decodes clean input, ignoring line breaks', () => {
    assert.equal(b64('SGVs\r\nbG8=\r\n'), 'Hello');
    assert.equal(b64(''), '');
  });

  it('skips foreign characters and restarts after padding', () => {
    assert.equal(b64('SGVsbG8g!!d29y\r\nbGQ='), 'Hello world');
    assert.equal(b64('SGk=SGk='), 'HiHi');
    assert.equal(b64('SGVsbG8'), 'Hello');
    assert.equal(b64('S'), '');
  });

  it('round-trips any bytes, wrapped or not', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, wrap) => {
        let enc = Buffer.from(bytes).toString('base64');
        if (wrap) enc = enc.replace(/.{76}/g, '$&\r\n');
        assert.deepEqual(decodeBase64(Buffer.from(enc)), Buffer.from(bytes));
        // the slow path agrees with the fast one
        assert.deepEqual(decodeBase64(Buffer.from(`${enc}\u0000`, 'latin1')), Buffer.from(bytes));
      }),
    );
  });
});

describe('decodeTransferEncoding', () => {
  it('knows identity encodings and rejects unknown ones', () => {
    assert.ok(isIdentityEncoding('8BIT') && isIdentityEncoding('binary') && isIdentityEncoding(''));
    const data = Buffer.from('x');
    assert.equal(decodeTransferEncoding(data, '7bit'), data);
    assert.equal(decodeTransferEncoding(Buffer.from('eA=='), 'BASE64').toString(), 'x');
    assert.throws(() => decodeTransferEncoding(data, 'x-uuencode'), UnknownTransferEncodingError);
  });

  it('never throws on arbitrary bytes for base64 and quoted-printable', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        decodeBase64(Buffer.from(bytes));
        decodeQuotedPrintable(Buffer.from(bytes));
      }),
    );
  });
});
