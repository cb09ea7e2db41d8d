/**
 * The human-readable words of a delivery status notification (RFC 3464 §2.1, RFC 6522 §3:
 * the first part, for people), in every language of `dsn.language`.
 *
 * For translators: this file is data only. `{name}` marks a value filled in when the notice
 * is made; keep the braces and the name. Paragraphs are wrapped automatically, so write each
 * one as a single line. The machine-readable part never changes with the language.
 */
import type { DsnLanguage } from '../config/index.js';
import type { DsnAction } from './types.js';

/**
 * Which notice this is, decided from the recipients' actions (dsnKind in build-dsn.ts):
 * "failure" (an undeliverable-mail report), "delay" (a warning, still retrying) or
 * "success" (delivered, relayed or expanded, asked for with NOTIFY=SUCCESS).
 */
export type DsnKind = 'failure' | 'delay' | 'success';

export interface DsnTemplate {
  /** The Subject of the notice. Non-ASCII is RFC 2047-encoded for you. */
  subject: Record<DsnKind, string>;
  /** {host}: our host name. */
  greeting: string;
  /** The opening paragraph. */
  summary: Record<DsnKind, string>;
  /** The heading above the details of the original message. */
  about: string;
  labels: { subject: string; queueId: string; received: string; noSubject: string };
  /**
   * One section per action, with the recipients listed under its heading. `next` says what
   * happens now. For "delayed", {date} is the last time we will try.
   */
  sections: Record<DsnAction, { heading: string; next: string }>;
  /** "delayed" when we cannot say until when we will try. */
  delayedNoDate: string;
  /** {explanation}: one of `explanations` below. */
  reason: string;
  /** {host}: the remote server that gave the reply printed under this line. */
  remoteReplied: string;
  /** Above a reply when no remote server was reached (our own words, e.g. a DNS error). */
  details: string;
  attachedFull: string;
  attachedHeaders: string;
  /** After a failure or delay notice. */
  help: string;
  signature: string;
  /**
   * Plain words for RFC 3463 status codes, keyed by "subject.detail" (e.g. "1.1" for 5.1.1
   * and 4.1.1) or by "subject" alone as a fallback. Codes without an entry get no "Reason"
   * line; the remote server's reply is still shown.
   */
  explanations: Record<string, string>;
  /** Dates in the text (always UTC). {day} {month} {year} {hh} {mm}; months January first. */
  date: { pattern: string; months: readonly string[] };
}

