/**
 * `npm run bench` (last part): how long one new message takes from the client's 250 to the
 * remote server, with an empty queue and with 100,000 recipients deferred into the future
 * (issue #3: a big deferred backlog must not slow new mail).
 *
 * The server runs in this process (startServer) with delivery.relay_host pointing at a fake
 * MX on loopback; each probe message goes to an alias of a remote address, one at a time.
 * Reported: median and p90 of the time from the client's connect to the message's arrival
 * at the fake MX (SMTP in, commit, scheduling, SMTP out), for each queue, and the ratio.
 *
 * Environment knobs: BENCH_BACKLOG=100000 (deferred recipients), BENCH_PROBES=50.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { AccountAdmin } from '../src/admin/accounts.js';
import { configFromObject } from '../src/config/index.js';
import { openStore, startServer } from '../src/main.js';
import type { IncomingMessage } from '../src/store/types.js';
import { startFakeMx } from '../test/helpers/fake-mx.js';

const BACKLOG = Number(process.env.BENCH_BACKLOG ?? 100_000);
const PROBES = Number(process.env.BENCH_PROBES ?? 50);
const DOMAIN = 'bench.test';

async function measure(backlog: number): Promise<{ latencies: number[]; fillS: number }> {
  const dir = fs.mkdtempSync(path.join(fs.existsSync('/var/tmp') ? '/var/tmp' : os.tmpdir(), 'posta-backlog-'));
  const sink = await startFakeMx({ host: '127.0.0.1', port: 0, name: 'sink.test' });
  try {
    const config = configFromObject({
      hostname: 'mx.bench.test',
      primary_domain: DOMAIN,
      data_dir: dir,
      workers: 1,
      listen: { smtp: '127.0.0.1:0', submission: '', submissions: '', imap: '', imaps: '', pop3: '', pop3s: '', http: '' },
      dns: { servers: ['127.0.0.1:9'] },
      delivery: { relay_host: `127.0.0.1:${sink.port}` },
      log: { level: 'silent' },
    });
    // The backlog goes in before the server starts, already deferred an hour into the future.
    const fillStart = process.hrtime.bigint();
    const store = openStore(config);
    const admin = new AccountAdmin(store);
    await admin.addDomain(DOMAIN);
    await admin.addAlias(`probe@${DOMAIN}`, ['someone@sink.test']);
    const perMessage = 100;
    for (let done = 0; done < backlog; ) {
      const batch: IncomingMessage[] = [];
      for (let m = 0; m < 100 && done < backlog; m++) {
        const n = Math.min(perMessage, backlog - done);
        batch.push({
          queueId: `BACKLOG${done}`,
          blobHash: 'f'.repeat(64),
          size: 100,
          inlineBody: Buffer.from('Subject: backlog\r\n\r\nwaiting\r\n'),
          receivedAt: Date.now(),
          reversePath: 'sender@elsewhere.test',
          dsn: { ret: null, envid: null },
          bodyType: null,
          smtpUtf8: false,
          submitterAccountId: null,
          clientIp: '127.0.0.1',
          helo: 'bench',
          localAccountIds: [],
          remoteRecipients: Array.from({ length: n }, (_, i) => ({
            forwardPath: `user${i}@down${done}.test`,
            domain: `down${done}.test`,
            dsn: { notify: null, orcpt: null },
          })),
        });
        done += n;
      }
      await store.commitIncoming(batch);
    }
    await store.close();
    if (backlog > 0) {
      const Database = (await import('better-sqlite3')).default;
      const db = new Database(path.join(dir, 'posta.db'));
      db.prepare("UPDATE queue_recipients SET state = 'deferred', attempts = 1, next_attempt_at = ?").run(Date.now() + 3600_000);
      db.close();
    }
    const fillS = Number(process.hrtime.bigint() - fillStart) / 1e9;

    const server = await startServer({ config });
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: server.addresses.smtp!.port, secure: false, ignoreTLS: true, pool: false });
    const latencies: number[] = [];
    try {
      for (let i = 0; i < PROBES + 5; i++) {
        const arrived = sink.waitForMessages(i + 1, 60_000);
        const t0 = process.hrtime.bigint();
        await transport.sendMail({ envelope: { from: 'probe@elsewhere.test', to: [`probe@${DOMAIN}`] }, raw: `Subject: probe ${i}\r\n\r\nprobe\r\n` });
        await arrived;
        // The first few warm up the JIT and open the connection the rest reuse.
        if (i >= 5) latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      const queued = (await server.store.listQueue()).length;
      if (queued < Math.ceil(backlog / perMessage)) throw new Error(`backlog missing: ${queued} messages queued`);
    } finally {
      transport.close();
      await server.close();
    }
    return { latencies: latencies.sort((a, b) => a - b), fillS };
  } finally {
    await sink.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.round((p / 100) * (sorted.length - 1)))];
}

async function main(): Promise<void> {
  process.stdout.write(`# Pošta queue backlog benchmark (${new Date().toISOString()})\n\n`);
  process.stdout.write(`connect → arrival at the remote server, one new message at a time, ${PROBES} probes (in-process server, 1 worker)\n\n`);
  const empty = await measure(0);
  const full = await measure(BACKLOG);
  const rows = [
    ['empty queue', empty],
    [`${BACKLOG.toLocaleString('en')} deferred recipients`, full],
  ] as const;
  process.stdout.write('| queue | p50 ms | p90 ms | max ms |\n|---|---|---|---|\n');
  for (const [label, r] of rows) {
    process.stdout.write(`| ${label} | ${pct(r.latencies, 50).toFixed(2)} | ${pct(r.latencies, 90).toFixed(2)} | ${r.latencies.at(-1)!.toFixed(2)} |\n`);
  }
  process.stdout.write(`\nratio of medians (backlog / empty): ${(pct(full.latencies, 50) / pct(empty.latencies, 50)).toFixed(2)}; backlog filled in ${full.fillS.toFixed(1)} s\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
