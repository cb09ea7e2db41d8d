/**
 * Mailboxes and their messages for IMAP (RFC 9051, RFC 7162): create, rename, delete,
 * append, flags, copy, move, expunge. Every write goes through the store's durable group
 * commit, so an IMAP OK means the change is on disk (issue #4, point 6).
 *
 * MODSEQ (RFC 7162): each write that changes a mailbox takes the next value of its
 * highest_modseq, one value per operation; changed messages carry it, and expunged UIDs
 * are remembered with it in `expunged` for VANISHED.
 */
import type Database from 'better-sqlite3';
import { ConflictError, NotFoundError } from '../../errors/index.js';
import type { FlagOperation, FlagUpdate, MailboxChange, MailboxRecord, NewMailboxMessage, SpecialUse } from '../types.js';

type Row = Record<string, any>;

/** Writes and the changes they make, for the change feed. */
export interface Changed<T> {
  result: T;
  changes: MailboxChange[];
}

export class SqliteMailboxes {
  private readonly stmts: ReturnType<SqliteMailboxes['prepare']>;

  constructor(
    private readonly db: Database.Database,
    /** The store's durable group commit. */
    private readonly durableWrite: <T>(write: () => T) => Promise<T>,
  ) {
    this.stmts = this.prepare();
  }

