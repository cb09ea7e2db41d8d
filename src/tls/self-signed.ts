/**
 * TLS material for every listener: the configured certificate and key, or a self-signed
 * pair generated once into `<dataDir>/tls/` and reused afterwards.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { domainToASCII } from 'node:url';
import { generate } from 'selfsigned';
import { ConfigError } from '../errors/index.js';

export interface TlsMaterialOptions {
  dataDir: string;
  /** Configured certificate (PEM, may include the chain); empty for self-signed. */
  certFile: string;
  /** Configured private key (PEM); empty for self-signed. */
  keyFile: string;
  /** Our host name: the subject and first SAN of a generated certificate. */
  hostname: string;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  selfSigned: boolean;
  certPath: string;
  keyPath: string;
}

const VALID_YEARS = 10;
/** Regenerate a self-signed certificate this long before it expires. */
const RENEW_BEFORE_MS = 30 * 24 * 3600 * 1000;
const LOCK_STALE_MS = 120_000;

/**
 * Load or create the TLS certificate and key.
 * - certFile and keyFile both set: read them; a missing, unreadable or mismatched file is a
 *   ConfigError naming `tls.cert` / `tls.key`.
 * - both empty: use `<dataDir>/tls/cert.pem` and `key.pem`, generating them (RSA 2048,
 *   SHA-256, 10 years, SAN hostname + localhost + 127.0.0.1 + ::1) when missing, unusable,
 *   expiring within 30 days, or not valid for `hostname`.
 */
export async function ensureTlsMaterial(opts: TlsMaterialOptions): Promise<TlsMaterial> {
  const certFile = opts.certFile ?? '';
  const keyFile = opts.keyFile ?? '';
  if (certFile !== '' || keyFile !== '') {
    if (certFile === '') throw new ConfigError('tls.cert', 'tls.key is set but tls.cert is empty; set both, or neither for a self-signed certificate');
    if (keyFile === '') throw new ConfigError('tls.key', 'tls.cert is set but tls.key is empty; set both, or neither for a self-signed certificate');
    return loadConfigured(resolve(certFile), resolve(keyFile));
  }

  const dir = join(opts.dataDir, 'tls');
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  const existing = await readUsable(certPath, keyPath, opts.hostname);
  if (existing) return { ...existing, selfSigned: true, certPath, keyPath };

  await mkdir(dir, { recursive: true, mode: 0o700 });
  // Several worker processes may start at once: one generates, the others wait and reuse.
  return withLock(join(dir, '.generate.lock'), async () => {
    const again = await readUsable(certPath, keyPath, opts.hostname);
    if (again) return { ...again, selfSigned: true, certPath, keyPath };
    const { cert, key } = await generateSelfSigned(opts.hostname);
    // Key first: a crash in between leaves an unmatched pair, which is regenerated.
    await writeFileAtomic(keyPath, key);
    await writeFileAtomic(certPath, cert);
    await fsyncDir(dir);
    return { cert, key, selfSigned: true, certPath, keyPath };
  });
}

async function loadConfigured(certPath: string, keyPath: string): Promise<TlsMaterial> {
  const cert = await readConfigured('tls.cert', 'certificate', certPath);
  const key = await readConfigured('tls.key', 'private key', keyPath);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new ConfigError('tls.cert', `${certPath} is not a PEM certificate (${errText(err)})`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new ConfigError('tls.key', `${keyPath} is not an unencrypted PEM private key (${errText(err)})`);
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new ConfigError('tls.key', `${keyPath} does not match the certificate in ${certPath}`);
  }
  return { cert, key, selfSigned: false, certPath, keyPath };
}

async function readConfigured(configKey: string, what: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable (permission denied)' : code === 'EISDIR' ? 'is a directory' : errText(err);
    throw new ConfigError(configKey, `${what} file ${path} ${reason}`);
  }
}

/** The generated pair, if both files exist, match, are not about to expire, and cover hostname. */
async function readUsable(certPath: string, keyPath: string, hostname: string): Promise<{ cert: Buffer; key: Buffer } | null> {
  let cert: Buffer;
  let key: Buffer;
  try {
    [cert, key] = await Promise.all([readFile(certPath), readFile(keyPath)]);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const x509 = new X509Certificate(cert);
    if (!x509.checkPrivateKey(createPrivateKey(key))) return null;
    if (Date.parse(x509.validTo) - Date.now() < RENEW_BEFORE_MS) return null;
    const name = hostAscii(hostname);
    if (name && (isIP(name) ? x509.checkIP(name) : x509.checkHost(name)) === undefined) return null;
  } catch {
    return null;
  }
  return { cert, key };
}

function hostAscii(hostname: string): string {
  const h = (hostname ?? '').trim().replace(/\.$/, '');
  if (h === '' || isIP(h)) return h;
  return domainToASCII(h) || '';
}

async function generateSelfSigned(hostname: string): Promise<{ cert: Buffer; key: Buffer }> {
  const name = hostAscii(hostname) || 'localhost';
  const altNames: { type: 2 | 7; value?: string; ip?: string }[] = [];
  const seen = new Set<string>();
  for (const n of [name, 'localhost', '127.0.0.1', '::1']) {
    if (seen.has(n)) continue;
    seen.add(n);
    altNames.push(isIP(n) ? { type: 7, ip: n } : { type: 2, value: n });
  }
  const notBefore = new Date(Date.now() - 3600 * 1000); // tolerate clock skew
  const notAfter = new Date(notBefore);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + VALID_YEARS);
  const pems = await generate([{ name: 'commonName', value: name }], {
    keyType: 'rsa',
    keySize: 2048,
    algorithm: 'sha256', // the library defaults to SHA-1
    notBeforeDate: notBefore,
    notAfterDate: notAfter,
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames },
    ],
  });
  return { cert: Buffer.from(pems.cert), key: Buffer.from(pems.private) };
}

/** tmp → write → fsync → rename, mode 0600. */
async function writeFileAtomic(path: string, data: Buffer): Promise<void> {
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  const fh = await open(tmp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** A cross-process lock: an O_EXCL file, removed afterwards; taken over when stale. */
async function withLock<T>(lockPath: string, fn: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      const fh = await open(lockPath, 'wx', 0o600);
      await fh.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const st = await stat(lockPath).catch(() => null);
      if (st && Date.now() - st.mtimeMs > LOCK_STALE_MS) {
        await unlink(lockPath).catch(() => undefined);
        continue;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    return await fn();
  } finally {
    await unlink(lockPath).catch(() => undefined);
  }
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