const en: DsnTemplate = {
  subject: {
    failure: 'Undelivered Mail Returned to Sender',
    delay: 'Delayed Mail (still being retried)',
    success: 'Successful Mail Delivery Report',
  },
  greeting: 'This is the mail system at {host}.',
  summary: {
    failure: 'Unfortunately, your message could not be delivered to one or more of its recipients. The details are below.',
    delay:
      'Your message has not yet been delivered to one or more of its recipients. This is only a warning: you do not need to send the message again.',
    success:
      'Your message was delivered. You asked for this report when you sent the message; there is nothing you need to do.',
  },
  about: 'Your message:',
  labels: { subject: 'Subject', queueId: 'Queue ID', received: 'Received', noSubject: '(no subject)' },
  sections: {
    failed: {
      heading: 'It could not be delivered to:',
      next: 'The mail system will not try again to deliver the message to these recipients. Please check that the addresses are correct, or contact the recipients in another way.',
    },
    delayed: {
      heading: 'It has not yet been delivered to:',
      next: 'The mail system will keep trying until {date}. If the message still cannot be delivered by then, you will get another notice.',
    },
    delivered: { heading: 'It was delivered to:', next: '' },
    relayed: {
      heading: 'It was passed on to:',
      next: 'The mail systems of these recipients do not send delivery reports, so you will get no further news about them.',
    },
    expanded: {
      heading: 'It was delivered to a mailing list or alias and passed on to its members:',
      next: 'You will get no further reports about the members.',
    },
  },
  delayedNoDate:
    'The mail system will keep trying for a while. If the message cannot be delivered in the end, you will get another notice.',
  reason: 'Reason: {explanation}',
  remoteReplied: 'The server {host} replied:',
  details: 'Details:',
  attachedFull: 'The original message is attached.',
  attachedHeaders: 'The headers of the original message are attached.',
  help: 'If you need help, forward this notice to your mail administrator and mention the queue ID above.',
  signature: 'The mail system',
  explanations: {
    '1': "There is a problem with the recipient's address.",
    '1.1': "The recipient's mailbox does not exist. Please check the address for typing mistakes.",
    '1.2': "The recipient's domain does not exist or cannot receive mail. Please check the part of the address after the @.",
    '1.3': "The recipient's address is not written correctly.",
    '1.6': "The recipient's mailbox has moved, and no forwarding address is known.",
    '1.10': "The recipient's domain has declared that it does not accept mail.",
    '2': "There is a problem with the recipient's mailbox.",
    '2.1': "The recipient's mailbox is disabled and does not accept messages.",
    '2.2': "The recipient's mailbox is full.",
    '2.3': "The message is larger than the recipient's mailbox accepts.",
    '3': "The recipient's mail system has a problem.",
    '3.4': "The message is too large for the recipient's mail system.",
    '4': 'There was a network or routing problem on the way to the recipient.',
    '4.1': "The recipient's mail server did not answer.",
    '4.2': "The connection to the recipient's mail server was interrupted.",
    '4.3': "The recipient's domain could not be looked up (a DNS problem).",
    '4.4': "No mail server could be found for the recipient's domain.",
    '4.6': 'The message was going round in a loop between mail servers.',
    '4.7': 'The message could not be delivered in the time allowed.',
    '5': "The recipient's mail server and our mail system could not understand each other.",
    '6': "The recipient's mail server could not handle the content of the message.",
    '7': "The recipient's mail server refused the message because of its security or anti-spam rules.",
    '7.1': "The recipient's mail server refused the message: the sender or the message is not allowed there.",
  },
  date: {
    pattern: '{day} {month} {year}, {hh}:{mm} UTC',
    months: [
      'January',
      'February',
      'March',
      'April',
      'May',
      'June',
      'July',
      'August',
      'September',
      'October',
      'November',
      'December',
    ],
  },
};