  private prepare() {
    const db = this.db;
    return {
      byName: db.prepare('SELECT * FROM mailboxes WHERE account_id = ? AND name = ?'),
      byId: db.prepare('SELECT * FROM mailboxes WHERE id = ?'),
      insert: db.prepare('INSERT INTO mailboxes (account_id, name, special_use, uid_validity) VALUES (?, ?, ?, ?) RETURNING *'),
      delete: db.prepare('DELETE FROM mailboxes WHERE id = ?'),
      subtree: db.prepare("SELECT * FROM mailboxes WHERE account_id = ? AND (name = ? OR substr(name, 1, length(?) + 1) = ? || '/')"),
      rename: db.prepare('UPDATE mailboxes SET name = ? WHERE id = ?'),
      subscribe: db.prepare('UPDATE mailboxes SET subscribed = ? WHERE account_id = ? AND name = ?'),
      allocateUid: db.prepare(
        `UPDATE mailboxes SET uid_next = uid_next + 1, highest_modseq = highest_modseq + 1
         WHERE id = ? RETURNING uid_next - 1 AS uid, highest_modseq AS modseq`,
      ),
      nextModseq: db.prepare('UPDATE mailboxes SET highest_modseq = highest_modseq + 1 WHERE id = ? RETURNING highest_modseq AS modseq'),
      insertMessage: db.prepare(
        `INSERT INTO messages (mailbox_id, uid, blob_hash, size, internal_date, flags, modseq, mime)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      insertBlobData: db.prepare('INSERT OR IGNORE INTO blob_data (hash, data) VALUES (?, ?)'),
      message: db.prepare('SELECT * FROM messages WHERE mailbox_id = ? AND uid = ?'),
      allMessages: db.prepare('SELECT * FROM messages WHERE mailbox_id = ? ORDER BY uid'),
      setFlags: db.prepare('UPDATE messages SET flags = ?, modseq = ? WHERE id = ?'),
      deleteMessage: db.prepare('DELETE FROM messages WHERE id = ?'),
      remember: db.prepare('INSERT OR REPLACE INTO expunged (mailbox_id, uid, modseq) VALUES (?, ?, ?)'),
      vanished: db.prepare('SELECT uid FROM expunged WHERE mailbox_id = ? AND modseq > ? ORDER BY uid'),
      usage: db.prepare(
        'SELECT COALESCE(SUM(m.size), 0) AS bytes FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id WHERE b.account_id = ?',
      ),
    };
  }

  getMailbox(accountId: number, name: string): MailboxRecord | null {
    const row = this.stmts.byName.get(accountId, name) as Row | undefined;
    return row ? toMailbox(row) : null;
  }

  getMailboxById(mailboxId: number): MailboxRecord | null {
    const row = this.stmts.byId.get(mailboxId) as Row | undefined;
    return row ? toMailbox(row) : null;
  }

  createMailbox(accountId: number, name: string, specialUse: SpecialUse | null): Promise<Changed<MailboxRecord>> {
    return this.durableWrite(() => {
      if (this.stmts.byName.get(accountId, name)) throw new ConflictError(`mailbox ${name} exists already`);
      const row = this.stmts.insert.get(accountId, name, specialUse, newUidValidity()) as Row;
      return { result: toMailbox(row), changes: [{ kind: 'mailboxes', accountId, mailboxId: row.id }] };
    });
  }

  deleteMailbox(mailboxId: number): Promise<Changed<void>> {
    return this.durableWrite(() => {
      const row = this.requireById(mailboxId);
      this.stmts.delete.run(mailboxId);
      return { result: undefined, changes: [{ kind: 'mailboxes', accountId: row.account_id, mailboxId }] };
    });
  }

  renameMailbox(accountId: number, from: string, to: string): Promise<Changed<void>> {
    return this.durableWrite(() => {
      const source = this.stmts.byName.get(accountId, from) as Row | undefined;
      if (!source) throw new NotFoundError(`mailbox ${from} does not exist`);
      const changes: MailboxChange[] = [];
      if (from === 'INBOX') {
        // RFC 9051 §6.3.6: renaming INBOX moves its messages to a new mailbox; INBOX stays, empty.
        if (this.stmts.byName.get(accountId, to)) throw new ConflictError(`mailbox ${to} exists already`);
        const target = this.stmts.insert.get(accountId, to, null, newUidValidity()) as Row;
        const uids = (this.stmts.allMessages.all(source.id) as Row[]).map((m) => m.uid as number);
        changes.push({ kind: 'mailboxes', accountId, mailboxId: target.id });
        this.moveSync(source.id, uids, target.id, changes);
        return { result: undefined, changes };
      }
      const rows = this.stmts.subtree.all(accountId, from, from, from) as Row[];
      for (const row of rows) {
        const newName = to + String(row.name).slice(from.length);
        if (this.stmts.byName.get(accountId, newName)) throw new ConflictError(`mailbox ${newName} exists already`);
      }
      for (const row of rows) {
        this.stmts.rename.run(to + String(row.name).slice(from.length), row.id);
        changes.push({ kind: 'mailboxes', accountId, mailboxId: row.id });
      }
      return { result: undefined, changes };
    });
  }

  setSubscribed(accountId: number, name: string, subscribed: boolean): Promise<void> {
    return this.durableWrite(() => {
      this.stmts.subscribe.run(subscribed ? 1 : 0, accountId, name);
    });
  }

  appendMessages(mailboxId: number, messages: NewMailboxMessage[]): Promise<Changed<Array<{ uid: number; modseq: number }>>> {
    return this.durableWrite(() => {
      const box = this.requireById(mailboxId);
      const changes: MailboxChange[] = [];
      const result = messages.map((m) => {
        const change = this.appendSync(box.account_id, mailboxId, m);
        changes.push(change);
        return { uid: change.uid, modseq: change.modseq };
      });
      return { result, changes };
    });
  }

  /**
   * Inside a transaction: the next UID and MODSEQ of the mailbox (one statement; RFC 9051
   * §2.3.1.1: UIDs strictly increase and are never reused) and the message row.
   */
  appendSync(accountId: number, mailboxId: number, m: NewMailboxMessage): Extract<MailboxChange, { kind: 'append' }> {
    if (m.inlineBody) this.stmts.insertBlobData.run(m.blobHash, m.inlineBody);
    const alloc = this.stmts.allocateUid.get(mailboxId) as Row;
    this.stmts.insertMessage.run(mailboxId, alloc.uid, m.blobHash, m.size, m.internalDate, m.flags.join(' '), alloc.modseq, m.mime);
    return { kind: 'append', accountId, mailboxId, uid: alloc.uid as number, modseq: alloc.modseq as number };
  }

  storeFlags(
    mailboxId: number,
    uids: number[],
    operation: FlagOperation,
    flags: string[],
    unchangedSince?: number,
  ): Promise<Changed<{ updated: FlagUpdate[]; failed: number[] }>> {
    return this.durableWrite(() => {
      const box = this.requireById(mailboxId);
      const updated: FlagUpdate[] = [];
      const failed: number[] = [];
      const changes: MailboxChange[] = [];
      let modseq: number | null = null;
      for (const uid of uids) {
        const row = this.stmts.message.get(mailboxId, uid) as Row | undefined;
        if (!row) continue;
        if (unchangedSince !== undefined && row.modseq > unchangedSince) {
          failed.push(uid);
          continue;
        }
        const current = splitFlags(row.flags);
        const next = applyFlags(current, operation, flags);
        if (sameFlags(current, next)) {
          updated.push({ uid, flags: current, modseq: row.modseq, changed: false });
          continue;
        }
        modseq ??= (this.stmts.nextModseq.get(mailboxId) as Row).modseq as number;
        this.stmts.setFlags.run(next.join(' '), modseq, row.id);
        updated.push({ uid, flags: next, modseq, changed: true });
        changes.push({ kind: 'flags', accountId: box.account_id, mailboxId, uid, modseq, flags: next });
      }
      return { result: { updated, failed }, changes };
    });
  }

  copyMessages(fromMailboxId: number, uids: number[], toMailboxId: number): Promise<Changed<Array<{ from: number; to: number }>>> {
    return this.durableWrite(() => {
      const changes: MailboxChange[] = [];
      return { result: this.copySync(fromMailboxId, uids, toMailboxId, changes), changes };
    });
  }

  moveMessages(fromMailboxId: number, uids: number[], toMailboxId: number): Promise<Changed<Array<{ from: number; to: number }>>> {
    return this.durableWrite(() => {
      const changes: MailboxChange[] = [];
      return { result: this.moveSync(fromMailboxId, uids, toMailboxId, changes), changes };
    });
  }

  expunge(mailboxId: number, uids?: number[]): Promise<Changed<number[]>> {
    return this.durableWrite(() => {
      const box = this.requireById(mailboxId);
      const only = uids ? new Set(uids) : null;
      const rows = (this.stmts.allMessages.all(mailboxId) as Row[]).filter(
        (r) => splitFlags(r.flags).includes('\\Deleted') && (!only || only.has(r.uid)),
      );
      const changes: MailboxChange[] = [];
      this.removeSync(box, rows, changes);
      return { result: rows.map((r) => r.uid as number), changes };
    });
  }

  vanishedSince(mailboxId: number, modseq: number): number[] {
    return (this.stmts.vanished.all(mailboxId, modseq) as Row[]).map((r) => r.uid as number);
  }

  accountUsage(accountId: number): number {
    return (this.stmts.usage.get(accountId) as Row).bytes as number;
  }

  private copySync(fromMailboxId: number, uids: number[], toMailboxId: number, changes: MailboxChange[]): Array<{ from: number; to: number }> {
    const target = this.requireById(toMailboxId);
    const pairs: Array<{ from: number; to: number }> = [];
    // RFC 4315 §3: COPYUID lists source and target UIDs in the same order, ascending source.
    for (const uid of [...uids].sort((a, b) => a - b)) {
      const row = this.stmts.message.get(fromMailboxId, uid) as Row | undefined;
      if (!row) continue;
      const copy = { blobHash: row.blob_hash, size: row.size, inlineBody: null, internalDate: row.internal_date, flags: splitFlags(row.flags), mime: row.mime };
      const change = this.appendSync(target.account_id, toMailboxId, copy);
      pairs.push({ from: uid, to: change.uid });
      changes.push(change);
    }
    return pairs;
  }

  private moveSync(fromMailboxId: number, uids: number[], toMailboxId: number, changes: MailboxChange[]): Array<{ from: number; to: number }> {
    const pairs = this.copySync(fromMailboxId, uids, toMailboxId, changes);
    const source = this.requireById(fromMailboxId);
    const moved = new Set(pairs.map((p) => p.from));
    const rows = (this.stmts.allMessages.all(fromMailboxId) as Row[]).filter((r) => moved.has(r.uid));
    this.removeSync(source, rows, changes);
    return pairs;
  }

  /** Deletes message rows and remembers their UIDs for VANISHED, under one new MODSEQ. */
  private removeSync(box: Row, rows: Row[], changes: MailboxChange[]): void {
    if (rows.length === 0) return;
    const modseq = (this.stmts.nextModseq.get(box.id) as Row).modseq as number;
    for (const r of rows) {
      this.stmts.deleteMessage.run(r.id);
      this.stmts.remember.run(box.id, r.uid, modseq);
      changes.push({ kind: 'expunge', accountId: box.account_id, mailboxId: box.id, uid: r.uid, modseq });
    }
  }

  private requireById(mailboxId: number): Row {
    const row = this.stmts.byId.get(mailboxId) as Row | undefined;
    if (!row) throw new NotFoundError(`mailbox ${mailboxId} does not exist`);
    return row;
  }
}

/**
 * UIDVALIDITY from the clock, like Dovecot; a mailbox created again under an old name
 * gets a new value (RFC 9051 §2.3.1.1). Seconds, so it fits the 32-bit field.
 */
function newUidValidity(): number {
  return Math.floor(Date.now() / 1000);
}

export function toMailbox(r: Row): MailboxRecord {
  return {
    id: r.id,
    accountId: r.account_id,
    name: r.name,
    specialUse: r.special_use,
    uidValidity: r.uid_validity,
    uidNext: r.uid_next,
    highestModseq: r.highest_modseq,
    subscribed: r.subscribed === 1,
  };
}

export function splitFlags(stored: string | null): string[] {
  return stored ? String(stored).split(' ') : [];
}

/** RFC 9051 §6.4.6: FLAGS replaces, +FLAGS adds, -FLAGS removes; flags compare case-insensitively. */
export function applyFlags(current: string[], operation: FlagOperation, flags: string[]): string[] {
  const key = (f: string) => f.toLowerCase();
  if (operation === 'set') return dedupe(flags);
  if (operation === 'add') return dedupe([...current, ...flags]);
  const removed = new Set(flags.map(key));
  return current.filter((f) => !removed.has(key(f)));

  function dedupe(list: string[]): string[] {
    const seen = new Set<string>();
    return list.filter((f) => (seen.has(key(f)) ? false : (seen.add(key(f)), true)));
  }
}

function sameFlags(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  const set = new Set(a.map((f) => f.toLowerCase()));
  return b.every((f) => set.has(f.toLowerCase()));
}
