/**
 * Inbound SMTP for the three listeners (DESIGN.md §3 step 1-3):
 *  - mx:          port 25, no AUTH, mail for our domains only (never an open relay);
 *  - submission:  port 587, STARTTLS, AUTH required, users send as themselves;
 *  - submissions: port 465, the same over implicit TLS (RFC 8314).
 */
import type { Socket } from 'node:net';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import type {
  SMTPServerAddress,
  SMTPServerAuthentication,
  SMTPServerDataStream,
  SMTPServerSession,
} from 'smtp-server';
import type { Authenticator } from '../auth/authenticator.js';
import type { FsBlobStore } from '../blob/fs-blob-store.js';
import type { Config } from '../config/index.js';
import { SmtpReplyError } from '../errors/index.js';
import {
  AddressSyntaxError,
  formatMailbox,
  localPartKey,
  parseMailbox,
  parseOrcpt,
  splitPlusTag,
  validateEnvid,
  type Mailbox,
} from '../mail/address.js';
import { buildReceivedHeader, formatRfc5322Date, generateMessageId, type ReceivedProtocol } from '../mail/received.js';
import type { RecipientResolver } from '../spool/resolve-recipient.js';
import { newQueueId, type Spool } from '../spool/spool.js';
import type { RecipientDsn, Store } from '../store/types.js';
import { HookedSmtpServer, type HookedConnection } from './connection-hooks.js';
import { MessageGuard, type GuardViolation } from './message-guard.js';

export type SmtpRole = 'mx' | 'submission' | 'submissions';

export interface SmtpServiceDeps {
  config: Config;
  store: Store;
  spool: Spool;
  blobs: FsBlobStore;
  resolver: RecipientResolver;
  authenticator: Authenticator;
  log: Logger;
  tls: { cert: Buffer; key: Buffer };
}

/** What we remember about a transaction; lives on session.envelope, which smtp-server resets. */
interface Transaction {
  reversePath: string;
  localAccountIds: Set<number>;
  remote: Map<string, { forwardPath: string; domain: string; dsn: RecipientDsn }>;
}

interface PostaSession extends SMTPServerSession {
  envelope: SMTPServerSession['envelope'] & { posta?: Transaction };
}

const REPLY = {
  authRequired: () => new SmtpReplyError(530, '5.7.0', 'Authentication required'),
  relayDenied: () => new SmtpReplyError(550, '5.7.1', 'Relay access denied'),
  userUnknown: () => new SmtpReplyError(550, '5.1.1', 'Recipient address rejected: user unknown'),
  badSender: () => new SmtpReplyError(501, '5.1.7', 'Bad sender address syntax'),
  badRecipient: () => new SmtpReplyError(501, '5.1.3', 'Bad recipient address syntax'),
  badParameter: (name: string) => new SmtpReplyError(501, '5.5.4', `Invalid ${name} parameter`),
  notOwner: () =>
    new SmtpReplyError(553, '5.7.1', 'Sender address rejected: not owned by the authenticated user'),
  tooManyFailures: () =>
    new SmtpReplyError(454, '4.7.0', 'Too many failed authentication attempts; try again later'),
  tooManyConnections: () => new SmtpReplyError(421, '4.7.0', 'Too many connections from your address'),
  localError: () => new SmtpReplyError(451, '4.3.0', 'Local error in processing; please try again later'),
  tooBig: () => new SmtpReplyError(552, '5.3.4', 'Message size exceeds fixed maximum message size'),
  dataTimeout: () => new SmtpReplyError(421, '4.4.2', 'Timeout while receiving the message; closing connection'),
};

const VIOLATION_REPLIES: Record<GuardViolation, () => SmtpReplyError> = {
  'bare-lf': () =>
    new SmtpReplyError(550, '5.5.2', 'Message refused: bare LF found; lines must end with CRLF (RFC 5321 2.3.8)'),
  'bare-cr': () =>
    new SmtpReplyError(550, '5.5.2', 'Message refused: bare CR found; lines must end with CRLF (RFC 5321 2.3.8)'),
  'line-too-long': () =>
    new SmtpReplyError(550, '5.6.0', 'Message refused: a line is longer than 998 characters (RFC 5322 2.1.1)'),
};

