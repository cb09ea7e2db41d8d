/**
 * Turns a forward-path into where the message goes: local accounts and/or remote
 * addresses, after alias expansion, plus-addressing, catch-all and the postmaster rule.
 * Unknown local users are found here, at RCPT time, so we reject instead of bouncing
 * later (no backscatter, DESIGN.md §3).
 */
import { addressKey, localPartKey, splitPlusTag, splitStoredAddress } from '../mail/address.js';
import type { AccountRecord, Store } from '../store/types.js';

export type Resolution =
  /** The domain is not ours. */
  | { kind: 'foreign' }
  /** Our domain, but nobody by that name. */
  | { kind: 'unknown' }
  | { kind: 'ours'; accountIds: number[]; remote: Array<{ local: string; domain: string }> };

/** Alias chains deeper than this are a loop or a mistake (Postfix: virtual_alias_recursion_limit). */
const MAX_ALIAS_DEPTH = 10;
/** Cap on the addresses one recipient may expand into (Postfix: virtual_alias_expansion_limit). */
const MAX_EXPANSION = 1000;

/** What one recipient's expansion has found so far. */
interface Expansion {
  /** Addresses already expanded (loops and repeats stop here). */
  seen: Set<string>;
  accountIds: Set<number>;
  remote: Map<string, { local: string; domain: string }>;
}

export class RecipientResolver {
  constructor(
    private readonly store: Store,
    /** Where postmaster@ of a domain without its own postmaster goes. */
    private readonly primaryDomain: string,
  ) {}

  /** `domain` must already be normalized (lowercase A-label). */
  async resolve(local: string, domain: string): Promise<Resolution> {
    const record = await this.store.getDomain(domain);
    if (!record) return { kind: 'foreign' };
    const found: Expansion = { seen: new Set(), accountIds: new Set(), remote: new Map() };
    const exists = await this.expand(local, domain, 0, found);
    const { accountIds, remote } = found;
    if (!exists) {
      // RFC 5321 §4.5.1: every domain we accept mail for must accept postmaster.
      if (localPartKey(local) === 'postmaster') {
        const fallback = await this.postmasterFallback(domain);
        if (fallback) return { kind: 'ours', accountIds: [fallback.id], remote: [] };
      }
      return { kind: 'unknown' };
    }
    // An alias whose every target is gone, or that only loops back on itself, leads
    // nowhere: accepting it would drop the message silently, so it is refused at RCPT
    // like an unknown user (no backscatter, DESIGN.md §3).
    if (accountIds.size === 0 && remote.size === 0) return { kind: 'unknown' };
    return { kind: 'ours', accountIds: [...accountIds], remote: [...remote.values()] };
  }

  /** Adds the final destinations of local@domain; false when nothing by that name exists. */
  private async expand(local: string, domain: string, depth: number, found: Expansion): Promise<boolean> {
    const key = addressKey({ local, domain });
    if (found.seen.has(key)) return true; // already expanded on this path: a loop, or a repeat
    found.seen.add(key);
    if (depth > MAX_ALIAS_DEPTH || found.accountIds.size + found.remote.size >= MAX_EXPANSION) return true;

    const domainRecord = await this.store.getDomain(domain);
    if (!domainRecord) {
      found.remote.set(key, { local, domain });
      return true;
    }
    if (await this.lookup(local, domain, depth, found)) return true;
    const { base, tag } = splitPlusTag(local);
    if (tag !== null && (await this.lookup(base, domain, depth, found))) return true;
    if (domainRecord.catchAll && depth === 0) return this.lookup(domainRecord.catchAll, domain, depth, found);
    return false;
  }

  private async lookup(local: string, domain: string, depth: number, found: Expansion): Promise<boolean> {
    // Aliases win over accounts, as in Postfix (virtual_alias_maps before mailboxes).
    const alias = await this.store.getAlias(local, domain);
    if (alias) {
      for (const target of alias.targets) {
        const next = splitStoredAddress(target);
        await this.expand(next.local, next.domain, depth + 1, found);
      }
      return true;
    }
    const account = await this.store.getAccount(local, domain);
    if (account) {
      found.accountIds.add(account.id);
      return true;
    }
    return false;
  }

  private async postmasterFallback(domain: string): Promise<AccountRecord | null> {
    const primary = await this.store.getAccount('postmaster', this.primaryDomain);
    if (primary) return primary;
    const [first] = await this.store.listAccounts(domain);
    return first ?? null;
  }
}
