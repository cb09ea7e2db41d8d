/**
 * The config schema: one zod schema that validates, fills defaults and documents every key.
 * `posta config defaults` prints the annotated sample made from it (defaults.ts), so the doc
 * strings here are the user's documentation: keep them short and practical.
 *
 * Defaults are zod "prefaults": they are the TOML-side value ("25MB", "5m"), run through the same
 * parsing as user input, so the sample config can print them as written and they are validated too.
 */
import { z } from 'zod';
import { DurationSyntaxError, parseDuration } from './duration.js';
import { dnsServerProblem, HostPortSyntaxError, isHostname, parseHostPort } from './host-port.js';
import { parseSize, SizeSyntaxError } from './size.js';

export { parseHostPort, HostPortSyntaxError, isHostname } from './host-port.js';

/** A validated configuration. Durations are milliseconds, sizes are bytes, paths are absolute. */
export interface Config {
  hostname: string;
  primary_domain: string;
  data_dir: string;
  workers: number;
  listen: {
    smtp: string;
    submission: string;
    submissions: string;
    imap: string;
    imaps: string;
    pop3: string;
    pop3s: string;
    http: string;
  };
  tls: { cert: string; key: string };
  auth: { allow_plaintext: boolean };
  limits: {
    message_size: number;
    recipients: number;
    connections: number;
    connections_per_ip: number;
    auth_failures: number;
    auth_failure_window: number;
    command_timeout: number;
    data_timeout: number;
  };
  dns: { servers: string[]; timeout: number };
  delivery: {
    smtp_port: number;
    relay_host: string;
    relay_username: string;
    relay_password: string;
    max_connections: number;
    max_connections_per_domain: number;
    connect_timeout: number;
    command_timeout: number;
    data_timeout: number;
  };
  queue: { retry_min: number; retry_max: number; delay_warning: number; lifetime: number };
  dsn: { language: DsnLanguage };
  log: { level: LogLevel };
}

export const DSN_LANGUAGES = ['en', 'sl'] as const;
export type DsnLanguage = (typeof DSN_LANGUAGES)[number];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Show a rejected value in an error message the way the user wrote it. */
export function showValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v === undefined || v === null) return String(v);
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Date) return 'a date';
  return `a ${typeof v === 'object' ? 'table' : typeof v}`;
}

// --- field builders: each carries its own "what is wrong; how to fix it" message ---

function text(example: string, check?: (v: string) => string | null) {
  const s = z.string({ error: (iss) => `${showValue(iss.input)} is not a string; write it in quotes, e.g. ${example}` });
  if (!check) return s;
  return s.superRefine((v, ctx) => {
    const problem = check(v);
    if (problem) ctx.addIssue({ code: 'custom', message: problem, input: v });
  });
}

