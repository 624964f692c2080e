/**
 * The template catalog in the database, shared by every replica: a full sync replaces an
 * account's rows, a platform webhook changes one row, and every status or category change
 * bumps the row's `version` and writes `template.updated` to the outbox in the same
 * transaction. Sends are checked against it through the adapter's `validateTemplate`, only
 * once the account's catalog has synced; before that (or without a catalog) as they always were.
 */
import { and, eq, or, sql } from 'drizzle-orm';
import type { CatalogTemplate, TemplateChange } from '../core/adapter.ts';
import type { Db, Tx } from '../core/storage/db.ts';
import { messageTemplates, outbox, templateSyncs } from '../core/storage/schema.ts';
import type { Subjects } from '../core/schemas/subjects.ts';
import type { TemplateUpdatedEvent } from '../core/schemas/events.ts';
import type { SendCommand } from '../core/schemas/api.ts';
import type { AdapterEntry } from '../core/registry.ts';

type Row = typeof messageTemplates.$inferSelect;

/** What a sync or a webhook changed. */
export interface CatalogChanges {
  added: number;
  changed: number;
  removed: number;
}

/** The status a template gets when a full sync no longer lists it. */
export const DELETED = 'DELETED';

/** Replaces an account's catalog with a full listing; changed rows are announced. */
export async function applySync(
  db: Db,
  subjects: Subjects,
  entry: AdapterEntry,
  templates: ReadonlyArray<CatalogTemplate>,
  at: Date,
  requestedBefore: Date,
  versionsBefore: ReadonlyMap<string, number> = new Map(),
): Promise<CatalogChanges> {
  const { channel, id: account } = entry.account;
  return db.transaction(async (tx) => {
    const counts: CatalogChanges = { added: 0, changed: 0, removed: 0 };
    // Locked: a webhook applied by another replica meanwhile must not reuse the version this sync gives.
    const existing = new Map((await tx.select().from(messageTemplates).where(eq(messageTemplates.account, account)).for('update')).map((row) => [keyOf(row), row]));
    const listed = new Set<string>();
    for (const template of templates) {
      const key = keyOf(template);
      if (listed.has(key)) continue;
      listed.add(key);
      const row = existing.get(key);
      // A webhook changed this row while the listing was fetched: the listing may be older than
      // the change, so the row stays as the webhook left it until the sync that change asked for.
      if (row !== undefined && versionsBefore.has(key) && versionsBefore.get(key) !== row.version) continue;
      const values = {
        externalId: template.externalId ?? null,
        status: template.status,
        category: template.category ?? null,
        quality: template.quality ?? null,
        parameters: template.parameters,
        components: template.components,
        seenAt: at,
      };
      if (row === undefined) {
        await tx.insert(messageTemplates).values({ account, channel, name: template.name, language: template.language, ...values, version: 1, updatedAt: at });
        counts.added++;
      } else if (row.status !== values.status || row.category !== values.category) {
        await tx.update(messageTemplates).set({ ...values, version: row.version + 1, updatedAt: at }).where(rowKey(account, row));
        await announce(tx, subjects, { ...row, ...values, version: row.version + 1 }, row, 'sync', at);
        counts.changed++;
      } else {
        await tx.update(messageTemplates).set(values).where(rowKey(account, row));
      }
    }
    for (const row of existing.values()) {
      if (listed.has(keyOf(row)) || row.status === DELETED) continue;
      if (!versionsBefore.has(keyOf(row)) || versionsBefore.get(keyOf(row)) !== row.version) continue;
      await tx.update(messageTemplates).set({ status: DELETED, version: row.version + 1, updatedAt: at }).where(rowKey(account, row));
      await announce(tx, subjects, { ...row, status: DELETED, version: row.version + 1 }, row, 'sync', at);
      counts.removed++;
    }
    // A webhook that asked for a sync after this one started still gets its own.
    await tx
      .insert(templateSyncs)
      .values({ account, syncedAt: at, requestedAt: null, lastError: null, templates: listed.size })
      .onConflictDoUpdate({
        target: templateSyncs.account,
        set: {
          syncedAt: at,
          lastError: null,
          templates: listed.size,
          requestedAt: sql`case when ${templateSyncs.requestedAt} > ${requestedBefore.toISOString()}::timestamptz then ${templateSyncs.requestedAt} else null end`,
        },
      });
    return counts;
  });
}

/** The version of every template row of an account, read before a listing is fetched. */
export async function catalogVersions(db: Db, account: string): Promise<Map<string, number>> {
  const rows = await db.select({ name: messageTemplates.name, language: messageTemplates.language, version: messageTemplates.version }).from(messageTemplates).where(eq(messageTemplates.account, account));
  return new Map(rows.map((row) => [keyOf(row), row.version]));
}

/** Notes a failed sync (the error's code and message only: no platform text with secrets). */
export async function noteSyncFailure(db: Db, account: string, reason: string): Promise<void> {
  await db.insert(templateSyncs).values({ account, lastError: reason }).onConflictDoUpdate({ target: templateSyncs.account, set: { lastError: reason } });
}

/**
 * Applies a change a platform webhook announced (any replica may receive it) and asks for a
 * sync. A redelivered webhook changes nothing the second time, so it is announced once.
 */
