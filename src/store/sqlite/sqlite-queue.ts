/**
 * The outbound queue's side of the SQLite store: claiming due recipients under leases,
 * recording attempts, owed notices, and `posta queue` administration (DESIGN.md §3).
 *
 * Leases: claiming a recipient sets `lease_owner` and moves `next_attempt_at` to the
 * lease's end. So the one index on pending recipients by due time serves both the
 * scheduler's scan and recovery: work of an owner that died becomes due again by itself.
 */
import type Database from 'better-sqlite3';
import type {
  AttemptResult,
  ClaimedRecipient,
  ClaimRequest,
  DeliveryAttemptRecord,
  NoticeDue,
  QueueEnvelopeRecord,
  QueueMessageRecord,
  QueueRecipientRecord,
} from '../types.js';
import { retryBusy } from './retry-busy.js';
import { withoutSync, WriteBatcher } from './write-batcher.js';

type Row = Record<string, any>;

const PENDING = "state IN ('queued', 'deferred')";

export class SqliteQueue {
  /** Attempt outcomes: fsync'd, since losing "delivered" would mean sending it again. */
  private readonly batcher: WriteBatcher;
  /**
   * Claims and attempt starts: not fsync'd. Lost in a crash, the recipient is simply still
   * due (or its lease runs out): a retry, never a loss. The next fsync'd commit makes them
   * durable anyway, and they are most of the scheduler's writes.
   */
  private readonly relaxedBatcher: WriteBatcher;
  private readonly stmts: ReturnType<SqliteQueue['prepare']>;

  constructor(
    private readonly db: Database.Database,
    private readonly busyTimeoutMs: number,
    /** The database file, or null for an in-memory database (no WAL to sync). */
    file: string | null,
  ) {
    this.batcher = new WriteBatcher(db, busyTimeoutMs, file ? { kind: 'wal-fsync', walPath: `${file}-wal` } : { kind: 'full' });
    this.relaxedBatcher = new WriteBatcher(db, busyTimeoutMs, { kind: 'relaxed' });
    this.stmts = this.prepare();
  }

