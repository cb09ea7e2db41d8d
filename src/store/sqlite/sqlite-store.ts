/**
 * The embedded store: SQLite through better-sqlite3 in WAL mode (DESIGN.md §4).
 * Several processes (cluster workers, the CLI) may open the same file; SQLite's locking
 * serialises writers. A writer that finds the lock taken waits asynchronously and tries
 * again (`retryBusy`), instead of SQLite's busy_timeout, which sleeps inside the call and
 * so would freeze every session of this process for milliseconds at a time.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ConflictError, NotFoundError } from '../../errors/index.js';
import { localPartKey } from '../../mail/address.js';
import type {
  AccountRecord,
  AliasRecord,
  AttemptResult,
  ChangeFeed,
  ClaimedRecipient,
  ClaimRequest,
  DeliveryAttemptRecord,
  DomainRecord,
  IncomingMessage,
  MailboxChange,
  MailboxMessageRecord,
  MailboxRecord,
  NewAccount,
  NewMailboxMessage,
  FlagOperation,
  FlagUpdate,
  QueueMessageRecord,
  QueueRecipientRecord,
  SpecialUse,
  Store,
} from '../types.js';
import { migrations } from './migrations.js';
import { retryBusy } from './retry-busy.js';
import { SqliteQueue } from './sqlite-queue.js';
import { SqliteMailboxes, splitFlags, toMailbox, type Changed } from './sqlite-mailbox.js';

/** The mailboxes every account starts with (RFC 6154 special-use attributes). */
export const DEFAULT_MAILBOXES: Array<{ name: string; specialUse: SpecialUse | null }> = [
  { name: 'INBOX', specialUse: null },
  { name: 'Sent', specialUse: '\\Sent' },
  { name: 'Drafts', specialUse: '\\Drafts' },
  { name: 'Trash', specialUse: '\\Trash' },
  { name: 'Junk', specialUse: '\\Junk' },
  { name: 'Archive', specialUse: '\\Archive' },
];

type Row = Record<string, any>;

export interface SqliteStoreOptions {
  /** Path of the database file; ':memory:' for throwaway tests. */
  file: string;
  /** How long a writer waits for another process's lock before failing. */
  busyTimeoutMs?: number;
}

export class SqliteStore implements Store {
  readonly changes: ChangeFeed = new EventEmitter() as ChangeFeed;
  private readonly db: Database.Database;
  private readonly stmts: ReturnType<SqliteStore['prepare']>;
  private readonly busyTimeoutMs: number;
  private readonly queue: SqliteQueue;
  private readonly mailboxes: SqliteMailboxes;

  constructor(options: SqliteStoreOptions) {
    if (options.file !== ':memory:') fs.mkdirSync(path.dirname(options.file), { recursive: true });
    this.db = new Database(options.file);
    this.db.pragma('journal_mode = WAL');
    // FULL: a commit is fsync'd before it returns, because a 250 depends on it.
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.busyTimeoutMs = options.busyTimeoutMs ?? 10_000;
    // Opening and migrating happen once, before serving: a blocking wait is fine there.
    this.db.pragma(`busy_timeout = ${this.busyTimeoutMs}`);
    this.migrate();
    this.db.pragma('busy_timeout = 0');
    this.stmts = this.prepare();
    this.queue = new SqliteQueue(this.db, this.busyTimeoutMs, options.file === ':memory:' ? null : path.resolve(options.file));
    this.mailboxes = new SqliteMailboxes(this.db, (write) => this.queue.durableWrite(write));
  }

  private migrate(): void {
    // IMMEDIATE takes the write lock first, so two processes starting at once can't
    // both decide to run the same migration.
    const run = this.db.transaction(() => {
      const version = this.db.pragma('user_version', { simple: true }) as number;
      for (let i = version; i < migrations.length; i++) {
        this.db.exec(migrations[i]);
      }
      if (version < migrations.length) this.db.pragma(`user_version = ${migrations.length}`);
    });
    run.immediate();
  }

