/**
 * Starts a real server in-process on ephemeral loopback ports with a temporary data dir
 * (DESIGN.md §7). Every test calls `close()` (use `t.after`) so ports and files are released.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AccountAdmin } from '../../src/admin/accounts.js';
import { configFromObject, type Config, type ConfigInput } from '../../src/config/index.js';
import { startServer, type RunningServer } from '../../src/main.js';

export interface TestServer extends RunningServer {
  admin: AccountAdmin;
  dataDir: string;
  port(name: 'smtp' | 'submission' | 'submissions' | 'imap' | 'imaps'): number;
  /** Raw bytes of every message in the account's INBOX, in UID order. */
  inbox(address: string): Promise<Buffer[]>;
}

type Overrides = { [K in keyof ConfigInput]?: ConfigInput[K] };

export function testConfig(dataDir: string, overrides: Overrides = {}): Config {
  const base: ConfigInput = {
    hostname: 'mx.test.example',
    primary_domain: 'example.test',
    data_dir: dataDir,
    listen: {
      smtp: '127.0.0.1:0',
      submission: '127.0.0.1:0',
      submissions: '127.0.0.1:0',
      imap: '',
      imaps: '',
      pop3: '',
      pop3s: '',
      http: '',
    },
    // Outbound delivery never leaves loopback in tests: nothing answers DNS on port 9, so
    // remote recipients just wait (deferred). Tests of delivery point this at a test DNS.
    dns: { servers: ['127.0.0.1:9'], timeout: '500ms' },
    log: { level: process.env.POSTA_TEST_LOG ? 'debug' : 'silent' },
  };
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(overrides)) {
    const prev = merged[key];
    merged[key] =
      prev && typeof prev === 'object' && !Array.isArray(prev) && value && typeof value === 'object'
        ? { ...prev, ...value }
        : value;
  }
  return configFromObject(merged as ConfigInput);
}

export function makeTempDir(prefix = 'posta-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export async function startTestServer(overrides: Overrides = {}): Promise<TestServer> {
  const dataDir = makeTempDir();
  const config = testConfig(dataDir, overrides);
  let server: RunningServer;
  try {
    server = await startServer({ config });
  } catch (err) {
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const admin = new AccountAdmin(server.store);
  return {
    ...server,
    admin,
    dataDir,
    port(name) {
      const addr = server.addresses[name];
      if (!addr) throw new Error(`${name} is not listening`);
      return addr.port;
    },
    async inbox(address) {
      const account = await admin.getUser(address);
      const inbox = (await server.store.listMailboxes(account.id)).find((m) => m.name === 'INBOX')!;
      const messages = await server.store.listMailboxMessages(inbox.id);
      return Promise.all(messages.map((m) => server.bodies.read(m.blobHash)));
    },
    async close() {
      await server.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Removes the trace header we prepend, to compare stored bytes with what was sent. */
export function stripReceived(message: Buffer): Buffer {
  const text = message.toString('latin1');
  const match = /^Received:[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*/.exec(text);
  return match ? message.subarray(match[0].length) : message;
}

/** Polls `check` until it returns a truthy value or the timeout passes (then throws). */
export async function waitFor<T>(check: () => Promise<T> | T, what: string, timeoutMs = 20_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
