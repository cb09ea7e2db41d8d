import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../errors/index.js';
import { configFromObject, loadConfig, locateConfigFile, parseConfigText } from './load.js';

const base = { baseDir: '/srv/posta' };

/** Assert that `fn` throws a ConfigError for `key` whose message matches `pattern`. */
function throwsConfig(fn: () => unknown, key: string, pattern: RegExp): ConfigError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  assert.equal(caught.key, key);
  assert.match(caught.message, pattern);
  return caught;
}

void describe('parseConfigText', () => {
  void it('fills every default and converts durations and sizes', () => {
    const c = parseConfigText('', base);
    assert.equal(c.hostname, 'localhost');
    assert.equal(c.primary_domain, 'localhost');
    assert.equal(c.workers, 0);
    assert.equal(c.listen.smtp, '127.0.0.1:2525');
    assert.equal(c.listen.http, '127.0.0.1:8025');
    assert.deepEqual(c.tls, { cert: '', key: '' });
    assert.equal(c.auth.allow_plaintext, false);
    assert.equal(c.limits.message_size, 25 * 1024 * 1024);
    assert.equal(c.limits.auth_failure_window, 15 * 60_000);
    assert.equal(c.limits.command_timeout, 5 * 60_000);
    assert.equal(c.limits.data_timeout, 10 * 60_000);
    assert.deepEqual(c.dns, { servers: [], timeout: 5000 });
    // RFC 5321 §4.5.3.2 minimums: 5 minutes per command, 10 for the end of DATA.
    assert.deepEqual(c.delivery, {
      smtp_port: 25,
      relay_host: '',
      relay_username: '',
      relay_password: '',
      max_connections: 100,
      max_connections_per_domain: 10,
      connect_timeout: 30_000,
      command_timeout: 300_000,
      data_timeout: 600_000,
    });
    assert.equal(c.dsn.language, 'en');
    assert.deepEqual(c.queue, { retry_min: 300_000, retry_max: 3_600_000, delay_warning: 14_400_000, lifetime: 432_000_000 });
    assert.equal(c.log.level, 'info');
  });

  void it('reads the keys of DESIGN.md §6', () => {
    const c = parseConfigText(
      `hostname = "mail.example.com"
[listen]
smtp = "[::1]:25"
imap = ""
[limits]
message_size = "10MB"
recipients = 5
[dns]
servers = ["127.0.0.1:5353"]
[delivery]
smtp_port = 2526
relay_host = "smtp.example.net:587"
[queue]
retry_min = "200ms"
retry_max = "1s"
`,
      base,
    );
    assert.equal(c.hostname, 'mail.example.com');
    assert.equal(c.listen.smtp, '[::1]:25');
    assert.equal(c.listen.imap, '');
    assert.equal(c.limits.message_size, 10 * 1024 * 1024);
    assert.equal(c.limits.recipients, 5);
    assert.deepEqual(c.dns.servers, ['127.0.0.1:5353']);
    assert.equal(c.delivery.smtp_port, 2526);
    assert.equal(c.delivery.relay_host, 'smtp.example.net:587');
    assert.equal(c.queue.retry_min, 200);
    assert.equal(c.queue.retry_max, 1000);
  });

  void it('names an unknown top-level key', () => {
    throwsConfig(() => parseConfigText('hostnmae = "x"', base), 'hostnmae', /unknown key "hostnmae"; remove it or check the spelling \(see posta config defaults\)/);
  });

  void it('names an unknown nested key with its dotted path', () => {
    throwsConfig(() => parseConfigText('[limits]\nmessage_sise = "1MB"', base), 'limits.message_sise', /unknown key "message_sise"/);
  });

  void it('names an unknown section', () => {
    throwsConfig(() => parseConfigText('[smtp]\nport = 25', base), 'smtp', /unknown key "smtp"/);
  });

  void it('names queue.retry_min for a bad duration and says how to fix it', () => {
    throwsConfig(() => parseConfigText('[queue]\nretry_min = "5 minutes"', base), 'queue.retry_min', /"5 minutes" is not a duration.*e\.g\. "30s", "5m"/);
  });

  void it('names limits.message_size for a bad size', () => {
    throwsConfig(() => parseConfigText('[limits]\nmessage_size = "abc"', base), 'limits.message_size', /"abc" is not a size; write a number with KB, MB or GB, e\.g\. "25MB"/);
  });

  void it('names listen.smtp for a bad listen address', () => {
    throwsConfig(() => parseConfigText('[listen]\nsmtp = "127.0.0.1"', base), 'listen.smtp', /missing ":port".*write "host:port", e\.g\. "127\.0\.0\.1:2525"/);
    throwsConfig(() => parseConfigText('[listen]\nsmtp = "127.0.0.1:99999"', base), 'listen.smtp', /port "99999" is not a number from 0 to 65535/);
  });

  void it('refuses a TLS cert without a key, naming tls.key', () => {
    throwsConfig(() => parseConfigText('[tls]\ncert = "cert.pem"', base), 'tls.key', /tls\.cert is set but tls\.key is empty; set tls\.key/);
  });

  void it('refuses a TLS key without a cert, naming tls.cert', () => {
    throwsConfig(() => parseConfigText('[tls]\nkey = "key.pem"', base), 'tls.cert', /tls\.key is set but tls\.cert is empty/);
  });

  void it('refuses retry_min > retry_max, naming queue.retry_max', () => {
    throwsConfig(() => parseConfigText('[queue]\nretry_min = "2h"\nretry_max = "1h"', base), 'queue.retry_max', /at least as long as retry_min/);
    // Equal is fine: a constant retry interval.
    assert.equal(parseConfigText('[queue]\nretry_min = "1h"\nretry_max = "1h"', base).queue.retry_max, 3_600_000);
  });

  void it('checks types, ranges and enums with a fix in the message', () => {
    throwsConfig(() => parseConfigText('workers = 65', base), 'workers', /65 is not a whole number from 0 to 64/);
    throwsConfig(() => parseConfigText('[limits]\nrecipients = 0', base), 'limits.recipients', /0 is not a whole number from 1/);
    throwsConfig(() => parseConfigText('[limits]\nrecipients = "100"', base), 'limits.recipients', /"100" is not a whole number/);
    throwsConfig(() => parseConfigText('hostname = 5', base), 'hostname', /5 is not a string; write it in quotes/);
    throwsConfig(() => parseConfigText('hostname = "mail_1.example.com"', base), 'hostname', /not a valid domain name/);
    throwsConfig(() => parseConfigText('[auth]\nallow_plaintext = "yes"', base), 'auth.allow_plaintext', /not true or false/);
    throwsConfig(() => parseConfigText('[log]\nlevel = "verbose"', base), 'log.level', /"verbose" is not a log level; write one of "fatal"/);
    throwsConfig(() => parseConfigText('[dns]\nservers = ["dns.google"]', base), 'dns.servers[0]', /not an IP address/);
    throwsConfig(() => parseConfigText('[delivery]\nrelay_host = "smtp.example.net"', base), 'delivery.relay_host', /missing ":port"/);
    throwsConfig(() => parseConfigText('listen = "127.0.0.1:25"', base), 'listen', /is not a section; write it as a \[listen\] table/);
    throwsConfig(() => parseConfigText('[limits]\ncommand_timeout = "0s"', base), 'limits.command_timeout', /too short/);
  });

  void it('reports every problem, the first one as the key', () => {
    const err = throwsConfig(() => parseConfigText('workers = -1\n[queue]\nlifetime = "forever"', base), 'workers', /workers/);
    assert.match(err.message, /\nconfig: queue\.lifetime: "forever" is not a duration/);
  });

  void it('turns TOML syntax errors into a ConfigError with line and column', () => {
    throwsConfig(() => parseConfigText('hostname = "a"\nworkers = = 2\n', { ...base, sourceName: 'posta.toml' }), '', /posta\.toml:2:\d+: TOML syntax error/);
  });

  void it('resolves a relative data_dir and TLS paths against baseDir', () => {
    const c = parseConfigText('data_dir = "var/data"\n[tls]\ncert = "tls/cert.pem"\nkey = "/etc/key.pem"', base);
    assert.equal(c.data_dir, path.resolve('/srv/posta/var/data'));
    assert.equal(c.tls.cert, path.resolve('/srv/posta/tls/cert.pem'));
    assert.equal(c.tls.key, path.resolve('/etc/key.pem'));
    assert.equal(parseConfigText('', base).data_dir, path.resolve('/srv/posta/data'));
    assert.equal(parseConfigText('data_dir = "/abs/dir"', base).data_dir, path.resolve('/abs/dir'));
  });
});

