/**
 * First run: an empty store gets a ready-to-try setup, the primary domain and its
 * postmaster account (RFC 5321 §4.5.1), with a generated password shown once.
 */
import type { Store } from '../store/types.js';
import { AccountAdmin, generatePassword } from './accounts.js';

export interface FirstRunResult {
  domain: string;
  postmaster: string;
  password: string;
}

/** Returns the new setup, or null when the store already has domains. */
export async function ensureInitialSetup(store: Store, primaryDomain: string): Promise<FirstRunResult | null> {
  if ((await store.listDomains()).length > 0) return null;
  const admin = new AccountAdmin(store);
  const domain = await admin.addDomain(primaryDomain);
  const password = generatePassword();
  const postmaster = `postmaster@${domain.name}`;
  await admin.addUser(postmaster, password);
  return { domain: domain.name, postmaster, password };
}
