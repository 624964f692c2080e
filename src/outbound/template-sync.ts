/**
 * Keeps every account's template catalog in step with its platform: at start, every
 * `templateSyncMs`, and at once when a template webhook asks (on any replica: the request is
 * a row in `template_syncs`, seen by the syncing replica at its next tick). One replica syncs
 * an account at a time, under the lease `templates:<account>`.
 */
import type { Logger } from 'pino';
import type { ChannelAdapter, TemplateChange } from '../core/adapter.ts';
import { toOmniError } from '../core/errors.ts';
import { acquireLease } from '../core/storage/lease.ts';
import type { AdapterEntry } from '../core/registry.ts';
import type { OutboundDeps } from './deps.ts';
import { applyChange, applySync, catalogVersions, noteSyncFailure, syncState } from './template-catalog.ts';

/** Tuning of the catalog sync. */
export interface TemplateSyncSettings {
  /** A full sync at least this often (default 15 min). */
  intervalMs: number;
  /** How often the syncer looks for due or requested syncs (default 5 s). */
  tickMs: number;
  /** A failed sync is tried again after this long (default 60 s). */
  retryMs: number;
}

/** The production defaults. */
export const DEFAULT_TEMPLATE_SYNC: TemplateSyncSettings = { intervalMs: 15 * 60_000, tickMs: 5_000, retryMs: 60_000 };

/** Syncs the catalogs of the accounts that have one. */
export class TemplateSyncer {
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<unknown> | null = null;
  private again = false;
  private readonly watched = new WeakMap<ChannelAdapter, () => void>();
  private readonly failedAt = new Map<string, number>();
  private readonly log: Logger;
  private readonly settings: TemplateSyncSettings;

  constructor(
    private readonly deps: OutboundDeps,
    settings: Partial<TemplateSyncSettings> = {},
  ) {
    this.log = deps.logger.child({ component: 'templates' });
    this.settings = { ...DEFAULT_TEMPLATE_SYNC, ...settings };
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.kick(), this.settings.tickMs);
    void this.kick();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.ticking;
  }

  /** Runs a tick now (or right after the running one). */
  kick(): Promise<void> {
    if (this.ticking) {
      this.again = true;
      return this.ticking.then(() => undefined);
    }
    this.ticking = this.tick()
      .catch((error: unknown) => this.log.warn({ err: error }, 'template sync tick failed; will retry'))
      .finally(() => {
        this.ticking = null;
        if (this.again) {
          this.again = false;
          void this.kick();
        }
      });
    return this.ticking.then(() => undefined);
  }

  /** Syncs every account that is due, requested or never synced, and that this replica holds. */
  async tick(): Promise<number> {
    let synced = 0;
    for (const entry of this.deps.accounts.all()) {
      if (!entry.adapter.fetchTemplates) continue;
      this.watch(entry);
      if (await this.due(entry)) {
        if (await this.syncNow(entry)) synced++;
      }
    }
    return synced;
  }

  /** One full sync of one account, if this replica holds its lease; false when it did not sync. */
  async syncNow(entry: AdapterEntry): Promise<boolean> {
    const account = entry.account.id;
    const leaseMs = Math.max(this.settings.tickMs * 3, 30_000);
    if (!(await acquireLease(this.deps.db, `templates:${account}`, this.deps.holder, leaseMs))) return false;
    const startedAt = this.deps.clock.now();
    try {
      const versions = await catalogVersions(this.deps.db, account);
      const templates = await entry.adapter.fetchTemplates!(AbortSignal.timeout(leaseMs));
      const changes = await applySync(this.deps.db, this.deps.subjects, entry, templates, this.deps.clock.now(), startedAt, versions);
      this.failedAt.delete(account);
      if (changes.changed + changes.removed > 0) this.deps.notifyRelay();
      this.log.info({ account, templates: templates.length, ...changes }, 'template catalog synced');
      return true;
    } catch (thrown) {
      const error = toOmniError(thrown);
      this.failedAt.set(account, Date.now());
      await noteSyncFailure(this.deps.db, account, `${error.code}: ${error.message}`).catch(() => undefined);
      this.log.warn({ account, code: error.code, field: error.details?.field, ...(error.code === 'internal' ? { err: thrown } : {}) }, 'template catalog sync failed; will retry');
      return false;
    }
  }

  private async due(entry: AdapterEntry): Promise<boolean> {
    const account = entry.account.id;
    const failed = this.failedAt.get(account);
    if (failed !== undefined && Date.now() - failed < this.settings.retryMs) return false;
    const state = await syncState(this.deps.db, account);
    if (state?.syncedAt == null || state.requestedAt !== null) return true;
    return this.deps.clock.now().getTime() - state.syncedAt.getTime() >= this.settings.intervalMs;
  }

  /** Hears the adapter's template webhooks (adapters are rebuilt on reload: each one once). */
  private watch(entry: AdapterEntry): void {
    const { adapter } = entry;
    if (!adapter.watchTemplates || this.watched.has(adapter)) return;
    this.watched.set(adapter, adapter.watchTemplates((change) => void this.onChange(entry, change)));
  }

  private async onChange(entry: AdapterEntry, change: TemplateChange): Promise<void> {
    try {
      if (await applyChange(this.deps.db, this.deps.subjects, entry, change, this.deps.clock.now())) this.deps.notifyRelay();
    } catch (error) {
      // The sync request may be lost with it; the interval sync still catches up.
      this.log.warn({ err: error, account: entry.account.id, field: change.field }, 'could not apply a template webhook');
    }
    await this.kick();
  }
}
