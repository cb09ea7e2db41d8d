/**
 * Inbound SMTP for the three listeners (DESIGN.md §3 step 1-3):
 *  - mx:          port 25, no AUTH, mail for our domains only (never an open relay);
 *  - submission:  port 587, STARTTLS, AUTH required, users send as themselves;
 *  - submissions: port 465, the same over implicit TLS (RFC 8314).
 */
import type { Socket } from 'node:net';
import { pipeline } from 'node:stream';
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
  addressKey,
  AddressSyntaxError,
  formatMailbox,
  localPartKey,
  parseMailbox,
  parseOrcpt,
  splitPlusTag,
  splitStoredAddress,
  validateEnvid,
  type Mailbox,
} from '../mail/address.js';
import { buildReceivedHeader, formatRfc5322Date, generateMessageId, type ReceivedProtocol } from '../mail/received.js';
import type { RecipientResolver } from '../spool/resolve-recipient.js';
import { newQueueId, type Spool } from '../spool/spool.js';
import type { RecipientDsn, Store } from '../store/types.js';
import { HookedSmtpServer, type HookedAddress, type HookedConnection } from './connection-hooks.js';
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
  /** RFC 3461 §4.4 ENVID, decoded from xtext. */
  envid: string | null;
  localAccountIds: Set<number>;
  remote: Map<string, { forwardPath: string; domain: string; dsn: RecipientDsn }>;
  /** Local recipients that asked for NOTIFY=SUCCESS (RFC 3461 §4.1): they get a "delivered" notice. */
  deliveredLocally: Map<string, { forwardPath: string; domain: string; dsn: RecipientDsn }>;
  /** The last accepted forward-path, normalized (for the Received header's "for"). */
  lastForwardPath: string | null;
}

interface PostaSession extends SMTPServerSession {
  envelope: SMTPServerSession['envelope'] & { posta?: Transaction };
}

const REPLY = {
  authRequired: () => new SmtpReplyError(530, '5.7.0', 'Authentication required'),
  badCredentials: () => new SmtpReplyError(535, '5.7.8', 'Authentication credentials invalid'),
  relayDenied: () => new SmtpReplyError(550, '5.7.1', 'Relay access denied'),
  userUnknown: () => new SmtpReplyError(550, '5.1.1', 'Recipient address rejected: user unknown'),
  badSender: () => new SmtpReplyError(501, '5.1.7', 'Bad sender address syntax'),
  badRecipient: () => new SmtpReplyError(501, '5.1.3', 'Bad recipient address syntax'),
  badParameter: (name: string) => new SmtpReplyError(501, '5.5.4', `Invalid ${name} parameter`),
  // RFC 5321 §4.1.1.11: 555 for a MAIL/RCPT parameter we do not recognize or implement.
  unknownParameter: (name: string) =>
    new SmtpReplyError(555, '5.5.4', `Unsupported parameter ${name.replace(/[^A-Z0-9-]/g, '?').slice(0, 20)}`),
  // RFC 6531 §3.5: a non-ASCII address without SMTPUTF8 gets 553 and X.6.7.
  utf8NotDeclared: () =>
    new SmtpReplyError(553, '5.6.7', 'Non-ASCII addresses need the SMTPUTF8 parameter of MAIL'),
  notOwner: () =>
    new SmtpReplyError(553, '5.7.1', 'Sender address rejected: not owned by the authenticated user'),
  tooManyFailures: () =>
    new SmtpReplyError(454, '4.7.0', 'Too many failed authentication attempts; try again later'),
  tooManyConnections: () => new SmtpReplyError(421, '4.7.0', 'Too many connections from your address'),
  localError: () => new SmtpReplyError(451, '4.3.0', 'Local error in processing; please try again later'),
  tooBig: () => new SmtpReplyError(552, '5.3.4', 'Message size exceeds fixed maximum message size'),
  dataTimeout: () => new SmtpReplyError(421, '4.4.2', 'Timeout while receiving the message; closing connection'),
  clientGone: () => new SmtpReplyError(451, '4.4.2', 'Connection lost during DATA'),
  authUnavailable: () => new SmtpReplyError(502, '5.5.1', 'AUTH is not available on this port; use submission'),
  startTlsFirst: () => new SmtpReplyError(530, '5.7.0', 'Must issue a STARTTLS command first'),
};

