/**
 * Checks a username and password for any protocol (SMTP AUTH, IMAP, POP3), with failed
 * attempts rate-limited per client IP and per account.
 */
import { AddressSyntaxError, parseMailbox } from '../mail/address.js';
import type { AccountRecord, Store } from '../store/types.js';
import { FailureLimiter } from './failure-limiter.js';
import { hashPassword, verifyPassword } from './password.js';

export type AuthResult =
  | { ok: true; account: AccountRecord }
  | { ok: false; reason: 'invalid' | 'rate-limited' };

export interface AuthenticatorOptions {
  /** Domain assumed when a username has no "@" (Dovecot's auth_default_realm). */
  defaultDomain: string;
  maxFailures: number;
  failureWindowMs: number;
}

export class Authenticator {
  private readonly byIp: FailureLimiter;
  private readonly byAccount: FailureLimiter;
  private dummyHash: Promise<string> | null = null;

  constructor(
    private readonly store: Store,
    private readonly options: AuthenticatorOptions,
  ) {
    this.byIp = new FailureLimiter(options.maxFailures, options.failureWindowMs);
    // An account under attack from many IPs is slowed too, but with more room, so one
    // attacker can't lock its owner out with a handful of tries.
    this.byAccount = new FailureLimiter(options.maxFailures * 4, options.failureWindowMs);
  }

  isBlocked(clientIp: string): boolean {
    return this.byIp.isBlocked(clientIp);
  }

  async authenticate(username: string, password: string, clientIp: string): Promise<AuthResult> {
    // Attempts in flight hold a slot of the failure budget: N parallel guesses can't all
    // slip past a limit below N before the first failure is recorded.
    const ipSlot = await this.byIp.begin(clientIp);
    if (!ipSlot) return { ok: false, reason: 'rate-limited' };
    let accountSlot: (() => void) | null = null;
    try {
      const account = await this.findAccount(username);
      const key = account ? `account:${account.id}` : null;
      if (key) {
        accountSlot = await this.byAccount.begin(key);
        if (!accountSlot) return { ok: false, reason: 'rate-limited' };
      }
      // Verify against a dummy hash for unknown users, so timing doesn't reveal which exist.
      const phc = account?.passwordHash ?? (await this.getDummyHash());
      const good = (await verifyPassword(phc, password)) && account !== null;
      if (good) return { ok: true, account };
      this.byIp.recordFailure(clientIp);
      if (key) this.byAccount.recordFailure(key);
      return { ok: false, reason: 'invalid' };
    } finally {
      ipSlot();
      accountSlot?.();
    }
  }

  private async findAccount(username: string): Promise<AccountRecord | null> {
    const full = username.includes('@') ? username : `${username}@${this.options.defaultDomain}`;
    try {
      const { local, domain } = parseMailbox(full, { allowUtf8: true });
      return await this.store.getAccount(local, domain);
    } catch (err) {
      if (err instanceof AddressSyntaxError) return null;
      throw err;
    }
  }

  private getDummyHash(): Promise<string> {
    this.dummyHash ??= hashPassword('not a real password');
    return this.dummyHash;
  }
}