const sl: DsnTemplate = {
  subject: {
    failure: 'Nedostavljeno sporočilo vrnjeno pošiljatelju',
    delay: 'Zakasnjena dostava sporočila (še poskušamo)',
    success: 'Poročilo o uspešni dostavi sporočila',
  },
  greeting: 'To je poštni sistem na strežniku {host}.',
  summary: {
    failure: 'Žal vašega sporočila ni bilo mogoče dostaviti enemu ali več prejemnikom. Podrobnosti so navedene spodaj.',
    delay:
      'Vaše sporočilo enemu ali več prejemnikom še ni bilo dostavljeno. To je samo opozorilo: sporočila vam ni treba poslati znova.',
    success: 'Vaše sporočilo je bilo dostavljeno. To poročilo ste zahtevali ob pošiljanju; ničesar vam ni treba storiti.',
  },
  about: 'Vaše sporočilo:',
  labels: { subject: 'Zadeva', queueId: 'Oznaka v čakalni vrsti', received: 'Prejeto', noSubject: '(brez zadeve)' },
  sections: {
    failed: {
      heading: 'Sporočila ni bilo mogoče dostaviti naslednjim prejemnikom:',
      next: 'Poštni sistem tem prejemnikom sporočila ne bo več poskušal dostaviti. Preverite, ali so naslovi pravilni, ali pa se s prejemniki povežite na drug način.',
    },
    delayed: {
      heading: 'Sporočilo še ni bilo dostavljeno naslednjim prejemnikom:',
      next: 'Poštni sistem bo dostavo poskušal do {date}. Če sporočila do takrat ne bo mogoče dostaviti, boste prejeli novo obvestilo.',
    },
    delivered: { heading: 'Sporočilo je bilo dostavljeno naslednjim prejemnikom:', next: '' },
    relayed: {
      heading: 'Sporočilo je bilo posredovano naslednjim prejemnikom:',
      next: 'Poštni sistemi teh prejemnikov ne pošiljajo poročil o dostavi, zato o njih ne boste prejeli nadaljnjih obvestil.',
    },
    expanded: {
      heading: 'Sporočilo je bilo dostavljeno na poštni seznam ali vzdevek in posredovano njegovim članom:',
      next: 'O članih ne boste prejeli nadaljnjih poročil.',
    },
  },
  delayedNoDate:
    'Poštni sistem bo dostavo poskušal še nekaj časa. Če sporočila na koncu ne bo mogoče dostaviti, boste prejeli novo obvestilo.',
  reason: 'Razlog: {explanation}',
  remoteReplied: 'Strežnik {host} je odgovoril:',
  details: 'Podrobnosti:',
  attachedFull: 'Izvirno sporočilo je priloženo.',
  attachedHeaders: 'Priložena je glava izvirnega sporočila.',
  help: 'Če potrebujete pomoč, to obvestilo posredujte skrbniku pošte in navedite zgornjo oznako v čakalni vrsti.',
  signature: 'Poštni sistem',
  explanations: {
    '1': 'Z naslovom prejemnika je nekaj narobe.',
    '1.1': 'Prejemnikov poštni predal ne obstaja. Preverite, ali je naslov pravilno napisan.',
    '1.2': 'Prejemnikova domena ne obstaja ali ne more prejemati pošte. Preverite del naslova za znakom @.',
    '1.3': 'Naslov prejemnika ni pravilno zapisan.',
    '1.6': 'Prejemnikov poštni predal je bil preseljen, novi naslov pa ni znan.',
    '1.10': 'Prejemnikova domena je sporočila, da ne sprejema pošte.',
    '2': 'S prejemnikovim poštnim predalom je težava.',
    '2.1': 'Prejemnikov poštni predal je onemogočen in ne sprejema sporočil.',
    '2.2': 'Prejemnikov poštni predal je poln.',
    '2.3': 'Sporočilo je večje, kot ga prejemnikov poštni predal sprejme.',
    '3': 'Prejemnikov poštni sistem ima težave.',
    '3.4': 'Sporočilo je preveliko za prejemnikov poštni sistem.',
    '4': 'Na poti do prejemnika je prišlo do težave z omrežjem ali usmerjanjem.',
    '4.1': 'Prejemnikov poštni strežnik se ni odzval.',
    '4.2': 'Povezava s prejemnikovim poštnim strežnikom je bila prekinjena.',
    '4.3': 'Prejemnikove domene ni bilo mogoče poiskati (težava z DNS).',
    '4.4': 'Za prejemnikovo domeno ni bilo mogoče najti poštnega strežnika.',
    '4.6': 'Sporočilo je krožilo med poštnimi strežniki.',
    '4.7': 'Sporočila ni bilo mogoče dostaviti v dovoljenem času.',
    '5': 'Prejemnikov poštni strežnik in naš poštni sistem se nista mogla sporazumeti.',
    '6': 'Prejemnikov poštni strežnik ni mogel obdelati vsebine sporočila.',
    '7': 'Prejemnikov poštni strežnik je sporočilo zavrnil zaradi svojih varnostnih pravil ali pravil proti neželeni pošti.',
    '7.1': 'Prejemnikov poštni strežnik je sporočilo zavrnil: pošiljatelj ali sporočilo tam ni dovoljeno.',
  },
  date: {
    pattern: '{day}. {month} {year} ob {hh}:{mm} (UTC)',
    // Genitive, as a date is written: "29. novembra 2026".
    months: [
      'januarja',
      'februarja',
      'marca',
      'aprila',
      'maja',
      'junija',
      'julija',
      'avgusta',
      'septembra',
      'oktobra',
      'novembra',
      'decembra',
    ],
  },
};

/** Every language of `dsn.language` (config/schema.ts DSN_LANGUAGES) has a template. */
export const DSN_TEMPLATES: Readonly<Record<DsnLanguage, DsnTemplate>> = { en, sl };

/** The template for `language`, English for anything unknown. */
export function dsnTemplate(language: DsnLanguage | string): DsnTemplate {
  return Object.hasOwn(DSN_TEMPLATES, language) ? DSN_TEMPLATES[language as DsnLanguage] : en;
}

/**
 * Fill `{name}` placeholders in one pass, so a value that itself contains "{date}" (a remote
 * reply, say) is never expanded again. Unknown names are left as they are.
 */
export function fillTemplate(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(/\{([A-Za-z]+)\}/g, (whole, name: string) =>
    Object.hasOwn(values, name) ? values[name] : whole,
  );
}