  private prepare() {
    const db = this.db;
    return {
      domainByName: db.prepare('SELECT * FROM domains WHERE name = ?'),
      insertDomain: db.prepare('INSERT INTO domains (name, created_at) VALUES (?, ?)'),
      listDomains: db.prepare('SELECT * FROM domains ORDER BY name'),
      deleteDomain: db.prepare('DELETE FROM domains WHERE id = ?'),
      setCatchAll: db.prepare('UPDATE domains SET catch_all = ? WHERE id = ?'),

      accountByKey: db.prepare(
        `SELECT a.*, d.name AS domain FROM accounts a JOIN domains d ON d.id = a.domain_id
         WHERE d.name = ? AND a.local_key = ?`,
      ),
      accountById: db.prepare(
        'SELECT a.*, d.name AS domain FROM accounts a JOIN domains d ON d.id = a.domain_id WHERE a.id = ?',
      ),
      listAccounts: db.prepare(
        `SELECT a.*, d.name AS domain FROM accounts a JOIN domains d ON d.id = a.domain_id
         ORDER BY d.name, a.local_key`,
      ),
      listAccountsOfDomain: db.prepare(
        `SELECT a.*, d.name AS domain FROM accounts a JOIN domains d ON d.id = a.domain_id
         WHERE d.name = ? ORDER BY a.local_key`,
      ),
      insertAccount: db.prepare(
        `INSERT INTO accounts (domain_id, local_part, local_key, password_hash, quota_bytes, created_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      setPassword: db.prepare('UPDATE accounts SET password_hash = ? WHERE id = ?'),
      deleteAccount: db.prepare('DELETE FROM accounts WHERE id = ?'),

      aliasByKey: db.prepare(
        `SELECT al.*, d.name AS domain FROM aliases al JOIN domains d ON d.id = al.domain_id
         WHERE d.name = ? AND al.local_key = ?`,
      ),
      aliasTargets: db.prepare('SELECT target FROM alias_targets WHERE alias_id = ? ORDER BY position'),
      listAliases: db.prepare(
        `SELECT al.*, d.name AS domain FROM aliases al JOIN domains d ON d.id = al.domain_id
         ORDER BY d.name, al.local_key`,
      ),
      listAliasesOfDomain: db.prepare(
        `SELECT al.*, d.name AS domain FROM aliases al JOIN domains d ON d.id = al.domain_id
         WHERE d.name = ? ORDER BY al.local_key`,
      ),
      insertAlias: db.prepare('INSERT INTO aliases (domain_id, local_part, local_key) VALUES (?, ?, ?)'),
      insertAliasTarget: db.prepare('INSERT INTO alias_targets (alias_id, position, target) VALUES (?, ?, ?)'),
      deleteAlias: db.prepare('DELETE FROM aliases WHERE id = ?'),

      insertMailbox: db.prepare(
        'INSERT INTO mailboxes (account_id, name, special_use, uid_validity) VALUES (?, ?, ?, ?)',
      ),
      listMailboxes: db.prepare('SELECT * FROM mailboxes WHERE account_id = ? ORDER BY id'),
      inboxOf: db.prepare("SELECT id FROM mailboxes WHERE account_id = ? AND name = 'INBOX'"),
      listMessages: db.prepare('SELECT * FROM messages WHERE mailbox_id = ? ORDER BY uid'),
      changedSince: db.prepare('SELECT * FROM messages WHERE mailbox_id = ? AND modseq > ? ORDER BY uid'),

      insertQueueMessage: db.prepare(
        `INSERT INTO queue_messages (queue_id, reverse_path, blob_hash, size, received_at, dsn_ret,
           dsn_envid, body_type, smtputf8, submitter_id, client_ip, helo, notice_kind)
         VALUES (@queueId, @reversePath, @blobHash, @size, @receivedAt, @ret, @envid, @bodyType,
           @smtpUtf8, @submitterAccountId, @clientIp, @helo, @noticeKind)`,
      ),
      insertQueueRecipient: db.prepare(
        `INSERT INTO queue_recipients (queue_id, forward_path, domain, next_attempt_at, notify,
           orcpt_type, orcpt_address, state, notice_due)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),

      insertBlobData: db.prepare('INSERT OR IGNORE INTO blob_data (hash, data) VALUES (?, ?)'),
      blobData: db.prepare('SELECT data FROM blob_data WHERE hash = ?'),
      blobInMessages: db.prepare('SELECT 1 FROM messages WHERE blob_hash = ? LIMIT 1'),
      blobInQueue: db.prepare('SELECT 1 FROM queue_messages WHERE blob_hash = ? LIMIT 1'),
    };
  }

