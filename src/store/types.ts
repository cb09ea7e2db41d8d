/**
 * The store interface: everything relational (DESIGN.md §4).
 * Every method is async so a PostgreSQL backend can implement the same contract;
 * the SQLite backend answers synchronously underneath.
 * Domains are always passed and returned as lowercase IDNA A-labels; local parts keep
 * the case they were created with and are matched case-insensitively.
 */
import type { EventEmitter } from 'node:events';

export interface DomainRecord {
  id: number;
  name: string;
  /** Local part of the account/alias that gets mail for unknown local parts, or null. */
  catchAll: string | null;
  createdAt: number;
}

export interface AccountRecord {
  id: number;
  domainId: number;
  domain: string;
  localPart: string;
  passwordHash: string;
  quotaBytes: number;
  createdAt: number;
}

export interface AliasRecord {
  id: number;
  domainId: number;
  domain: string;
  localPart: string;
  /** Full addresses (local@domain, domain as A-label). */
  targets: string[];
}

export type SpecialUse = '\\Sent' | '\\Drafts' | '\\Trash' | '\\Junk' | '\\Archive';

export interface MailboxRecord {
  id: number;
  accountId: number;
  name: string;
  specialUse: SpecialUse | null;
  uidValidity: number;
  uidNext: number;
  highestModseq: number;
  subscribed: boolean;
}

export interface MailboxMessageRecord {
  id: number;
  mailboxId: number;
  uid: number;
  blobHash: string;
  size: number;
  internalDate: number;
  flags: string[];
  modseq: number;
  /** The MIME structure (JSON from src/mime/), or null when not parsed yet. */
  mime: string | null;
}

/** RFC 3461 parameters of the envelope. */
export interface EnvelopeDsn {
  ret: 'FULL' | 'HDRS' | null;
  envid: string | null;
}

export interface RecipientDsn {
  /** NOTIFY values, or null when the client gave none (RFC 3461 §4.1 default: FAILURE,DELAY). */
  notify: Array<'NEVER' | 'SUCCESS' | 'FAILURE' | 'DELAY'> | null;
  /** ORCPT as addr-type;decoded-address, or null. */
  orcpt: { addrType: string; address: string } | null;
}

/** One message ready to be committed. */
export interface IncomingMessage {
  queueId: string;
  blobHash: string;
  size: number;
  /**
   * The body itself, for small messages: stored in the same transaction as the rows, so
   * they cost no file writes or fsyncs of their own. Null: the body is already a durable
   * file in the blob store.
   */
  inlineBody: Buffer | null;
  /**
   * The MIME structure (JSON from src/mime/) for the mailbox rows, parsed once here so
   * IMAP never parses the message again (DESIGN.md §4); null: parsed on first FETCH.
   */
  mime?: string | null;
  receivedAt: number;
  /** "" for the null reverse-path <>. */
  reversePath: string;
  dsn: EnvelopeDsn;
  bodyType: '7bit' | '8bitmime' | 'binarymime' | null;
  smtpUtf8: boolean;
  /** The authenticated account that submitted it, if any. */
  submitterAccountId: number | null;
  clientIp: string;
  helo: string;
  /** Accounts whose INBOX receives the message in this same commit. Each at most once. */
  localAccountIds: number[];
  /** Remote recipients, stored in the queue for outbound delivery. */
  remoteRecipients: Array<{ forwardPath: string; domain: string; dsn: RecipientDsn }>;
  /**
   * Local recipients that asked for NOTIFY=SUCCESS: kept as delivered queue rows that owe
   * a "delivered" notice (RFC 3461 §5.2.1 ... §6.2).
   */
  deliveredLocally?: Array<{ forwardPath: string; domain: string; dsn: RecipientDsn }>;
  /** 'dsn' for a notice we made; 'postmaster' for a copy of an undeliverable notice. */
  noticeKind?: NoticeKind | null;
  /**
   * The notice this message is: committing it settles what the listed recipients were
   * owed, in the same transaction, so a notice is sent exactly once even across crashes.
   */
  settlesNotices?: { recipientIds: number[]; kind: NoticeDue };
}

