import assert from 'node:assert/strict';
import { describe, it, test } from 'node:test';
import fc from 'fast-check';
import {
  addressKey,
  splitStoredAddress,
  AddressSyntaxError,
  decodeXtext,
  displayDomain,
  encodeXtext,
  formatMailbox,
  localPartKey,
  normalizeDomain,
  parseMailbox,
  parseOrcpt,
  splitPlusTag,
  validateEnvid,
} from './address.js';

function throwsSyntax(fn: () => unknown): void {
  assert.throws(fn, AddressSyntaxError);
}

describe('normalizeDomain / displayDomain', () => {
  it('converts an IDN to its A-label and back', () => {
    assert.equal(normalizeDomain('Pošta.SI'), 'xn--pota-h6a.si');
    assert.equal(displayDomain('xn--pota-h6a.si'), 'pošta.si');
    assert.equal(normalizeDomain('XN--POTA-H6A.SI'), 'xn--pota-h6a.si');
    assert.equal(normalizeDomain('ß.de'), 'xn--zca.de'); // non-transitional (IDNA2008)
  });

  it('lowercases and drops one trailing dot', () => {
    assert.equal(normalizeDomain('Mail.Example.COM.'), 'mail.example.com');
  });

  it('rejects what is not a mail domain', () => {
    for (const bad of [
      '',
      '.',
      'a..b',
      '.a.b',
      'a.b..',
      '_dmarc.example.com',
      'a b.com',
      'ex%41mple.com', // the URL parser would percent-decode
      '123', // the URL parser would make this 0.0.0.123
      '0x7f.1',
      '1.2.3.4',
      'example.123',
      '-a.com',
      'a-.com',
      'xn--zz.com', // invalid punycode
      '[1.2.3.4]',
      'a@b.com',
      'a\r\nb.com',
      `${'a'.repeat(64)}.com`,
      `${'a'.repeat(63)}.`.repeat(4) + 'com',
    ]) {
      throwsSyntax(() => normalizeDomain(bad));
    }
  });

  it('accepts the length limits exactly', () => {
    const label63 = 'a'.repeat(63);
    assert.equal(normalizeDomain(`${label63}.com`), `${label63}.com`);
    const exact = `${'a'.repeat(63)}.`.repeat(3) + 'a'.repeat(61);
    assert.equal(exact.length, 253);
    assert.equal(normalizeDomain(exact), exact);
    throwsSyntax(() => normalizeDomain(exact + 'a'));
  });
});

describe('parseMailbox', () => {
  it('parses a plain address, preserving case of the local part', () => {
    assert.deepEqual(parseMailbox('John.Doe@Example.COM'), { local: 'John.Doe', domain: 'example.com' });
  });

  it('parses a quoted local part', () => {
    assert.deepEqual(parseMailbox('"john doe"@example.com'), { local: 'john doe', domain: 'example.com' });
    assert.deepEqual(parseMailbox('"a\\"b\\\\c"@example.com'), { local: 'a"b\\c', domain: 'example.com' });
    assert.deepEqual(parseMailbox('"john"@example.com'), { local: 'john', domain: 'example.com' });
    assert.deepEqual(parseMailbox('"a@b"@example.com'), { local: 'a@b', domain: 'example.com' });
  });

  it('keeps a +tag in the local part', () => {
    assert.deepEqual(parseMailbox('user+tag@example.com'), { local: 'user+tag', domain: 'example.com' });
  });

  it('parses address literals', () => {
    assert.deepEqual(parseMailbox('postmaster@[192.0.2.1]'), { local: 'postmaster', domain: '[192.0.2.1]' });
    assert.deepEqual(parseMailbox('a@[IPv6:2001:DB8::1]'), { local: 'a', domain: '[IPv6:2001:db8::1]' });
    throwsSyntax(() => parseMailbox('a@[256.1.1.1]'));
    throwsSyntax(() => parseMailbox('a@[IPv6:fe80::1%eth0]'));
    throwsSyntax(() => parseMailbox('a@[x400:foo]'));
    throwsSyntax(() => parseMailbox('a@[1.2.3.4'));
  });

  it('enforces the RFC 5321 §4.5.3.1 size limits', () => {
    assert.equal(parseMailbox(`${'a'.repeat(64)}@example.com`).local.length, 64);
    throwsSyntax(() => parseMailbox(`${'a'.repeat(65)}@example.com`));
    // 64 octets counts UTF-8 octets, not characters
    throwsSyntax(() => parseMailbox(`${'č'.repeat(33)}@example.com`, { allowUtf8: true }));
    const domain = `${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}.com`; // 193
    const ok = `${'a'.repeat(60)}@${domain}`; // 254
    assert.equal(ok.length, 254);
    assert.equal(parseMailbox(ok).domain, domain);
    throwsSyntax(() => parseMailbox(`a${ok}`));
  });

  it('rejects CR/LF/NUL injection and stray characters', () => {
    for (const bad of [
      'a@b.com\r\nRCPT TO:<x@y.com>',
      'a\r\n@b.com',
      '"a\r\nb"@b.com',
      '"a\\\rb"@b.com',
      'a\0@b.com',
      '"a\0"@b.com',
      'a b@c.com',
      'a@b.com ',
      ' a@b.com',
      '<a@b.com>',
      'a@b@c.com',
      'a..b@c.com',
      '.a@c.com',
      'a.@c.com',
      '@c.com',
      'a@',
      'a',
      '"unterminated@c.com',
      '"a"b@c.com',
      'a@b.com.',
      'a\x7f@b.com',
      'a\tb@c.com',
    ]) {
      throwsSyntax(() => parseMailbox(bad));
      throwsSyntax(() => parseMailbox(bad, { allowUtf8: true }));
    }
  });

  it('accepts UTF-8 only with allowUtf8 (RFC 6531)', () => {
    throwsSyntax(() => parseMailbox('jože@pošta.si'));
    throwsSyntax(() => parseMailbox('joze@pošta.si'));
    throwsSyntax(() => parseMailbox('"jože"@posta.si'));
    assert.deepEqual(parseMailbox('Jože@Pošta.si', { allowUtf8: true }), { local: 'Jože', domain: 'xn--pota-h6a.si' });
    assert.deepEqual(parseMailbox('joze@xn--pota-h6a.si'), { local: 'joze', domain: 'xn--pota-h6a.si' });
    throwsSyntax(() => parseMailbox('a\u0085b@c.com', { allowUtf8: true })); // C1 control
    throwsSyntax(() => parseMailbox('a\ud800@c.com', { allowUtf8: true })); // lone surrogate
  });
});

