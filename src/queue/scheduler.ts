/**
 * The outbound scheduler (DESIGN.md §3 step 5-8; Postfix's qmgr).
 *
 * It sleeps until the earliest due recipient, a wake-up (new mail in this process), or a
 * one-second poll (work made due by another process: `posta queue retry`, another worker,
 * an expired lease). Each decision is one index range scan over due recipients only, so
 * recipients deferred into the future cost nothing: O(log n) in the size of the queue.
 *
 * Claimed recipients wait in memory, grouped by destination, within a bounded backlog.
 * A destination gets at most max_connections_per_domain concurrent deliveries, and the
 * scheduler at most max_connections. Each attempt is recorded (attempts+1, lease extended)
 * before dialing, so a crash means a retry and never a loss.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Config } from '../config/index.js';
import type { DeliveryReport, OutboundEnvelope, RecipientOutcome } from '../delivery/types.js';
import type { MailRouter, Route } from '../dns/types.js';
import type { Logger } from '../log/logger.js';
import type { MessageBodies } from '../spool/message-bodies.js';
import type { AttemptResult, QueueEnvelopeRecord, QueueRecipientRecord, Store } from '../store/types.js';
import { settleOutcome, type RetryPolicyConfig } from './retry-policy.js';

/** What delivers a message to a route (src/delivery/remote.ts). */
export interface Deliverer {
  deliver(route: Route, envelope: OutboundEnvelope, body: Buffer): Promise<DeliveryReport>;
  close(): Promise<void>;
}

/** Sends the notices recipients owe (src/queue/notifier.ts). */
export interface NoticeSender {
  sendPending(): Promise<void>;
}

export interface SchedulerOptions {
  store: Store;
  router: MailRouter;
  /** Delivers to MX hosts. */
  mx: Deliverer;
  /** Delivers to delivery.relay_host, when set: every remote recipient goes there. */
  relay: { host: string; deliverer: Deliverer } | null;
  bodies: MessageBodies;
  notices: NoticeSender;
  config: Config;
  log: Logger;
  /** This scheduler's lease owner id; unique per process. */
  owner?: string;
  random?: () => number;
  /** Removes finished messages older than the given time, with bodies nothing else uses. */
  purge?: (before: number) => Promise<void>;
}

/** A message's claimed recipients at one destination: one SMTP transaction. */
interface Job {
  message: QueueEnvelopeRecord;
  recipients: QueueRecipientRecord[];
}

interface Destination {
  jobs: Job[];
  active: number;
}

const POLL_MS = 1000;
/** Successful MX lookups are reused this long (the system resolver would cache them too). */
const ROUTE_CACHE_MS = 5000;
/** Finished messages stay this long for `posta queue show` (the trace), then go. */
export const HISTORY_MS = 7 * 24 * 3600 * 1000;
const HOUSEKEEPING_MS = 3600 * 1000;
const RELAY_DESTINATION = '[relay]';

export class QueueScheduler {
  readonly owner: string;
  private readonly destinations = new Map<string, Destination>();
  private readonly routes = new Map<string, { route: Promise<Route>; expires: number }>();
  private readonly tasks = new Set<Promise<void>>();
  private readonly policy: RetryPolicyConfig;
  private readonly random: () => number;
  private running = false;
  private loopDone: Promise<void> | null = null;
  private wakeUp: (() => void) | null = null;
  private woken = false;
  private noticesDue = true;
  private active = 0;
  /** Claimed recipients not yet settled (in memory or in flight). */
  private backlog = 0;
  private nextHousekeeping = 0;
  private nextNoticeCheck = 0;
  private readonly onQueue = (work: { notices: boolean }) => this.wake(work.notices);

  constructor(private readonly options: SchedulerOptions) {
    this.owner = options.owner ?? `${leaseOwnerPrefix(process.pid)}${randomBytes(4).toString('hex')}`;
    this.random = options.random ?? Math.random;
    const q = options.config.queue;
    this.policy = { retryMin: q.retry_min, retryMax: q.retry_max, delayWarning: q.delay_warning, lifetime: q.lifetime };
  }

  private get maxBacklog(): number {
    return this.options.config.delivery.max_connections * 4;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.options.store.changes.on('queue', this.onQueue);
    this.loopDone = this.loop();
  }

  /** New work in this process: look at the queue now instead of at the next poll. */
  wake(notices = false): void {
    if (notices) this.noticesDue = true;
    this.woken = true;
    this.wakeUp?.();
  }

