import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ImapParseError } from './parse-error.js';
import {
  compressSequenceSet,
  compressUidList,
  expandSequenceSet,
  formatIntervals,
  formatSequenceSet,
  highestExplicitNumber,
  parseSequenceSet,
  resolveSequenceSet,
  sequenceContains,
  sequenceCount,
  type SeqRange,
} from './sequence-set.js';

function ranges(text: string): readonly SeqRange[] {
  const set = parseSequenceSet(text);
  assert.equal(set.kind, 'ranges');
  return set.kind === 'ranges' ? set.ranges : [];
}

describe('parseSequenceSet', () => {
  it('parses numbers, ranges, * and $ (RFC 9051 §9, RFC 5182)', () => {
    assert.deepEqual(ranges('1'), [{ from: 1, to: 1 }]);
    assert.deepEqual(ranges('1:3,5,7:*'), [
      { from: 1, to: 3 },
      { from: 5, to: 5 },
      { from: 7, to: '*' },
    ]);
    assert.deepEqual(ranges('*:4'), [{ from: '*', to: 4 }]);
    assert.deepEqual(ranges('4294967295'), [{ from: 4294967295, to: 4294967295 }]);
    assert.deepEqual(parseSequenceSet('$'), { kind: 'saved' });
  });

  it('rejects what is not a sequence set', () => {
    for (const bad of ['', '0', '01', '1:', ':1', '1,,2', '1,', ',1', '1:2:3', 'a', '1 2', '-1', '4294967296', '$,1', '1:$', '**']) {
      assert.throws(() => parseSequenceSet(bad), ImapParseError, bad);
    }
  });

  it('honours the options', () => {
    assert.throws(() => parseSequenceSet('1,2,3', { maxRanges: 2 }), /more than 2/);
    assert.doesNotThrow(() => parseSequenceSet('1,2', { maxRanges: 2 }));
    assert.throws(() => parseSequenceSet('1:*', { allowStar: false }), ImapParseError);
    assert.throws(() => parseSequenceSet('$', { allowSaved: false }), ImapParseError);
  });

  it('formats back unchanged', () => {
    for (const s of ['1', '1:3,5,7:*', '*:4', '$', '9,1']) assert.equal(formatSequenceSet(parseSequenceSet(s)), s);
  });
});

describe('resolveSequenceSet', () => {
  it('resolves *, swaps reversed ranges, sorts and merges', () => {
    assert.deepEqual(resolveSequenceSet(ranges('5:3,1,2,9:*'), 12), [
      [1, 5],
      [9, 12],
    ]);
    assert.deepEqual(resolveSequenceSet(ranges('*:10'), 4), [[4, 10]]); // RFC 9051 §6.4.9 559:*
    assert.deepEqual(resolveSequenceSet(ranges('1:*'), 0), [[0, 1]]);
    assert.deepEqual(resolveSequenceSet(ranges('7,5,6'), 10), [[5, 7]]);
  });

  it('contains, count, expand, highest', () => {
    const iv = resolveSequenceSet(ranges('1:3,10,20:22'), 100);
    assert.ok(sequenceContains(iv, 2));
    assert.ok(!sequenceContains(iv, 4));
    assert.ok(sequenceContains(iv, 22));
    assert.equal(sequenceCount(iv), 7);
    assert.deepEqual(expandSequenceSet(iv, 7), [1, 2, 3, 10, 20, 21, 22]);
    assert.equal(expandSequenceSet(iv, 6), null);
    assert.equal(expandSequenceSet(resolveSequenceSet(ranges('1:4294967295'), 1), 1000), null);
    assert.equal(highestExplicitNumber(ranges('3:*,9,2')), 9);
    assert.equal(formatIntervals(iv), '1:3,10,20:22');
  });

  it('agrees with a naive model (property)', () => {
    const num = fc.oneof(fc.integer({ min: 1, max: 60 }), fc.constant('*' as const));
    fc.assert(
      fc.property(fc.array(fc.record({ from: num, to: num }), { minLength: 1, maxLength: 12 }), fc.integer({ min: 0, max: 50 }), (rs, max) => {
        const iv = resolveSequenceSet(rs, max);
        const naive = new Set<number>();
        for (const r of rs) {
          const a = r.from === '*' ? max : r.from;
          const b = r.to === '*' ? max : r.to;
          for (let n = Math.min(a, b); n <= Math.max(a, b); n++) naive.add(n);
        }
        for (let n = 0; n <= 62; n++) assert.equal(sequenceContains(iv, n), naive.has(n));
        assert.equal(sequenceCount(iv), naive.size);
        // Sorted, disjoint, not adjacent.
        for (let i = 1; i < iv.length; i++) assert.ok(iv[i][0] > iv[i - 1][1] + 1);
      }),
    );
  });
});

describe('compress', () => {
  it('compresses sorted (RFC 4731 ALL, VANISHED)', () => {
    assert.equal(compressSequenceSet([1, 2, 3, 5, 7, 8, 9]), '1:3,5,7:9');
    assert.equal(compressSequenceSet([9, 8, 7, 5, 3, 2, 1, 2]), '1:3,5,7:9');
    assert.equal(compressSequenceSet([]), '');
  });

  it('keeps order for COPYUID (RFC 4315 §3)', () => {
    assert.equal(compressUidList([304, 319, 320]), '304,319:320');
    assert.equal(compressUidList([5, 3, 4]), '5,3:4');
  });

  it('round-trips through the parser (property)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 500 }), { minLength: 1, maxLength: 60 }), (nums) => {
        const text = compressSequenceSet(nums);
        const iv = resolveSequenceSet(ranges(text), 500);
        assert.deepEqual(expandSequenceSet(iv, 1000), [...nums].sort((a, b) => a - b));
        const ordered = compressUidList(nums);
        const back = ranges(ordered).flatMap((r) => {
          const out: number[] = [];
          for (let n = r.from as number; n <= (r.to as number); n++) out.push(n);
          return out;
        });
        assert.deepEqual(back, nums);
      }),
    );
  });
});
