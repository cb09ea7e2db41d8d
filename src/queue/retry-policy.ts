/**
 * What an attempt's outcome means for a recipient: its next state, when it is tried
 * again, and which notice (if any) its sender is owed. Pure, so it is unit-tested alone.
 */
import type { RecipientOutcome } from '../delivery/types.js';
import type { AttemptResult, NoticeDue, QueueEnvelopeRecord, QueueRecipientRecord, RecipientDsn } from '../store/types.js';

export interface RetryPolicyConfig {
  retryMin: number;
  retryMax: number;
  delayWarning: number;
  lifetime: number;
}

/** RFC 3463 X.4.7: delivery time expired. */
export const EXPIRED_STATUS = '4.4.7';

/**
 * RFC 3461 §4.1: NOTIFY absent leaves the choice to us; like Postfix we report failures
 * and delays, not successes. NOTIFY=NEVER asks for nothing at all.
 */
export function wantsNotice(notify: RecipientDsn['notify'], kind: NoticeDue): boolean {
  if (notify === null) return kind !== 'success';
  const wanted = { failure: 'FAILURE', delay: 'DELAY', success: 'SUCCESS' } as const;
  return notify.includes(wanted[kind]);
}

/**
 * Whether a notice of this kind may be owed at all for this message. Mail from <> never
 * causes a notice to its sender (RFC 5321 §4.5.5); a failed one is reported once to
 * postmaster instead, unless it is itself such a report.
 */
export function noticeAllowed(message: Pick<QueueEnvelopeRecord, 'reversePath' | 'noticeKind'>, kind: NoticeDue): boolean {
  if (message.reversePath !== '') return true;
  return kind === 'failure' && message.noticeKind !== 'postmaster';
}

function owes(message: QueueEnvelopeRecord, recipient: QueueRecipientRecord, kind: NoticeDue): NoticeDue | null {
  if (!noticeAllowed(message, kind)) return null;
  // The sender of a null-sender message has no NOTIFY choice to honour: postmaster gets it.
  if (message.reversePath !== '' && !wantsNotice(recipient.notify, kind)) return null;
  return kind;
}

/**
 * Exponential backoff: retry_min, doubling per attempt up to retry_max, with ±20% jitter
 * so that recipients deferred together do not all come back in the same second.
 * Greylisting (450/451 to RCPT, usually cleared within minutes) gets retry_min for its
 * first few attempts instead of a growing wait.
 */
export function retryDelay(attempts: number, reply: string, config: RetryPolicyConfig, random: () => number): number {
  const greylisted = attempts <= 3 && /^45[01][ -]/.test(reply);
  const base = greylisted ? config.retryMin : config.retryMin * 2 ** Math.min(Math.max(attempts - 1, 0), 30);
  const jittered = Math.min(base, config.retryMax) * (0.8 + 0.4 * random());
  return Math.round(Math.min(Math.max(jittered, config.retryMin), config.retryMax));
}

/**
 * Settles one recipient after an attempt. `recipient.attempts` already counts this attempt.
 */
export function settleOutcome(
  message: QueueEnvelopeRecord,
  recipient: QueueRecipientRecord,
  outcome: RecipientOutcome,
  now: number,
  config: RetryPolicyConfig,
  random: () => number = Math.random,
): AttemptResult['recipients'][number] {
  const base = {
    recipientId: recipient.id,
    reply: outcome.reply,
    status: outcome.enhancedCode,
    remoteMta: outcome.remoteMta,
    remoteDsn: outcome.remoteDsn,
    nextAttemptAt: now,
  };
  if (outcome.status === 'delivered') {
    // RFC 3461 §6.2: a next hop that took our NOTIFY reports success itself; one without
    // DSN support leaves it to us ("relayed").
    return { ...base, state: 'delivered', noticeDue: outcome.remoteDsn ? null : owes(message, recipient, 'success') };
  }
  if (outcome.status === 'failed') {
    return { ...base, state: 'failed', noticeDue: owes(message, recipient, 'failure') };
  }
  const expiresAt = message.receivedAt + config.lifetime;
  if (now >= expiresAt) {
    return { ...base, state: 'failed', status: EXPIRED_STATUS, noticeDue: owes(message, recipient, 'failure') };
  }
  // The last try comes at the lifetime's end, not a whole backoff period after it.
  const nextAttemptAt = Math.min(now + retryDelay(recipient.attempts, outcome.reply, config, random), expiresAt);
  const delayDue = !recipient.delayNotified && now - message.receivedAt >= config.delayWarning;
  return { ...base, state: 'deferred', nextAttemptAt, noticeDue: delayDue ? owes(message, recipient, 'delay') : null };
}
