/**
 * The cluster's supervision: workers never outlive their primary (DESIGN.md §3b).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createChildServer } from './helpers/child-server.js';
import { waitFor } from './helpers/harness.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('when the primary is killed with -9, its workers stop by themselves', async (t) => {
  const server = createChildServer(t, { workers: 2, hostname: 'mx.cluster.test', primaryDomain: 'cluster.test', tmpPrefix: 'posta-cluster-' });
  await server.start();
  const workers = server.workerPidList;
  assert.equal(workers.length, 2);
  process.kill(server.pid!, 'SIGKILL');
  // Unsupervised workers would keep serving and delivering; node:cluster ends a worker whose
  // IPC channel to the primary closes, as long as its event loop runs (a busy-looping
  // scheduler once kept orphans alive: see the scheduler's sleep()).
  await waitFor(() => workers.every((pid) => !alive(pid)), 'the workers to exit', 30_000);
  await server.kill9(); // releases whatever is left (nothing, if all went well)
});
