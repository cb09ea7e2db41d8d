/**
 * Shared setup for the SMTP integration tests: a started server with the domain
 * example.test and the users alice, bob and postmaster, plus small client helpers.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import nodemailer from 'nodemailer';
import { startTestServer, type TestServer } from './harness.js';
import { RawSmtpClient, dataPayload, type Reply } from './smtp-client.js';

export const PASSWORD = 'correct horse battery';
export const DOMAIN = 'example.test';

type Overrides = Parameters<typeof startTestServer>[0];

const openClients = new WeakMap<TestServer, Set<RawSmtpClient>>();

/** A started server (closed after the test) with example.test and alice, bob, postmaster. */
export async function mailServer(t: TestContext, overrides: Overrides = {}): Promise<TestServer> {
  const server = await startTestServer(overrides);
  const clients = new Set<RawSmtpClient>();
  openClients.set(server, clients);
  // Clients first: the server's close waits for open connections to finish.
  t.after(async () => {
    for (const client of clients) client.close();
    await server.close();
  });
  await server.admin.addDomain(DOMAIN);
  for (const user of ['alice', 'bob', 'postmaster']) await server.admin.addUser(`${user}@${DOMAIN}`, PASSWORD);
  return server;
}

/** A raw client on one of the listeners, after EHLO (and STARTTLS + EHLO on submission). */
export async function rawClient(
  t: TestContext,
  server: TestServer,
  listener: 'smtp' | 'submission' | 'submissions' = 'smtp',
  options: { ehlo?: boolean; startTls?: boolean } = {},
): Promise<RawSmtpClient> {
  const client = await RawSmtpClient.connect(server.port(listener), { tls: listener === 'submissions' });
  const clients = openClients.get(server);
  if (clients) clients.add(client);
  else t.after(() => client.close());
  if (client.greeting.code !== 220) throw new Error(`unexpected greeting: ${client.greeting.raw}`);
  if (options.ehlo !== false) {
    const ehlo = await client.ehlo();
    if (ehlo.code !== 250) throw new Error(`EHLO failed: ${ehlo.raw}`);
    if (listener === 'submission' && options.startTls !== false) await client.startTls();
  }
  return client;
}

/** AUTH PLAIN for `user` (a full address) on a raw client; returns the reply. */
export function authPlain(client: RawSmtpClient, user: string, password = PASSWORD): Promise<Reply> {
  return client.command(`AUTH PLAIN ${Buffer.from(`\0${user}\0${password}`).toString('base64')}`);
}

export interface TransactionReplies {
  mail: Reply;
  rcpts: Reply[];
  data?: Reply;
  end?: Reply;
}

/**
 * MAIL, RCPT..., DATA and the message (dot-stuffed here). Stops after a failed MAIL, and
 * after DATA when no recipient was accepted. `body` is sent as given: include CRLFs.
 */
export async function transaction(
  client: RawSmtpClient,
  from: string,
  to: string[],
  body: string | Buffer,
  options: { mailParams?: string; rcptParams?: string } = {},
): Promise<TransactionReplies> {
  const mail = await client.command(`MAIL FROM:<${from}>${options.mailParams ? ' ' + options.mailParams : ''}`);
  const result: TransactionReplies = { mail, rcpts: [] };
  if (mail.code !== 250) return result;
  for (const rcpt of to) {
    result.rcpts.push(await client.command(`RCPT TO:<${rcpt}>${options.rcptParams ? ' ' + options.rcptParams : ''}`));
  }
  result.data = await client.command('DATA');
  if (result.data.code !== 354) return result;
  client.write(dataPayload(body));
  result.end = await client.readReply();
  return result;
}

/** A message with CRLF line ends. */
export function message(subject: string, body = 'Hello.', extraHeaders = ''): string {
  return (
    `From: sender@remote.test\r\nTo: someone@${DOMAIN}\r\nSubject: ${subject}\r\n` +
    `Date: Mon, 30 Nov 2026 10:00:00 +0000\r\nMessage-ID: <${subject.replace(/\W/g, '')}@remote.test>\r\n` +
    `${extraHeaders}\r\n${body}\r\n`
  );
}

/** A nodemailer transport to the MX listener (plain, no TLS). */
export function mxTransport(server: TestServer) {
  return nodemailer.createTransport({ host: '127.0.0.1', port: server.port('smtp'), secure: false, ignoreTLS: true });
}

/** A nodemailer transport to submission (STARTTLS) or submissions (implicit TLS). */
export function submissionTransport(
  server: TestServer,
  user: string,
  options: { listener?: 'submission' | 'submissions'; password?: string; method?: 'PLAIN' | 'LOGIN' } = {},
) {
  const listener = options.listener ?? 'submission';
  return nodemailer.createTransport({
    host: '127.0.0.1',
    port: server.port(listener),
    secure: listener === 'submissions',
    requireTLS: listener === 'submission',
    auth: { user, pass: options.password ?? PASSWORD },
    authMethod: options.method ?? 'PLAIN',
    tls: { rejectUnauthorized: false },
  });
}

/** Messages stored in every INBOX of the server, by address. */
export async function allInboxes(server: TestServer): Promise<Map<string, Buffer[]>> {
  const result = new Map<string, Buffer[]>();
  for (const account of await server.admin.listUsers()) {
    const address = `${account.localPart}@${account.domain}`;
    result.set(address, await server.inbox(address));
  }
  return result;
}

/** Number of messages in all INBOXes together. */
export async function storedCount(server: TestServer): Promise<number> {
  let n = 0;
  for (const messages of (await allInboxes(server)).values()) n += messages.length;
  return n;
}

/** Files left in the blob store's temporary directory. */
export function tmpFiles(server: TestServer): string[] {
  const dir = path.join(server.blobs.root, 'tmp');
  return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
}
