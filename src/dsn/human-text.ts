/**
 * The first part of a DSN (RFC 3464 §2.1, RFC 6522 §3): plain words for someone who is not
 * a mail expert — what happened, to whom, what the remote server said, and what happens next.
 */
import type { DsnAction, DsnInput, DsnRecipientReport } from './types.js';
import { type DsnKind, type DsnTemplate, dsnTemplate, fillTemplate } from './templates.js';
import { displayAddress, joinReply, safeText } from './sanitize.js';

export interface HumanTextContext {
  kind: DsnKind;
  /** Our host name, already made safe. */
  host: string;
  /** The original Subject, already made safe, or null. */
  originalSubject: string | null;
  /** What the third part holds, or null when nothing is returned. */
  returned: 'message/rfc822' | 'text/rfc822-headers' | null;
}

/** Section order in the text: the bad news first. */
const ACTION_ORDER: readonly DsnAction[] = ['failed', 'delayed', 'delivered', 'relayed', 'expanded'];
const WIDTH = 72;

/** The text of the first part, lines joined by CRLF, ending with CRLF. */
export function renderHumanText(input: DsnInput, ctx: HumanTextContext): string {
  const t = dsnTemplate(input.language);
  const out: string[] = [];
  const para = (text: string, indent = '') => {
    if (text) out.push(...wrap(text, indent), '');
  };

  para(fillTemplate(t.greeting, { host: ctx.host }));
  para(t.summary[ctx.kind]);

  out.push(...wrap(t.about));
  out.push(...wrap(`${t.labels.subject}: ${ctx.originalSubject ?? t.labels.noSubject}`, '  ', '    '));
  const queueId = safeText(input.queueId, { max: 100 });
  if (queueId) out.push(`  ${t.labels.queueId}: ${queueId}`);
  const received = formatHumanDate(input.arrivalDate, t);
  if (received) out.push(`  ${t.labels.received}: ${received}`);
  out.push('');

  for (const action of ACTION_ORDER) {
    const recipients = input.recipients.filter((r) => r.action === action);
    if (recipients.length === 0) continue;
    out.push(...wrap(t.sections[action].heading), '');
    for (const r of recipients) out.push(...recipientLines(r, t), '');
    para(nextStep(action, recipients, t));
  }

  if (ctx.returned === 'message/rfc822') para(t.attachedFull);
  else if (ctx.returned === 'text/rfc822-headers') para(t.attachedHeaders);
  if (ctx.kind !== 'success') para(t.help);
  out.push(t.signature, '');
  return out.join('\r\n');
}

function recipientLines(r: DsnRecipientReport, t: DsnTemplate): string[] {
  const lines = [`  <${displayAddress(r.finalRecipient)}>`];
  if (r.action === 'failed' || r.action === 'delayed') {
    const explanation = explain(r.status, t);
    if (explanation) lines.push(...wrap(fillTemplate(t.reason, { explanation }), '    ', '      '));
  }
  const reply = joinReply(r.diagnostic);
  if (reply) {
    const host = safeText(r.remoteMta, { max: 255 });
    lines.push(...wrap(host ? fillTemplate(t.remoteReplied, { host }) : t.details, '    ', '      '));
    lines.push(...wrap(reply, '      '));
  }
  return lines;
}

function nextStep(action: DsnAction, recipients: DsnRecipientReport[], t: DsnTemplate): string {
  if (action !== 'delayed') return t.sections[action].next;
  // The latest Will-Retry-Until of the delayed recipients: we keep trying at least that long.
  const until = recipients
    .map((r) => r.willRetryUntil)
    .filter((d): d is number => typeof d === 'number' && Number.isFinite(d))
    .reduce<number | null>((a, b) => (a === null || b > a ? b : a), null);
  const date = until === null ? '' : formatHumanDate(until, t);
  return date ? fillTemplate(t.sections.delayed.next, { date }) : t.delayedNoDate;
}

/** Plain words for an RFC 3463 status: "subject.detail" first, then "subject" alone. */
export function explain(status: string, t: DsnTemplate): string | null {
  const m = /^[245]\.(\d{1,3})\.(\d{1,3})$/.exec(status);
  if (!m) return null;
  const key = `${Number(m[1])}.${Number(m[2])}`;
  if (Object.hasOwn(t.explanations, key)) return t.explanations[key];
  const subject = String(Number(m[1]));
  return Object.hasOwn(t.explanations, subject) ? t.explanations[subject] : null;
}

/** A date for people, in UTC, in the template's words; '' for an invalid time. */
export function formatHumanDate(ms: number, t: DsnTemplate): string {
  const d = new Date(ms);
  if (!Number.isFinite(d.getTime())) return '';
  const two = (n: number) => String(n).padStart(2, '0');
  return fillTemplate(t.date.pattern, {
    day: String(d.getUTCDate()),
    month: t.date.months[d.getUTCMonth()] ?? String(d.getUTCMonth() + 1),
    year: String(d.getUTCFullYear()),
    hh: two(d.getUTCHours()),
    mm: two(d.getUTCMinutes()),
  });
}

/**
 * Word-wrap one paragraph at 72 columns: the first line starts with `indent`, the others with
 * `hanging`. A word longer than a line stays whole (quoted-printable keeps the wire lines short).
 */
export function wrap(text: string, indent = '', hanging = indent): string[] {
  const words = text.split(' ').filter((w) => w.length > 0);
  const lines: string[] = [];
  let cur = indent;
  let empty = true;
  for (const word of words) {
    if (!empty && [...cur].length + 1 + [...word].length > WIDTH) {
      lines.push(cur);
      cur = hanging;
      empty = true;
    }
    cur += (empty ? '' : ' ') + word;
    empty = false;
  }
  if (!empty) lines.push(cur);
  return lines;
}