/**
 * Parameters we implement (anything else gets 555, RFC 5321 §4.1.1.11). AUTH= is the
 * RFC 4954 §5 parameter that relaying clients add; it is accepted and ignored (we never
 * trust a claimed submitter identity).
 */
const MAIL_PARAMETERS = new Set(['SIZE', 'BODY', 'SMTPUTF8', 'RET', 'ENVID', 'AUTH']);
const RCPT_PARAMETERS = new Set(['NOTIFY', 'ORCPT']);

const VIOLATION_REPLIES: Record<GuardViolation, () => SmtpReplyError> = {
  'bare-lf': () =>
    new SmtpReplyError(550, '5.5.2', 'Message refused: bare LF found; lines must end with CRLF (RFC 5321 2.3.8)'),
  'bare-cr': () =>
    new SmtpReplyError(550, '5.5.2', 'Message refused: bare CR found; lines must end with CRLF (RFC 5321 2.3.8)'),
  nul: () => new SmtpReplyError(550, '5.6.0', 'Message refused: NUL characters are not allowed (RFC 6152 2)'),
  'line-too-long': () =>
    new SmtpReplyError(550, '5.6.0', 'Message refused: a line is longer than 998 characters (RFC 5322 2.1.1)'),
  'too-big': () => REPLY.tooBig(),
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
    // RFC 3207 §4: on submission before STARTTLS, 530 "Must issue a STARTTLS command
    // first"; on the MX, 502: recognized but not implemented here (RFC 5321 §4.2.4).
    authUnavailableReply: () => {
      const reply = isSubmission ? REPLY.startTlsFirst() : REPLY.authUnavailable();
      return [reply.code, reply.message];
    },
    authRequiredMessage: REPLY.authRequired().message,
    logger: false,
    onConnection: (c) => {
      connections.set(c.id, c);
      // Counted on the socket itself: smtp-server calls onClose a turn after the socket
      // closes, so a client that reconnects at once after QUIT would still be counted twice.
      const ip: string = (c as unknown as { remoteAddress: string }).remoteAddress;
      perIp.set(ip, (perIp.get(ip) ?? 0) + 1);
      c._socket.once('close', () => {
        const count = (perIp.get(ip) ?? 1) - 1;
        if (count <= 0) perIp.delete(ip);
        else perIp.set(ip, count);
      });
    },

    onConnect(session, callback) {
      const count = perIp.get(session.remoteAddress) ?? 0;
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
    },

    onAuth(auth: SMTPServerAuthentication, session, callback) {
      if (!isSubmission) return callback(REPLY.authRequired());
      const ip = session.remoteAddress;
      // RFC 4616 §2: an authorization identity other than the authenticated one means
      // acting for someone else, which we never allow (smtp-server would silently use authcid).
      const { authzid, authcid } = auth as { authzid?: string; authcid?: string };
      if (authzid && authcid && authzid.toLowerCase() !== authcid.toLowerCase()) {
        log.info({ sid: session.id, ip, user: authcid, authzid }, 'smtp auth refused: authzid differs');
        return callback(REPLY.badCredentials());
      }
      deps.authenticator.authenticate(auth.username ?? '', auth.password ?? '', ip).then(
        (result) => {
          if (result.ok) return callback(null, { user: result.account.id });
          log.info({ sid: session.id, ip, user: auth.username, reason: result.reason }, 'smtp auth failed');
          if (result.reason === 'rate-limited') return callback(REPLY.tooManyFailures());
          callback(REPLY.badCredentials());
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
    const raw = rawCommand(address);
    checkParameters(raw.params, MAIL_PARAMETERS);
    let envid: string | null = null;
    const envidParam = raw.params.get('ENVID');
    if (envidParam !== undefined) {
      try {
        // RFC 3461 §4.4: xtext, decoded once here (smtp-server's value is already decoded).
        envid = validateEnvid(envidParam === true ? '' : envidParam);
      } catch {
        throw REPLY.badParameter('ENVID');
      }
    }
    let reversePath = '';
    if (raw.address !== '') {
      const mailbox = parseOrReject(raw.address, session, REPLY.badSender);
      reversePath = formatMailbox(mailbox);
      if (isSubmission && !(await mayUseSender(Number(session.user), mailbox))) throw REPLY.notOwner();
    } else if (isSubmission) {
      // Users' mail always has a sender; the null reverse-path is for notifications.
      throw REPLY.notOwner();
    }
    session.envelope.posta = { reversePath, envid, localAccountIds: new Set(), remote: new Map(), deliveredLocally: new Map(), lastForwardPath: null };
  }

  async function handleRcptTo(address: SMTPServerAddress, session: PostaSession): Promise<void> {
    const tx = session.envelope.posta!;
    const rawRcpt = rawCommand(address);
    checkParameters(rawRcpt.params, RCPT_PARAMETERS);
    // RFC 5321 §4.1.1.3: "Postmaster" without a domain must be accepted.
    const raw = rawRcpt.address.toLowerCase() === 'postmaster' ? `postmaster@${config.primary_domain}` : rawRcpt.address;
    const mailbox = parseOrReject(raw, session, REPLY.badRecipient);
    const dsn = recipientDsn(address, rawRcpt.params);
    const resolution = await deps.resolver.resolve(mailbox.local, mailbox.domain);
    switch (resolution.kind) {
      case 'foreign':
        // Only authenticated users may send to other domains: never an open relay.
        if (!isSubmission || !session.user) throw REPLY.relayDenied();
        tx.remote.set(addressKey(mailbox), { forwardPath: formatMailbox(mailbox), domain: mailbox.domain, dsn });
        break;
      case 'unknown':
        throw REPLY.userUnknown();
      case 'ours':
        for (const id of resolution.accountIds) tx.localAccountIds.add(id);
        if (resolution.accountIds.length > 0 && dsn.notify?.includes('SUCCESS')) {
          tx.deliveredLocally.set(addressKey(mailbox), { forwardPath: formatMailbox(mailbox), domain: mailbox.domain, dsn });
        }
        for (const r of resolution.remote) {
          tx.remote.set(addressKey(r), { forwardPath: formatMailbox(r), domain: r.domain, dsn });
        }
        break;
    }
    tx.lastForwardPath = formatMailbox(mailbox);
  }

  async function handleData(stream: SMTPServerDataStream, session: PostaSession): Promise<string> {
    const tx = session.envelope.posta!;
    const queueId = newQueueId();
    const rcpts = session.envelope.rcptTo;
    const guard = new MessageGuard({
      maxLineLength: 1000,
      // Past the limit nothing more is written: the client hears 552 at the end (RFC 1870).
      maxBytes: config.limits.message_size,
      prefix: buildReceivedHeader({
        fromHelo: session.hostNameAppearsAs || '',
        clientIp: session.remoteAddress,
        clientHostname: null,
        byHost: config.hostname,
        protocol: receivedProtocol(session),
        id: queueId,
        forAddress: rcpts.length === 1 ? tx.lastForwardPath : null,
        tls: tlsInfo(connections.get(session.id)?._socket),
        date: new Date(),
      }),
      // RFC 6409 §8.2-8.3: a submission server may add a missing Date and Message-ID.
      missingHeaders: isSubmission ? (present) => missingSubmissionHeaders(present, config.hostname) : undefined,
    });
    const writer = deps.blobs.createWriter();
    let timedOut = false;
    const deadline = setTimeout(() => {
      timedOut = true;
      const connection = connections.get(session.id);
      log.info({ sid: session.id }, 'smtp DATA deadline passed');
      if (connection) {
        const reply = REPLY.dataTimeout();
        connection.send(reply.code, reply.message);
        connection.close();
      }
      stream.destroy();
    }, config.limits.data_timeout);
    try {
      // The callback form: the promise one makes an AbortController per message.
      await new Promise<void>((resolve, reject) =>
        pipeline(stream, guard, writer, (err) => (err ? reject(err) : resolve())),
      );
    } catch (err) {
      await deps.blobs.discard(writer);
      if (timedOut) throw REPLY.dataTimeout();
      if (clientWentAway(err)) {
        // Nobody will hear the reply; this is not a server error.
        log.info({ sid: session.id }, 'smtp client went away during DATA');
        throw REPLY.clientGone();
      }
      throw err;
    } finally {
      clearTimeout(deadline);
    }
    const blob = writer.result!;
    if (timedOut) {
      // The client already heard 421; storing the message now would make its retry a duplicate.
      await deps.blobs.discard(blob);
      throw REPLY.dataTimeout();
    }
    if (stream.sizeExceeded && !guard.violation) guard.violation = 'too-big';
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
        dsn: { ret: (envelope.dsn?.ret as 'FULL' | 'HDRS' | null) ?? null, envid: tx.envid },
        bodyType: bodyType(envelope.bodyType),
        smtpUtf8: Boolean(envelope.smtpUtf8),
        submitterAccountId: session.user ? Number(session.user) : null,
        clientIp: session.remoteAddress,
        helo: session.hostNameAppearsAs || '',
        localAccountIds: [...tx.localAccountIds],
        remoteRecipients: [...tx.remote.values()],
        deliveredLocally: [...tx.deliveredLocally.values()],
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
  const me = addressKey({ local, domain });
  return (targets ?? []).some((t) => addressKey(splitStoredAddress(t)) === me);
}

function rawCommand(address: SMTPServerAddress) {
  const raw = (address as HookedAddress).raw;
  // The hook always sets it; without it, fall back to what the library parsed.
  return raw ?? { address: address.address, params: new Map<string, string | true>() };
}

function checkParameters(params: Map<string, string | true>, known: Set<string>): void {
  for (const key of params.keys()) if (!known.has(key)) throw REPLY.unknownParameter(key);
}

function parseOrReject(text: string, session: SMTPServerSession, reply: () => SmtpReplyError): Mailbox {
  const smtpUtf8 = Boolean(session.envelope.smtpUtf8);
  try {
    // RFC 6531 §3.4: UTF-8 addresses only in a transaction that declared SMTPUTF8.
    return parseMailbox(text, { allowUtf8: smtpUtf8 });
  } catch (err) {
    if (!(err instanceof AddressSyntaxError)) throw err;
    if (!smtpUtf8 && /[^\x00-\x7f]/.test(text) && parsesAsUtf8(text)) throw REPLY.utf8NotDeclared();
    throw reply();
  }
}

function parsesAsUtf8(text: string): boolean {
  try {
    parseMailbox(text, { allowUtf8: true });
    return true;
  } catch {
    return false;
  }
}

function recipientDsn(address: SMTPServerAddress, params: Map<string, string | true>): RecipientDsn {
  const dsn = (address as { dsn?: { notify?: string[] } }).dsn;
  let orcpt: RecipientDsn['orcpt'] = null;
  const orcptParam = params.get('ORCPT');
  if (orcptParam !== undefined) {
    try {
      // RFC 3461 §4.2: addr-type ";" xtext, decoded once from what the client sent.
      orcpt = parseOrcpt(orcptParam === true ? '' : orcptParam);
    } catch {
      throw REPLY.badParameter('ORCPT');
    }
  }
  return { notify: (dsn?.notify as RecipientDsn['notify']) ?? null, orcpt };
}

/** smtp-server destroys the DATA stream when the connection closes mid-message. */
function clientWentAway(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === 'ECONNECTION' || code === 'ERR_STREAM_PREMATURE_CLOSE';
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