export async function applyChange(db: Db, subjects: Subjects, entry: AdapterEntry, change: TemplateChange, at: Date): Promise<boolean> {
  const account = entry.account.id;
  return db.transaction(async (tx) => {
    // Rows first, then the sync request: the order a sync takes its locks in, so the two never deadlock.
    const requestSync = () => tx.insert(templateSyncs).values({ account, requestedAt: at }).onConflictDoUpdate({ target: templateSyncs.account, set: { requestedAt: at } });
    const byId = change.externalId !== undefined ? eq(messageTemplates.externalId, change.externalId) : undefined;
    const byName = change.name !== undefined && change.language !== undefined ? and(eq(messageTemplates.name, change.name), eq(messageTemplates.language, change.language)) : undefined;
    const match = byId && byName ? or(byId, byName) : (byId ?? byName);
    if (match === undefined) {
      await requestSync();
      return false;
    }
    const rows = await tx.select().from(messageTemplates).where(and(eq(messageTemplates.account, account), match)).for('update');
    let announced = false;
    for (const row of rows) {
      const next = { status: change.status ?? row.status, category: change.category ?? row.category, quality: change.quality ?? row.quality };
      if (next.status === row.status && next.category === row.category && next.quality === row.quality) continue;
      const moved = next.status !== row.status || next.category !== row.category;
      const version = moved ? row.version + 1 : row.version;
      await tx.update(messageTemplates).set({ ...next, version, updatedAt: at }).where(rowKey(account, row));
      if (moved) {
        await announce(tx, subjects, { ...row, ...next, version }, row, 'webhook', at);
        announced = true;
      }
    }
    await requestSync();
    return announced;
  });
}

/** When the account's catalog last synced; null = never (sends are then checked for shape only). */
export async function syncState(db: Db, account: string): Promise<typeof templateSyncs.$inferSelect | null> {
  const [row] = await db.select().from(templateSyncs).where(eq(templateSyncs.account, account)).limit(1);
  return row ?? null;
}

/** The catalog rows of an account, optionally of one name and status, by name then language. */
export async function listTemplates(db: Db, account: string, filter: { name?: string; status?: string } = {}): Promise<Row[]> {
  const conditions = [eq(messageTemplates.account, account)];
  if (filter.name !== undefined) conditions.push(eq(messageTemplates.name, filter.name));
  if (filter.status !== undefined) conditions.push(eq(messageTemplates.status, filter.status.toUpperCase()));
  return db.select().from(messageTemplates).where(and(...conditions)).orderBy(messageTemplates.name, messageTemplates.language);
}

/**
 * Refuses a template send the synced catalog says would fail (the adapter decides how);
 * accounts without a catalog, or whose catalog never synced, are left to the shape checks.
 */
export async function checkCatalog(db: Db, entry: AdapterEntry, command: SendCommand): Promise<void> {
  const template = command.template;
  const { adapter } = entry;
  if (template === undefined || !adapter.validateTemplate || !adapter.fetchTemplates) return;
  const state = await syncState(db, entry.account.id);
  if (state?.syncedAt == null) return;
  const rows = await listTemplates(db, entry.account.id, { name: template.name });
  // A template the platform no longer lists is unknown again.
  adapter.validateTemplate(template, rows.filter((row) => row.status !== DELETED).map(toCatalogTemplate));
}

/** A row as the adapter reads it. */
export function toCatalogTemplate(row: Row): CatalogTemplate {
  const template: CatalogTemplate = { name: row.name, language: row.language, status: row.status, parameters: row.parameters, components: row.components };
  if (row.externalId !== null) template.externalId = row.externalId;
  if (row.category !== null) template.category = row.category;
  if (row.quality !== null) template.quality = row.quality;
  return template;
}

/** A row as the API shows it. */
export function templateView(row: Row): Record<string, unknown> {
  return {
    name: row.name,
    language: row.language,
    externalId: row.externalId,
    status: row.status,
    category: row.category,
    quality: row.quality,
    parameters: row.parameters,
    components: row.components,
    version: row.version,
    updatedAt: row.updatedAt.toISOString(),
  };
}

async function announce(
  tx: Tx,
  subjects: Subjects,
  next: Pick<Row, 'channel' | 'account' | 'name' | 'language' | 'externalId' | 'status' | 'category' | 'quality' | 'version'>,
  previous: Pick<Row, 'status' | 'category'>,
  source: 'sync' | 'webhook',
  at: Date,
): Promise<void> {
  const payload: TemplateUpdatedEvent = {
    schema: 'omni.template.updated/v1',
    channel: next.channel,
    account: next.account,
    name: next.name,
    language: next.language,
    externalId: next.externalId,
    status: next.status,
    previousStatus: previous.status,
    category: next.category,
    previousCategory: previous.category,
    quality: next.quality,
    version: next.version,
    source,
    at: at.toISOString(),
  };
  await tx.insert(outbox).values({
    subject: subjects.evt.templateUpdated(next.channel, next.account),
    // One id per version: a replayed webhook or a second replica's sync is the same event.
    msgId: `template:${next.account}:${next.name}:${next.language}:${next.version}`,
    payload,
    orderingKey: `template:${next.account}`,
    createdAt: at,
  }).onConflictDoNothing();
}

function keyOf(template: { name: string; language: string }): string {
  return `${template.name}\u0000${template.language}`;
}

function rowKey(account: string, row: { name: string; language: string }) {
  return and(eq(messageTemplates.account, account), eq(messageTemplates.name, row.name), eq(messageTemplates.language, row.language));
}