function int(min: number, max: number, example: number) {
  const range = max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `from ${min} to ${max}`;
  const error = (iss: { input?: unknown }) => `${showValue(iss.input)} is not a whole number ${range}; write e.g. ${example}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

/** A duration: TOML text like "5m", or a number of milliseconds (handy in tests). */
function duration(min = 1) {
  return z
    .union([z.string(), z.number()], {
      error: (iss) => `${showValue(iss.input)} is not a duration; write a number with a unit ms, s, m, h or d in quotes, e.g. "5m"`,
    })
    .transform((v, ctx) => {
      try {
        const ms = typeof v === 'number' ? numberAsMs(v) : parseDuration(v);
        if (ms < min) throw new DurationSyntaxError(`${showValue(v)} is too short; it must be at least ${min}ms, e.g. "5m"`);
        return ms;
      } catch (err) {
        if (!(err instanceof DurationSyntaxError)) throw err;
        ctx.issues.push({ code: 'custom', message: err.message, input: v });
        return z.NEVER;
      }
    });
}

function numberAsMs(v: number): number {
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new DurationSyntaxError(`${v} is not a duration; write a number with a unit ms, s, m, h or d in quotes, e.g. "5m"`);
  }
  return v;
}

/** A size: TOML text like "25MB", or a number of bytes. */
function size(min = 1) {
  return z
    .union([z.string(), z.number()], {
      error: (iss) => `${showValue(iss.input)} is not a size; write a number with KB, MB or GB in quotes, e.g. "25MB"`,
    })
    .transform((v, ctx) => {
      try {
        const bytes = parseSize(v);
        if (bytes < min) throw new SizeSyntaxError(`${showValue(v)} is too small; it must be at least ${min} bytes, e.g. "25MB"`);
        return bytes;
      } catch (err) {
        if (!(err instanceof SizeSyntaxError)) throw err;
        ctx.issues.push({ code: 'custom', message: err.message, input: v });
        return z.NEVER;
      }
    });
}

function domainProblem(v: string): string | null {
  if (isHostname(v)) return null;
  const idn = /[^\x00-\x7f]/.test(v) ? ' (write internationalized names in their xn-- form)' : '';
  return `${showValue(v)} is not a valid domain name${idn}; write e.g. "mail.example.com"`;
}

/** Check a "host:port" value; `emptyMeans` explains the "" choice in the fix text. */
function hostPortProblem(v: string, example: string, emptyMeans: string, allowPort0: boolean): string | null {
  if (v === '') return null;
  try {
    const { port } = parseHostPort(v);
    if (port === 0 && !allowPort0) return `port 0 cannot be connected to; write "host:port", e.g. "${example}", or "" ${emptyMeans}`;
    return null;
  } catch (err) {
    if (!(err instanceof HostPortSyntaxError)) throw err;
    return `${err.message}; write "host:port", e.g. "${example}" or "[::1]:${example.split(':')[1]}", or "" ${emptyMeans}`;
  }
}

function listen(def: string, doc: string) {
  return text(`"${def}"`, (v) => hostPortProblem(v, def, 'to turn this listener off', true))
    .prefault(def)
    .describe(doc);
}

/** A [name] table: unknown keys are errors (reported by load.ts, which names each key). */
function section<S extends z.core.$ZodLooseShape>(name: string, shape: S) {
  return z.strictObject(shape, {
    error: (iss) =>
      iss.code === 'unrecognized_keys' ? undefined : `${showValue(iss.input)} is not a section; write it as a [${name}] table (see posta config defaults)`,
  });
}

// --- the schema ---

const listenSection = section('listen', {
  smtp: listen('127.0.0.1:2525', 'SMTP for mail from other servers (MX). Production port: 25.'),
  submission: listen('127.0.0.1:2587', 'Submission with STARTTLS; AUTH required. Production port: 587.'),
  submissions: listen('127.0.0.1:2465', 'Submission over implicit TLS. Production port: 465.'),
  imap: listen('127.0.0.1:2143', 'IMAP with STARTTLS. Production port: 143.'),
  imaps: listen('127.0.0.1:2993', 'IMAP over implicit TLS. Production port: 993.'),
  pop3: listen('127.0.0.1:2110', 'POP3 with STLS. Production port: 110.'),
  pop3s: listen('127.0.0.1:2995', 'POP3 over implicit TLS. Production port: 995.'),
  http: listen('127.0.0.1:8025', 'HTTP: admin API, web UI, autoconfig, metrics.'),
})
  .prefault({})
  .describe(
    'Listening addresses as "host:port". "" turns a listener off; port 0 picks any free port. ' +
      'IPv6 addresses go in brackets: "[::1]:25". Use "0.0.0.0:25" or "[::]:25" for all interfaces.',
  );

const tlsSection = section('tls', {
  cert: text('"/etc/posta/cert.pem"').prefault('').describe('PEM certificate chain file. Relative paths are resolved against the config file\'s directory.'),
  key: text('"/etc/posta/key.pem"').prefault('').describe('PEM private key file for cert.'),
})
  .superRefine((tls, ctx) => {
    // Half a key pair is almost certainly a mistake; silently falling back to self-signed would hide it.
    if (tls.cert !== '' && tls.key === '') {
      ctx.addIssue({ code: 'custom', path: ['key'], message: 'tls.cert is set but tls.key is empty; set tls.key to the PEM private key file, or clear tls.cert to use a self-signed certificate' });
    } else if (tls.key !== '' && tls.cert === '') {
      ctx.addIssue({ code: 'custom', path: ['cert'], message: 'tls.key is set but tls.cert is empty; set tls.cert to the PEM certificate file, or clear tls.key to use a self-signed certificate' });
    }
  })
  .prefault({})
  .describe('TLS certificate and key. Leave both empty to have a self-signed certificate made in data_dir.');

const authSection = section('auth', {
  allow_plaintext: z
    .boolean({ error: (iss) => `${showValue(iss.input)} is not true or false; write allow_plaintext = false` })
    .prefault(false)
    .describe('Allow AUTH and LOGIN without TLS. Only for tests and loopback setups.'),
})
  .prefault({})
  .describe('Authentication.');

const limitsSection = section('limits', {
  message_size: size(1).prefault('25MB').describe('Largest message accepted, in KB, MB or GB (binary: 1MB = 1024KB).'),
  recipients: int(1, 100_000, 100).prefault(100).describe('Most recipients per message.'),
  connections: int(1, 1_000_000, 1000).prefault(1000).describe('Most concurrent SMTP connections, per worker.'),
  connections_per_ip: int(1, 1_000_000, 50).prefault(50).describe('Most concurrent SMTP connections from one client IP, per worker.'),
  auth_failures: int(1, 1_000_000, 5)
    .prefault(5)
    .describe('Failed AUTH attempts from one client IP within auth_failure_window before further AUTH is refused.'),
  auth_failure_window: duration().prefault('15m').describe('The window for auth_failures.'),
  command_timeout: duration().prefault('5m').describe('Idle time allowed between SMTP commands (RFC 5321 §4.5.3.2).'),
  data_timeout: duration().prefault('10m').describe('Deadline for the whole DATA transfer of one message.'),
})
  .prefault({})
  .describe('Limits. Durations take ms, s, m, h or d ("1h30m"); sizes take KB, MB or GB.');

const dnsSection = section('dns', {
  servers: z
    .array(
      text('"127.0.0.1:53"', (v) => {
        const problem = dnsServerProblem(v);
        return problem && `${problem}; write "ip", "ip:port" or "[v6]:port", e.g. "127.0.0.1:5353"`;
      }),
      {
        error: (iss) => `${showValue(iss.input)} is not a list; write e.g. servers = ["127.0.0.1:5353"], or [] for the system's resolvers`,
      },
    )
    .prefault([])
    .describe('DNS servers as "ip", "ip:port" or "[v6]:port", e.g. ["127.0.0.1:5353"]. Empty: the system\'s resolvers.'),
  timeout: duration().prefault('5s').describe('How long to wait for a DNS answer before asking again (two tries per server).'),
})
  .prefault({})
  .describe('DNS resolution for outbound delivery.');

