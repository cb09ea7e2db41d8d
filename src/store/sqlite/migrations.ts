/**
 * Versioned schema migrations for the SQLite store. Each entry runs once, in order, inside
 * a transaction; `PRAGMA user_version` records how far a database has come.
 * Never edit a released migration: append a new one.
 */
export const migrations: string[] = [
  // 1: accounts, mailboxes, the queue.
  `
  CREATE TABLE domains (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,          -- IDNA A-label, lowercase
    catch_all   TEXT,                          -- local part receiving unknown addresses
    created_at  INTEGER NOT NULL
  );

  CREATE TABLE accounts (
    id             INTEGER PRIMARY KEY,
    domain_id      INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    local_part     TEXT NOT NULL,              -- as created (case preserved)
    local_key      TEXT NOT NULL,              -- lowercase, for lookup
    password_hash  TEXT NOT NULL,              -- argon2id PHC string
    quota_bytes    INTEGER NOT NULL DEFAULT 0, -- 0 = unlimited
    created_at     INTEGER NOT NULL,
    UNIQUE (domain_id, local_key)
  );

  CREATE TABLE aliases (
    id          INTEGER PRIMARY KEY,
    domain_id   INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    local_part  TEXT NOT NULL,
    local_key   TEXT NOT NULL,
    UNIQUE (domain_id, local_key)
  );

  CREATE TABLE alias_targets (
    alias_id  INTEGER NOT NULL REFERENCES aliases(id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    target    TEXT NOT NULL,                   -- local@a-label
    PRIMARY KEY (alias_id, position)
  );
  CREATE INDEX alias_targets_target ON alias_targets(target);

  CREATE TABLE mailboxes (
    id              INTEGER PRIMARY KEY,
    account_id      INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    special_use     TEXT,
    uid_validity    INTEGER NOT NULL,
    uid_next        INTEGER NOT NULL DEFAULT 1,
    highest_modseq  INTEGER NOT NULL DEFAULT 1,
    subscribed      INTEGER NOT NULL DEFAULT 1,
    UNIQUE (account_id, name)
  );

  CREATE TABLE messages (
    id             INTEGER PRIMARY KEY,
    mailbox_id     INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid            INTEGER NOT NULL,
    blob_hash      TEXT NOT NULL,
    size           INTEGER NOT NULL,
    internal_date  INTEGER NOT NULL,
    flags          TEXT NOT NULL DEFAULT '',   -- space-separated IMAP flags
    modseq         INTEGER NOT NULL,
    UNIQUE (mailbox_id, uid)
  );
  CREATE INDEX messages_blob ON messages(blob_hash);

  CREATE TABLE queue_messages (
    queue_id        TEXT PRIMARY KEY,
    reverse_path    TEXT NOT NULL,             -- '' = null sender <>
    blob_hash       TEXT NOT NULL,
    size            INTEGER NOT NULL,
    received_at     INTEGER NOT NULL,
    dsn_ret         TEXT,
    dsn_envid       TEXT,
    body_type       TEXT,
    smtputf8        INTEGER NOT NULL DEFAULT 0,
    submitter_id    INTEGER REFERENCES accounts(id) ON DELETE SET NULL,
    client_ip       TEXT NOT NULL,
    helo            TEXT NOT NULL
  );
  CREATE INDEX queue_messages_blob ON queue_messages(blob_hash);

  CREATE TABLE queue_recipients (
    id               INTEGER PRIMARY KEY,
    queue_id         TEXT NOT NULL REFERENCES queue_messages(queue_id) ON DELETE CASCADE,
    forward_path     TEXT NOT NULL,
    domain           TEXT NOT NULL,
    state            TEXT NOT NULL DEFAULT 'queued',  -- queued deferred hold delivered failed
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    lease_until      INTEGER,
    last_error       TEXT,
    notify           TEXT,                     -- comma-separated NOTIFY values, NULL = default
    orcpt_type       TEXT,
    orcpt_address    TEXT
  );
  CREATE INDEX queue_recipients_due ON queue_recipients(state, next_attempt_at);
  CREATE INDEX queue_recipients_queue ON queue_recipients(queue_id);

  CREATE TABLE delivery_attempts (
    id            INTEGER PRIMARY KEY,
    recipient_id  INTEGER NOT NULL REFERENCES queue_recipients(id) ON DELETE CASCADE,
    started_at    INTEGER NOT NULL,
    host          TEXT,
    ip            TEXT,
    reply         TEXT,
    outcome       TEXT
  );
  CREATE INDEX delivery_attempts_recipient ON delivery_attempts(recipient_id);
  `,
  // 2: small message bodies inline, committed in the same transaction as their rows.
  `
  CREATE TABLE blob_data (
    hash  TEXT PRIMARY KEY,                    -- SHA-256 hex of data, as in blobs/
    data  BLOB NOT NULL
  );
  `,
  // 3: outbound delivery: leases, notices, attempt transcripts, history.
  `
  -- Pending recipients, by due time: the scheduler's only scan (O(log n) per decision).
  -- A claimed recipient's next_attempt_at is its lease expiry, so a crashed owner's work
  -- becomes due again by itself.
  DROP INDEX queue_recipients_due;
  CREATE INDEX queue_recipients_pending ON queue_recipients(next_attempt_at)
    WHERE state IN ('queued', 'deferred');
  ALTER TABLE queue_recipients ADD COLUMN lease_owner TEXT;
  CREATE INDEX queue_recipients_leased ON queue_recipients(lease_owner) WHERE lease_owner IS NOT NULL;
  ALTER TABLE queue_recipients ADD COLUMN last_status TEXT;       -- RFC 3463 code of last_error
  ALTER TABLE queue_recipients ADD COLUMN remote_mta TEXT;        -- host that gave last_error
  ALTER TABLE queue_recipients ADD COLUMN last_attempt_at INTEGER;
  ALTER TABLE queue_recipients ADD COLUMN remote_dsn INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE queue_recipients ADD COLUMN delay_notified INTEGER NOT NULL DEFAULT 0;
  -- A notice owed to the sender: 'delay', 'failure' or 'success'; NULL when none.
  ALTER TABLE queue_recipients ADD COLUMN notice_due TEXT;
  CREATE INDEX queue_recipients_notice ON queue_recipients(queue_id) WHERE notice_due IS NOT NULL;

  -- NULL: ordinary mail; 'dsn': a notice we made; 'postmaster': a copy of an undeliverable
  -- notice for postmaster (never causes another notice).
  ALTER TABLE queue_messages ADD COLUMN notice_kind TEXT;
  ALTER TABLE queue_messages ADD COLUMN finished_at INTEGER;       -- when no recipient was left pending
  CREATE INDEX queue_messages_finished ON queue_messages(finished_at) WHERE finished_at IS NOT NULL;

  CREATE TABLE attempt_transcripts (
    id          INTEGER PRIMARY KEY,
    queue_id    TEXT NOT NULL REFERENCES queue_messages(queue_id) ON DELETE CASCADE,
    started_at  INTEGER NOT NULL,
    transcript  TEXT NOT NULL
  );
  CREATE INDEX attempt_transcripts_queue ON attempt_transcripts(queue_id);
  ALTER TABLE delivery_attempts ADD COLUMN status TEXT;           -- RFC 3463 code
  ALTER TABLE delivery_attempts ADD COLUMN transcript_id INTEGER REFERENCES attempt_transcripts(id) ON DELETE SET NULL;
  `,
  // 4: IMAP: stored MIME structure, changes by MODSEQ, expunged UIDs for QRESYNC.
  `
  ALTER TABLE messages ADD COLUMN mime TEXT;                  -- JSON from src/mime/, NULL: parse on demand
  CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);
  -- RFC 7162 §3.2.5.2 (VANISHED): which UIDs went away, and at which MODSEQ.
  CREATE TABLE expunged (
    mailbox_id  INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid         INTEGER NOT NULL,
    modseq      INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
  ) WITHOUT ROWID;
  CREATE INDEX expunged_modseq ON expunged(mailbox_id, modseq);
  `,
];
