/**
 * Remote delivery: one message's recipients at one destination, over the hosts of a route
 * (RFC 5321 §5.1), with connections kept for the next message.
 *
 * Policy, as Postfix's smtp(8) (smtp_trouble.c) has it:
 * - a host that can't be reached, or fails before the transaction (greeting, EHLO,
 *   STARTTLS, AUTH), is skipped for the next address/host;
 * - a temporary failure in the transaction (4xx at MAIL, RCPT, DATA or after the body, a
 *   timeout or a lost connection) keeps those recipients for the next host; after the last
 *   host tried they are deferred;
 * - a permanent failure (5xx) fails the recipient at once; a 2xx after the body delivers.
 * Outcomes are values: deliver() never throws (DESIGN.md §5).
 */
import type { MailHost, Route } from '../dns/types.js';
import type { Logger } from '../log/logger.js';
import { ConnectionCache } from './connection-cache.js';
import { SmtpClientConnection, SmtpClientError, type TransactionResult } from './smtp-client.js';
import { hasNonAscii, mailCommand, rcptCommand } from './smtp-extensions.js';
import { enhancedCodeOf, formatReply, oneLine, type SmtpReply } from './smtp-reply.js';
import type { DeliveryReport, DeliveryStatus, OutboundEnvelope, RecipientOutcome } from './types.js';

export interface RemoteDeliveryOptions {
  /** Our host name, for EHLO. */
  heloName: string;
  /** Port of the remote hosts (config delivery.smtp_port; 25, tests use another). */
  port: number;
  connectTimeoutMs: number;
  /** Replies to greeting, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA (RFC 5321 §4.5.3.2). */
  commandTimeoutMs: number;
  /** Sending the body and the reply after it (RFC 5321 §4.5.3.2.5-6). */
  dataTimeoutMs: number;
  /** Credentials for a smarthost; sent only over TLS. */
  relayAuth?: { user: string; pass: string } | null;
  /** TLS from the first byte (a smarthost on port 465). */
  implicitTls?: boolean;
  /** How long an idle connection is kept for reuse; 0 disables reuse. Default 2 s (Postfix smtp_connection_cache_time_limit). */
  connectionIdleMs?: number;
  /** Transactions per connection before it is closed. Default 100. */
  maxMessagesPerConnection?: number;
  /** Addresses tried per delivery, over all hosts. Default 5 (Postfix smtp_mx_address_limit). */
  maxAddresses?: number;
  /** Hosts that got as far as a transaction, per delivery. Default 2 (Postfix smtp_mx_session_limit). */
  maxSessions?: number;
  log?: Logger;
}

const DEFAULTS = {
  connectionIdleMs: 2000,
  maxMessagesPerConnection: 100,
  maxAddresses: 5,
  maxSessions: 2,
};

/** C0 controls and DEL can't be put into a command line. */
const CONTROL = /[\x00-\x1f\x7f]/;

export class RemoteDelivery {
  private readonly options: Required<Omit<RemoteDeliveryOptions, 'relayAuth' | 'log'>> & Pick<RemoteDeliveryOptions, 'relayAuth' | 'log'>;
  private readonly cache: ConnectionCache;
  /** Every open connection (in use or cached), so close() can cut deliveries in flight short. */
  private readonly tracker: ConnectionTracker = { open: new Set(), closed: false };

  constructor(options: RemoteDeliveryOptions) {
    this.options = {
      ...options,
      implicitTls: options.implicitTls ?? false,
      connectionIdleMs: options.connectionIdleMs ?? DEFAULTS.connectionIdleMs,
      maxMessagesPerConnection: options.maxMessagesPerConnection ?? DEFAULTS.maxMessagesPerConnection,
      maxAddresses: options.maxAddresses ?? DEFAULTS.maxAddresses,
      maxSessions: options.maxSessions ?? DEFAULTS.maxSessions,
    };
    this.cache = new ConnectionCache(this.options.connectionIdleMs);
  }

  /**
   * Delivers to the hosts of `route` in order; one outcome per recipient, in envelope order.
   * Never throws: an unexpected error defers every recipient (4.3.0).
   */
  async deliver(route: Route, envelope: OutboundEnvelope, body: Buffer): Promise<DeliveryReport> {
    const attempt = new DeliveryAttempt(this.options, this.cache, envelope, body, this.tracker);
    if (this.tracker.closed) return attempt.report(STOPPED, '4.3.2');
    try {
      return await attempt.run(route);
    } catch (err) {
      this.options.log?.error({ err }, 'remote delivery: unexpected error');
      return attempt.report(oneLine(`internal error: ${err instanceof Error ? err.message : String(err)}`), '4.3.0');
    }
  }