const deliverySection = section('delivery', {
  smtp_port: int(1, 65535, 25).prefault(25).describe('Port to connect to on remote MX hosts (tests change it).'),
  relay_host: text('"smtp.example.net:587"', (v) => hostPortProblem(v, 'smtp.example.net:587', 'to deliver directly to MX hosts', false))
    .prefault('')
    .describe('Optional smarthost "host:port": send all remote mail through it instead of looking up MX hosts. Port 465 means implicit TLS.'),
  relay_username: text('"user@example.net"').prefault('').describe('AUTH user name for relay_host; empty: no AUTH.'),
  relay_password: text('"secret"').prefault('').describe('AUTH password for relay_host (sent only over TLS).'),
  max_connections: int(1, 100_000, 100).prefault(100).describe('Most concurrent outbound SMTP connections, per worker.'),
  max_connections_per_domain: int(1, 10_000, 10)
    .prefault(10)
    .describe('Most concurrent outbound SMTP connections to one destination domain, per worker.'),
  connect_timeout: duration().prefault('30s').describe('Time allowed to open a TCP connection to a remote host.'),
  command_timeout: duration()
    .prefault('5m')
    .describe('Time allowed for each reply of a remote server (greeting, EHLO, MAIL, RCPT, DATA); RFC 5321 §4.5.3.2 asks for at least 5m.'),
  data_timeout: duration()
    .prefault('10m')
    .describe('Time allowed for sending the message and for the reply to its final dot; RFC 5321 §4.5.3.2 asks for at least 10m.'),
})
  .superRefine((d, ctx) => {
    if (d.relay_username && !d.relay_host) {
      ctx.addIssue({ code: 'custom', path: ['relay_username'], message: 'relay_username is set but relay_host is empty; set relay_host or remove relay_username' });
    }
    if (d.max_connections_per_domain > d.max_connections) {
      ctx.addIssue({
        code: 'custom',
        path: ['max_connections_per_domain'],
        message: 'max_connections_per_domain is larger than max_connections; make it at most max_connections',
      });
    }
  })
  .prefault({})
  .describe('Outbound delivery.');

