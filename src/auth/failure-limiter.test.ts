import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FailureLimiter } from './failure-limiter.js';

const tick = () => new Promise((r) => setImmediate(r));

test('blocks a key after `limit` failures until the oldest ages out of the window', async () => {
  let now = 1_000;
  const limiter = new FailureLimiter(2, 100, 100, () => now);
  limiter.recordFailure('ip');
  assert.equal(limiter.isBlocked('ip'), false);
  now += 50;
  limiter.recordFailure('ip');
  assert.equal(limiter.isBlocked('ip'), true);
  assert.equal(await limiter.begin('ip'), null);
  assert.equal(limiter.isBlocked('other'), false);
  now += 51; // the first failure is now older than the window
  assert.equal(limiter.isBlocked('ip'), false);
  assert.notEqual(await limiter.begin('ip'), null);
});

test('concurrent attempts share the failure budget: no more than `limit` get checked', async () => {
  const limiter = new FailureLimiter(3, 60_000);
  const outcomes = await Promise.all(
    Array.from({ length: 10 }, async () => {
      const release = await limiter.begin('ip');
      if (!release) return 'refused';
      await tick();
      limiter.recordFailure('ip'); // every one of them is a wrong guess
      release();
      return 'checked';
    }),
  );
  assert.equal(outcomes.filter((o) => o === 'checked').length, 3);
  assert.equal(outcomes.filter((o) => o === 'refused').length, 7);
});

test('honest concurrent attempts beyond the limit wait instead of being refused', async () => {
  const limiter = new FailureLimiter(2, 60_000);
  let inFlight = 0;
  let most = 0;
  const outcomes = await Promise.all(
    Array.from({ length: 8 }, async () => {
      const release = await limiter.begin('nat');
      if (!release) return 'refused';
      inFlight++;
      most = Math.max(most, inFlight);
      await tick();
      inFlight--;
      release(); // a success: nothing recorded
      return 'ok';
    }),
  );
  assert.deepEqual(outcomes, Array(8).fill('ok'));
  assert.equal(most, 2);
});

test('memory is bounded by maxKeys (least recently failed forgotten first)', () => {
  const limiter = new FailureLimiter(1, 60_000, 2);
  limiter.recordFailure('a');
  limiter.recordFailure('b');
  limiter.recordFailure('c');
  assert.equal(limiter.isBlocked('a'), false);
  assert.equal(limiter.isBlocked('b'), true);
  assert.equal(limiter.isBlocked('c'), true);
});
