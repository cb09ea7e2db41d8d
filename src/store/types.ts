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
}

export interface QueueRecipientRecord {
  id: number;
  forwardPath: string;
  domain: string;
  state: 'queued' | 'deferred' | 'hold' | 'delivered' | 'failed';
  attempts: number;
  nextAttemptAt: number;
  lastError: string | null;
  notify: RecipientDsn['notify'];
  orcpt: RecipientDsn['orcpt'];
}

export interface QueueMessageRecord {
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
  recipients: QueueRecipientRecord[];
}

/** A change to a mailbox, for IDLE and other sessions (the change feed). */
export interface MailboxChange {
  kind: 'append';
  accountId: number;
  mailboxId: number;
  uid: number;
  modseq: number;
}

export interface ChangeFeed extends EventEmitter {
  on(event: 'mailbox', listener: (change: MailboxChange) => void): this;
  emit(event: 'mailbox', change: MailboxChange): boolean;
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

  /**
   * Commits a batch of messages in ONE transaction (group commit): local deliveries
   * into INBOX and queue rows for remote recipients. Resolves only once it is durable.
   */
  commitIncoming(batch: IncomingMessage[]): Promise<void>;

  listQueue(): Promise<QueueMessageRecord[]>;
  getQueueMessage(queueId: string): Promise<QueueMessageRecord | null>;

  /** A body stored inline by commitIncoming, or null when it is not in the database. */
  readInlineBody(hash: string): Promise<Buffer | null>;

  /** Every blob hash that a row still references (for garbage collection). */
  isBlobReferenced(hash: string): Promise<boolean>;

  close(): Promise<void>;
}
