/**
 * The first `posta serve` on an empty data dir makes a ready-to-try setup: a self-signed
 * certificate, the primary domain and a postmaster account whose password is printed once.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import nodemailer from 'nodemailer';
import { createChildServer } from './helpers/child-server.js';
import { waitFor } from './helpers/harness.js';

test('first run creates the domain, postmaster and certificate; later runs keep them', async (t) => {
  const server = createChildServer(t, { primaryDomain: 'first.test' });
  await server.start();
  const banner = await waitFor(() => /Password: (\S+)/.exec(server.output()), 'the first-run password in the banner');
  const password = banner[1];
  assert.match(server.output(), /created the domain first\.test and the account postmaster@first\.test/);
  assert.ok(fs.existsSync(path.join(server.dataDir, 'tls', 'cert.pem')));

  // The printed password works for submission over STARTTLS.
  const transport = nodemailer.createTransport({
    host: '127.0.0.1',
    port: server.port('submission'),
    requireTLS: true,
    tls: { rejectUnauthorized: false },
    auth: { user: 'postmaster@first.test', pass: password },
  });
  const info = await transport.sendMail({
    envelope: { from: 'postmaster@first.test', to: ['postmaster@first.test'] },
    raw: 'Subject: first\r\n\r\nhello me\r\n',
  });
  assert.match(info.response, /^250 /);
  const cert = fs.readFileSync(path.join(server.dataDir, 'tls', 'cert.pem'));

  await server.stop();
  await server.start();
  const secondBanner = await waitFor(() => {
    const parts = server.output().split('Pošta is running');
    return parts.length >= 3 ? parts[2] : null;
  }, 'the second banner');
  assert.doesNotMatch(secondBanner, /Password:/, 'the password is printed only once');
  assert.deepEqual(fs.readFileSync(path.join(server.dataDir, 'tls', 'cert.pem')), cert, 'the certificate is kept');
});
