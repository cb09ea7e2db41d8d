/**
 * The crash test (issue #2, DESIGN.md §7): `posta serve` runs as a child process, several
 * concurrent SMTP clients send it mail, and it is killed with SIGKILL at random moments,
 * restarted on the same data dir, and killed again. Every reply goes into a ledger. At the
 * end the store must agree with the ledger:
 *  - every message that got 250 is in each of its recipients' INBOX exactly once, and its
 *    bytes are what was sent (after removing the Received header we prepend);
 *  - a message without 250 may be absent, but never half-stored: whatever is stored is
 *    complete, and in all of its recipients' INBOXes or in none (one transaction);
 *  - a message that was refused (4xx/5xx), never finished (the connection died before the
 *    final dot) or that the client abandoned mid-DATA is not stored at all;
 *  - UIDs in each INBOX strictly increase, and every row's blob exists and matches its hash;
 *  - after the final clean stop, blobs/tmp is empty (kill leftovers are swept at start).
 *
 * The kill schedule and the messages come from a seeded PRNG; the seed is printed, and
 * CRASH_SEED=<n> replays the same schedule (timing still varies: it is a crash test).
 * One run uses one worker, one uses two (DESIGN.md §3b); there one of the kills takes down
 * only one worker, and the primary replaces it while the other worker goes on serving.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { AccountAdmin } from '../src/admin/accounts.js';
import { FsBlobStore } from '../src/blob/fs-blob-store.js';
import { MessageBodies } from '../src/spool/message-bodies.js';
import { loadConfig } from '../src/config/index.js';
import { openStore } from '../src/main.js';
import { createChildServer, dotStuff, sendRawSmtp, type ChildServer, type RawSendResult } from './helpers/child-server.js';
import { stripReceived } from './helpers/harness.js';
import { ledgerBody, prng } from './helpers/prng.js';

const DOMAIN = 'crash.test';
const USERS = ['user1', 'user2', 'user3', 'user4'].map((u) => `${u}@${DOMAIN}`);
const CLIENTS = 8;
const KILL_CYCLES = 5;
/** Messages sent after the last restart; all of them must be accepted. */
const FINAL_MESSAGES = 24;
/** Upper bound on messages per run, whatever happens (keeps the test bounded). */
const MAX_MESSAGES = 1500;


interface LedgerEntry {
  seq: number;
  /** Envelope recipients as sent (may carry a +tag). */
  rcpts: string[];
  /** The accounts whose INBOX must receive it. */
  accounts: string[];
  raw: Buffer;
  stuffed: Buffer;
  abortAfterBytes?: number;
  result?: RawSendResult;
  cycle: number;
}

function makeMessage(rand: () => number, seed: number, seq: number): Omit<LedgerEntry, 'stuffed' | 'cycle'> {
  const pick = <T>(list: T[]) => list[Math.floor(rand() * list.length)];
  const accounts = [pick(USERS)];
  if (rand() < 0.15) {
    const other = pick(USERS.filter((u) => u !== accounts[0]));
    accounts.push(other);
  }
  // Plus-addressing now and then: user+tag@ lands in user@'s INBOX.
  const rcpts = accounts.map((a) => (rand() < 0.1 ? a.replace('@', `+t${seq}@`) : a));
  const r = rand();
  const size = r < 0.05 ? 90_000 + Math.floor(rand() * 20_000) : r < 0.3 ? 4_000 + Math.floor(rand() * 36_000) : 200 + Math.floor(rand() * 4_000);
  const head =
    `From: <sender${seq % 7}@remote.test>\r\n` +
    `To: ${rcpts.map((x) => `<${x}>`).join(', ')}\r\n` +
    `Subject: crash test ${seed} message ${seq}\r\n` +
    `Date: Sat, 28 Nov 2026 12:00:00 +0000\r\n` +
    `Message-ID: <${seq}.${seed}@crash.client.test>\r\n` +
    `X-Crash-Seq: ${seq}\r\n` +
    `\r\n`;
  const raw = ledgerBody(rand, head, `Message ${seq} of run ${seed}.`, size, true);
  return { seq, rcpts, accounts, raw };
}