describe('formatMailbox', () => {
  it('quotes only when needed', () => {
    assert.equal(formatMailbox({ local: 'john.doe', domain: 'example.com' }), 'john.doe@example.com');
    assert.equal(formatMailbox({ local: 'john doe', domain: 'example.com' }), '"john doe"@example.com');
    assert.equal(formatMailbox({ local: 'a"b\\c', domain: 'example.com' }), '"a\\"b\\\\c"@example.com');
    assert.equal(formatMailbox({ local: 'a..b', domain: 'example.com' }), '"a..b"@example.com');
    assert.equal(formatMailbox({ local: '', domain: 'example.com' }), '""@example.com');
  });

  it('gives the U-label domain on request', () => {
    const mb = parseMailbox('jože@pošta.si', { allowUtf8: true });
    assert.equal(formatMailbox(mb), 'jože@xn--pota-h6a.si');
    assert.equal(formatMailbox(mb, { unicode: true }), 'jože@pošta.si');
    assert.equal(formatMailbox({ local: 'a', domain: '[IPv6:2001:db8::1]' }, { unicode: true }), 'a@[IPv6:2001:db8::1]');
  });

  it('refuses what cannot be represented', () => {
    throwsSyntax(() => formatMailbox({ local: 'a\r\nb', domain: 'example.com' }));
    throwsSyntax(() => formatMailbox({ local: 'a', domain: 'exa mple.com' }));
  });
});

describe('localPartKey / splitPlusTag', () => {
  it('folds case, also for UTF-8, and removes quotes', () => {
    assert.equal(localPartKey('John.Doe'), 'john.doe');
    assert.equal(localPartKey('ŽABA'), 'žaba');
    assert.equal(localPartKey('"John"'), 'john');
    assert.equal(localPartKey('"a\\"b"'), 'a"b');
    assert.equal(localPartKey('Z\u030Caba'), 'žaba'); // NFC
  });

  it('splits user+tag', () => {
    assert.deepEqual(splitPlusTag('user+tag'), { base: 'user', tag: 'tag' });
    assert.deepEqual(splitPlusTag('user+a+b'), { base: 'user', tag: 'a+b' });
    assert.deepEqual(splitPlusTag('user'), { base: 'user', tag: null });
    assert.deepEqual(splitPlusTag('+user'), { base: '+user', tag: null });
    assert.deepEqual(splitPlusTag('user+'), { base: 'user', tag: '' });
    assert.deepEqual(splitPlusTag('user-tag', '-'), { base: 'user', tag: 'tag' });
    assert.deepEqual(splitPlusTag('user+tag', ''), { base: 'user+tag', tag: null });
  });
});

