/**
 * The outbound crash test (issue #3, DESIGN.md §7): "kill -9 during deliveries, then
 * restart. Every queued recipient ends delivered or with a notice."
 *
 * `posta serve` (A, a child process, domain a.test) delivers to one scripted fake MX on
 * 127.0.0.3, found through a real DNS server on loopback (remote.test, other.test and
 * fail.test all point at it). Two local users of A submit mail to remote recipients; some
 * recipients are refused with 550 at RCPT, so failure notices are part of the ledger.
 *
 * Each kill cycle: submit a batch while the fake MX greylists everything (every submission
 * must get 250; its queue id goes into the ledger), then let the fake MX accept mail and
 * SIGKILL A on an event, chosen by the seed:
 *  - "ack": right after the fake MX acknowledged its j-th message of the cycle, so A has
 *    microseconds to read that 250 and record it (the RFC 1047 window);
 *  - a fault: after k good messages the fake MX stalls after the final dot, drops the
 *    connection after the dot, or answers 451 after the dot, and A dies once m messages
 *    met the fault.
 * So deliveries are in flight at every kill, and the kill waits for events, never for a
 * fixed time. With two workers, one of the kills takes down only one worker; the primary
 * gives its leases back and starts a replacement. After the last kill, A restarts, the fake
 * MX behaves, a final batch goes out, and once A's queue is empty A stops cleanly. Then:
 *  - every remote recipient that should be deliverable was acknowledged by the fake MX at
 *    least once, with byte-identical content (after removing A's Received header, which
 *    must name the queue id from the 250), and the store says "delivered";
 *  - every refused recipient is "failed", and its sender's INBOX has exactly one failure
 *    notice naming it (RFC 3464, parsed strictly), returning the right message;
 *  - no notice names a delivered recipient, and nothing else is in the INBOXes;
 *  - the trace has exactly one final outcome per recipient (A never sent again what it had
 *    recorded as delivered), and the attempt counter is at least the number of copies the
 *    fake MX received (attempts are counted before dialing);
 *  - a recipient acknowledged twice (the RFC 1047 window: the remote took it, A died before
 *    recording that) must have a kill between the two copies. Such duplicates are counted
 *    and reported; so are copies the fake MX received but never acknowledged (resent, as
 *    they must be).
 *
 * The schedule and the messages come from a seeded PRNG; the seed is printed, and
 * CRASH_SEED=<n> replays the same schedule (timing still varies: it is a crash test).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import nodemailer from 'nodemailer';
import { AccountAdmin } from '../src/admin/accounts.js';
import { FsBlobStore } from '../src/blob/fs-blob-store.js';
import { loadConfig } from '../src/config/index.js';
import { parseDsn, type ParsedDsn } from '../src/dsn/parse-dsn.js';
import { openStore } from '../src/main.js';
import { MessageBodies } from '../src/spool/message-bodies.js';
import type { Store } from '../src/store/types.js';
import { createChildServer, type ChildServer } from './helpers/child-server.js';
import { startFakeMx, type FakeMx, type FakeMxScript, type ReceivedMessage } from './helpers/fake-mx.js';
import { stripReceived } from './helpers/harness.js';
import { PASSWORD } from './helpers/smtp-fixtures.js';
import { startTestDns } from './helpers/test-dns.js';
import { ledgerBody, prng } from './helpers/prng.js';

const DOMAIN = 'a.test';
const SENDERS = ['alice@a.test', 'amy@a.test'];
/** The fake MX takes these; every other recipient gets 550 at RCPT. */
const DELIVERABLE = ['bob@remote.test', 'carol@remote.test', 'dave@other.test', 'erin@other.test'];
const MX_IP = '127.0.0.3';
const KILL_CYCLES = 3;
/** Messages sent after the last restart. */
const FINAL_MESSAGES = 6;
/** Upper bound on messages per run, whatever happens (keeps the test bounded). */
const MAX_MESSAGES = 80;
const WAIT_MS = 30_000;