void describe('configFromObject', () => {
  void it('accepts durations and sizes as text or numbers', () => {
    const c = configFromObject({ limits: { message_size: 1000, data_timeout: '2s' }, queue: { retry_min: 200, retry_max: '1s' } });
    assert.equal(c.limits.message_size, 1000);
    assert.equal(c.limits.data_timeout, 2000);
    assert.equal(c.queue.retry_min, 200);
    assert.equal(c.queue.retry_max, 1000);
  });

  void it('defaults baseDir to the cwd', () => {
    assert.equal(configFromObject({}).data_dir, path.resolve(process.cwd(), 'data'));
    assert.equal(configFromObject({ data_dir: 'x' }, { baseDir: '/b' }).data_dir, path.resolve('/b/x'));
  });

  void it('takes a finished Config back unchanged', () => {
    const c = configFromObject({ listen: { smtp: '127.0.0.1:0' }, limits: { message_size: '1MB' } }, base);
    assert.deepEqual(configFromObject(c, { baseDir: '/elsewhere' }), c);
  });

  void it('validates like a file does', () => {
    throwsConfig(() => configFromObject({ queue: { retry_min: 'soon' } }), 'queue.retry_min', /"soon" is not a duration/);
    throwsConfig(() => configFromObject({ limits: { nope: 1 } } as never), 'limits.nope', /unknown key "nope"/);
    throwsConfig(() => configFromObject({ queue: { retry_min: -5 } }), 'queue.retry_min', /-5 is not a duration/);
  });
});