export function createSmtpServer(role: SmtpRole, deps: SmtpServiceDeps): HookedSmtpServer {
  const { config, log } = deps;
  const isSubmission = role !== 'mx';
  const connections = new Map<string, HookedConnection>();
  const perIp = new Map<string, number>();

  const server = new HookedSmtpServer({
    name: config.hostname,
    banner: 'ESMTP Posta',
    secure: role === 'submissions',
    key: deps.tls.key,
    cert: deps.tls.cert,
    size: config.limits.message_size,
    maxClients: config.limits.connections,
    // smtp-server answers 452 4.5.3 past this (RFC 5321 §4.5.3.1.8); earlier ones stay accepted.
    maxRecipients: config.limits.recipients,
    socketTimeout: config.limits.command_timeout,
    closeTimeout: 5_000,
    maxCommandLength: 16 * 1024,
    disableReverseLookup: true,
    hideENHANCEDSTATUSCODES: false,
    hideDSN: false,
    hideREQUIRETLS: true,
    hideSTARTTLS: role === 'submissions',
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: !isSubmission,
    allowInsecureAuth: config.auth.allow_plaintext,
    // The MX takes no AUTH (issue #2: users submit on 587/465). Sendmail jokes are off.
    disabledCommands: isSubmission ? ['WIZ', 'SHELL', 'KILL'] : ['AUTH', 'WIZ', 'SHELL', 'KILL'],
    logger: false,
    onConnection: (c) => connections.set(c.id, c),

    onConnect(session, callback) {
      const ip = session.remoteAddress;
      const count = (perIp.get(ip) ?? 0) + 1;
      perIp.set(ip, count);
      if (count > config.limits.connections_per_ip) return callback(REPLY.tooManyConnections());
      // AUTH is offered only once the channel is encrypted (RFC 8314 §3, RFC 4954 §4).
      if (isSubmission && !session.secure && !config.auth.allow_plaintext) {
        (session as any).disabledCommands = ['AUTH', 'WIZ', 'SHELL', 'KILL'];
      }
      callback();
    },

    onSecure(_socket, session, callback) {
      if (isSubmission) (session as any).disabledCommands = ['WIZ', 'SHELL', 'KILL'];
      callback();
    },

    onClose(session) {
      connections.delete(session.id);
      const ip = session.remoteAddress;
      const count = (perIp.get(ip) ?? 1) - 1;
      if (count <= 0) perIp.delete(ip);
      else perIp.set(ip, count);
    },

    onAuth(auth: SMTPServerAuthentication, session, callback) {
      if (!isSubmission) return callback(REPLY.authRequired());
      const ip = session.remoteAddress;
      deps.authenticator.authenticate(auth.username ?? '', auth.password ?? '', ip).then(
        (result) => {
          if (result.ok) return callback(null, { user: result.account.id });
          log.info({ sid: session.id, ip, user: auth.username, reason: result.reason }, 'smtp auth failed');
          if (result.reason === 'rate-limited') return callback(REPLY.tooManyFailures());
          callback(new SmtpReplyError(535, '5.7.8', 'Authentication credentials invalid'));
        },
        (err: unknown) => {
          log.error({ sid: session.id, err }, 'smtp auth error');
          callback(new SmtpReplyError(454, '4.7.0', 'Temporary authentication failure'));
        },
      );
    },

    onMailFrom(address: SMTPServerAddress, session: PostaSession, callback) {
      handleMailFrom(address, session).then(
        () => callback(),
        (err: unknown) => callback(asReply(err, session, 'MAIL')),
      );
    },

    onRcptTo(address: SMTPServerAddress, session: PostaSession, callback) {
      handleRcptTo(address, session).then(
        () => callback(),
        (err: unknown) => callback(asReply(err, session, 'RCPT')),
      );
    },

    onData(stream: SMTPServerDataStream, session: PostaSession, callback) {
      handleData(stream, session).then(
        (queueId) => callback(null, `2.0.0 Ok: queued as ${queueId}`),
        (err: unknown) => callback(asReply(err, session, 'DATA')),
      );
    },
  });

  server.on('error', (err) => log.warn({ err, role }, 'smtp connection error'));

  function asReply(err: unknown, session: SMTPServerSession, stage: string): SmtpReplyError {
    if (err instanceof SmtpReplyError) return err;
    // Unexpected: log once with the session id; the client hears only a generic 451.
    log.error({ err, sid: session.id, stage }, 'smtp internal error');
    return REPLY.localError();
  }

  async function handleMailFrom(address: SMTPServerAddress, session: PostaSession): Promise<void> {
    if (isSubmission && !session.user) throw REPLY.authRequired();
    const envid = session.envelope.dsn?.envid;
    if (envid) {
      try {
        validateEnvid(envid);
      } catch {
        throw REPLY.badParameter('ENVID');
      }
    }
    let reversePath = '';
    if (address.address !== '') {
      const mailbox = parseOrReject(address.address, session, REPLY.badSender);
      reversePath = formatMailbox(mailbox);
      if (isSubmission && !(await mayUseSender(Number(session.user), mailbox))) throw REPLY.notOwner();
    } else if (isSubmission) {
      // Users' mail always has a sender; the null reverse-path is for notifications.
      throw REPLY.notOwner();
    }
    session.envelope.posta = { reversePath, localAccountIds: new Set(), remote: new Map() };
  }

  async function handleRcptTo(address: SMTPServerAddress, session: PostaSession): Promise<void> {
    const tx = session.envelope.posta!;
    // RFC 5321 §4.1.1.3: "Postmaster" without a domain must be accepted.
    const raw = address.address.toLowerCase() === 'postmaster' ? `postmaster@${config.primary_domain}` : address.address;
    const mailbox = parseOrReject(raw, session, REPLY.badRecipient);
    const dsn = recipientDsn(address);
    const resolution = await deps.resolver.resolve(mailbox.local, mailbox.domain);
    switch (resolution.kind) {
      case 'foreign':
        // Only authenticated users may send to other domains: never an open relay.
        if (!isSubmission || !session.user) throw REPLY.relayDenied();
        tx.remote.set(`${localPartKey(mailbox.local)}@${mailbox.domain}`, {
          forwardPath: formatMailbox(mailbox),
          domain: mailbox.domain,
          dsn,
        });
        return;
      case 'unknown':
        throw REPLY.userUnknown();
      case 'ours':
        for (const id of resolution.accountIds) tx.localAccountIds.add(id);
        for (const r of resolution.remote) {
          tx.remote.set(`${localPartKey(r.local)}@${r.domain}`, { forwardPath: formatMailbox(r), domain: r.domain, dsn });
        }
        return;
    }
  }

  async function handleData(stream: SMTPServerDataStream, session: PostaSession): Promise<string> {
    const tx = session.envelope.posta!;
    const queueId = newQueueId();
    const rcpts = session.envelope.rcptTo;
    const guard = new MessageGuard({
      maxLineLength: 1000,
      prefix: buildReceivedHeader({
        fromHelo: session.hostNameAppearsAs || '',
        clientIp: session.remoteAddress,
        clientHostname: null,
        byHost: config.hostname,
        protocol: receivedProtocol(session),
        id: queueId,
        forAddress: rcpts.length === 1 ? rcpts[0].address : null,
        tls: tlsInfo(connections.get(session.id)?._socket),
        date: new Date(),
      }),
      // RFC 6409 §8.2-8.3: a submission server may add a missing Date and Message-ID.
      missingHeaders: isSubmission ? (present) => missingSubmissionHeaders(present, config.hostname) : undefined,
    });
    const writer = deps.blobs.createWriter();
    const deadline = setTimeout(() => {
      const connection = connections.get(session.id);
      log.info({ sid: session.id }, 'smtp DATA deadline passed');
      if (connection) {
        const reply = REPLY.dataTimeout();
        connection.send(reply.code, `${reply.enhancedCode} ${reply.publicText}`);
        connection.close();
      }
      stream.destroy();
    }, config.limits.data_timeout);
    try {
      await pipeline(stream, guard, writer);
    } catch (err) {
      await deps.blobs.discard(writer);
      throw err;
    } finally {
      clearTimeout(deadline);
    }
    const blob = writer.result!;
    if (stream.sizeExceeded || blob.size > config.limits.message_size + 64 * 1024) {
      await deps.blobs.discard(blob);
      throw REPLY.tooBig();
    }
    if (guard.violation) {
      await deps.blobs.discard(blob);
      log.info({ sid: session.id, violation: guard.violation }, 'smtp message refused');
      throw VIOLATION_REPLIES[guard.violation]();
    }
    const envelope = session.envelope;
    try {
      return await deps.spool.enqueue(blob, {
        queueId,
        receivedAt: Date.now(),
        reversePath: tx.reversePath,
        dsn: { ret: (envelope.dsn?.ret as 'FULL' | 'HDRS' | null) ?? null, envid: envelope.dsn?.envid ?? null },
        bodyType: bodyType(envelope.bodyType),
        smtpUtf8: Boolean(envelope.smtpUtf8),
        submitterAccountId: session.user ? Number(session.user) : null,
        clientIp: session.remoteAddress,
        helo: session.hostNameAppearsAs || '',
        localAccountIds: [...tx.localAccountIds],
        remoteRecipients: [...tx.remote.values()],
      });
    } catch (err) {
      await deps.blobs.discard(blob);
      throw err;
    }
  }

  /** The user's own address (with any +tag), or an alias that names the user directly. */
  async function mayUseSender(accountId: number, sender: Mailbox): Promise<boolean> {
    const account = await deps.store.getAccountById(accountId);
    if (!account) return false;
    if (sender.domain !== account.domain) {
      const alias = await deps.store.getAlias(sender.local, sender.domain);
      return aliasNames(alias?.targets, account.localPart, account.domain);
    }
    const candidates = [sender.local, splitPlusTag(sender.local).base];
    for (const local of candidates) {
      if (localPartKey(local) === localPartKey(account.localPart)) return true;
      const alias = await deps.store.getAlias(local, sender.domain);
      if (aliasNames(alias?.targets, account.localPart, account.domain)) return true;
    }
    return false;
  }

  return server;
}