  /**
   * Says QUIT on idle connections, then cuts deliveries still running short: their
   * recipients come out deferred (the server is stopping; they are tried again after it
   * starts). A stop never waits for a slow remote server. Final: later deliveries are
   * deferred without dialing.
   */
  async close(): Promise<void> {
    this.tracker.closed = true;
    await this.cache.close();
    for (const conn of this.tracker.open) conn.destroy();
  }
}

const STOPPED = 'delivery stopped: the server is shutting down';

/** Whether the header section (up to the first empty line) has any byte above 0x7f. */
function headerHasEightBit(body: Buffer): boolean {
  const end = body.indexOf('\r\n\r\n');
  const header = end < 0 ? body : body.subarray(0, end);
  for (let i = 0; i < header.length; i++) if (header[i] > 0x7f) return true;
  return false;
}

interface ConnectionTracker {
  open: Set<SmtpClientConnection>;
  /** close() was called: no new connections. */
  closed: boolean;
}

type Options = RemoteDelivery['options'];

interface SoftResult {
  reply: string;
  enhancedCode: string;
  remoteMta: string | null;
  remoteDsn: boolean;
  /** A server said it (a reply), rather than a connection failure. */
  fromServer: boolean;
}

/** The state of one deliver() call. */
class DeliveryAttempt {
  private readonly outcomes: Array<RecipientOutcome | null>;
  /** The latest temporary failure per recipient, kept until a later host decides. */
  private readonly soft: Array<SoftResult | null>;
  private readonly transcript: string[] = [];
  /** The last address tried, and the last one where a transaction took place. */
  private tried: { host: string; ip: string } | null = null;
  private answered: { host: string; ip: string } | null = null;

  constructor(
    private readonly options: Options,
    private readonly cache: ConnectionCache,
    private readonly envelope: OutboundEnvelope,
    private readonly body: Buffer,
    private readonly tracker: ConnectionTracker,
  ) {
    this.outcomes = envelope.recipients.map(() => null);
    this.soft = envelope.recipients.map(() => null);
  }

  async run(route: Route): Promise<DeliveryReport> {
    if (route.kind === 'error') {
      const status: DeliveryStatus = route.permanent ? 'failed' : 'deferred';
      for (let i = 0; i < this.outcomes.length; i++) this.decide(i, status, oneLine(route.text), route.enhancedCode, null, false);
      return this.report();
    }
    this.checkPaths();
    let addresses = 0;
    let sessions = 0;
    hosts: for (const host of route.hosts) {
      if (this.pending().length === 0) break;
      if (host.addresses.length === 0) {
        this.softAll(`${host.name}: no address records for this host`, '4.4.4', null, false, false);
        continue;
      }
      for (const ip of host.addresses) {
        if (addresses >= this.options.maxAddresses || sessions >= this.options.maxSessions) break hosts;
        addresses++;
        if (await this.tryAddress(host, ip)) sessions++;
        if (this.pending().length === 0) break hosts;
      }
    }
    return this.report();
  }

  /** Outcomes for everything decided; what is still open is deferred with its last reason. */
  report(fallback = 'no mail host to try', fallbackCode = '4.4.4'): DeliveryReport {
    const outcomes = this.envelope.recipients.map((r, i): RecipientOutcome => {
      const decided = this.outcomes[i];
      if (decided) return decided;
      const s = this.soft[i];
      return {
        forwardPath: r.forwardPath,
        status: 'deferred',
        reply: s?.reply ?? fallback,
        enhancedCode: s?.enhancedCode ?? fallbackCode,
        remoteMta: s?.remoteMta ?? null,
        remoteDsn: s?.remoteDsn ?? false,
      };
    });
    const where = this.answered ?? this.tried;
    return { outcomes, host: where?.host ?? null, ip: where?.ip ?? null, transcript: this.transcript };
  }

  // -------------------------------------------------------------------------

  /** Addresses with control characters would break the command line; they can never be sent. */
  private checkPaths(): void {
    if (CONTROL.test(this.envelope.reversePath)) {
      for (let i = 0; i < this.outcomes.length; i++) this.decide(i, 'failed', 'invalid sender address (control characters)', '5.1.7', null, false);
      return;
    }
    this.envelope.recipients.forEach((r, i) => {
      if (CONTROL.test(r.forwardPath)) this.decide(i, 'failed', 'invalid recipient address (control characters)', '5.1.3', null, false);
    });
  }