void describe('locateConfigFile and loadConfig', () => {
  let dir: string;
  let cwd: string;
  let explicit: string;
  let fromEnv: string;

  void before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'posta-config-'));
    cwd = path.join(dir, 'cwd');
    mkdirSync(cwd);
    explicit = path.join(dir, 'explicit.toml');
    fromEnv = path.join(dir, 'env.toml');
    writeFileSync(explicit, 'hostname = "explicit.example"\ndata_dir = "d"\n');
    writeFileSync(fromEnv, 'hostname = "env.example"\n');
  });
  void after(() => rmSync(dir, { recursive: true, force: true }));

  void it('uses built-in defaults when nothing is given and there is no ./posta.toml', () => {
    assert.equal(locateConfigFile({ env: {}, cwd }), null);
    const { config, source } = loadConfig({ env: {}, cwd });
    assert.equal(source, null);
    assert.equal(config.hostname, 'localhost');
    assert.equal(config.data_dir, path.join(cwd, 'data'));
  });

  void it('prefers ./posta.toml to defaults, POSTA_CONFIG to ./posta.toml, and --config to everything', () => {
    const local = path.join(cwd, 'posta.toml');
    writeFileSync(local, 'hostname = "local.example"\n');
    try {
      assert.equal(locateConfigFile({ env: {}, cwd }), local);
      assert.equal(locateConfigFile({ env: { POSTA_CONFIG: fromEnv }, cwd }), fromEnv);
      assert.equal(locateConfigFile({ file: explicit, env: { POSTA_CONFIG: fromEnv }, cwd }), explicit);
      // An empty POSTA_CONFIG counts as unset.
      assert.equal(locateConfigFile({ env: { POSTA_CONFIG: '' }, cwd }), local);
      assert.equal(loadConfig({ env: {}, cwd }).config.hostname, 'local.example');
      assert.equal(loadConfig({ env: { POSTA_CONFIG: fromEnv }, cwd }).config.hostname, 'env.example');
    } finally {
      rmSync(local);
    }
  });

  void it('resolves a relative --config against cwd, and data_dir against the file', () => {
    const { config, source } = loadConfig({ file: '../explicit.toml', env: {}, cwd });
    assert.equal(source, explicit);
    assert.equal(config.hostname, 'explicit.example');
    assert.equal(config.data_dir, path.join(dir, 'd'));
  });

  void it('refuses a missing --config or POSTA_CONFIG file, naming the path', () => {
    const missing = path.join(dir, 'missing.toml');
    throwsConfig(() => locateConfigFile({ file: missing, env: {}, cwd }), '--config', new RegExp(`"${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}" does not exist`));
    throwsConfig(() => locateConfigFile({ env: { POSTA_CONFIG: missing }, cwd }), 'POSTA_CONFIG', /missing\.toml" does not exist/);
    throwsConfig(() => locateConfigFile({ file: dir, env: {}, cwd }), '--config', /is not a file/);
  });

  void it('names the file and line of a TOML syntax error', () => {
    const broken = path.join(dir, 'broken.toml');
    writeFileSync(broken, '[limits\n');
    throwsConfig(() => loadConfig({ file: broken, env: {} }), '', /broken\.toml:1:\d+: TOML syntax error/);
  });
});