  // ---- domains ----

  async addDomain(name: string): Promise<DomainRecord> {
    if (this.stmts.domainByName.get(name)) throw new ConflictError(`domain ${name} exists already`);
    await this.retryBusy(() => this.stmts.insertDomain.run(name, Date.now()));
    return toDomain(this.stmts.domainByName.get(name) as Row);
  }

  async getDomain(name: string): Promise<DomainRecord | null> {
    const row = this.stmts.domainByName.get(name) as Row | undefined;
    return row ? toDomain(row) : null;
  }

  async listDomains(): Promise<DomainRecord[]> {
    return (this.stmts.listDomains.all() as Row[]).map(toDomain);
  }

  async removeDomain(name: string): Promise<void> {
    const domain = this.requireDomain(name);
    await this.retryBusy(() => this.stmts.deleteDomain.run(domain.id));
  }

  async setCatchAll(domain: string, localPart: string | null): Promise<void> {
    const record = this.requireDomain(domain);
    await this.retryBusy(() => this.stmts.setCatchAll.run(localPart, record.id));
  }

  private requireDomain(name: string): DomainRecord {
    const row = this.stmts.domainByName.get(name) as Row | undefined;
    if (!row) throw new NotFoundError(`domain ${name} does not exist; add it with: posta domain add ${name}`);
    return toDomain(row);
  }

  // ---- accounts ----

  async addAccount(account: NewAccount): Promise<AccountRecord> {
    const create = this.db.transaction(() => {
      const domain = this.requireDomain(account.domain);
      const key = localPartKey(account.localPart);
      if (this.stmts.accountByKey.get(domain.name, key)) {
        throw new ConflictError(`user ${account.localPart}@${domain.name} exists already`);
      }
      if (this.stmts.aliasByKey.get(domain.name, key)) {
        throw new ConflictError(`${account.localPart}@${domain.name} is an alias; remove the alias first`);
      }
      const now = Date.now();
      const info = this.stmts.insertAccount.run(
        domain.id,
        account.localPart,
        key,
        account.passwordHash,
        account.quotaBytes,
        now,
      );
      const id = Number(info.lastInsertRowid);
      // UIDVALIDITY from the clock, like Dovecot: a mailbox deleted and created again
      // under the same name gets a new value (RFC 9051 §2.3.1.1).
      const uidValidity = Math.floor(now / 1000);
      for (const mb of DEFAULT_MAILBOXES) this.stmts.insertMailbox.run(id, mb.name, mb.specialUse, uidValidity);
      return id;
    });
    const id = await this.retryBusy(() => create.immediate());
    return toAccount(this.stmts.accountById.get(id) as Row);
  }

  async getAccount(localPart: string, domain: string): Promise<AccountRecord | null> {
    const row = this.stmts.accountByKey.get(domain, localPartKey(localPart)) as Row | undefined;
    return row ? toAccount(row) : null;
  }

  async getAccountById(id: number): Promise<AccountRecord | null> {
    const row = this.stmts.accountById.get(id) as Row | undefined;
    return row ? toAccount(row) : null;
  }

  async listAccounts(domain?: string): Promise<AccountRecord[]> {
    const rows = domain ? this.stmts.listAccountsOfDomain.all(domain) : this.stmts.listAccounts.all();
    return (rows as Row[]).map(toAccount);
  }

  async setPassword(accountId: number, passwordHash: string): Promise<void> {
    const info = await this.retryBusy(() => this.stmts.setPassword.run(passwordHash, accountId));
    if (info.changes === 0) throw new NotFoundError(`account ${accountId} does not exist`);
  }

  async removeAccount(accountId: number): Promise<void> {
    await this.retryBusy(() => this.stmts.deleteAccount.run(accountId));
  }

  // ---- aliases ----

