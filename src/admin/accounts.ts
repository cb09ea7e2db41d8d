/**
 * Account administration behind the CLI (and later the HTTP API): validates and normalizes
 * what an administrator types, then calls the store. Errors are UsageErrors that say what
 * to do instead.
 */
import { randomBytes } from 'node:crypto';
import { hashPassword } from '../auth/password.js';
import { UsageError } from '../errors/index.js';
import { AddressSyntaxError, formatMailbox, normalizeDomain, parseMailbox, type Mailbox } from '../mail/address.js';
import type { AccountRecord, AliasRecord, DomainRecord, Store } from '../store/types.js';

/** NIST SP 800-63B §5.1.1.2: at least 8 characters for user-chosen secrets. */
export const MIN_PASSWORD_LENGTH = 8;

export class AccountAdmin {
  constructor(private readonly store: Store) {}

  async addDomain(name: string): Promise<DomainRecord> {
    return this.store.addDomain(parseDomain(name));
  }

  listDomains(): Promise<DomainRecord[]> {
    return this.store.listDomains();
  }

  async removeDomain(name: string): Promise<void> {
    await this.store.removeDomain(parseDomain(name));
  }

  /** Sends mail for unknown local parts of `domain` to `localPart` (null turns it off). */
  async setCatchAll(domain: string, localPart: string | null): Promise<void> {
    await this.store.setCatchAll(parseDomain(domain), localPart);
  }

  async addUser(address: string, password: string, options: { quotaBytes?: number } = {}): Promise<AccountRecord> {
    const mailbox = parseAddress(address);
    checkPassword(password);
    return this.store.addAccount({
      domain: mailbox.domain,
      localPart: mailbox.local,
      passwordHash: await hashPassword(password),
      quotaBytes: options.quotaBytes ?? 0,
    });
  }

  async getUser(address: string): Promise<AccountRecord> {
    const mailbox = parseAddress(address);
    const account = await this.store.getAccount(mailbox.local, mailbox.domain);
    if (!account) throw new UsageError(`user ${address} does not exist; see: posta user list`, 'not_found');
    return account;
  }

  listUsers(domain?: string): Promise<AccountRecord[]> {
    return this.store.listAccounts(domain === undefined ? undefined : parseDomain(domain));
  }

  async setPassword(address: string, password: string): Promise<void> {
    const account = await this.getUser(address);
    checkPassword(password);
    await this.store.setPassword(account.id, await hashPassword(password));
  }

  async removeUser(address: string): Promise<void> {
    const account = await this.getUser(address);
    await this.store.removeAccount(account.id);
  }

  async addAlias(address: string, targets: string[]): Promise<AliasRecord> {
    const mailbox = parseAddress(address);
    if (targets.length === 0) throw new UsageError('an alias needs at least one target address');
    const normalized = targets.map((t) => formatMailbox(parseAddress(t)));
    return this.store.addAlias(mailbox.local, mailbox.domain, normalized);
  }

  listAliases(domain?: string): Promise<AliasRecord[]> {
    return this.store.listAliases(domain === undefined ? undefined : parseDomain(domain));
  }

  async removeAlias(address: string): Promise<void> {
    const mailbox = parseAddress(address);
    await this.store.removeAlias(mailbox.local, mailbox.domain);
  }
}

/** A random password for generated accounts: 20 characters from a 56-symbol alphabet (~116 bits). */
export function generatePassword(): string {
  const alphabet = 'abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  return [...randomBytes(20)].map((b) => alphabet[b % alphabet.length]).join('');
}

function parseDomain(name: string): string {
  try {
    return normalizeDomain(name);
  } catch (err) {
    if (err instanceof AddressSyntaxError) throw new UsageError(`"${name}" is not a valid domain name: ${err.message}`);
    throw err;
  }
}

function parseAddress(address: string): Mailbox {
  try {
    return parseMailbox(address.trim(), { allowUtf8: true });
  } catch (err) {
    if (err instanceof AddressSyntaxError) {
      throw new UsageError(`"${address}" is not a valid address (write it as user@example.com): ${err.message}`);
    }
    throw err;
  }
}

function checkPassword(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw new UsageError(`the password is too short; use at least ${MIN_PASSWORD_LENGTH} characters`);
  }
}
