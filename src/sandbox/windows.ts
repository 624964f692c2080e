/**
 * Customer-service windows as a platform enforces them, per account and user, on the fake's
 * clock: what the user did opens a grant (WhatsApp: 24 h, unlimited; WeChat: 48 h and 5
 * messages after a message, 1 minute and 3 after an event), and a send spends from the open
 * grants. State sits behind `WindowStore`, in memory by default.
 */
import type { Clock } from '../core/clock.ts';

/** One kind of grant: how long it lasts and how many sends it allows (null = unlimited). */
export interface GrantRule {
  name: string;
  durationMs: number;
  quota: number | null;
}

/** A grant as stored: when it was opened, until when, and what is left. */
export interface OpenGrant {
  grantedAt: number;
  until: number;
  remaining: number | null;
}

/** Everything the fake remembers of one account+user: their grants by rule name. */
export type WindowState = Record<string, OpenGrant>;

/** Where window state lives; the fake keeps it in memory, a test may swap it. */
export interface WindowStore {
  get(key: string): WindowState | undefined;
  set(key: string, state: WindowState): void;
  delete(key: string): void;
}

/** A `WindowStore` in a Map. */
export function memoryWindowStore(): WindowStore {
  const states = new Map<string, WindowState>();
  return {
    get: (key) => states.get(key),
    set: (key, state) => void states.set(key, state),
    delete: (key) => void states.delete(key),
  };
}

/** What a send met: allowed, no open grant, or open grants all spent. */
export type SpendOutcome = 'ok' | 'closed' | 'exhausted';

/** Per account+user grants with quotas. */
export class ConversationWindows {
  readonly #clock: Clock;
  readonly #rules: ReadonlyArray<GrantRule>;
  readonly #store: WindowStore;

  /** `rules` in spending order: a send spends from the first open grant with sends left. */
  constructor(options: { clock: Clock; rules: ReadonlyArray<GrantRule>; store?: WindowStore }) {
    this.#clock = options.clock;
    this.#rules = options.rules;
    this.#store = options.store ?? memoryWindowStore();
  }

  /** The user did something that opens `rule` at `at` (default now); an older event never shortens a newer grant. */
  grant(account: string, user: string, rule: string, at: Date = this.#clock.now()): void {
    const spec = this.#rules.find((candidate) => candidate.name === rule);
    if (spec === undefined) throw new Error(`no window rule named ${rule}`);
    const key = windowKey(account, user);
    const state = { ...this.#store.get(key) };
    const current = state[rule];
    const grantedAt = at.getTime();
    if (current !== undefined && current.grantedAt > grantedAt) return;
    state[rule] = { grantedAt, until: grantedAt + spec.durationMs, remaining: spec.quota };
    this.#store.set(key, state);
  }

  /** Whether any grant of the user is open now (quota aside). */
  isOpen(account: string, user: string): boolean {
    return this.#open(account, user).length > 0;
  }

  /** Spend one send from the user's open grants, in rule order. */
  spend(account: string, user: string): SpendOutcome {
    const open = this.#open(account, user);
    if (open.length === 0) return 'closed';
    const usable = open.find(([, grant]) => grant.remaining === null || grant.remaining > 0);
    if (usable === undefined) return 'exhausted';
    const [rule, grant] = usable;
    if (grant.remaining !== null) {
      const key = windowKey(account, user);
      this.#store.set(key, { ...this.#store.get(key), [rule]: { ...grant, remaining: grant.remaining - 1 } });
    }
    return 'ok';
  }

  /** Forget every grant of the user (they unsubscribed, or a test closes the window). */
  close(account: string, user: string): void {
    this.#store.delete(windowKey(account, user));
  }

  #open(account: string, user: string): Array<[string, OpenGrant]> {
    const state = this.#store.get(windowKey(account, user));
    if (state === undefined) return [];
    const now = this.#clock.now().getTime();
    return this.#rules.flatMap((rule): Array<[string, OpenGrant]> => {
      const grant = state[rule.name];
      return grant !== undefined && grant.until > now ? [[rule.name, grant]] : [];
    });
  }
}

function windowKey(account: string, user: string): string {
  return `${account}\u0000${user}`;
}
