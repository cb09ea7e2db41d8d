import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { formatSize, parseSize, SizeSyntaxError } from './size.js';

void describe('parseSize', () => {
  void it('uses binary units', () => {
    assert.equal(parseSize('25MB'), 25 * 1024 * 1024);
    assert.equal(parseSize('512KB'), 512 * 1024);
    assert.equal(parseSize('1GB'), 1024 ** 3);
    assert.equal(parseSize('10B'), 10);
  });

  void it('takes bare integers as bytes, as text or number', () => {
    assert.equal(parseSize('1024'), 1024);
    assert.equal(parseSize(1024), 1024);
    assert.equal(parseSize(0), 0);
  });

  void it('is lenient about case, space, decimals and KiB spelling', () => {
    assert.equal(parseSize('25mb'), 25 * 1024 * 1024);
    assert.equal(parseSize(' 1.5 KB '), 1536);
    assert.equal(parseSize('2MiB'), 2 * 1024 * 1024);
  });

  for (const bad of ['', 'abc', '25XB', 'MB', '-1MB', '1.5', '25 M B', '1e3']) {
    void it(`rejects ${JSON.stringify(bad)} with a fix hint`, () => {
      assert.throws(
        () => parseSize(bad),
        (err: unknown) => err instanceof SizeSyntaxError && err.message.includes(`"${bad}" is not`) && /KB, MB or GB/.test(err.message),
      );
    });
  }

  for (const bad of [-1, 1.5, Number.NaN, Infinity]) {
    void it(`rejects the number ${bad}`, () => {
      assert.throws(() => parseSize(bad), SizeSyntaxError);
    });
  }
});

void describe('formatSize', () => {
  void it('prints the largest exact unit', () => {
    assert.equal(formatSize(25 * 1024 * 1024), '25MB');
    assert.equal(formatSize(1536), '1536B');
    assert.equal(formatSize(2048), '2KB');
    assert.equal(formatSize(1024 ** 3), '1GB');
    assert.equal(formatSize(0), '0B');
  });

  void it('round-trips through parseSize', () => {
    fc.assert(fc.property(fc.nat({ max: 2 ** 45 }), (n) => parseSize(formatSize(n)) === n));
  });
});