  private prepare() {
    const db = this.db;
    return {
      queueMessage: db.prepare('SELECT * FROM queue_messages WHERE queue_id = ?'),
      queueRecipients: db.prepare('SELECT * FROM queue_recipients WHERE queue_id = ? ORDER BY id'),
      listUnfinished: db.prepare('SELECT * FROM queue_messages WHERE finished_at IS NULL ORDER BY received_at, queue_id'),
      unfinishedRecipients: db.prepare(
        `SELECT r.* FROM queue_recipients r JOIN queue_messages m ON m.queue_id = r.queue_id
         WHERE m.finished_at IS NULL ORDER BY r.id`,
      ),
      // The partial index queue_recipients_pending serves this: only due rows are read.
      claim: db.prepare(
        `UPDATE queue_recipients SET next_attempt_at = @leaseUntil, lease_owner = @owner
         WHERE id IN (
           SELECT id FROM queue_recipients
           WHERE ${PENDING} AND next_attempt_at <= @now
             AND domain NOT IN (SELECT value FROM json_each(@exclude))
           ORDER BY next_attempt_at LIMIT @limit)
         RETURNING *`,
      ),
      nextDue: db.prepare(`SELECT MIN(next_attempt_at) AS due FROM queue_recipients WHERE ${PENDING}`),
      startAttempt: db.prepare(
        `UPDATE queue_recipients SET attempts = attempts + 1, last_attempt_at = @now, next_attempt_at = @leaseUntil
         WHERE id = @id AND lease_owner = @owner AND ${PENDING} RETURNING id`,
      ),
      insertTranscript: db.prepare('INSERT INTO attempt_transcripts (queue_id, started_at, transcript) VALUES (?, ?, ?)'),
      insertAttempt: db.prepare(
        `INSERT INTO delivery_attempts (recipient_id, started_at, host, ip, reply, outcome, status, transcript_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      // A held recipient stays held when its in-flight attempt only deferred; a final
      // outcome always counts (the message did go, or definitely did not).
      finishRecipient: db.prepare(
        `UPDATE queue_recipients SET
           state = CASE WHEN @state = 'deferred' AND state = 'hold' THEN 'hold' ELSE @state END,
           next_attempt_at = @next, lease_owner = NULL, last_error = @reply, last_status = @status,
           remote_mta = @remoteMta, remote_dsn = @remoteDsn, notice_due = COALESCE(@noticeDue, notice_due)
         WHERE id = @id AND state NOT IN ('delivered', 'failed')`,
      ),
      markFinished: db.prepare(
        `UPDATE queue_messages SET finished_at = @now
         WHERE queue_id = @queueId AND finished_at IS NULL AND NOT EXISTS (
           SELECT 1 FROM queue_recipients WHERE queue_id = @queueId
             AND (state IN ('queued', 'deferred', 'hold') OR notice_due IS NOT NULL))`,
      ),
      // Held recipients lose a dead owner's lease too, or release could not make them due.
      recoverAll: db.prepare(
        `UPDATE queue_recipients SET lease_owner = NULL,
           next_attempt_at = CASE WHEN ${PENDING} THEN @now ELSE next_attempt_at END
         WHERE lease_owner IS NOT NULL`,
      ),
      recoverOwner: db.prepare(
        `UPDATE queue_recipients SET lease_owner = NULL,
           next_attempt_at = CASE WHEN ${PENDING} THEN @now ELSE next_attempt_at END
         WHERE substr(lease_owner, 1, length(@owner)) = @owner`,
      ),
      // A claimed recipient that was held meanwhile: we give our lease up, so release can
      // make it due at once.
      dropHeldLease: db.prepare("UPDATE queue_recipients SET lease_owner = NULL WHERE id = @id AND lease_owner = @owner AND state = 'hold'"),
      noticesOwed: db.prepare('SELECT count(*) AS n FROM queue_recipients WHERE id IN (SELECT value FROM json_each(@ids)) AND notice_due = @kind'),
      queuesWithNotices: db.prepare(
        `SELECT r.queue_id FROM queue_recipients r JOIN queue_messages m ON m.queue_id = r.queue_id
         WHERE r.notice_due IS NOT NULL GROUP BY r.queue_id ORDER BY MIN(m.received_at) LIMIT ?`,
      ),
      recipientsWithNotices: db.prepare('SELECT * FROM queue_recipients WHERE queue_id = ? AND notice_due IS NOT NULL ORDER BY id'),
      settleNotice: db.prepare(
        `UPDATE queue_recipients SET notice_due = NULL,
           delay_notified = CASE WHEN @kind = 'delay' THEN 1 ELSE delay_notified END
         WHERE id = @id AND notice_due = @kind RETURNING queue_id`,
      ),
      dropNotice: db.prepare('UPDATE queue_recipients SET notice_due = NULL WHERE id = ? RETURNING queue_id'),
      retryOne: db.prepare(
        `UPDATE queue_recipients SET next_attempt_at = @now WHERE queue_id = @queueId AND ${PENDING} AND lease_owner IS NULL`,
      ),
      retryAll: db.prepare(`UPDATE queue_recipients SET next_attempt_at = @now WHERE ${PENDING} AND lease_owner IS NULL`),
      hold: db.prepare(`UPDATE queue_recipients SET state = 'hold' WHERE queue_id = ? AND ${PENDING}`),
      // A recipient whose attempt is still in flight keeps its lease; the others are due now.
      release: db.prepare(
        `UPDATE queue_recipients SET state = CASE WHEN attempts > 0 THEN 'deferred' ELSE 'queued' END,
           next_attempt_at = CASE WHEN lease_owner IS NULL THEN @now ELSE next_attempt_at END
         WHERE queue_id = @queueId AND state = 'hold'`,
      ),
      bounceCandidates: db.prepare(
        "SELECT * FROM queue_recipients WHERE queue_id = ? AND state IN ('queued', 'deferred', 'hold')",
      ),
      bounceRecipient: db.prepare(
        `UPDATE queue_recipients SET state = 'failed', lease_owner = NULL, last_error = @reply, last_status = @status,
           notice_due = @noticeDue WHERE id = @id`,
      ),
      deleteMessage: db.prepare('DELETE FROM queue_messages WHERE queue_id = ? RETURNING blob_hash'),
      purgeFinished: db.prepare(
        'DELETE FROM queue_messages WHERE queue_id IN (SELECT queue_id FROM queue_messages WHERE finished_at < ? LIMIT 1000) RETURNING blob_hash',
      ),
      deleteInline: db.prepare(
        `DELETE FROM blob_data WHERE hash = @hash
           AND NOT EXISTS (SELECT 1 FROM messages WHERE blob_hash = @hash)
           AND NOT EXISTS (SELECT 1 FROM queue_messages WHERE blob_hash = @hash)`,
      ),
      attempts: db.prepare(
        `SELECT a.*, r.forward_path, t.transcript FROM delivery_attempts a
         JOIN queue_recipients r ON r.id = a.recipient_id
         LEFT JOIN attempt_transcripts t ON t.id = a.transcript_id
         WHERE r.queue_id = ? ORDER BY a.started_at, a.id`,
      ),
    };
  }

  private write<T>(fn: () => T): Promise<T> {
    const tx = this.db.transaction(fn);
    return retryBusy(() => tx.immediate(), this.busyTimeoutMs);
  }

  async close(): Promise<void> {
    await Promise.all([this.batcher.close(), this.relaxedBatcher.close()]);
  }

  /** Runs a write in the next fsync'd group commit (shared with attempt outcomes). */
  durableWrite<T>(write: () => T): Promise<T> {
    return this.batcher.run(write);
  }

  listQueue(): QueueMessageRecord[] {
    const byQueue = new Map<string, QueueRecipientRecord[]>();
    for (const r of this.stmts.unfinishedRecipients.all() as Row[]) {
      const list = byQueue.get(r.queue_id) ?? [];
      list.push(toRecipient(r));
      byQueue.set(r.queue_id, list);
    }
    return (this.stmts.listUnfinished.all() as Row[]).map((m) => ({ ...toEnvelope(m), recipients: byQueue.get(m.queue_id) ?? [] }));
  }

  getQueueMessage(queueId: string): QueueMessageRecord | null {
    const row = this.stmts.queueMessage.get(queueId) as Row | undefined;
    if (!row) return null;
    return { ...toEnvelope(row), recipients: (this.stmts.queueRecipients.all(queueId) as Row[]).map(toRecipient) };
  }

  listDeliveryAttempts(queueId: string): DeliveryAttemptRecord[] {
    return (this.stmts.attempts.all(queueId) as Row[]).map((a) => ({
      recipientId: a.recipient_id,
      forwardPath: a.forward_path,
      startedAt: a.started_at,
      host: a.host ?? null,
      ip: a.ip ?? null,
      reply: a.reply ?? null,
      status: a.status ?? null,
      outcome: a.outcome ?? null,
      transcript: a.transcript ?? null,
    }));
  }

  async claimDue(request: ClaimRequest): Promise<ClaimedRecipient[]> {
    // Most calls find nothing due: a read answers that without taking the write lock.
    if ((this.nextDueAt() ?? Infinity) > request.now) return [];
    const tx = this.db.transaction(() => {
      const rows = this.stmts.claim.all({
        owner: request.owner,
        now: request.now,
        leaseUntil: request.leaseUntil,
        limit: request.limit,
        exclude: JSON.stringify(request.excludeDomains),
      }) as Row[];
      const envelopes = new Map<string, QueueEnvelopeRecord>();
      const claimed: ClaimedRecipient[] = [];
      for (const r of rows) {
        let message = envelopes.get(r.queue_id);
        if (!message) {
          message = toEnvelope(this.stmts.queueMessage.get(r.queue_id) as Row);
          envelopes.set(r.queue_id, message);
        }
        claimed.push({ message, recipient: toRecipient(r) });
      }
      return claimed;
    });
    return retryBusy(() => withoutSync(this.db, () => tx.immediate()), this.busyTimeoutMs);
  }

  nextDueAt(): number | null {
    const row = this.stmts.nextDue.get() as Row;
    return row.due ?? null;
  }

  startAttempt(owner: string, recipientIds: number[], now: number, leaseUntil: number): Promise<number[]> {
    return this.relaxedBatcher.run(() => {
      const owned: number[] = [];
      for (const id of recipientIds) {
        if (this.stmts.startAttempt.get({ id, owner, now, leaseUntil })) owned.push(id);
        else this.stmts.dropHeldLease.run({ id, owner });
      }
      return owned;
    });
  }

  finishAttempt(result: AttemptResult, now: number): Promise<void> {
    return this.batcher.run(() => {
      const transcriptId = result.transcript
        ? Number(this.stmts.insertTranscript.run(result.queueId, result.startedAt, result.transcript.join('\n')).lastInsertRowid)
        : null;
      for (const r of result.recipients) {
        this.stmts.insertAttempt.run(r.recipientId, result.startedAt, result.host, result.ip, r.reply, r.state, r.status, transcriptId);
        this.stmts.finishRecipient.run({
          id: r.recipientId,
          state: r.state,
          next: r.nextAttemptAt,
          reply: r.reply,
          status: r.status,
          remoteMta: r.remoteMta,
          remoteDsn: r.remoteDsn ? 1 : 0,
          noticeDue: r.noticeDue,
        });
      }
      this.stmts.markFinished.run({ queueId: result.queueId, now });
    });
  }

  async recoverLeases(now: number): Promise<number> {
    return (await this.write(() => this.stmts.recoverAll.run({ now }))).changes;
  }

  async releaseOwner(owner: string, now: number): Promise<number> {
    return (await this.write(() => this.stmts.recoverOwner.run({ owner, now }))).changes;
  }

  listPendingNotices(limit: number): QueueMessageRecord[] {
    return (this.stmts.queuesWithNotices.all(limit) as Row[]).map((q) => ({
      ...toEnvelope(this.stmts.queueMessage.get(q.queue_id) as Row),
      recipients: (this.stmts.recipientsWithNotices.all(q.queue_id) as Row[]).map(toRecipient),
    }));
  }

  /** Inside commitIncoming's transaction: the notice being committed settles what was owed. */
  settleNoticesSync(recipientIds: number[], kind: NoticeDue, now: number): number {
    // All or nothing: a notice that names a recipient someone else has already reported on
    // would report it twice. The notifier lists what is still owed and tries again.
    const owed = (this.stmts.noticesOwed.get({ ids: JSON.stringify(recipientIds), kind }) as Row).n as number;
    if (owed !== recipientIds.length) return 0;
    const queues = new Set<string>();
    let settled = 0;
    for (const id of recipientIds) {
      const row = this.stmts.settleNotice.get({ id, kind }) as Row | undefined;
      if (row) {
        queues.add(row.queue_id);
        settled++;
      }
    }
    for (const queueId of queues) this.stmts.markFinished.run({ queueId, now });
    return settled;
  }

  async dropNotices(recipientIds: number[], now: number): Promise<void> {
    await this.write(() => {
      const queues = new Set<string>();
      for (const id of recipientIds) {
        const row = this.stmts.dropNotice.get(id) as Row | undefined;
        if (row) queues.add(row.queue_id);
      }
      for (const queueId of queues) this.stmts.markFinished.run({ queueId, now });
    });
  }

  async retryNow(queueId: string | null, now: number): Promise<number> {
    const info = await this.write(() => (queueId === null ? this.stmts.retryAll.run({ now }) : this.stmts.retryOne.run({ queueId, now })));
    return info.changes;
  }

  async hold(queueId: string): Promise<number> {
    return (await this.write(() => this.stmts.hold.run(queueId))).changes;
  }

  async release(queueId: string, now: number): Promise<number> {
    return (await this.write(() => this.stmts.release.run({ queueId, now }))).changes;
  }

  async bounce(
    queueId: string,
    reason: { reply: string; status: string },
    now: number,
    wantsNotice: (r: QueueRecipientRecord) => boolean,
  ): Promise<number> {
    return this.write(() => {
      const rows = (this.stmts.bounceCandidates.all(queueId) as Row[]).map(toRecipient);
      for (const r of rows) {
        this.stmts.bounceRecipient.run({ id: r.id, reply: reason.reply, status: reason.status, noticeDue: wantsNotice(r) ? 'failure' : null });
      }
      this.stmts.markFinished.run({ queueId, now });
      return rows.length;
    });
  }

  async deleteQueueMessage(queueId: string): Promise<string | null> {
    const row = await this.write(() => this.stmts.deleteMessage.get(queueId) as Row | undefined);
    return row ? (row.blob_hash as string) : null;
  }

  async purgeFinished(before: number): Promise<string[]> {
    const rows = await this.write(() => this.stmts.purgeFinished.all(before) as Row[]);
    return [...new Set(rows.map((r) => r.blob_hash as string))];
  }

  async deleteInlineBody(hash: string): Promise<void> {
    await this.write(() => this.stmts.deleteInline.run({ hash }));
  }
}

export function toRecipient(r: Row): QueueRecipientRecord {
  return {
    id: r.id,
    forwardPath: r.forward_path,
    domain: r.domain,
    state: r.state,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    leaseOwner: r.lease_owner ?? null,
    lastError: r.last_error ?? null,
    lastStatus: r.last_status ?? null,
    remoteMta: r.remote_mta ?? null,
    lastAttemptAt: r.last_attempt_at ?? null,
    remoteDsn: r.remote_dsn === 1,
    delayNotified: r.delay_notified === 1,
    noticeDue: r.notice_due ?? null,
    notify: r.notify ? (String(r.notify).split(',') as QueueRecipientRecord['notify']) : null,
    orcpt: r.orcpt_type ? { addrType: r.orcpt_type, address: r.orcpt_address } : null,
  };
}

export function toEnvelope(m: Row): QueueEnvelopeRecord {
  return {
    queueId: m.queue_id,
    reversePath: m.reverse_path,
    blobHash: m.blob_hash,
    size: m.size,
    receivedAt: m.received_at,
    dsn: { ret: m.dsn_ret ?? null, envid: m.dsn_envid ?? null },
    bodyType: m.body_type ?? null,
    smtpUtf8: m.smtputf8 === 1,
    submitterAccountId: m.submitter_id ?? null,
    clientIp: m.client_ip,
    helo: m.helo,
    noticeKind: m.notice_kind ?? null,
    finishedAt: m.finished_at ?? null,
  };
}