  async addAlias(localPart: string, domain: string, targets: string[]): Promise<AliasRecord> {
    const create = this.db.transaction(() => {
      const record = this.requireDomain(domain);
      const key = localPartKey(localPart);
      if (this.stmts.aliasByKey.get(record.name, key)) {
        throw new ConflictError(`alias ${localPart}@${record.name} exists already`);
      }
      if (this.stmts.accountByKey.get(record.name, key)) {
        throw new ConflictError(`${localPart}@${record.name} is a user; an alias can't have the same address`);
      }
      const info = this.stmts.insertAlias.run(record.id, localPart, key);
      const id = Number(info.lastInsertRowid);
      targets.forEach((t, i) => this.stmts.insertAliasTarget.run(id, i, t));
    });
    await this.retryBusy(() => create.immediate());
    return (await this.getAlias(localPart, domain))!;
  }

  async getAlias(localPart: string, domain: string): Promise<AliasRecord | null> {
    const row = this.stmts.aliasByKey.get(domain, localPartKey(localPart)) as Row | undefined;
    return row ? this.toAlias(row) : null;
  }

  async listAliases(domain?: string): Promise<AliasRecord[]> {
    const rows = domain ? this.stmts.listAliasesOfDomain.all(domain) : this.stmts.listAliases.all();
    return (rows as Row[]).map((r) => this.toAlias(r));
  }

  async removeAlias(localPart: string, domain: string): Promise<void> {
    const row = this.stmts.aliasByKey.get(domain, localPartKey(localPart)) as Row | undefined;
    if (!row) throw new NotFoundError(`alias ${localPart}@${domain} does not exist`);
    await this.retryBusy(() => this.stmts.deleteAlias.run(row.id));
  }

  private toAlias(row: Row): AliasRecord {
    const targets = (this.stmts.aliasTargets.all(row.id) as Row[]).map((t) => t.target as string);
    return { id: row.id, domainId: row.domain_id, domain: row.domain, localPart: row.local_part, targets };
  }

  // ---- mailboxes ----

  async listMailboxes(accountId: number): Promise<MailboxRecord[]> {
    return (this.stmts.listMailboxes.all(accountId) as Row[]).map(toMailbox);
  }

  async listMailboxMessages(mailboxId: number): Promise<MailboxMessageRecord[]> {
    return (this.stmts.listMessages.all(mailboxId) as Row[]).map(toMessage);
  }

  async changedSince(mailboxId: number, modseq: number): Promise<MailboxMessageRecord[]> {
    return (this.stmts.changedSince.all(mailboxId, modseq) as Row[]).map(toMessage);
  }

  // ---- IMAP's side (sqlite-mailbox.ts) ----

  async getMailbox(accountId: number, name: string): Promise<MailboxRecord | null> {
    return this.mailboxes.getMailbox(accountId, name);
  }

  async getMailboxById(mailboxId: number): Promise<MailboxRecord | null> {
    return this.mailboxes.getMailboxById(mailboxId);
  }

  createMailbox(accountId: number, name: string, specialUse: SpecialUse | null): Promise<MailboxRecord> {
    return this.emitting(this.mailboxes.createMailbox(accountId, name, specialUse));
  }

  deleteMailbox(mailboxId: number): Promise<void> {
    return this.emitting(this.mailboxes.deleteMailbox(mailboxId));
  }

  renameMailbox(accountId: number, from: string, to: string): Promise<void> {
    return this.emitting(this.mailboxes.renameMailbox(accountId, from, to));
  }

  setSubscribed(accountId: number, name: string, subscribed: boolean): Promise<void> {
    return this.mailboxes.setSubscribed(accountId, name, subscribed);
  }

  appendMessages(mailboxId: number, messages: NewMailboxMessage[]): Promise<Array<{ uid: number; modseq: number }>> {
    return this.emitting(this.mailboxes.appendMessages(mailboxId, messages));
  }

  storeFlags(
    mailboxId: number,
    uids: number[],
    operation: FlagOperation,
    flags: string[],
    unchangedSince?: number,
  ): Promise<{ updated: FlagUpdate[]; failed: number[] }> {
    return this.emitting(this.mailboxes.storeFlags(mailboxId, uids, operation, flags, unchangedSince));
  }