const NORMAL: FakeMxScript = {
  rcpt: Object.fromEntries(DELIVERABLE.map((a) => [a, 250])),
  rcptAll: '550 5.1.1 No such user here',
};
/** Every recipient deferred: nothing is delivered while a batch is being submitted. */
const GREYLIST: FakeMxScript = { rcptAll: '450 4.2.0 Greylisted, try again later' };
type Fault = 'stall' | 'drop' | 'tempfail';
/** How a cycle's kill is triggered (see the loop in outboundCrashTest). */
const TRIGGERS = ['ack', 'ack', 'stall', 'drop', 'tempfail'] as const;
const FAULTS: Record<Fault, FakeMxScript> = {
  stall: { ...NORMAL, stall: 'dot' },
  drop: { ...NORMAL, dropAfterData: true },
  tempfail: { ...NORMAL, afterData: '451 4.3.0 Try again later' },
};

interface LedgerEntry {
  seq: number;
  cycle: number;
  from: string;
  /** Envelope recipients as sent. */
  rcpts: string[];
  /** The ones the fake MX takes. */
  deliverable: string[];
  /** The ones it refuses with 550 at RCPT. */
  failing: string[];
  raw: Buffer;
  queueId?: string;
  reply?: string;
}

interface KillMark {
  cycle: number;
  what: string;
  /**
   * mx.messages.length just before the signal and once the killed processes were gone (for
   * a worker-only kill: once its replacement listened). A copy recorded before `after` may
   * be sent again by a copy recorded from `before` on.
   */
  before: number;
  after: number;
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1);
}

function makeMessage(rand: () => number, seed: number, seq: number, cycle: number): LedgerEntry {
  const from = SENDERS[Math.floor(rand() * SENDERS.length)];
  const pool = [...DELIVERABLE];
  const deliverable: string[] = [];
  const wanted = 1 + Math.floor(rand() * 3);
  while (deliverable.length < wanted) deliverable.push(pool.splice(Math.floor(rand() * pool.length), 1)[0]);
  const failing: string[] = [];
  if (rand() < 0.35) {
    // Refused at its own domain, or next to accepted recipients in the same transaction.
    failing.push(rand() < 0.5 ? `gone-${seq}@fail.test` : `nobody-${seq}@remote.test`);
    if (rand() < 0.2) failing.push(`gone-${seq}-b@fail.test`);
  }
  const rcpts = [...deliverable, ...failing];
  const r = rand();
  const size = r < 0.05 ? 60_000 + Math.floor(rand() * 60_000) : r < 0.3 ? 4_000 + Math.floor(rand() * 16_000) : 200 + Math.floor(rand() * 3_000);
  const head =
    `From: <${from}>\r\n` +
    `To: ${rcpts.map((x) => `<${x}>`).join(', ')}\r\n` +
    `Subject: outbound crash test ${seed} message ${seq}\r\n` +
    `Date: Sat, 28 Nov 2026 12:00:00 +0000\r\n` +
    `Message-ID: <${seq}.${seed}@crash-outbound.a.test>\r\n` +
    `X-Ledger-Seq: ${seq}\r\n` +
    `\r\n`;
  const raw = ledgerBody(rand, head, `Message ${seq} of run ${seed}.`, size);
  return { seq, cycle, from, rcpts, deliverable, failing, raw };
}

/** SMTP transactions the message causes at the fake MX: one per domain with a deliverable recipient. */
function transactionsOf(entry: LedgerEntry): number {
  return new Set(entry.deliverable.map(domainOf)).size;
}

/** Marks a promise as handled now (it is awaited later), so an early rejection is not "unhandled". */
function later<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

