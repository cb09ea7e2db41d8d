/**
 * The `posta` command as an administrator uses it: a child process per command, against
 * a config file in a temp dir.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import nodemailer from 'nodemailer';
import { loadConfig } from '../src/config/index.js';
import { startServer } from '../src/main.js';
import { makeTempDir, waitFor } from './helpers/harness.js';

const CLI = path.resolve('src/cli/main.ts');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function posta(args: string[], options: { stdin?: string; cwd?: string } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
      cwd: options.cwd,
      env: { ...process.env, POSTA_CONFIG: '' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(options.stdin ?? '');
  });
}

function setupDir(t: { after: (fn: () => void) => void }, extra = ''): { dir: string; configFile: string } {
  const dir = makeTempDir('posta-cli-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const configFile = path.join(dir, 'posta.toml');
  fs.writeFileSync(
    configFile,
    `hostname = "mx.cli.test"\nprimary_domain = "cli.test"\ndata_dir = "data"\n${extra}` +
      `[listen]\nsmtp = "127.0.0.1:0"\nsubmission = ""\nsubmissions = ""\nimap = ""\nimaps = ""\npop3 = ""\npop3s = ""\nhttp = ""\n` +
      `[log]\nlevel = "silent"\n`,
  );
  return { dir, configFile };
}

test('config defaults prints a sample that config check accepts', async (t) => {
  const { dir } = setupDir(t);
  const defaults = await posta(['config', 'defaults']);
  assert.equal(defaults.code, 0);
  assert.match(defaults.stdout, /^\[limits\]$/m);
  assert.match(defaults.stdout, /message_size = "25MB"/);
  const sample = path.join(dir, 'sample.toml');
  fs.writeFileSync(sample, defaults.stdout);
  const check = await posta(['config', 'check', '--config', sample]);
  assert.equal(check.code, 0, check.stderr);
  assert.match(check.stdout, /sample\.toml: ok/);
});

test('config check names the bad key and exits non-zero', async (t) => {
  const { dir } = setupDir(t);
  const bad = path.join(dir, 'bad.toml');
  fs.writeFileSync(bad, '[queue]\nretry_min = "soon"\n');
  const result = await posta(['config', 'check', '--config', bad]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /queue\.retry_min/);
  const unknown = path.join(dir, 'unknown.toml');
  fs.writeFileSync(unknown, 'hostnme = "typo.test"\n');
  const typo = await posta(['config', 'check', '--config', unknown]);
  assert.equal(typo.code, 2);
  assert.match(typo.stderr, /hostnme/);
});

test('domain, user and alias commands manage accounts', async (t) => {
  const { configFile } = setupDir(t);
  const c = ['--config', configFile];
  assert.equal((await posta(['domain', 'add', 'Pošta.test', ...c])).code, 0);
  const domains = await posta(['domain', 'list', ...c]);
  assert.match(domains.stdout, /^pošta\.test \(xn--pota-h6a\.test\)$/m);

  const noDomain = await posta(['user', 'add', 'x@missing.test', '--password', 'long enough pw', ...c]);
  assert.equal(noDomain.code, 2);
  assert.match(noDomain.stderr, /posta domain add missing\.test/);

  const added = await posta(['user', 'add', 'Ana@pošta.test', '--password-stdin', ...c], { stdin: 'secret password\n' });
  assert.equal(added.code, 0, added.stderr);
  assert.doesNotMatch(added.stdout, /password:/, 'a given password is not echoed');
  const generated = await posta(['user', 'add', 'bo@pošta.test', '--quota', '1GB', ...c]);
  assert.match(generated.stdout, /^password: \S{20}$/m, 'a generated password is printed once');

  const users = await posta(['user', 'list', ...c]);
  assert.match(users.stdout, /^Ana@pošta\.test$/m);
  assert.match(users.stdout, /^bo@pošta\.test {2}quota 1GB$/m);

  const short = await posta(['user', 'passwd', 'ana@pošta.test', '--password', 'short', ...c]);
  assert.equal(short.code, 2);
  assert.match(short.stderr, /at least 8 characters/);

  assert.equal((await posta(['alias', 'add', 'team@pošta.test', 'ana@pošta.test', 'bo@pošta.test', ...c])).code, 0);
  const aliases = await posta(['alias', 'list', ...c]);
  assert.match(aliases.stdout, /^team@pošta\.test -> ana@pošta\.test, bo@pošta\.test$/m);
  assert.equal((await posta(['alias', 'remove', 'team@pošta.test', ...c])).code, 0);
  assert.equal((await posta(['user', 'remove', 'bo@pošta.test', ...c])).code, 0);
  assert.doesNotMatch((await posta(['user', 'list', ...c])).stdout, /bo@/);
});

test('account commands work while the server runs', async (t) => {
  const { configFile } = setupDir(t);
  const c = ['--config', configFile];
  const { config } = loadConfig({ file: configFile });
  const server = await startServer({ config });
  t.after(() => server.close());
  assert.equal((await posta(['domain', 'add', 'live.test', ...c])).code, 0);
  assert.equal((await posta(['user', 'add', 'new@live.test', '--password', 'a fine password', ...c])).code, 0);
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: server.addresses.smtp!.port, ignoreTLS: true });
  const info = await transport.sendMail({
    envelope: { from: 'x@remote.test', to: ['new@live.test'] },
    raw: 'Subject: welcome\r\n\r\nhi\r\n',
  });
  assert.match(info.response, /^250 /);
  const queue = await posta(['queue', 'list', ...c]);
  assert.match(queue.stdout, /Mail queue is empty/);
});

test('queue commands: list, show with attempts, hold/release, retry, bounce, delete', async (t) => {
  const { configFile } = setupDir(t, '');
  fs.appendFileSync(configFile, '[dns]\nservers = ["127.0.0.1:9"]\ntimeout = "300ms"\n[queue]\nretry_min = "1h"\nretry_max = "2h"\n');
  const c = ['--config', configFile];
  const { config } = loadConfig({ file: configFile });
  const server = await startServer({ config });
  t.after(() => server.close());
  assert.equal((await posta(['domain', 'add', 'cli.test', ...c])).code, 0);
  assert.equal((await posta(['alias', 'add', 'fwd@cli.test', 'far@remote.test', ...c])).code, 0);
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: server.addresses.smtp!.port, ignoreTLS: true });
  const info = await transport.sendMail({ envelope: { from: 'x@else.test', to: ['fwd@cli.test'] }, raw: 'Subject: away\r\n\r\nhi\r\n' });
  const id = /queued as ([0-9A-Z]+)/.exec(info.response)![1];
  // Nobody answers DNS on port 9: the first attempt is deferred with a DNS error.
  await waitFor(async () => (await server.store.getQueueMessage(id))!.recipients[0].state === 'deferred', 'deferred');

  const list = await posta(['queue', 'list', ...c]);
  assert.match(list.stdout, new RegExp(`^${id}  \\d+ `, 'm'));
  assert.match(list.stdout, /far@remote\.test {2}deferred {2}\(.*4\.4\.3|DNS/);
  const show = await posta(['queue', 'show', id, ...c]);
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /Sender: {4}<x@else\.test>/);
  assert.match(show.stdout, /far@remote\.test {2}deferred {2}attempts=1/);
  assert.match(show.stdout, /Attempts:\n {2}\S+Z {2}far@remote\.test {2}deferred/);
  const json = JSON.parse((await posta(['queue', 'show', id, '--json', ...c])).stdout);
  assert.equal(json.attempts.length, 1);
  assert.equal(json.recipients[0].status, '4.4.3');

  assert.match((await posta(['queue', 'hold', id, ...c])).stdout, /1 recipient\(s\) on hold/);
  assert.match((await posta(['queue', 'list', ...c])).stdout, new RegExp(`^${id}! `, 'm'));
  assert.match((await posta(['queue', 'release', id, ...c])).stdout, /1 recipient\(s\) released/);
  const usage = await posta(['queue', 'retry', ...c]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /give a queue id or --all/);
  assert.equal((await posta(['queue', 'retry', '--all', ...c])).code, 0);
  assert.match((await posta(['queue', 'bounce', id, ...c])).stdout, /1 recipient\(s\) failed/);
  // The original is finished; its notice to the (remote) sender waits in the queue, from <>.
  const after = await waitFor(async () => {
    const out = (await posta(['queue', 'list', ...c])).stdout;
    return out.includes(id) ? null : out;
  }, 'bounce settled');
  assert.match(after, /^\S+ +\d+ +\S+ +<>\n {4}x@else\.test/m);
  const missing = await posta(['queue', 'delete', 'NOSUCHID', ...c]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /no queued message NOSUCHID; see: posta queue list/);
});