  copyMessages(fromMailboxId: number, uids: number[], toMailboxId: number): Promise<Array<{ from: number; to: number }>> {
    return this.emitting(this.mailboxes.copyMessages(fromMailboxId, uids, toMailboxId));
  }

  moveMessages(fromMailboxId: number, uids: number[], toMailboxId: number): Promise<Array<{ from: number; to: number }>> {
    return this.emitting(this.mailboxes.moveMessages(fromMailboxId, uids, toMailboxId));
  }

  expunge(mailboxId: number, uids?: number[]): Promise<number[]> {
    return this.emitting(this.mailboxes.expunge(mailboxId, uids));
  }

  async vanishedSince(mailboxId: number, modseq: number): Promise<number[]> {
    return this.mailboxes.vanishedSince(mailboxId, modseq);
  }

  async accountUsage(accountId: number): Promise<number> {
    return this.mailboxes.accountUsage(accountId);
  }

  /** Resolves with a write's result once durable, after telling the change feed. */
  private async emitting<T>(write: Promise<Changed<T>>): Promise<T> {
    const { result, changes } = await write;
    for (const change of changes) this.changes.emit('mailbox', change);
    return result;
  }

  // ---- incoming mail ----

  async commitIncoming(batch: IncomingMessage[]): Promise<void> {
    // IMMEDIATE: take the write lock up front, so a concurrent writer makes us wait
    // (retryBusy) rather than fail with SQLITE_BUSY halfway through.
    // The same group commit as the outbound queue's results: one fsync for both.
    const changes = await this.queue.durableWrite(() => this.commitBatchSync(batch));
    for (const change of changes) this.changes.emit('mailbox', change);
    const queued = batch.some((m) => m.remoteRecipients.length > 0);
    const notices = batch.some((m) => (m.deliveredLocally?.length ?? 0) > 0);
    if (queued || notices) this.changes.emit('queue', { notices });
  }

  private commitBatchSync(batch: IncomingMessage[]): MailboxChange[] {
    const changes: MailboxChange[] = [];
    for (const msg of batch) {
      // A notice whose debt another process settled first would be a duplicate: drop it.
      if (msg.settlesNotices && this.queue.settleNoticesSync(msg.settlesNotices.recipientIds, msg.settlesNotices.kind, msg.receivedAt) === 0) {
        continue;
      }
      if (msg.inlineBody) this.stmts.insertBlobData.run(msg.blobHash, msg.inlineBody);
      for (const accountId of msg.localAccountIds) {
        const inbox = this.stmts.inboxOf.get(accountId) as Row | undefined;
        // An account removed between RCPT and commit: nothing to deliver into.
        if (!inbox) continue;
        const message = { blobHash: msg.blobHash, size: msg.size, inlineBody: null, internalDate: msg.receivedAt, flags: [], mime: msg.mime ?? null };
        changes.push(this.mailboxes.appendSync(accountId, inbox.id, message));
      }
      const delivered = msg.deliveredLocally ?? [];
      if (msg.remoteRecipients.length > 0 || delivered.length > 0) {
        this.stmts.insertQueueMessage.run({
          queueId: msg.queueId,
          reversePath: msg.reversePath,
          blobHash: msg.blobHash,
          size: msg.size,
          receivedAt: msg.receivedAt,
          ret: msg.dsn.ret,
          envid: msg.dsn.envid,
          bodyType: msg.bodyType,
          smtpUtf8: msg.smtpUtf8 ? 1 : 0,
          submitterAccountId: msg.submitterAccountId,
          clientIp: msg.clientIp,
          helo: msg.helo,
          noticeKind: msg.noticeKind ?? null,
        });
        const insert = (rcpt: (typeof delivered)[number], state: string, noticeDue: string | null) =>
          this.stmts.insertQueueRecipient.run(
            msg.queueId,
            rcpt.forwardPath,
            rcpt.domain,
            msg.receivedAt,
            rcpt.dsn.notify ? rcpt.dsn.notify.join(',') : null,
            rcpt.dsn.orcpt?.addrType ?? null,
            rcpt.dsn.orcpt?.address ?? null,
            state,
            noticeDue,
          );
        for (const rcpt of msg.remoteRecipients) insert(rcpt, 'queued', null);
        for (const rcpt of delivered) insert(rcpt, 'delivered', 'success');
      }
    }
    return changes;
  }