export type NoticeKind = 'dsn' | 'postmaster';
/** A notice a recipient still owes its sender. */
export type NoticeDue = 'delay' | 'failure' | 'success';

export type RecipientState = 'queued' | 'deferred' | 'hold' | 'delivered' | 'failed';

export interface QueueRecipientRecord {
  id: number;
  forwardPath: string;
  domain: string;
  state: RecipientState;
  attempts: number;
  /** When it is due; while a delivery owns it (leaseOwner set), when that lease runs out. */
  nextAttemptAt: number;
  leaseOwner: string | null;
  /** The last reply or error, on one line. */
  lastError: string | null;
  /** RFC 3463 code that goes with lastError. */
  lastStatus: string | null;
  remoteMta: string | null;
  lastAttemptAt: number | null;
  /** The next hop took our DSN parameters, so it, not we, reports success. */
  remoteDsn: boolean;
  delayNotified: boolean;
  noticeDue: NoticeDue | null;
  notify: RecipientDsn['notify'];
  orcpt: RecipientDsn['orcpt'];
}

/** A queued message's envelope without its recipients. */
export interface QueueEnvelopeRecord {
  queueId: string;
  reversePath: string;
  blobHash: string;
  size: number;
  receivedAt: number;
  dsn: EnvelopeDsn;
  bodyType: IncomingMessage['bodyType'];
  smtpUtf8: boolean;
  submitterAccountId: number | null;
  clientIp: string;
  helo: string;
  noticeKind: NoticeKind | null;
  finishedAt: number | null;
}

export interface QueueMessageRecord extends QueueEnvelopeRecord {
  recipients: QueueRecipientRecord[];
}

/** One recorded delivery attempt of one recipient, for `posta queue show`. */
export interface DeliveryAttemptRecord {
  recipientId: number;
  forwardPath: string;
  startedAt: number;
  host: string | null;
  ip: string | null;
  reply: string | null;
  status: string | null;
  outcome: string | null;
  transcript: string | null;
}

/** Recipients a scheduler takes: each owned by it until its lease runs out. */
export interface ClaimRequest {
  owner: string;
  now: number;
  leaseUntil: number;
  limit: number;
  /** Destinations this scheduler has no room for now; their recipients stay in the queue. */
  excludeDomains: string[];
}

export interface ClaimedRecipient {
  message: QueueEnvelopeRecord;
  recipient: QueueRecipientRecord;
}

/** The outcome of one attempt for some recipients of one message. */
export interface AttemptResult {
  queueId: string;
  startedAt: number;
  host: string | null;
  ip: string | null;
  /** Kept when something was not delivered (the trace). */
  transcript: string[] | null;
  recipients: Array<{
    recipientId: number;
    state: 'delivered' | 'deferred' | 'failed';
    reply: string;
    status: string;
    remoteMta: string | null;
    remoteDsn: boolean;
    /** For deferred recipients: when to try again. */
    nextAttemptAt: number;
    noticeDue: NoticeDue | null;
  }>;
}


/** A change to a mailbox, for IDLE and other sessions (the change feed). */
export type MailboxChange =
  | { kind: 'append'; accountId: number; mailboxId: number; uid: number; modseq: number }
  | { kind: 'flags'; accountId: number; mailboxId: number; uid: number; modseq: number; flags: string[] }
  | { kind: 'expunge'; accountId: number; mailboxId: number; uid: number; modseq: number }
  /** Created, deleted or renamed: sessions with the mailbox selected must notice. */
  | { kind: 'mailboxes'; accountId: number; mailboxId: number };

/** A message for APPEND, COPY's target and the like. */
export interface NewMailboxMessage {
  blobHash: string;
  size: number;
  /** The body when it goes inline (see IncomingMessage.inlineBody), else null. */
  inlineBody: Buffer | null;
  internalDate: number;
  flags: string[];
  mime: string | null;
}

/** How STORE changes flags (RFC 9051 §6.4.6). */
export type FlagOperation = 'set' | 'add' | 'remove';