function aliasNames(targets: string[] | undefined, local: string, domain: string): boolean {
  const me = `${localPartKey(local)}@${domain}`;
  return (targets ?? []).some((t) => {
    const at = t.lastIndexOf('@');
    return `${localPartKey(t.slice(0, at))}@${t.slice(at + 1)}` === me;
  });
}

function parseOrReject(text: string, session: SMTPServerSession, reply: () => SmtpReplyError): Mailbox {
  try {
    // RFC 6531 §3.4: UTF-8 addresses only in a transaction that declared SMTPUTF8.
    return parseMailbox(text, { allowUtf8: Boolean(session.envelope.smtpUtf8) });
  } catch (err) {
    if (err instanceof AddressSyntaxError) throw reply();
    throw err;
  }
}

function recipientDsn(address: SMTPServerAddress): RecipientDsn {
  const dsn = (address as { dsn?: { notify?: string[]; orcpt?: string } }).dsn;
  let orcpt: RecipientDsn['orcpt'] = null;
  if (dsn?.orcpt) {
    try {
      orcpt = parseOrcpt(dsn.orcpt);
    } catch {
      throw REPLY.badParameter('ORCPT');
    }
  }
  return { notify: (dsn?.notify as RecipientDsn['notify']) ?? null, orcpt };
}