  // ---- queue (sqlite-queue.ts) ----

  async listQueue(): Promise<QueueMessageRecord[]> {
    return this.queue.listQueue();
  }

  async getQueueMessage(queueId: string): Promise<QueueMessageRecord | null> {
    return this.queue.getQueueMessage(queueId);
  }

  async listDeliveryAttempts(queueId: string): Promise<DeliveryAttemptRecord[]> {
    return this.queue.listDeliveryAttempts(queueId);
  }

  claimDue(request: ClaimRequest): Promise<ClaimedRecipient[]> {
    return this.queue.claimDue(request);
  }

  async nextDueAt(): Promise<number | null> {
    return this.queue.nextDueAt();
  }

  startAttempt(owner: string, recipientIds: number[], now: number, leaseUntil: number): Promise<number[]> {
    return this.queue.startAttempt(owner, recipientIds, now, leaseUntil);
  }

  finishAttempt(result: AttemptResult): Promise<void> {
    return this.queue.finishAttempt(result, Date.now());
  }

  recoverLeases(now: number): Promise<number> {
    return this.queue.recoverLeases(now);
  }

  releaseOwner(owner: string, now: number): Promise<number> {
    return this.queue.releaseOwner(owner, now);
  }

  async listPendingNotices(limit: number): Promise<QueueMessageRecord[]> {
    return this.queue.listPendingNotices(limit);
  }

  dropNotices(recipientIds: number[]): Promise<void> {
    return this.queue.dropNotices(recipientIds, Date.now());
  }

  retryNow(queueId: string | null, now: number): Promise<number> {
    return this.queue.retryNow(queueId, now);
  }

  hold(queueId: string): Promise<number> {
    return this.queue.hold(queueId);
  }

  release(queueId: string, now: number): Promise<number> {
    return this.queue.release(queueId, now);
  }

  bounce(
    queueId: string,
    reason: { reply: string; status: string },
    now: number,
    wantsNotice: (r: QueueRecipientRecord) => boolean,
  ): Promise<number> {
    return this.queue.bounce(queueId, reason, now, wantsNotice);
  }

  deleteQueueMessage(queueId: string): Promise<string | null> {
    return this.queue.deleteQueueMessage(queueId);
  }

  purgeFinished(before: number): Promise<string[]> {
    return this.queue.purgeFinished(before);
  }

  deleteInlineBody(hash: string): Promise<void> {
    return this.queue.deleteInlineBody(hash);
  }

  async readInlineBody(hash: string): Promise<Buffer | null> {
    const row = this.stmts.blobData.get(hash) as Row | undefined;
    return row ? (row.data as Buffer) : null;
  }

  async isBlobReferenced(hash: string): Promise<boolean> {
    return Boolean(this.stmts.blobInMessages.get(hash) ?? this.stmts.blobInQueue.get(hash));
  }

  private retryBusy<T>(write: () => T): Promise<T> {
    return retryBusy(write, this.busyTimeoutMs);
  }

  async close(): Promise<void> {
    await this.queue.close();
    if (this.db.open) this.db.close();
  }
}

function toDomain(row: Row): DomainRecord {
  return { id: row.id, name: row.name, catchAll: row.catch_all ?? null, createdAt: row.created_at };
}

function toAccount(row: Row): AccountRecord {
  return {
    id: row.id,
    domainId: row.domain_id,
    domain: row.domain,
    localPart: row.local_part,
    passwordHash: row.password_hash,
    quotaBytes: row.quota_bytes,
    createdAt: row.created_at,
  };
}

function toMessage(r: Row): MailboxMessageRecord {
  return {
    id: r.id,
    mailboxId: r.mailbox_id,
    uid: r.uid,
    blobHash: r.blob_hash,
    size: r.size,
    internalDate: r.internal_date,
    flags: splitFlags(r.flags),
    modseq: r.modseq,
    mime: r.mime ?? null,
  };
}