export interface FlagUpdate {
  uid: number;
  flags: string[];
  modseq: number;
  /** False when the message already had exactly these flags (its MODSEQ is unchanged). */
  changed: boolean;
}

export interface ChangeFeed extends EventEmitter {
  on(event: 'mailbox', listener: (change: MailboxChange) => void): this;
  emit(event: 'mailbox', change: MailboxChange): boolean;
  /** New work for the outbound queue (recipients queued or notices owed) in this process. */
  on(event: 'queue', listener: (work: { notices: boolean }) => void): this;
  emit(event: 'queue', work: { notices: boolean }): boolean;
}

export interface NewAccount {
  domain: string;
  localPart: string;
  passwordHash: string;
  quotaBytes: number;
}

export interface Store {
  readonly changes: ChangeFeed;

  addDomain(name: string): Promise<DomainRecord>;
  getDomain(name: string): Promise<DomainRecord | null>;
  listDomains(): Promise<DomainRecord[]>;
  /** Removes a domain with its accounts, aliases and mailboxes. */
  removeDomain(name: string): Promise<void>;
  setCatchAll(domain: string, localPart: string | null): Promise<void>;

  /** Creates the account and its default mailboxes (INBOX and the special-use ones). */
  addAccount(account: NewAccount): Promise<AccountRecord>;
  getAccount(localPart: string, domain: string): Promise<AccountRecord | null>;
  getAccountById(id: number): Promise<AccountRecord | null>;
  listAccounts(domain?: string): Promise<AccountRecord[]>;
  setPassword(accountId: number, passwordHash: string): Promise<void>;
  removeAccount(accountId: number): Promise<void>;

  addAlias(localPart: string, domain: string, targets: string[]): Promise<AliasRecord>;
  getAlias(localPart: string, domain: string): Promise<AliasRecord | null>;
  listAliases(domain?: string): Promise<AliasRecord[]>;
  removeAlias(localPart: string, domain: string): Promise<void>;

  listMailboxes(accountId: number): Promise<MailboxRecord[]>;
  listMailboxMessages(mailboxId: number): Promise<MailboxMessageRecord[]>;

  // ---- IMAP's side (sqlite-mailbox.ts); every write is durable when it resolves ----
  getMailbox(accountId: number, name: string): Promise<MailboxRecord | null>;
  getMailboxById(mailboxId: number): Promise<MailboxRecord | null>;
  /** ConflictError when the name exists. */
  createMailbox(accountId: number, name: string, specialUse: SpecialUse | null): Promise<MailboxRecord>;
  /** Deletes the mailbox and its messages. */
  deleteMailbox(mailboxId: number): Promise<void>;
  /**
   * Renames a mailbox and every mailbox below it (`from/...`), keeping UIDVALIDITY
   * (RFC 9051 §6.3.6). ConflictError when a target name exists.
   */
  renameMailbox(accountId: number, from: string, to: string): Promise<void>;
  setSubscribed(accountId: number, name: string, subscribed: boolean): Promise<void>;
  /** Appends messages to one mailbox in one transaction; their UIDs in order (APPEND, MULTIAPPEND). */
  appendMessages(mailboxId: number, messages: NewMailboxMessage[]): Promise<Array<{ uid: number; modseq: number }>>;
  /**
   * Changes flags of the given UIDs. With unchangedSince (RFC 7162 §3.1.3), messages whose
   * MODSEQ is higher are left alone and returned in `failed`.
   */
  storeFlags(
    mailboxId: number,
    uids: number[],
    operation: FlagOperation,
    flags: string[],
    unchangedSince?: number,
  ): Promise<{ updated: FlagUpdate[]; failed: number[] }>;
  /** Copies messages (same blobs) to another mailbox; pairs of source and new UID (UIDPLUS). */
  copyMessages(fromMailboxId: number, uids: number[], toMailboxId: number): Promise<Array<{ from: number; to: number }>>;
  /** Copies, then expunges the sources, in one transaction (RFC 6851). */
  moveMessages(fromMailboxId: number, uids: number[], toMailboxId: number): Promise<Array<{ from: number; to: number }>>;
  /** Removes messages flagged \Deleted (only those among `uids` when given); the UIDs removed. */
  expunge(mailboxId: number, uids?: number[]): Promise<number[]>;
  /** Messages added or changed with a MODSEQ above `modseq`, by UID (CONDSTORE, session refresh). */
  changedSince(mailboxId: number, modseq: number): Promise<MailboxMessageRecord[]>;
  /** UIDs expunged with a MODSEQ above `modseq` (QRESYNC VANISHED). */
  vanishedSince(mailboxId: number, modseq: number): Promise<number[]>;
  /** Bytes used by the account's messages (QUOTA, RFC 9208 STORAGE is in KiB of this). */
  accountUsage(accountId: number): Promise<number>;