function bodyType(value: string | undefined): '7bit' | '8bitmime' | 'binarymime' | null {
  const v = (value ?? '').toLowerCase();
  return v === '7bit' || v === '8bitmime' || v === 'binarymime' ? v : null;
}

/** RFC 3848 / RFC 6531 §3.7.3 "with" protocol names. */
function receivedProtocol(session: SMTPServerSession): ReceivedProtocol {
  const suffix = `${session.secure ? 'S' : ''}${session.user ? 'A' : ''}`;
  if (session.envelope.smtpUtf8) return `UTF8SMTP${suffix}` as ReceivedProtocol;
  const base = session.openingCommand === 'EHLO' ? 'ESMTP' : 'SMTP';
  return (suffix ? `ESMTP${suffix}` : base) as ReceivedProtocol;
}

function tlsInfo(socket: Socket | undefined): { protocol: string; cipher: string } | null {
  const tls = socket as (Socket & { getProtocol?: () => string | null; getCipher?: () => { name: string } }) | undefined;
  if (!tls?.getProtocol || !tls.getCipher) return null;
  const protocol = tls.getProtocol();
  const cipher = tls.getCipher();
  return protocol && cipher ? { protocol, cipher: cipher.name } : null;
}

function missingSubmissionHeaders(present: Set<string>, hostname: string): string {
  let added = '';
  if (!present.has('date')) added += `Date: ${formatRfc5322Date(new Date())}\r\n`;
  if (!present.has('message-id')) added += `Message-ID: ${generateMessageId(hostname)}\r\n`;
  return added;
}
