import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DurationSyntaxError, formatDuration, parseDuration } from './duration.js';

void describe('parseDuration', () => {
  void it('reads each unit', () => {
    assert.equal(parseDuration('200ms'), 200);
    assert.equal(parseDuration('30s'), 30_000);
    assert.equal(parseDuration('5m'), 300_000);
    assert.equal(parseDuration('1h'), 3_600_000);
    assert.equal(parseDuration('5d'), 432_000_000);
    assert.equal(parseDuration('0s'), 0);
  });

  void it('reads compounds, decimals and surrounding space', () => {
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('1m500ms'), 60_500);
    assert.equal(parseDuration('1.5h'), 5_400_000);
    assert.equal(parseDuration(' 5m '), 300_000);
  });

  for (const bad of ['', 'abc', '5', '300', '5x', '-5m', '5 m', '5M', 'm', '1h 30m', '1.h', 'ms5']) {
    void it(`rejects ${JSON.stringify(bad)} with a fix hint`, () => {
      assert.throws(
        () => parseDuration(bad),
        (err: unknown) => err instanceof DurationSyntaxError && /write a number with a unit ms, s, m, h or d/.test(err.message),
      );
    });
  }

  void it('says a bare number needs a unit', () => {
    assert.throws(() => parseDuration('300'), /has no unit/);
  });
});

void describe('formatDuration', () => {
  void it('prints the largest exact units', () => {
    assert.equal(formatDuration(300_000), '5m');
    assert.equal(formatDuration(5_400_000), '1h30m');
    assert.equal(formatDuration(432_000_000), '5d');
    assert.equal(formatDuration(200), '200ms');
    assert.equal(formatDuration(1500), '1s500ms');
    assert.equal(formatDuration(0), '0s');
  });

  void it('round-trips through parseDuration', () => {
    fc.assert(fc.property(fc.nat({ max: 2 ** 45 }), (ms) => parseDuration(formatDuration(ms)) === ms));
  });
});