/** Submits every entry through A's submission port (STARTTLS, AUTH); every one must get 250. */
async function submit(server: ChildServer, entries: LedgerEntry[], seed: number): Promise<void> {
  const transports = new Map(
    SENDERS.map((user) => [
      user,
      nodemailer.createTransport({
        pool: true,
        maxConnections: 3,
        host: '127.0.0.1',
        port: server.port('submission'),
        secure: false,
        requireTLS: true,
        auth: { user, pass: PASSWORD },
        tls: { rejectUnauthorized: false },
      }),
    ]),
  );
  try {
    await Promise.all(
      entries.map(async (entry) => {
        let info: { response: string; accepted: unknown[] };
        try {
          info = await transports.get(entry.from)!.sendMail({ envelope: { from: entry.from, to: entry.rcpts }, raw: entry.raw });
        } catch (err) {
          throw new Error(`seed ${seed}: message ${entry.seq} was not accepted: ${(err as Error).message}\n${server.output()}`);
        }
        entry.reply = info.response;
        const id = /queued as ([0-9A-Z]+)/.exec(info.response);
        assert.ok(id && info.response.startsWith('250'), `seed ${seed}: message ${entry.seq}: unexpected reply ${info.response}`);
        assert.equal(info.accepted.length, entry.rcpts.length, `seed ${seed}: message ${entry.seq}: A refused a recipient`);
        entry.queueId = id[1];
      }),
    );
  } finally {
    for (const t of transports.values()) t.close();
  }
}