interface RunOptions {
  workers: number;
  seed: number;
  /** Diagnostics go here (t.diagnostic). */
  note: (msg: string) => void;
}

async function crashRun(server: ChildServer, { workers, seed, note }: RunOptions): Promise<LedgerEntry[]> {
  // Two streams, so the kill schedule doesn't depend on how the clients interleave:
  // message k is the same for a given seed, and so is the schedule.
  const rand = prng(seed);
  const messageRand = prng(seed ^ 0x9e3779b9);
  const ledger: LedgerEntry[] = [];
  let cycle = 0;
  let acceptedThisCycle = 0;
  let budget = Infinity; // messages that may still be started (set for the final phase)
  let port = 0;
  // Clients wait on this gate while the server is down or restarting.
  let openGate: () => void = () => {};
  let gate: Promise<void> = Promise.resolve();
  const closeGate = () => {
    gate = new Promise<void>((r) => (openGate = r));
  };
  closeGate();
  let stopped = false;
  let progress: () => void = () => {};

  const nextMessage = (): LedgerEntry | null => {
    if (stopped || budget <= 0 || ledger.length >= MAX_MESSAGES) return null;
    budget--;
    const m = makeMessage(messageRand, seed, ledger.length + 1);
    const entry: LedgerEntry = { ...m, stuffed: dotStuff(m.raw), cycle };
    // A few clients give up in the middle of DATA.
    if (messageRand() < 0.04) entry.abortAfterBytes = Math.floor(messageRand() * entry.stuffed.length);
    ledger.push(entry);
    return entry;
  };

  const client = async (id: number) => {
    for (;;) {
      await gate;
      const entry = nextMessage();
      if (!entry) return;
      entry.result = await sendRawSmtp({
        port,
        helo: `client${id}.crash.test`,
        from: `sender${entry.seq % 7}@remote.test`,
        to: entry.rcpts,
        data: entry.stuffed,
        abortAfterBytes: entry.abortAfterBytes,
        timeoutMs: 20_000,
      });
      if (entry.result.outcome === 'accepted') acceptedThisCycle++;
      progress();
      // The server is probably down: don't spin while the gate is still open.
      if (entry.result.outcome === 'not-sent' || entry.result.outcome === 'unknown') {
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  };

  const waitAccepted = async (target: number, what: string) => {
    const deadline = Date.now() + 30_000;
    while (acceptedThisCycle < target) {
      if (Date.now() > deadline) {
        throw new Error(`seed ${seed}: only ${acceptedThisCycle} of ${target} messages accepted while waiting for ${what}\n${server.output()}`);
      }
      await new Promise<void>((r) => {
        const timer = setTimeout(r, 100);
        progress = () => {
          clearTimeout(timer);
          r();
        };
      });
    }
  };

  const up = async () => {
    await server.start();
    port = server.port('smtp');
    acceptedThisCycle = 0;
    openGate();
  };

  const clients = Array.from({ length: CLIENTS }, (_, i) => client(i));
  try {
    await up();
    for (cycle = 1; cycle <= KILL_CYCLES; cycle++) {
      const target = 10 + Math.floor(rand() * 50);
      const extraDelay = Math.floor(rand() * 30);
      // With two workers, the second kill takes only one worker down; the other one keeps
      // serving while the primary starts a replacement.
      const workerOnly = workers > 1 && cycle === 2;
      const victimIndex = Math.floor(rand() * workers);
      await waitAccepted(target, `kill ${cycle}`);
      await new Promise((r) => setTimeout(r, extraDelay));
      const before = `after ${acceptedThisCycle} accepted (+${extraDelay} ms), ${ledger.length} messages so far`;
      if (workerOnly) {
        const victim = await server.kill9Worker(victimIndex);
        note(`cycle ${cycle}: SIGKILL worker ${victim} ${before}; replaced while the other served ${acceptedThisCycle} more`);
        acceptedThisCycle = 0;
      } else {
        closeGate();
        await server.kill9();
        note(`cycle ${cycle}: SIGKILL all ${before}`);
        await up();
      }
    }
    // The last phase: a bounded number of messages that must all get through.
    budget = FINAL_MESSAGES;
  } finally {
    if (budget === Infinity) {
      stopped = true;
      openGate();
    }
    await Promise.all(clients);
  }
  const stop = await server.stop();
  note(`clean stop: exit code ${stop.code}, signal ${stop.signal}`);
  assert.equal(stop.code, 0, `seed ${seed}: posta serve should exit 0 on SIGTERM\n${server.output()}`);
  return ledger;
}

interface Stored {
  account: string;
  uid: number;
  bytes: Buffer;
}

async function readMailboxes(server: ChildServer): Promise<{ stored: Map<number, Stored[]>; problems: string[] }> {
  const { config } = loadConfig({ file: server.configPath, env: {}, cwd: server.dir });
  const store = openStore(config);
  const bodies = new MessageBodies(store, new FsBlobStore(path.join(server.dataDir, 'blobs')));
  const stored = new Map<number, Stored[]>();
  const problems: string[] = [];
  try {
    const admin = new AccountAdmin(store);
    for (const address of USERS) {
      const account = await admin.getUser(address);
      const mailboxes = await store.listMailboxes(account.id);
      for (const mailbox of mailboxes) {
        const messages = await store.listMailboxMessages(mailbox.id);
        if (mailbox.name !== 'INBOX') {
          if (messages.length > 0) problems.push(`${address} ${mailbox.name} has ${messages.length} messages`);
          continue;
        }
        let lastUid = 0;
        for (const m of messages) {
          if (!(m.uid > lastUid)) problems.push(`${address} INBOX: UID ${m.uid} after ${lastUid}`);
          lastUid = m.uid;
          let bytes: Buffer;
          try {
            bytes = await bodies.read(m.blobHash);
          } catch (err) {
            problems.push(`${address} INBOX UID ${m.uid}: blob ${m.blobHash} unreadable: ${(err as Error).message}`);
            continue;
          }
          const hash = createHash('sha256').update(bytes).digest('hex');
          if (hash !== m.blobHash) problems.push(`${address} INBOX UID ${m.uid}: blob content does not match its hash`);
          if (bytes.length !== m.size) problems.push(`${address} INBOX UID ${m.uid}: size ${m.size} but blob has ${bytes.length} bytes`);
          const body = stripReceived(bytes);
          if (body.length === bytes.length) problems.push(`${address} INBOX UID ${m.uid}: no Received header`);
          const seq = /^X-Crash-Seq: (\d+)\r$/m.exec(body.subarray(0, 2048).toString('latin1'));
          if (!seq) {
            problems.push(`${address} INBOX UID ${m.uid}: not one of ours (no X-Crash-Seq): ${JSON.stringify(body.subarray(0, 200).toString('latin1'))}`);
            continue;
          }
          const list = stored.get(Number(seq[1])) ?? [];
          list.push({ account: address, uid: m.uid, bytes: body });
          stored.set(Number(seq[1]), list);
        }
        if (lastUid >= mailbox.uidNext) problems.push(`${address} INBOX: UID ${lastUid} but UIDNEXT ${mailbox.uidNext}`);
      }
    }
    const queue = await store.listQueue();
    if (queue.length > 0) problems.push(`${queue.length} messages in the outbound queue; all recipients were local`);
    // The last start swept what the kills left in blobs/tmp, and a clean stop leaves nothing.
    const leftovers = fs.readdirSync(path.join(server.dataDir, 'blobs', 'tmp'));
    if (leftovers.length > 0) problems.push(`${leftovers.length} unfinished files in blobs/tmp after a clean stop: ${leftovers.slice(0, 3).join(', ')}`);
  } finally {
    await store.close();
  }
  return { stored, problems };
}

function checkLedger(ledger: LedgerEntry[], stored: Map<number, Stored[]>, seed: number): string[] {
  const problems: string[] = [];
  const bySeq = new Map(ledger.map((e) => [e.seq, e]));
  for (const seq of stored.keys()) {
    if (!bySeq.has(seq)) problems.push(`message ${seq} is stored but was never sent`);
  }
  for (const entry of ledger) {
    const copies = stored.get(entry.seq) ?? [];
    const outcome = entry.result?.outcome ?? 'never-finished';
    const where = `message ${entry.seq} (cycle ${entry.cycle}, ${outcome}${entry.result?.reply ? ` "${entry.result.reply}"` : ''}${entry.result?.error ? ` ${entry.result.error}` : ''})`;
    for (const copy of copies) {
      if (!copy.bytes.equals(entry.raw)) {
        problems.push(`${where}: stored in ${copy.account} UID ${copy.uid} with different bytes (${copy.bytes.length} stored, ${entry.raw.length} sent)`);
      }
      if (!entry.accounts.includes(copy.account)) problems.push(`${where}: stored in ${copy.account}, not a recipient`);
    }
    const perAccount = entry.accounts.map((a) => copies.filter((c) => c.account === a).length);
    if (outcome === 'accepted') {
      entry.accounts.forEach((a, i) => {
        if (perAccount[i] !== 1) problems.push(`${where}: got 250 but is in ${a}'s INBOX ${perAccount[i]} times`);
      });
    } else if (outcome === 'unknown') {
      // The kill came between the final dot and the reply: stored once everywhere, or nowhere.
      const all = perAccount.every((n) => n === 1);
      const none = perAccount.every((n) => n === 0);
      if (!all && !none) problems.push(`${where}: stored for some recipients only (${perAccount.join(', ')})`);
    } else if (copies.length > 0) {
      problems.push(`${where}: must not be stored, but is in ${copies.map((c) => c.account).join(', ')}`);
    }
  }
  return problems.map((p) => `seed ${seed}: ${p}`);
}

async function crashTest(t: import('node:test').TestContext, workers: number): Promise<void> {
  const seed = process.env.CRASH_SEED ? Number(process.env.CRASH_SEED) : Math.floor(Math.random() * 2 ** 31);
  t.diagnostic(`seed ${seed} (replay the schedule with CRASH_SEED=${seed})`);
  const server = createChildServer(t, { workers, hostname: 'mx.crash.test', primaryDomain: DOMAIN, tmpPrefix: 'posta-crash-' });

  // Accounts go straight into the store before the first start (faster than the CLI).
  const { config } = loadConfig({ file: server.configPath, env: {}, cwd: server.dir });
  const store = openStore(config);
  try {
    const admin = new AccountAdmin(store);
    await admin.addDomain(DOMAIN);
    for (const u of USERS) await admin.addUser(u, 'crash test password');
  } finally {
    await store.close();
  }

  const ledger = await crashRun(server, { workers, seed, note: (m) => t.diagnostic(m) });
  const counts: Record<string, number> = {};
  for (const e of ledger) counts[e.result?.outcome ?? 'none'] = (counts[e.result?.outcome ?? 'none'] ?? 0) + 1;
  t.diagnostic(`${ledger.length} messages, ${server.starts} starts: ${JSON.stringify(counts)}`);

  const { stored, problems } = await readMailboxes(server);
  problems.push(...checkLedger(ledger, stored, seed));
  const storedUnknown = ledger.filter((e) => e.result?.outcome === 'unknown' && stored.has(e.seq)).length;
  t.diagnostic(`stored: ${stored.size} distinct messages (${storedUnknown} of them got no reply before the kill)`);
  assert.deepEqual(problems, [], `seed ${seed}: the store disagrees with the ledger`);

  // The run must have exercised something: kills under load, and a working server afterwards.
  assert.ok((counts.accepted ?? 0) >= KILL_CYCLES * 10, `seed ${seed}: too few messages accepted`);
  const final = ledger.slice(-FINAL_MESSAGES).filter((e) => e.abortAfterBytes === undefined);
  for (const e of final) {
    assert.equal(e.result?.outcome, 'accepted', `seed ${seed}: message ${e.seq} after the last restart: ${JSON.stringify(e.result)}`);
  }
}

test('crash: SIGKILL under load with one worker loses no acknowledged message', { timeout: 120_000 }, (t) => crashTest(t, 1));

test('crash: SIGKILL under load with two workers loses no acknowledged message', { timeout: 120_000 }, (t) => crashTest(t, 2));