describe('xtext (RFC 3461 §4)', () => {
  it('decodes and encodes', () => {
    assert.equal(decodeXtext('+2B'), '+');
    assert.equal(decodeXtext('a+3Db+20c'), 'a=b c');
    assert.equal(decodeXtext(''), '');
    assert.equal(encodeXtext('a+b=c d'), 'a+2Bb+3Dc+20d');
    assert.equal(encodeXtext('č'), '+C4+8D');
    assert.equal(decodeXtext('+C4+8D'), 'č');
  });

  it('is strict', () => {
    throwsSyntax(() => decodeXtext('+2b')); // lowercase hex
    throwsSyntax(() => decodeXtext('a=b'));
    throwsSyntax(() => decodeXtext('a b'));
    throwsSyntax(() => decodeXtext('+2'));
    throwsSyntax(() => decodeXtext('+'));
    throwsSyntax(() => decodeXtext('+GG'));
    throwsSyntax(() => decodeXtext('č'));
    throwsSyntax(() => decodeXtext('+FF')); // not UTF-8
  });
});

describe('parseOrcpt / validateEnvid', () => {
  it('parses rfc822 ORCPT', () => {
    assert.deepEqual(parseOrcpt('rfc822;user+2Btag@example.com'), { addrType: 'rfc822', address: 'user+tag@example.com' });
    assert.deepEqual(parseOrcpt('RFC822;a@b.com'), { addrType: 'rfc822', address: 'a@b.com' });
    assert.deepEqual(parseOrcpt('x-foo;whatever'), { addrType: 'x-foo', address: 'whatever' });
  });

  it('parses utf-8 ORCPT (RFC 6533 §3)', () => {
    assert.deepEqual(parseOrcpt('utf-8;jo\\x{17E}e@x.com'), { addrType: 'utf-8', address: 'jože@x.com' });
    assert.deepEqual(parseOrcpt('utf-8;jože@x.com'), { addrType: 'utf-8', address: 'jože@x.com' });
    assert.deepEqual(parseOrcpt('utf-8;a\\x{2B}b@x.com'), { addrType: 'utf-8', address: 'a+b@x.com' });
    throwsSyntax(() => parseOrcpt('utf-8;a\\x{41}@x.com')); // "A" must appear as itself
    throwsSyntax(() => parseOrcpt('utf-8;a\\x{0041}@x.com'));
    throwsSyntax(() => parseOrcpt('utf-8;a\\x{D800}@x.com'));
    throwsSyntax(() => parseOrcpt('utf-8;a\\x{110000}@x.com'));
    throwsSyntax(() => parseOrcpt('utf-8;a\\x{0D}@x.com')); // CR
    throwsSyntax(() => parseOrcpt('utf-8;a\\b@x.com'));
    throwsSyntax(() => parseOrcpt('utf-8;a+2Bb@x.com'));
  });

  it('rejects bad ORCPT', () => {
    throwsSyntax(() => parseOrcpt('rfc822'));
    throwsSyntax(() => parseOrcpt(';a@b.com'));
    throwsSyntax(() => parseOrcpt('rfc822;'));
    throwsSyntax(() => parseOrcpt('rfc822;a+0D+0Ab@c.com'));
    throwsSyntax(() => parseOrcpt('rfc822;a+00@c.com'));
    throwsSyntax(() => parseOrcpt('rfc822;nobody'));
    throwsSyntax(() => parseOrcpt('rfc 822;a@b.com'));
    throwsSyntax(() => parseOrcpt(`rfc822;${'a'.repeat(500)}@b.com`));
  });

  it('validates ENVID', () => {
    assert.equal(validateEnvid('QQ314159'), 'QQ314159');
    assert.equal(validateEnvid('a+2Bb'), 'a+b');
    assert.equal(validateEnvid('x'.repeat(100)), 'x'.repeat(100));
    throwsSyntax(() => validateEnvid('x'.repeat(101)));
    throwsSyntax(() => validateEnvid(''));
    throwsSyntax(() => validateEnvid('a+0Db'));
    throwsSyntax(() => validateEnvid('a=b'));
    throwsSyntax(() => validateEnvid('+C4+8D')); // not US-ASCII
  });
});

// ---------------------------------------------------------------------------
// Property tests (DESIGN.md §7: a parser never throws anything but its own syntax error)

const interestingChar = fc.constantFrom(
  ...'aZ09.@"\\+=-_ ()<>[]:;,!#$%&\'*/?^`{|}~\r\n\t\0\x7f\u0085čžŠ日本\ud800\udc00ÿ'.split(''),
  'IPv6:',
  'xn--',
  '+2B',
  '+2b',
  '\\x{41}',
  '\\x{17E}',
);
const nastyString = fc.oneof(
  fc.string({ unit: interestingChar, maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.string({ maxLength: 300 }),
  fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 80 }).map((a) => String.fromCharCode(...a)),
);

function onlySyntaxErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof AddressSyntaxError)) throw err;
  }
}