  /** Stops claiming work and waits for deliveries in flight (close the deliverers to cut them short). */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.options.store.changes.off('queue', this.onQueue);
    this.wake();
    await this.loopDone;
    await Promise.all([...this.tasks]);
  }

  private async loop(): Promise<void> {
    while (this.running) {
      this.woken = false;
      let claimed = 0;
      let blocked = false;
      try {
        // Notices owed because of another process (posta queue bounce) are found by the poll.
        if (this.noticesDue || Date.now() >= this.nextNoticeCheck) {
          this.noticesDue = false;
          this.nextNoticeCheck = Date.now() + POLL_MS;
          await this.options.notices.sendPending();
        }
        ({ claimed, blocked } = await this.claim());
        this.dispatch();
        await this.housekeeping();
      } catch (err) {
        this.options.log.error({ err }, 'queue scheduler step failed; trying again shortly');
      }
      if (!this.running) break;
      if (claimed > 0 && !blocked && this.backlog < this.maxBacklog) continue;
      // Blocked: due work we have no room for stays due; a finishing delivery wakes us
      // (asking the database again now would find the same and spin).
      await this.sleep(blocked ? POLL_MS : await this.sleepTime());
    }
  }

  private async sleepTime(): Promise<number> {
    if (this.backlog >= this.maxBacklog) return POLL_MS; // a finishing delivery wakes us
    const due = await this.options.store.nextDueAt().catch(() => null);
    if (due === null) return POLL_MS;
    return Math.max(0, Math.min(POLL_MS, due - Date.now()));
  }

  private sleep(ms: number): Promise<void> {
    // Even "no wait" goes through the event loop once, so sockets and timers always get
    // their turn between two scheduler steps.
    if (this.woken || ms <= 0) return new Promise<void>((resolve) => setImmediate(resolve));
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = () => {
        this.wakeUp = null;
        done();
      };
    }).then(() => {
      this.wakeUp = null;
    });
  }

  /**
   * Takes due recipients into memory, skipping destinations that already have plenty
   * waiting. blocked: some due work was left for lack of room.
   */
  private async claim(): Promise<{ claimed: number; blocked: boolean }> {
    const room = this.maxBacklog - this.backlog;
    if (room <= 0) return { claimed: 0, blocked: true };
    const perDomain = this.options.config.delivery.max_connections_per_domain;
    const full = [...this.destinations].filter(([, d]) => d.jobs.length >= perDomain * 2).map(([name]) => name);
    if (this.options.relay && full.length > 0) return { claimed: 0, blocked: true };
    const now = Date.now();
    const claimed = await this.options.store.claimDue({
      owner: this.owner,
      now,
      leaseUntil: now + this.claimLeaseMs(),
      limit: Math.min(room, 500),
      excludeDomains: this.options.relay ? [] : full,
    });
    // One job per message and destination: its recipients share one transaction.
    const jobs = new Map<string, Job>();
    for (const { message, recipient } of claimed) {
      const destination = this.options.relay ? RELAY_DESTINATION : recipient.domain;
      const key = `${message.queueId}\0${destination}`;
      let job = jobs.get(key);
      if (!job) {
        job = { message, recipients: [] };
        jobs.set(key, job);
        this.destination(destination).jobs.push(job);
      }
      job.recipients.push(recipient);
    }
    this.backlog += claimed.length;
    return { claimed: claimed.length, blocked: full.length > 0 };
  }

  private destination(name: string): Destination {
    let d = this.destinations.get(name);
    if (!d) {
      d = { jobs: [], active: 0 };
      this.destinations.set(name, d);
    }
    return d;
  }

  /** Starts deliveries within the global and per-destination connection caps. */
  private dispatch(): void {
    const { max_connections: maxTotal, max_connections_per_domain: perDomain } = this.options.config.delivery;
    for (const [name, d] of this.destinations) {
      while (d.jobs.length > 0 && d.active < perDomain && this.active < maxTotal) {
        d.active++;
        this.active++;
        const task = this.runDestination(name, d).finally(() => {
          d.active--;
          this.active--;
          this.tasks.delete(task);
          if (d.active === 0 && d.jobs.length === 0) this.destinations.delete(name);
          this.wake();
        });
        this.tasks.add(task);
      }
      if (this.active >= maxTotal) break;
    }
  }

  /** One connection's worth of work: jobs for this destination, one after another (reuse). */
  private async runDestination(name: string, d: Destination): Promise<void> {
    for (let job = d.jobs.shift(); job; job = d.jobs.shift()) {
      try {
        await this.deliverJob(name, job);
      } catch (err) {
        this.options.log.error({ err, queueId: job.message.queueId }, 'delivery attempt failed unexpectedly');
      } finally {
        this.backlog -= job.recipients.length;
      }
      if (!this.running) break;
    }
  }

  private async deliverJob(destination: string, job: Job): Promise<void> {
    const { store, log } = this.options;
    const startedAt = Date.now();
    const owned = new Set(await store.startAttempt(this.owner, job.recipients.map((r) => r.id), startedAt, startedAt + this.attemptLeaseMs()));
    // Held, bounced or deleted since we claimed them: no longer ours to deliver.
    const recipients = job.recipients.filter((r) => owned.has(r.id)).map((r) => ({ ...r, attempts: r.attempts + 1 }));
    if (recipients.length === 0) return;
    const message = job.message;
    const envelope: OutboundEnvelope = {
      reversePath: message.reversePath,
      recipients: recipients.map((r) => ({ forwardPath: r.forwardPath, notify: r.notify, orcpt: r.orcpt })),
      dsn: message.dsn,
      bodyType: message.bodyType,
      smtpUtf8: message.smtpUtf8,
      size: message.size,
    };
    let report: DeliveryReport;
    try {
      const body = await this.options.bodies.read(message.blobHash);
      const route = await this.routeFor(destination);
      report = await this.deliverer(destination).deliver(route, envelope, body);
    } catch (err) {
      // Outcomes are values; anything unexpected is temporary (DESIGN.md §5).
      log.error({ err, queueId: message.queueId }, 'delivery failed unexpectedly; will retry');
      report = { outcomes: recipients.map((r) => localDeferral(r.forwardPath)), host: null, ip: null, transcript: [] };
    }
    const now = Date.now();
    const outcomes = new Map(report.outcomes.map((o) => [o.forwardPath, o]));
    const results = recipients.map((r) =>
      settleOutcome(message, r, outcomes.get(r.forwardPath) ?? localDeferral(r.forwardPath), now, this.policy, this.random),
    );
    const undelivered = results.some((r) => r.state !== 'delivered');
    const result: AttemptResult = {
      queueId: message.queueId,
      startedAt,
      host: report.host,
      ip: report.ip,
      transcript: undelivered && report.transcript.length > 0 ? report.transcript : null,
      recipients: results,
    };
    await store.finishAttempt(result);
    for (const r of results) {
      const rcpt = recipients.find((x) => x.id === r.recipientId)!;
      log.info(
        { queueId: message.queueId, to: rcpt.forwardPath, relay: report.host, ip: report.ip, status: r.state, dsn: r.status, reply: r.reply, attempts: rcpt.attempts },
        'delivery attempt',
      );
    }
    if (results.some((r) => r.noticeDue)) this.wake(true);
  }

  private deliverer(destination: string): Deliverer {
    return destination === RELAY_DESTINATION && this.options.relay ? this.options.relay.deliverer : this.options.mx;
  }

  /** MX lookups, shared by concurrent deliveries and briefly cached when they succeed. */
  private routeFor(destination: string): Promise<Route> {
    const now = Date.now();
    const cached = this.routes.get(destination);
    if (cached && cached.expires > now) return cached.route;
    const route =
      destination === RELAY_DESTINATION && this.options.relay
        ? this.options.router.routeToHost(this.options.relay.host)
        : this.options.router.route(destination);
    const entry = { route, expires: now + ROUTE_CACHE_MS };
    this.routes.set(destination, entry);
    // Failures are not kept: the next attempt asks again.
    void route.then((r) => {
      if (r.kind !== 'hosts' && this.routes.get(destination) === entry) this.routes.delete(destination);
    });
    if (this.routes.size > 10_000) this.routes.clear();
    return route;
  }

  /** How long claimed recipients may wait in memory before someone else may take them. */
  private claimLeaseMs(): number {
    return 15 * 60 * 1000 + this.attemptLeaseMs();
  }

  /** Longest one attempt can take: every stage's timeout, for a few hosts. */
  private attemptLeaseMs(): number {
    const d = this.options.config.delivery;
    return 2 * (d.connect_timeout + 6 * d.command_timeout + 2 * d.data_timeout);
  }

  private async housekeeping(): Promise<void> {
    const now = Date.now();
    if (now < this.nextHousekeeping) return;
    this.nextHousekeeping = now + HOUSEKEEPING_MS;
    await this.options.purge?.(now - HISTORY_MS);
  }
}

/** Lease owners start with host and pid, so a supervisor can release a dead worker's leases. */
export function leaseOwnerPrefix(pid: number): string {
  return `${os.hostname()}:${pid}:`;
}

function localDeferral(forwardPath: string): RecipientOutcome {
  return {
    forwardPath,
    status: 'deferred',
    reply: '451 4.3.0 local error while delivering; will retry',
    enhancedCode: '4.3.0',
    remoteMta: null,
    remoteDsn: false,
  };
}
