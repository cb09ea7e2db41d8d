/**
 * A session's view of its selected mailbox: the sequence-number map and what the client
 * has been told (RFC 9051 §2.3.1.2, §7.5.1).
 *
 * Every change is found the same way, whoever made it (this session, another session, an
 * SMTP delivery in another worker or on another machine): the mailbox's HIGHESTMODSEQ has
 * moved on, so `refresh()` asks the store for messages changed and UIDs expunged since the
 * last known MODSEQ (the same question QRESYNC asks, RFC 7162). The change feed only says
 * "look now"; nothing depends on receiving every event.
 *
 * Expunges wait while the client may be using sequence numbers: RFC 9051 §7.5.1 forbids
 * EXPUNGE responses during FETCH, STORE and SEARCH (non-UID forms); `updates()` is told
 * whether they may go out now.
 */
import type { MailboxMessageRecord, MailboxRecord, Store } from '../../store/types.js';

/** What the client must hear (the session formats it). */
export type ViewUpdate =
  | { kind: 'exists'; count: number }
  /** Sequence number at the moment it is sent (later ones shift down, RFC 9051 §7.5.1). */
  | { kind: 'expunge'; seq: number; uid: number }
  | { kind: 'flags'; seq: number; uid: number; flags: string[]; modseq: number };

interface Entry {
  uid: number;
  flags: string[];
  modseq: number;
}

export class MailboxView {
  /** Sequence number n is entries[n - 1]. */
  private entries: Entry[];
  private byUid = new Map<number, Entry>();
  private knownModseq: number;
  /** Changes found by refresh() and not yet told. */
  private pendingExpunges = new Set<number>();
  private pendingFlags = new Set<number>();
  private pendingNew: Entry[] = [];

  private constructor(
    private readonly store: Store,
    readonly mailbox: MailboxRecord,
    messages: MailboxMessageRecord[],
  ) {
    this.entries = messages.map((m) => ({ uid: m.uid, flags: m.flags, modseq: m.modseq }));
    for (const e of this.entries) this.byUid.set(e.uid, e);
    this.knownModseq = mailbox.highestModseq;
  }

  static async open(store: Store, mailbox: MailboxRecord): Promise<MailboxView> {
    // The mailbox row first, then the messages: a change between the two reads shows up
    // again at the next refresh (and is recognised as known), instead of being missed.
    const current = (await store.getMailboxById(mailbox.id)) ?? mailbox;
    const messages = await store.listMailboxMessages(mailbox.id);
    return new MailboxView(store, current, messages);
  }

  get exists(): number {
    return this.entries.length;
  }

  get highestModseq(): number {
    return this.knownModseq;
  }

  uidAt(seq: number): number | undefined {
    return this.entries[seq - 1]?.uid;
  }

  /** 1-based sequence number of a UID in the view, or 0. */
  seqOf(uid: number): number {
    const entry = this.byUid.get(uid);
    if (!entry) return 0;
    // Binary search: entries are in ascending UID order.
    let lo = 0;
    let hi = this.entries.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const at = this.entries[mid].uid;
      if (at === uid) return mid + 1;
      if (at < uid) lo = mid + 1;
      else hi = mid - 1;
    }
    return 0;
  }

  flagsOf(uid: number): string[] | undefined {
    return this.byUid.get(uid)?.flags;
  }

  modseqOf(uid: number): number | undefined {
    return this.byUid.get(uid)?.modseq;
  }

  /** All UIDs in sequence order. */
  uids(): number[] {
    return this.entries.map((e) => e.uid);
  }

  /** The largest UID in the view (for `*` in UID sets), or 0. */
  get maxUid(): number {
    return this.entries.at(-1)?.uid ?? 0;
  }

  /** Records a change this session made itself (STORE), so refresh does not report it again. */
  noteOwnFlags(uid: number, flags: string[], modseq: number): void {
    const entry = this.byUid.get(uid);
    if (!entry) return;
    entry.flags = flags;
    entry.modseq = Math.max(entry.modseq, modseq);
  }

  /** Asks the store what changed since the last known MODSEQ. Cheap when nothing did. */
  async refresh(): Promise<void> {
    const current = await this.store.getMailboxById(this.mailbox.id);
    if (!current || current.highestModseq <= this.knownModseq) return;
    const since = this.knownModseq;
    const [changed, vanished] = await Promise.all([
      this.store.changedSince(this.mailbox.id, since),
      this.store.vanishedSince(this.mailbox.id, since),
    ]);
    for (const uid of vanished) {
      if (this.byUid.has(uid)) this.pendingExpunges.add(uid);
    }
    const pendingNewUids = new Set(this.pendingNew.map((e) => e.uid));
    for (const m of changed) {
      const entry = this.byUid.get(m.uid);
      if (entry) {
        if (entry.modseq !== m.modseq || !sameFlags(entry.flags, m.flags)) {
          entry.flags = m.flags;
          entry.modseq = m.modseq;
          this.pendingFlags.add(m.uid);
        }
      } else if (m.uid > this.maxUid && !pendingNewUids.has(m.uid)) {
        this.pendingNew.push({ uid: m.uid, flags: m.flags, modseq: m.modseq });
      } else if (pendingNewUids.has(m.uid)) {
        const pending = this.pendingNew.find((e) => e.uid === m.uid)!;
        pending.flags = m.flags;
        pending.modseq = m.modseq;
      }
    }
    // A message added and expunged between two refreshes never shows.
    const gone = new Set(vanished);
    this.pendingNew = this.pendingNew.filter((e) => !gone.has(e.uid)).sort((a, b) => a.uid - b.uid);
    this.knownModseq = current.highestModseq;
  }

  /**
   * The untagged responses owed now, applied to the view: expunges first (when allowed),
   * then new messages (EXISTS), then flag changes of messages the client knows.
   */
  updates(allowExpunge: boolean): ViewUpdate[] {
    const out: ViewUpdate[] = [];
    if (allowExpunge && this.pendingExpunges.size > 0) {
      // Highest sequence number first, so each number is still right when it is sent
      // (what Dovecot does too).
      for (let i = this.entries.length - 1; i >= 0; i--) {
        const uid = this.entries[i].uid;
        if (!this.pendingExpunges.has(uid)) continue;
        out.push({ kind: 'expunge', seq: i + 1, uid });
        this.byUid.delete(uid);
        this.pendingFlags.delete(uid);
      }
      this.entries = this.entries.filter((e) => !this.pendingExpunges.has(e.uid));
      this.pendingExpunges.clear();
    }
    if (this.pendingNew.length > 0) {
      for (const e of this.pendingNew) {
        this.entries.push(e);
        this.byUid.set(e.uid, e);
      }
      this.pendingNew = [];
      out.push({ kind: 'exists', count: this.entries.length });
    }
    for (const uid of this.pendingFlags) {
      const entry = this.byUid.get(uid);
      if (entry) out.push({ kind: 'flags', seq: this.seqOf(uid), uid, flags: entry.flags, modseq: entry.modseq });
    }
    this.pendingFlags.clear();
    return out;
  }
}

function sameFlags(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((f, i) => f === b[i]);
}