  /**
   * Commits a batch of messages in ONE transaction (group commit): local deliveries
   * into INBOX and queue rows for remote recipients. Resolves only once it is durable.
   */
  commitIncoming(batch: IncomingMessage[]): Promise<void>;

  /** Messages with recipients still pending or on hold (mailq). */
  listQueue(): Promise<QueueMessageRecord[]>;
  /** Any queue message, finished ones too (they stay for the trace until purged). */
  getQueueMessage(queueId: string): Promise<QueueMessageRecord | null>;
  listDeliveryAttempts(queueId: string): Promise<DeliveryAttemptRecord[]>;

  // ---- the scheduler's side (DESIGN.md §3 step 5-8) ----
  /** Takes due recipients, oldest due first, making `owner` their owner until leaseUntil. */
  claimDue(request: ClaimRequest): Promise<ClaimedRecipient[]>;
  /** When the earliest pending recipient is due, or null when none is pending. */
  nextDueAt(): Promise<number | null>;
  /**
   * Records an attempt before dialing: counts it and extends the lease. Returns the ids
   * still owned by `owner` (others were held, deleted or bounced meanwhile).
   */
  startAttempt(owner: string, recipientIds: number[], now: number, leaseUntil: number): Promise<number[]>;
  /** Stores the outcome of an attempt; a message with nothing left to do gets finished_at. */
  finishAttempt(result: AttemptResult): Promise<void>;
  /** Gives every leased recipient back to the queue, due now (start-up, single owner only). */
  recoverLeases(now: number): Promise<number>;
  /** Gives back what owners whose id starts with `ownerPrefix` hold (a worker that died). */
  releaseOwner(ownerPrefix: string, now: number): Promise<number>;
  /** Messages whose recipients owe notices (oldest first), each with only those recipients. */
  listPendingNotices(limit: number): Promise<QueueMessageRecord[]>;
  /** Forgets owed notices that cannot be sent (no one to send them to). */
  dropNotices(recipientIds: number[]): Promise<void>;

  // ---- administration (posta queue ...) ----
  /** Makes pending recipients due now; all messages when queueId is null. Returns recipients touched. */
  retryNow(queueId: string | null, now: number): Promise<number>;
  hold(queueId: string): Promise<number>;
  release(queueId: string, now: number): Promise<number>;
  /** Fails every pending or held recipient now, owing failure notices as NOTIFY allows. */
  bounce(queueId: string, reason: { reply: string; status: string }, now: number, wantsNotice: (r: QueueRecipientRecord) => boolean): Promise<number>;
  /** Deletes the message and its rows; returns its blob hash, or null when there was none. */
  deleteQueueMessage(queueId: string): Promise<string | null>;
  /** Deletes finished messages older than `before`; returns their blob hashes. */
  purgeFinished(before: number): Promise<string[]>;
  /** Removes an inline body no row references any more. */
  deleteInlineBody(hash: string): Promise<void>;

  /** A body stored inline by commitIncoming, or null when it is not in the database. */
  readInlineBody(hash: string): Promise<Buffer | null>;

  /** Every blob hash that a row still references (for garbage collection). */
  isBlobReferenced(hash: string): Promise<boolean>;

  close(): Promise<void>;
}