/** Polls A's store (shared with the running server, as the CLI does) until the queue is empty. */
async function waitForEmptyQueue(store: Store, server: ChildServer, seed: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const queue = await store.listQueue();
    if (queue.length === 0) return;
    if (Date.now() > deadline) {
      const left = queue.map((m) => `${m.queueId}: ${m.recipients.map((r) => `${r.forwardPath} ${r.state} ${r.noticeDue ?? ''} ${r.lastError ?? ''}`).join('; ')}`);
      throw new Error(`seed ${seed}: the queue did not drain within ${timeoutMs} ms:\n${left.join('\n')}\n${server.output()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Notice {
  owner: string;
  uid: number;
  dsn: ParsedDsn;
}

/** The INBOXes of the senders after the clean stop: every message must be a notice. */
async function readNotices(server: ChildServer, problems: string[]): Promise<Notice[]> {
  const { config } = loadConfig({ file: server.configPath, env: {}, cwd: server.dir });
  const store = openStore(config);
  const bodies = new MessageBodies(store, new FsBlobStore(path.join(server.dataDir, 'blobs')));
  const notices: Notice[] = [];
  try {
    const admin = new AccountAdmin(store);
    for (const address of SENDERS) {
      const account = await admin.getUser(address);
      for (const mailbox of await store.listMailboxes(account.id)) {
        const messages = await store.listMailboxMessages(mailbox.id);
        if (mailbox.name !== 'INBOX') {
          if (messages.length > 0) problems.push(`${address} ${mailbox.name} has ${messages.length} messages`);
          continue;
        }
        for (const m of messages) {
          const bytes = await bodies.read(m.blobHash);
          try {
            notices.push({ owner: address, uid: m.uid, dsn: parseDsn(bytes) });
          } catch (err) {
            problems.push(`${address} INBOX UID ${m.uid} is not a well-formed notice (${(err as Error).message}): ${JSON.stringify(bytes.subarray(0, 300).toString('latin1'))}`);
          }
        }
      }
    }
  } finally {
    await store.close();
  }
  return notices;
}

interface Copy {
  index: number;
  message: ReceivedMessage;
}

interface Tally {
  /** (message, recipient) pairs acknowledged by the fake MX more than once, and the extra copies. */
  duplicatePairs: number;
  duplicateCopies: number;
  /** Copies the fake MX received but never acknowledged (in flight at a kill, dropped, 451). */
  unacknowledged: number;
}

async function checkLedger(
  ledger: LedgerEntry[],
  mx: FakeMx,
  kills: KillMark[],
  notices: Notice[],
  store: Store,
  problems: string[],
): Promise<Tally> {
  const tally: Tally = { duplicatePairs: 0, duplicateCopies: 0, unacknowledged: 0 };
  const bySeq = new Map(ledger.map((e) => [e.seq, e]));
  const copies = new Map<number, Copy[]>();
  mx.messages.forEach((message, index) => {
    const body = stripReceived(message.body);
    const seq = /^X-Ledger-Seq: (\d+)\r$/m.exec(body.subarray(0, 4096).toString('latin1'));
    const entry = seq ? bySeq.get(Number(seq[1])) : undefined;
    if (!entry) {
      problems.push(`fake MX message ${index} is not one of ours: ${JSON.stringify(message.body.subarray(0, 300).toString('latin1'))}`);
      return;
    }
    const where = `fake MX message ${index} (message ${entry.seq}, ${entry.queueId})`;
    if (!message.accepted) tally.unacknowledged++;
    if (message.from !== entry.from) problems.push(`${where}: MAIL FROM <${message.from}>, sent by ${entry.from}`);
    if (body.length === message.body.length) problems.push(`${where}: no Received header`);
    const received = message.body.subarray(0, message.body.length - body.length).toString('latin1');
    if (!received.includes(`id ${entry.queueId}`)) problems.push(`${where}: its Received header does not name the queue id: ${JSON.stringify(received)}`);
    if (!body.equals(entry.raw)) problems.push(`${where}: bytes differ from what was submitted (${body.length} received, ${entry.raw.length} sent)`);
    const domains = new Set(message.to.map(domainOf));
    if (domains.size !== 1) problems.push(`${where}: one transaction for several domains: ${message.to.join(', ')}`);
    for (const rcpt of message.to) {
      if (!entry.deliverable.includes(rcpt)) problems.push(`${where}: ${rcpt} is not a deliverable recipient of it`);
    }
    const list = copies.get(entry.seq) ?? [];
    list.push({ index, message });
    copies.set(entry.seq, list);
  });

  const noticesFor = new Map<string, Notice[]>();
  for (const notice of notices) {
    for (const block of notice.dsn.perRecipient) {
      const rcpt = block['final-recipient']?.replace(/^rfc822;\s*/i, '') ?? '';
      const list = noticesFor.get(rcpt) ?? [];
      list.push(notice);
      noticesFor.set(rcpt, list);
      if (block.action !== 'failed') problems.push(`${notice.owner} INBOX UID ${notice.uid}: action ${block.action} for ${rcpt} (only failures are expected)`);
    }
  }

  for (const entry of ledger) {
    const where = `message ${entry.seq} (cycle ${entry.cycle}, ${entry.queueId}, from ${entry.from})`;
    const stored = await store.getQueueMessage(entry.queueId!);
    if (!stored) {
      problems.push(`${where}: not in the queue store`);
      continue;
    }
    if (stored.finishedAt === null) problems.push(`${where}: not finished`);
    const state = new Map(stored.recipients.map((r) => [r.forwardPath, r]));
    const mine = copies.get(entry.seq) ?? [];
    // The trace: one recorded final outcome per recipient, whatever the kills did, and an
    // attempt counted (before dialing) for every copy the fake MX received.
    const attempts = await store.listDeliveryAttempts(entry.queueId!);
    for (const rcpt of entry.rcpts) {
      const outcomes = attempts.filter((a) => a.forwardPath === rcpt).map((a) => a.outcome);
      const final = entry.failing.includes(rcpt) ? 'failed' : 'delivered';
      const finals = outcomes.filter((o) => o === 'delivered' || o === 'failed');
      if (finals.length !== 1 || finals[0] !== final) problems.push(`${where}: ${rcpt} has recorded outcomes ${outcomes.join(', ')}; expected one "${final}"`);
      const counted = state.get(rcpt)?.attempts ?? 0;
      const dialed = mine.filter((c) => c.message.to.includes(rcpt)).length;
      if (counted < Math.max(dialed, outcomes.length)) {
        problems.push(`${where}: ${rcpt} has ${counted} attempts counted, but ${outcomes.length} recorded and ${dialed} copies at the fake MX`);
      }
    }
    for (const rcpt of entry.deliverable) {
      const got = mine.filter((c) => c.message.to.includes(rcpt));
      const acked = got.filter((c) => c.message.accepted);
      if (acked.length === 0) {
        problems.push(`${where}: ${rcpt} was never acknowledged by the fake MX (${got.length} unacknowledged copies): LOST`);
      }
      const r = state.get(rcpt);
      if (r?.state !== 'delivered') problems.push(`${where}: ${rcpt} is ${r?.state ?? 'missing'} in the store (${r?.lastError ?? ''})`);
      if (acked.length > 1) {
        tally.duplicatePairs++;
        tally.duplicateCopies += acked.length - 1;
        // At-least-once allows a second acknowledged copy only when A died in between.
        for (let i = 1; i < acked.length; i++) {
          const first = acked[i - 1].index;
          const second = acked[i].index;
          if (!kills.some((k) => first < k.after && second >= k.before)) {
            problems.push(`${where}: ${rcpt} acknowledged at fake MX messages ${first} and ${second} without a kill in between`);
          }
        }
      }
      if (noticesFor.has(rcpt)) {
        const n = noticesFor.get(rcpt)!.filter((x) => x.dsn.returned?.content.includes(`X-Ledger-Seq: ${entry.seq}\r\n`));
        if (n.length > 0) problems.push(`${where}: ${rcpt} was delivered, but ${n.length} failure notice(s) name it`);
      }
    }
    for (const rcpt of entry.failing) {
      const r = state.get(rcpt);
      if (r?.state !== 'failed' || r.lastStatus !== '5.1.1') {
        problems.push(`${where}: ${rcpt} is ${r?.state ?? 'missing'} (${r?.lastStatus ?? ''} ${r?.lastError ?? ''}) in the store, expected failed 5.1.1`);
      }
      const found = noticesFor.get(rcpt) ?? [];
      if (found.length !== 1) {
        problems.push(`${where}: ${rcpt} is named by ${found.length} failure notices, expected exactly one`);
        continue;
      }
      const [notice] = found;
      if (notice.owner !== entry.from) problems.push(`${where}: the notice for ${rcpt} went to ${notice.owner}`);
      const block = notice.dsn.perRecipient.find((b) => b['final-recipient'] === `rfc822; ${rcpt}`)!;
      if (block.status !== '5.1.1') problems.push(`${where}: the notice for ${rcpt} says status ${block.status}`);
      if (!/550 5\.1\.1 No such user here/.test(block['diagnostic-code'] ?? '')) {
        problems.push(`${where}: the notice for ${rcpt} lacks the remote reply: ${block['diagnostic-code']}`);
      }
      const returned = notice.dsn.returned;
      if (returned?.type !== 'message/rfc822' || !stripReceived(returned.bytes).equals(entry.raw)) {
        problems.push(`${where}: the notice for ${rcpt} does not return the message as submitted (${returned?.type}, ${returned?.bytes.length} bytes)`);
      }
    }
  }
  // Every notice names only refused recipients of ledger messages.
  const failing = new Set(ledger.flatMap((e) => e.failing));
  for (const rcpt of noticesFor.keys()) {
    if (!failing.has(rcpt)) problems.push(`a notice names ${rcpt}, which was never refused`);
  }
  return tally;
}

async function outboundCrashTest(t: TestContext, workers: number): Promise<void> {
  const seed = process.env.CRASH_SEED ? Number(process.env.CRASH_SEED) : Math.floor(Math.random() * 2 ** 31);
  t.diagnostic(`seed ${seed} (replay the schedule with CRASH_SEED=${seed})`);
  // Two streams, so the schedule doesn't depend on the messages.
  const rand = prng(seed);
  const messageRand = prng(seed ^ 0x9e3779b9);

  const dns = await startTestDns();
  t.after(() => dns.close());
  const mx = await startFakeMx({ host: MX_IP, script: NORMAL });
  t.after(() => mx.close());
  for (const domain of ['remote.test', 'other.test', 'fail.test']) {
    dns.zone.mx(domain, [{ preference: 10, exchange: `mx.${domain}` }]);
    dns.zone.a(`mx.${domain}`, [MX_IP]);
  }

  const server = createChildServer(t, {
    workers,
    hostname: `mx.${DOMAIN}`,
    primaryDomain: DOMAIN,
    listenSmtp: '127.0.0.2:0',
    tmpPrefix: 'posta-crash-outbound-',
    extraToml: [
      '[dns]',
      `servers = [${JSON.stringify(dns.address)}]`,
      'timeout = "2s"',
      '',
      '[delivery]',
      `smtp_port = ${mx.port}`,
      'connect_timeout = "3s"',
      'command_timeout = "3s"',
      'data_timeout = "3s"',
      '',
      '[queue]',
      'retry_min = "200ms"',
      'retry_max = "500ms"',
      'delay_warning = "1h"',
      'lifetime = "1h"',
      '',
    ].join('\n'),
  });
  const { config } = loadConfig({ file: server.configPath, env: {}, cwd: server.dir });
  {
    // Accounts go straight into the store before the first start (faster than the CLI).
    const store = openStore(config);
    try {
      const admin = new AccountAdmin(store);
      await admin.addDomain(DOMAIN);
      for (const u of SENDERS) await admin.addUser(u, PASSWORD);
    } finally {
      await store.close();
    }
  }

  const ledger: LedgerEntry[] = [];
  const kills: KillMark[] = [];
  const batch = (count: number, cycle: number) => {
    const entries: LedgerEntry[] = [];
    for (let i = 0; i < count && ledger.length < MAX_MESSAGES; i++) {
      const entry = makeMessage(messageRand, seed, ledger.length + 1, cycle);
      ledger.push(entry);
      entries.push(entry);
    }
    return entries;
  };

  for (let cycle = 1; cycle <= KILL_CYCLES; cycle++) {
    // While the batch is submitted the fake MX greylists everything (450 at RCPT), so all
    // of this cycle's deliveries happen after the last 250 of the submission, and the kill,
    // which waits for the batch, can never come before the deliveries it is meant to cut.
    mx.script(GREYLIST);
    if (!server.running) await server.start();
    const entries = batch(8 + Math.floor(rand() * 7), cycle);
    const transactions = entries.reduce((n, e) => n + transactionsOf(e), 0);
    const trigger = TRIGGERS[Math.floor(rand() * TRIGGERS.length)];
    // 'ack': SIGKILL right after the fake MX acknowledged its j-th message of the cycle,
    // before A can record that (the RFC 1047 window). A fault: k good messages, then the
    // fault, and SIGKILL once m messages met it.
    const j = 1 + Math.floor(rand() * transactions);
    const m = 1 + Math.floor(rand() * 3);
    const k = Math.floor(rand() * (transactions - m + 1));
    const workerOnly = workers > 1 && cycle === 2;
    const victimIndex = Math.floor(rand() * workers);
    await submit(server, entries, seed);

    let before = -1;
    let what = '';
    // kill9()/kill9Worker() send the signal synchronously, right where the triggering
    // message was seen. Then the fake MX greylists again, so the survivors of a worker-only
    // kill don't spin on the fault while the primary starts a replacement.
    const kill = () => {
      before = mx.messages.length;
      let done: Promise<void>;
      if (workerOnly) {
        done = server.kill9Worker(victimIndex).then((victim) => {
          what = `SIGKILL worker ${victim}`;
        });
      } else {
        what = 'SIGKILL all';
        done = server.kill9();
      }
      mx.script(GREYLIST);
      return done;
    };
    const base = mx.messages.length;
    let faultFrom = base;
    const fail = (err: Error): never => {
      throw new Error(`seed ${seed}, cycle ${cycle} (${trigger}): ${err.message}\n${server.output()}`);
    };
    if (trigger === 'ack') {
      const killed = later(mx.waitForMessages(base + j, WAIT_MS).then(kill));
      mx.script(NORMAL);
      await killed.catch(fail);
    } else {
      const faulty = later(
        mx.waitForMessages(base + k, WAIT_MS).then(() => {
          faultFrom = mx.messages.length;
          mx.script(FAULTS[trigger]);
        }),
      );
      mx.script(NORMAL);
      await faulty.catch(fail);
      await mx.waitForMessages(faultFrom + m, WAIT_MS).then(kill).catch(fail);
    }
    const after = mx.messages.length;
    kills.push({ cycle, what, before, after });
    const atKill = mx.messages.slice(base, before);
    t.diagnostic(
      `cycle ${cycle}: ${entries.length} messages (${transactions} transactions); ` +
        (trigger === 'ack' ? `${what} at acknowledged message ${j}` : `${trigger} after ${faultFrom - base}, ${what} after ${m} more`) +
        `; ${atKill.length} received this cycle before the kill, ${atKill.filter((x) => !x.accepted).length} unacknowledged`,
    );
  }

  // The last phase: A restarts, the fake MX behaves, and a final batch must get through too.
  mx.script(NORMAL);
  if (!server.running) await server.start();
  await submit(server, batch(FINAL_MESSAGES, KILL_CYCLES + 1), seed);
  const live = openStore(config);
  try {
    await waitForEmptyQueue(live, server, seed, 45_000);
  } finally {
    await live.close();
  }
  const stop = await server.stop();
  assert.equal(stop.code, 0, `seed ${seed}: posta serve should exit 0 on SIGTERM\n${server.output()}`);

  const problems: string[] = [];
  // The last start swept what the kills left in blobs/tmp, and a clean stop leaves nothing.
  const leftovers = fs.readdirSync(path.join(server.dataDir, 'blobs', 'tmp'));
  if (leftovers.length > 0) problems.push(`${leftovers.length} unfinished files in blobs/tmp after a clean stop`);
  const notices = await readNotices(server, problems);
  const store = openStore(config);
  let tally: Tally;
  try {
    tally = await checkLedger(ledger, mx, kills, notices, store, problems);
  } finally {
    await store.close();
  }
  const recipients = ledger.reduce((n, e) => n + e.rcpts.length, 0);
  const refused = ledger.reduce((n, e) => n + e.failing.length, 0);
  t.diagnostic(
    `${ledger.length} messages, ${recipients} recipients (${refused} refused), ${server.starts} starts; fake MX received ` +
      `${mx.messages.length} copies, ${tally.unacknowledged} unacknowledged; ${tally.duplicatePairs} recipients acknowledged twice ` +
      `(${tally.duplicateCopies} extra copies); ${notices.length} failure notices`,
  );
  assert.deepEqual(problems.map((p) => `seed ${seed}: ${p}`), [], `seed ${seed}: the outcome disagrees with the ledger`);
  // The run must have exercised something (every kill was triggered by a delivery, above).
  assert.equal(kills.length, KILL_CYCLES);
  assert.ok(refused > 0, `seed ${seed}: no recipient was refused, so no notice was checked`);
}

test('outbound crash: SIGKILL during deliveries with one worker; every recipient ends delivered or with one notice', { timeout: 120_000 }, (t) =>
  outboundCrashTest(t, 1),
);

test('outbound crash: SIGKILL during deliveries with two workers; every recipient ends delivered or with one notice', { timeout: 120_000 }, (t) =>
  outboundCrashTest(t, 2),
);
