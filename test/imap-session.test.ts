/**
 * IMAP, first slice (issue #4): connecting, TLS, logging in, and what happens before.
 * Real clients: imapflow, and a raw socket where exact responses matter.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import tls from 'node:tls';
import { ImapFlow } from 'imapflow';
import { startTestServer, type TestServer } from './helpers/harness.js';
import { PASSWORD } from './helpers/smtp-fixtures.js';

const USER = 'alice@example.test';

async function imapServer(t: TestContext, overrides: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
  const server = await startTestServer({
    listen: { imap: '127.0.0.1:0', imaps: '127.0.0.1:0' },
    limits: { auth_failures: 3 },
    ...overrides,
  });
  t.after(() => server.close());
  await server.admin.addDomain('example.test');
  await server.admin.addUser(USER, PASSWORD);
  return server;
}

/** A line-oriented raw client. */
class RawImap {
  private buffer = '';
  private waiters: Array<() => void> = [];
  constructor(public socket: net.Socket) {
    this.listen(socket);
  }
  listen(socket: net.Socket): void {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.buffer += d;
      for (const w of this.waiters.splice(0)) w();
    });
  }
  /** Lines up to and including the first line that starts with `prefix`. */
  async until(prefix: string, timeoutMs = 10_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const lines = this.buffer.split('\r\n');
      const at = lines.findIndex((l, i) => i < lines.length - 1 && l.startsWith(prefix));
      if (at >= 0) {
        this.buffer = lines.slice(at + 1).join('\r\n');
        return lines.slice(0, at + 1);
      }
      if (Date.now() > deadline) throw new Error(`no "${prefix}" line; got: ${JSON.stringify(this.buffer)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
  write(text: string): void {
    this.socket.write(text);
  }
  pending(): string {
    return this.buffer;
  }
}

async function raw(t: TestContext, port: number): Promise<RawImap> {
  const socket = net.connect(port, '127.0.0.1');
  t.after(() => socket.destroy());
  await new Promise((resolve) => socket.once('connect', resolve));
  const client = new RawImap(socket);
  await client.until('* OK');
  return client;
}

function flow(server: TestServer, secure: boolean, pass = PASSWORD): ImapFlow {
  return new ImapFlow({
    host: '127.0.0.1',
    port: server.port(secure ? 'imaps' : 'imap'),
    secure,
    doSTARTTLS: secure ? undefined : true,
    tls: { rejectUnauthorized: false },
    auth: { user: USER, pass },
    logger: false,
  });
}

test('imapflow logs in over implicit TLS (993) and over STARTTLS (143)', async (t) => {
  const server = await imapServer(t);
  for (const secure of [true, false]) {
    const client = flow(server, secure);
    await client.connect();
    assert.equal(client.authenticated, true);
    assert.equal(client.secureConnection || Boolean((client as unknown as { _socket?: tls.TLSSocket })._socket?.encrypted), true);
    await client.logout();
  }
});

test('without TLS: LOGINDISABLED and STARTTLS are advertised, LOGIN and AUTHENTICATE are refused', async (t) => {
  const server = await imapServer(t);
  const c = await raw(t, server.port('imap'));
  c.write('a CAPABILITY\r\n');
  const caps = await c.until('a ');
  assert.match(caps[0], /^\* CAPABILITY .*\bSTARTTLS\b.*\bLOGINDISABLED\b/);
  assert.doesNotMatch(caps[0], /AUTH=PLAIN/);
  assert.equal(caps[1], 'a OK CAPABILITY completed');
  c.write(`b LOGIN ${USER} "${PASSWORD}"\r\n`);
  assert.deepEqual(await c.until('b '), ['b NO [PRIVACYREQUIRED] Use STARTTLS first']);
  c.write(`c AUTHENTICATE PLAIN ${Buffer.from(`\0${USER}\0${PASSWORD}`).toString('base64')}\r\n`);
  assert.deepEqual(await c.until('c '), ['c NO [PRIVACYREQUIRED] Use STARTTLS first']);
  c.write('d SELECT INBOX\r\n');
  assert.deepEqual(await c.until('d '), ['d BAD Log in first']);
});

test('commands pipelined behind STARTTLS are discarded (CVE-2011-0411)', async (t) => {
  const server = await imapServer(t);
  const c = await raw(t, server.port('imap'));
  c.write(`a STARTTLS\r\nb LOGIN ${USER} "${PASSWORD}"\r\n`);
  assert.deepEqual(await c.until('a '), ['a OK Begin TLS negotiation now']);
  const secure = tls.connect({ socket: c.socket, rejectUnauthorized: false });
  await new Promise((resolve) => secure.once('secureConnect', resolve));
  const s = new RawImap(secure as unknown as net.Socket);
  secure.write('z NOOP\r\n');
  const lines = await s.until('z ');
  assert.deepEqual(lines, ['z OK NOOP completed'], 'the injected LOGIN never ran');
  secure.write(`y LOGIN ${USER} "${PASSWORD}"\r\n`);
  assert.match((await s.until('y '))[0], /^y OK \[CAPABILITY [^\]]*\] Logged in$/);
  secure.destroy();
});

test('AUTHENTICATE PLAIN with an initial response and with a continuation; bad credentials; rate limit', async (t) => {
  const server = await imapServer(t);
  const socket = tls.connect({ port: server.port('imaps'), host: '127.0.0.1', rejectUnauthorized: false });
  t.after(() => socket.destroy());
  const s = new RawImap(socket as unknown as net.Socket);
  await s.until('* OK');
  const plain = (pass: string) => Buffer.from(`\0${USER}\0${pass}`).toString('base64');
  s.write('a AUTHENTICATE PLAIN\r\n');
  assert.deepEqual(await s.until('+'), ['+ ']);
  s.write(`${plain('wrong password')}\r\n`);
  assert.deepEqual(await s.until('a '), ['a NO [AUTHENTICATIONFAILED] Invalid credentials']);
  s.write('b AUTHENTICATE PLAIN\r\n');
  await s.until('+');
  s.write('*\r\n');
  assert.deepEqual(await s.until('b '), ['b BAD AUTHENTICATE cancelled']);
  s.write(`c AUTHENTICATE PLAIN ${plain(PASSWORD)}\r\n`);
  assert.match((await s.until('c '))[0], /^c OK \[CAPABILITY /);
  s.write('d LOGIN x y\r\n');
  assert.deepEqual(await s.until('d '), ['d BAD Already authenticated']);

  // limits.auth_failures = 3 per IP: the fourth try is refused whatever the password.
  const other = tls.connect({ port: server.port('imaps'), host: '127.0.0.1', rejectUnauthorized: false });
  t.after(() => other.destroy());
  const o = new RawImap(other as unknown as net.Socket);
  await o.until('* OK');
  for (let i = 0; i < 3; i++) {
    o.write(`f${i} LOGIN ${USER} "nope nope"\r\n`);
    await o.until(`f${i} `);
  }
  o.write(`g LOGIN ${USER} "${PASSWORD}"\r\n`);
  assert.deepEqual(await o.until('g '), ['g NO [UNAVAILABLE] Too many failed logins; try again later']);
});

test('malformed input gets BAD and the session goes on; LOGOUT says BYE', async (t) => {
  const server = await imapServer(t);
  const c = await raw(t, server.port('imap'));
  c.write('\x00\x01garbage\r\n');
  assert.match((await c.until('* BAD'))[0], /^\* BAD /);
  c.write('a NOSUCHCOMMAND\r\n');
  assert.match((await c.until('a '))[0], /^a BAD /);
  c.write(`b LOGIN {${1_000_000}}\r\n`);
  assert.match((await c.until('b '))[0], /^b (BAD|NO) /, 'a huge literal before login is refused, not awaited');
  c.write('c ID NIL\r\n');
  const id = await c.until('c ');
  assert.equal(id[0], '* ID ("name" "Posta")');
  c.write('d LOGOUT\r\n');
  assert.deepEqual(await c.until('d '), ['* BYE Logging out', 'd OK LOGOUT completed']);
});