describe('properties', () => {
  it('every function returns or throws AddressSyntaxError', () => {
    fc.assert(
      fc.property(nastyString, nastyString, fc.boolean(), (s, t, utf8) => {
        onlySyntaxErrors(() => normalizeDomain(s));
        onlySyntaxErrors(() => displayDomain(s));
        onlySyntaxErrors(() => parseMailbox(s, { allowUtf8: utf8 }));
        onlySyntaxErrors(() => parseMailbox(`${s}@${t}`, { allowUtf8: utf8 }));
        onlySyntaxErrors(() => formatMailbox({ local: s, domain: t }, { unicode: utf8 }));
        onlySyntaxErrors(() => localPartKey(s));
        onlySyntaxErrors(() => splitPlusTag(s, t));
        onlySyntaxErrors(() => decodeXtext(s));
        onlySyntaxErrors(() => encodeXtext(s));
        onlySyntaxErrors(() => parseOrcpt(s));
        onlySyntaxErrors(() => parseOrcpt(`rfc822;${s}`));
        onlySyntaxErrors(() => parseOrcpt(`utf-8;${s}`));
        onlySyntaxErrors(() => validateEnvid(s));
      }),
      { numRuns: 3000 },
    );
  });

  it('parse → format → parse is stable for whatever parses', () => {
    fc.assert(
      fc.property(nastyString, nastyString, fc.boolean(), (l, d, utf8) => {
        for (const text of [`${l}@${d}`, `"${l}"@${d}`, l]) {
          let mb;
          try {
            mb = parseMailbox(text, { allowUtf8: utf8 });
          } catch {
            continue;
          }
          assert.deepEqual(parseMailbox(formatMailbox(mb), { allowUtf8: utf8 }), mb);
        }
      }),
      { numRuns: 3000 },
    );
  });

  const atextChar = fc.constantFrom(..."abcXYZ0189!#$%&'*+-/=?^_`{|}~".split(''));
  const dotAtom = fc
    .array(fc.string({ unit: atextChar, minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 4 })
    .map((parts) => parts.join('.'));
  const printable = fc.string({ unit: fc.integer({ min: 32, max: 126 }).map((c) => String.fromCharCode(c)), maxLength: 30 });
  const utf8Local = fc.string({ unit: fc.constantFrom('a', 'č', 'Ž', '日', 'ü', ' ', '"', '\\', '.'), minLength: 1, maxLength: 12 });
  const ldhLabel = fc
    .string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-'.split('')), minLength: 1, maxLength: 20 })
    .filter((l) => !l.startsWith('-') && !l.endsWith('-') && !/^..--/.test(l));
  const tld = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz'.split('')), minLength: 2, maxLength: 6 });
  const idnLabel = fc.constantFrom('pošta', 'žaba', '日本', 'bücher', 'ŠKODA', 'faß');
  const domain = fc
    .tuple(fc.array(fc.oneof(ldhLabel, idnLabel), { minLength: 1, maxLength: 4 }), tld)
    .map(([labels, t]) => [...labels, t].join('.'));

  it('generated valid mailboxes round-trip', () => {
    fc.assert(
      fc.property(fc.oneof(dotAtom, printable, utf8Local), domain, (local, dom) => {
        const utf8 = /[^\x00-\x7f]/.test(local + dom);
        const text = formatMailbox({ local, domain: dom }, { unicode: true });
        const mb = parseMailbox(text, { allowUtf8: true });
        assert.equal(mb.local, local);
        assert.equal(mb.domain, normalizeDomain(dom));
        const ascii = formatMailbox(mb);
        assert.deepEqual(parseMailbox(ascii, { allowUtf8: utf8 }), mb);
        assert.equal(localPartKey(mb.local), localPartKey(local.toUpperCase()));
      }),
      { numRuns: 2000 },
    );
  });

  it('encodeXtext / decodeXtext round-trip', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.string(), fc.string({ unit: interestingChar })), (s) => {
        let enc: string;
        try {
          enc = encodeXtext(s);
        } catch (err) {
          assert.ok(err instanceof AddressSyntaxError);
          assert.match(s, /[\ud800-\udfff]/); // only lone surrogates cannot be encoded
          return;
        }
        assert.match(enc, /^(?:[!-*,-<>-~]|\+[0-9A-F]{2})*$/);
        assert.equal(decodeXtext(enc), s);
      }),
      { numRuns: 3000 },
    );
  });
});

test('addressKey folds the local part case; splitStoredAddress splits at the last @', () => {
  assert.equal(addressKey({ local: 'Ana.Novak', domain: 'xn--pota-h6a.si' }), 'ana.novak@xn--pota-h6a.si');
  assert.equal(addressKey({ local: 'ANA', domain: 'a.test' }), addressKey({ local: 'ana', domain: 'a.test' }));
  assert.deepEqual(splitStoredAddress('"a@b"@c.test'), { local: '"a@b"', domain: 'c.test' });
  assert.deepEqual(splitStoredAddress('user@example.test'), { local: 'user', domain: 'example.test' });
});
