import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { chmod, mkdtemp, rm, stat, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { ConfigError } from '../errors/index.js';
import { ensureTlsMaterial } from './self-signed.js';

describe('ensureTlsMaterial', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'posta-tls-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('generates a self-signed pair once and reuses it', async () => {
    const dataDir = join(dir, 'data');
    const first = await ensureTlsMaterial({ dataDir, certFile: '', keyFile: '', hostname: 'mx.pošta.test' });
    assert.equal(first.selfSigned, true);
    assert.equal(first.certPath, join(dataDir, 'tls', 'cert.pem'));
    assert.equal(first.keyPath, join(dataDir, 'tls', 'key.pem'));
    for (const p of [first.certPath, first.keyPath]) {
      assert.equal((await stat(p)).mode & 0o777, 0o600, p);
    }
    assert.deepEqual((await readdir(join(dataDir, 'tls'))).sort(), ['cert.pem', 'key.pem']);

    const x509 = new X509Certificate(first.cert);
    assert.match(x509.subjectAltName ?? '', /DNS:mx\.xn--pota-h6a\.test/);
    assert.match(x509.subjectAltName ?? '', /DNS:localhost/);
    assert.match(x509.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
    assert.match(x509.subjectAltName ?? '', /IP Address:0:0:0:0:0:0:0:1/i);
    assert.ok(Date.parse(x509.validTo) - Date.now() > 9 * 365 * 24 * 3600 * 1000);
    assert.equal(x509.publicKey.asymmetricKeyType, 'rsa');

    const second = await ensureTlsMaterial({ dataDir, certFile: '', keyFile: '', hostname: 'mx.pošta.test' });
    assert.ok(second.cert.equals(first.cert));
    assert.ok(second.key.equals(first.key));
    assert.equal(second.selfSigned, true);

    // The pair works for a real handshake.
    tls.createSecureContext({ cert: first.cert, key: first.key });
    const server = tls.createServer({ cert: first.cert, key: first.key }, (s) => s.end('hello'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const got = await new Promise<string>((resolve, reject) => {
        const c = tls.connect({ host: '127.0.0.1', port, ca: first.cert, servername: 'localhost' }, () => {
          let data = '';
          c.setEncoding('utf8');
          c.on('data', (d: string) => (data += d));
          c.on('end', () => resolve(data));
        });
        c.on('error', reject);
      });
      assert.equal(got, 'hello');
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('regenerates when the host name changes', async () => {
    const dataDir = join(dir, 'rename');
    const a = await ensureTlsMaterial({ dataDir, certFile: '', keyFile: '', hostname: 'a.test' });
    const b = await ensureTlsMaterial({ dataDir, certFile: '', keyFile: '', hostname: 'b.test' });
    assert.ok(!a.cert.equals(b.cert));
    assert.equal(new X509Certificate(b.cert).checkHost('b.test'), 'b.test');
  });

  it('concurrent callers end up with one matching pair', async () => {
    const dataDir = join(dir, 'race');
    const all = await Promise.all(
      Array.from({ length: 3 }, () => ensureTlsMaterial({ dataDir, certFile: '', keyFile: '', hostname: 'race.test' })),
    );
    for (const m of all) {
      assert.ok(m.cert.equals(all[0].cert));
      tls.createSecureContext({ cert: m.cert, key: m.key });
    }
  });

  it('reads configured files', async () => {
    const gen = await ensureTlsMaterial({ dataDir: join(dir, 'src'), certFile: '', keyFile: '', hostname: 'x.test' });
    const got = await ensureTlsMaterial({ dataDir: join(dir, 'unused'), certFile: gen.certPath, keyFile: gen.keyPath, hostname: 'other.test' });
    assert.equal(got.selfSigned, false);
    assert.ok(got.cert.equals(gen.cert));
    assert.equal(got.certPath, gen.certPath);
  });

  it('names the config key when configured files are wrong', async () => {
    const gen = await ensureTlsMaterial({ dataDir: join(dir, 'src'), certFile: '', keyFile: '', hostname: 'x.test' });
    const other = await ensureTlsMaterial({ dataDir: join(dir, 'src2'), certFile: '', keyFile: '', hostname: 'y.test' });
    const missing = join(dir, 'nope.pem');
    const isConfigError = (key: string, text: RegExp) => (err: unknown) =>
      err instanceof ConfigError && err.key === key && text.test(err.message);

    await assert.rejects(ensureTlsMaterial({ dataDir: dir, certFile: missing, keyFile: gen.keyPath, hostname: 'x' }), isConfigError('tls.cert', /nope\.pem does not exist/));
    await assert.rejects(ensureTlsMaterial({ dataDir: dir, certFile: gen.certPath, keyFile: missing, hostname: 'x' }), isConfigError('tls.key', /nope\.pem does not exist/));
    await assert.rejects(ensureTlsMaterial({ dataDir: dir, certFile: gen.certPath, keyFile: '', hostname: 'x' }), isConfigError('tls.key', /set both/));
    await assert.rejects(ensureTlsMaterial({ dataDir: dir, certFile: '', keyFile: gen.keyPath, hostname: 'x' }), isConfigError('tls.cert', /set both/));
    await assert.rejects(ensureTlsMaterial({ dataDir: dir, certFile: gen.certPath, keyFile: other.keyPath, hostname: 'x' }), isConfigError('tls.key', /does not match/));
    const junk = join(dir, 'junk.pem');
    await writeFile(junk, 'not a pem');
    await assert.rejects(ensureTlsMaterial({ dataDir: dir, certFile: junk, keyFile: gen.keyPath, hostname: 'x' }), isConfigError('tls.cert', /not a PEM certificate/));
    await assert.rejects(ensureTlsMaterial({ dataDir: dir, certFile: gen.certPath, keyFile: junk, hostname: 'x' }), isConfigError('tls.key', /not an unencrypted PEM private key/));
    if (process.getuid?.() !== 0) {
      const locked = join(dir, 'locked.pem');
      await writeFile(locked, 'x');
      await chmod(locked, 0o000);
      await assert.rejects(ensureTlsMaterial({ dataDir: dir, certFile: locked, keyFile: gen.keyPath, hostname: 'x' }), isConfigError('tls.cert', /permission denied/));
    }
  });
});
