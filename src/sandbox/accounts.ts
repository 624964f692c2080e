/**
 * The accounts a fake serves, indexed by the key the platform's API names them by (WhatsApp's
 * phone-number id, WeChat's AppID, a bot token's id). Replaced wholesale on a config reload;
 * an account without a usable key is skipped so a bad reload cannot crash a route.
 */
import type { AccountConfig } from '../core/config/types.ts';

/** Accounts by platform key, and by the daemon's account id. */
export class AccountIndex<C> {
  readonly #keyOf: (account: AccountConfig<C>) => unknown;
  #byKey = new Map<string, AccountConfig<C>>();

  /** `keyOf` reads the platform key from an account; anything but a non-empty string skips it. */
  constructor(keyOf: (account: AccountConfig<C>) => unknown, accounts: ReadonlyArray<AccountConfig<C>> = []) {
    this.#keyOf = keyOf;
    this.set(accounts);
  }

  /** Replace the served accounts (`SandboxFake.setAccounts`). */
  set(accounts: ReadonlyArray<AccountConfig<C>>): void {
    const next = new Map<string, AccountConfig<C>>();
    for (const account of accounts) {
      let key: unknown;
      try {
        key = this.#keyOf(account);
      } catch {
        continue; // settings missing altogether
      }
      if (typeof key === 'string' && key !== '') next.set(key, account);
    }
    this.#byKey = next;
  }

  /** The account with this platform key. */
  get(key: string): AccountConfig<C> | undefined {
    return this.#byKey.get(key);
  }

  /** Whether an account has this platform key. */
  has(key: string): boolean {
    return this.#byKey.has(key);
  }

  /** The account with this daemon account id. */
  byId(accountId: string): AccountConfig<C> | undefined {
    for (const account of this.#byKey.values()) if (account.id === accountId) return account;
    return undefined;
  }

  /** `[key, account]` pairs, in configuration order. */
  entries(): IterableIterator<[string, AccountConfig<C>]> {
    return this.#byKey.entries();
  }

  /** Every served account. */
  values(): IterableIterator<AccountConfig<C>> {
    return this.#byKey.values();
  }
}