  private pending(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.outcomes.length; i++) if (this.outcomes[i] === null) out.push(i);
    return out;
  }

  /** One address: a cached connection or a new one, then the transaction. True if a session took place. */
  private async tryAddress(host: MailHost, ip: string): Promise<boolean> {
    const key = `${ip}:${this.options.port}`;
    this.tried = { host: host.name, ip };
    let conn = this.cache.take(key);
    let reused = conn !== null;
    for (;;) {
      if (conn) {
        conn.transcript = this.transcript;
        conn.hostName = host.name;
        this.note(`* reusing connection to ${conn.name}:${this.options.port}`);
      } else {
        conn = await this.open(host, ip, true);
        if (!conn) return false;
      }
      this.answered = { host: host.name, ip };
      const outcome = await this.transact(key, conn, host, reused);
      if (outcome === 'retry') {
        // A cached connection the peer had closed (or was closing): not the host's fault.
        this.note('* cached connection was closed by the peer; opening a new one');
        conn = null;
        reused = false;
        continue;
      }
      return true;
    }
  }

  /**
   * Connects, reads the greeting, EHLO, STARTTLS when offered (RFC 3207), AUTH when
   * configured. Null when the host can't be used (the reason is recorded for the pending
   * recipients).
   */
  private async open(host: MailHost, ip: string, tryTls: boolean): Promise<SmtpClientConnection | null> {
    const o = this.options;
    if (this.tracker.closed) {
      this.softAll(STOPPED, '4.3.2', null, false, false);
      return null;
    }
    let conn: SmtpClientConnection;
    try {
      conn = await SmtpClientConnection.connect(
        {
          host: host.name,
          ip,
          port: o.port,
          heloName: o.heloName,
          implicitTls: o.implicitTls,
          connectTimeoutMs: o.connectTimeoutMs,
          commandTimeoutMs: o.commandTimeoutMs,
          dataTimeoutMs: o.dataTimeoutMs,
        },
        this.transcript,
      );
    } catch (err) {
      this.connectionFailure(host, err);
      return null;
    }
    const opened = conn;
    this.tracker.open.add(opened);
    void opened.closed.then(() => this.tracker.open.delete(opened));
    if (this.tracker.closed) opened.destroy();
    conn.transcript = this.transcript;
    try {
      const greeting = await conn.greeting();
      // RFC 5321 §3.1: anything but 220 means no service. A 5xx greeting, too, only skips
      // this host (Postfix smtp_skip_5xx_greeting=yes).
      if (greeting.code !== 220) return this.hostRefused(conn, host, greeting);
      let hello = await conn.hello();
      if (hello.code !== 250) return this.hostRefused(conn, host, hello);
      if (tryTls && !o.implicitTls && conn.extensions.startTls) {
        let reply: SmtpReply;
        try {
          reply = await conn.startTls();
        } catch (err) {
          if (!(err instanceof SmtpClientError) || err.kind !== 'tls') throw err;
          if (o.relayAuth) {
            this.softAll(`${err.message}; not sending credentials without TLS`, '4.7.0', host.name, false, true);
            return null;
          }
          // Opportunistic TLS (RFC 7435; Postfix smtp_tls_security_level=may): a failed
          // handshake is retried in plaintext, on a new connection to the same address.
          this.note('* retrying without TLS');
          return this.open(host, ip, false);
        }
        if (reply.code === 220) {
          hello = await conn.hello();
          if (hello.code !== 250) return this.hostRefused(conn, host, hello);
        }
        // Otherwise STARTTLS was refused: go on in plaintext (unless credentials must be sent).
      }
      if (o.relayAuth) {
        if (!conn.secure) {
          void conn.quit();
          this.softAll(`not sending credentials to ${conn.name} without TLS (STARTTLS not available)`, '4.7.0', host.name, false, true);
          return null;
        }
        // A server that offers no AUTH gets the mail without (it may relay by address), as Postfix does.
        if (conn.extensions.auth) {
          const reply = await conn.authenticate(o.relayAuth.user, o.relayAuth.pass);
          if (reply === null) {
            void conn.quit();
            this.softAll(`no supported AUTH mechanism at ${conn.name} (offered: ${conn.extensions.auth.join(' ') || 'none'})`, '4.7.0', host.name, false, true);
            return null;
          }
          // A refusal (535) is a configuration problem for the admin: deferred, never
          // bounced (Postfix smtp_sasl_auth_soft_bounce=yes).
          if (reply.code !== 235) return this.hostRefused(conn, host, reply);
        }
      }
      return conn;
    } catch (err) {
      conn.destroy();
      this.connectionFailure(host, err);
      return null;
    }
  }

  /** The transaction on an open connection; 'retry' when a reused connection turned out dead. */
  private async transact(key: string, conn: SmtpClientConnection, host: MailHost, reused: boolean): Promise<'done' | 'retry'> {
    const ext = conn.extensions;
    const mta = host.name;
    const env = this.envelope;
    let list = this.pending();

    // RFC 1870 §4: a server with a fixed limit would refuse it; don't send it.
    if (ext.size !== null && ext.size > 0 && this.body.length > ext.size) {
      for (const i of list) {
        this.decide(i, 'failed', `message size ${this.body.length} exceeds size limit ${ext.size} of server ${conn.name}`, '5.3.4', mta, ext.dsn);
      }
      await this.release(key, conn, null);
      return 'done';
    }
    // RFC 6531 §3.5: a non-ASCII address can't go to a server without SMTPUTF8, and no
    // downgrade is defined for it. ASCII recipients of the same message still can.
    const utf8Text = 'the receiving server does not support internationalized mail (SMTPUTF8)';
    if (env.smtpUtf8 && !ext.smtpUtf8) {
      // UTF-8 in the header needs SMTPUTF8 just as an address does (RFC 6532 §3.2), and is
      // the same for every recipient.
      const senderUtf8 = hasNonAscii(env.reversePath) || headerHasEightBit(this.body);
      list = list.filter((i) => {
        if (!senderUtf8 && !hasNonAscii(env.recipients[i].forwardPath)) return true;
        this.decide(i, 'failed', `${utf8Text}: ${conn.name}`, '5.6.7', mta, ext.dsn);
        return false;
      });
    }
    if (list.length === 0) {
      await this.release(key, conn, null);
      return 'done';
    }

    const res = await conn.transaction({
      mail: mailCommand(env, this.body.length, ext),
      rcpts: list.map((i) => rcptCommand(env.recipients[i], ext)),
      body: this.body,
    });
    if (reused && ((res.mail === null && res.error?.kind === 'closed') || res.mail?.code === 421)) {
      conn.destroy();
      return 'retry';
    }
    this.apply(list, res, conn, mta);
    await this.release(key, conn, res);
    return 'done';
  }

  /** Turns the replies of one transaction into outcomes (final or kept for the next host). */
  private apply(list: number[], res: TransactionResult, conn: SmtpClientConnection, mta: string): void {
    const dsn = conn.extensions.dsn;
    // A 421 ends the dialogue; the commands after it have no reply of their own.
    const closer = [res.mail, ...res.rcpts, res.data].find((r) => r?.code === 421) ?? null;
    const noReply = (indexes: number[]) => {
      if (res.error) this.softFromError(indexes, res.error, mta, dsn);
      else if (closer) for (const i of indexes) this.byReply(i, closer, mta, dsn, false);
      else this.softSome(indexes, `no reply from ${conn.name}`, '4.4.2', mta, dsn, true);
    };
    if (!res.mail) return noReply(list);
    if (res.mail.code < 200 || res.mail.code > 299) {
      for (const i of list) this.byReply(i, res.mail, mta, dsn, false);
      return;
    }
    const accepted: number[] = [];
    list.forEach((i, k) => {
      const reply = res.rcpts[k];
      if (!reply) noReply([i]);
      else if (reply.code >= 200 && reply.code < 300) accepted.push(i);
      else this.byReply(i, reply, mta, dsn, false);
    });
    if (accepted.length === 0) return;
    if (!res.data) return noReply(accepted);
    if (res.data.code !== 354) {
      for (const i of accepted) this.byReply(i, res.data, mta, dsn, false);
      return;
    }
    // Lost after the body was sent: the server may have the message. It is sent again
    // later (at-least-once, RFC 5321 §6.1 accepts the duplicate).
    if (!res.final) return noReply(accepted);
    for (const i of accepted) this.byReply(i, res.final, mta, dsn, true);
  }

  /** Keeps a good connection for the next message, after RSET if the transaction did not finish. */
  private async release(key: string, conn: SmtpClientConnection, res: TransactionResult | null): Promise<void> {
    const o = this.options;
    if (!conn.usable || conn.transactions >= o.maxMessagesPerConnection || o.connectionIdleMs <= 0) {
      this.cache.retire(conn);
      return;
    }
    // After the reply to the final dot the server has reset its state (RFC 5321 §4.1.1.4);
    // otherwise RSET (§4.1.1.5) puts it back, and a connection that can't is not kept.
    if (res !== null && res.final === null && !(await conn.reset())) {
      this.cache.retire(conn);
      return;
    }
    this.cache.put(key, conn);
  }

  // -------------------------------------------------------------------------
  // Outcomes

  private decide(i: number, status: DeliveryStatus, reply: string, enhancedCode: string, remoteMta: string | null, remoteDsn: boolean): void {
    if (this.outcomes[i] !== null) return;
    this.outcomes[i] = { forwardPath: this.envelope.recipients[i].forwardPath, status, reply, enhancedCode, remoteMta, remoteDsn };
  }

  /**
   * A server's reply decides for recipient i: 2xx delivers (when `final`), 5xx fails, 4xx
   * is kept for the next host. Codes that make no sense at that point count as temporary.
   */
  private byReply(i: number, reply: SmtpReply, mta: string, dsn: boolean, final: boolean): void {
    const cls = Math.floor(reply.code / 100);
    const text = formatReply(reply);
    if (cls === 2 && final) this.decide(i, 'delivered', text, enhancedCodeOf(reply), mta, dsn);
    else if (cls === 5) this.decide(i, 'failed', text, enhancedCodeOf(reply), mta, dsn);
    else if (cls === 4) this.keepSoft(i, { reply: text, enhancedCode: enhancedCodeOf(reply), remoteMta: mta, remoteDsn: dsn, fromServer: true });
    else this.keepSoft(i, { reply: oneLine(`protocol error: unexpected reply ${text}`), enhancedCode: '4.5.0', remoteMta: mta, remoteDsn: dsn, fromServer: true });
  }

  /** The host refused service before a transaction (greeting, EHLO, AUTH): skip it. */
  private hostRefused(conn: SmtpClientConnection, host: MailHost, reply: SmtpReply): null {
    void conn.quit();
    const code = enhancedCodeOf(reply);
    // Temporary whatever the class: another host, or a later try, may do better.
    this.softAll(formatReply(reply), code.startsWith('5') ? '4' + code.slice(1) : code, host.name, false, true);
    this.options.log?.debug({ host: host.name, ip: conn.ip, reply: formatReply(reply) }, 'remote host refused service');
    return null;
  }

  private connectionFailure(host: MailHost, err: unknown): void {
    if (err instanceof SmtpClientError) {
      // Never reached: 4.4.1 (no answer from host); lost or timed out later: 4.4.2 (bad connection).
      const reached = err.kind !== 'connect';
      this.softFromError(this.pending(), err, reached ? host.name : null, false);
    } else {
      this.softAll(`error talking to ${host.name}: ${err instanceof Error ? err.message : String(err)}`, '4.3.0', host.name, false, false);
    }
    this.options.log?.debug({ host: host.name, err }, 'remote host skipped');
  }

  private softFromError(indexes: number[], err: SmtpClientError, mta: string | null, dsn: boolean): void {
    const code = err.kind === 'connect' ? '4.4.1' : err.kind === 'protocol' ? '4.5.0' : err.kind === 'tls' ? '4.7.0' : '4.4.2';
    this.softSome(indexes, oneLine(err.message), code, mta, dsn, false);
  }

  private softAll(reply: string, enhancedCode: string, mta: string | null, dsn: boolean, fromServer: boolean): void {
    this.softSome(this.pending(), oneLine(reply), enhancedCode, mta, dsn, fromServer);
  }

  private softSome(indexes: number[], reply: string, enhancedCode: string, mta: string | null, dsn: boolean, fromServer: boolean): void {
    for (const i of indexes) this.keepSoft(i, { reply, enhancedCode, remoteMta: mta, remoteDsn: dsn, fromServer });
  }

  /**
   * A server's temporary reply is a better reason than a later host's connection failure
   * ("450 greylisted" says more than "connection refused" from the backup MX).
   */
  private keepSoft(i: number, result: SoftResult): void {
    const prev = this.soft[i];
    if (prev && prev.fromServer && !result.fromServer) return;
    this.soft[i] = result;
  }

  private note(line: string): void {
    if (this.transcript.length < 300) this.transcript.push(line);
  }
}
