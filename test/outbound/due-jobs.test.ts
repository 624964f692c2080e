/**
 * Which send jobs the account sender may claim, against real PostgreSQL: one per conversation
 * at a time, even when acceptances commit out of order (a younger job of a conversation can be
 * visible, and in hand, before an older one commits).
 */
import { sql } from 'drizzle-orm';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/core/storage/db.ts';
import { dueJobs } from '../../src/outbound/jobs.ts';
import { createTestDatabase, tempDir, type TestDatabase } from '../support/services.ts';

const logger = pino({ level: 'silent' });

describe('due send jobs', () => {
  let database: TestDatabase;
  let db: Database;

  beforeAll(async () => {
    database = await createTestDatabase();
    db = await openDatabase({ url: database.url, dataDir: await tempDir(), logger });
    await db.migrate();
  });
  afterAll(async () => {
    await db?.close();
    await database?.drop();
  });

  const job = (seq: number, messageId: string, conversationId: string) =>
    db.db.execute(sql`insert into send_jobs (seq, message_id, channel, account, conversation_id, state, next_attempt_at, created_at)
      values (${seq}, ${messageId}, 'testchan', 'acct', ${conversationId}, 'queued', now(), now())`);

  it('leaves out every job of a conversation that has one in hand, whatever their order', async () => {
    // The younger job committed first and was claimed; the older one became visible after.
    await job(11, 'm-young', 'conv-a');
    const first = await dueJobs(db.db, 'acct', [], 10);
    expect(first.map((j) => j.messageId)).toEqual(['m-young']);
    await job(10, 'm-old', 'conv-a');
    await job(12, 'm-other', 'conv-"b\\');
    // conv-a's head is now the older job, which is not in hand: it must still not be claimed.
    const next = await dueJobs(db.db, 'acct', ['conv-a'], 10);
    expect(next.map((j) => j.messageId)).toEqual(['m-other']);
    // Quoting holds for ids with quotes and backslashes.
    expect(await dueJobs(db.db, 'acct', ['conv-a', 'conv-"b\\'], 10)).toEqual([]);
    expect((await dueJobs(db.db, 'acct', [], 10)).map((j) => j.messageId)).toEqual(['m-old', 'm-other']);
  });
});