const queueSection = section('queue', {
  retry_min: duration().prefault('5m').describe('First retry after a temporary failure; doubles per attempt, with jitter.'),
  retry_max: duration().prefault('1h').describe('Longest wait between retries.'),
  delay_warning: duration().prefault('4h').describe('Send one "delayed" DSN to the sender after this long.'),
  lifetime: duration().prefault('5d').describe('Give up after this long and send a "failed" DSN.'),
})
  .superRefine((q, ctx) => {
    if (q.retry_min > q.retry_max) {
      ctx.addIssue({ code: 'custom', path: ['retry_max'], message: 'retry_max is shorter than retry_min; make retry_max at least as long as retry_min' });
    }
  })
  .prefault({})
  .describe('The outbound queue: retries and bounces.');

const dsnSection = section('dsn', {
  language: z
    .enum(DSN_LANGUAGES, { error: (iss) => `${showValue(iss.input)} is not a DSN language; write one of ${DSN_LANGUAGES.map((l) => `"${l}"`).join(', ')}` })
    .prefault('en')
    .describe(`Language of the human-readable part of delivery notices: ${DSN_LANGUAGES.join(', ')}.`),
})
  .prefault({})
  .describe('Delivery status notifications (bounces and delay warnings) sent to senders.');

const logSection = section('log', {
  level: z
    .enum(LOG_LEVELS, { error: (iss) => `${showValue(iss.input)} is not a log level; write one of ${LOG_LEVELS.map((l) => `"${l}"`).join(', ')}` })
    .prefault('info')
    .describe(`Log level: ${LOG_LEVELS.join(', ')}.`),
})
  .prefault({})
  .describe('Logging.');

export const configSchema = z.strictObject(
  {
    hostname: text('"mail.example.com"', domainProblem)
      .prefault('localhost')
      .describe('This host\'s name: used in EHLO, Received headers and as the DSN reporting MTA.'),
    primary_domain: text('"example.com"', domainProblem)
      .prefault('localhost')
      .describe('The mail domain created on first run, with its postmaster account.'),
    data_dir: text('"./data"', (v) => (v === '' ? '"" is not a directory; write a path, e.g. "./data"' : null))
      .prefault('./data')
      .describe('Where the database, message blobs and TLS material live. Relative to the config file\'s directory.'),
    workers: int(0, 64, 4).prefault(0).describe('Worker processes; 0 means one per CPU core.'),
    listen: listenSection,
    tls: tlsSection,
    auth: authSection,
    limits: limitsSection,
    dns: dnsSection,
    delivery: deliverySection,
    queue: queueSection,
    dsn: dsnSection,
    log: logSection,
  },
  {
    error: (iss) =>
      iss.code === 'unrecognized_keys' ? undefined : `the config is ${showValue(iss.input)}, not a table of keys; start from posta config defaults`,
  },
);

/** What the schema accepts: every key optional; durations and sizes as text or as ms/bytes. */
export type ConfigInput = z.input<typeof configSchema>;

// Compile-time proof that the schema produces exactly `Config` (fails to build if they drift).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _schemaMatchesConfig: Same<z.output<typeof configSchema>, Config> = true;
void _schemaMatchesConfig;
