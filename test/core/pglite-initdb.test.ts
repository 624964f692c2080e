/**
 * The embedded database's first start: the data directory is created in a child process (so
 * initdb's memory leaves with it) beside its place and renamed into it, then opened in the daemon with the embedded settings; a
 * directory that exists is opened as it is, its data kept.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/core/storage/db.ts';
import { rowsOf } from '../../src/core/storage/lease.ts';
import { ensurePgliteDataDir } from '../../src/core/storage/pglite-initdb.ts';
import { tempDir } from '../support/services.ts';

const logger = pino({ level: 'silent' });

describe('embedded database first start', () => {
  it('creates the data directory in a child process, opens it with the embedded settings, and keeps it', async () => {
    const dataDir = await tempDir();
    const pgdata = path.join(dataDir, 'pglite');
    mkdirSync(pgdata);
    // A start killed during its initdb left a half-made directory beside it: it is discarded.
    mkdirSync(`${pgdata}.creating`);
    writeFileSync(path.join(`${pgdata}.creating`, 'PG_VERSION'), '17\n');
    await ensurePgliteDataDir(pgdata);
    expect(existsSync(path.join(pgdata, 'PG_VERSION'))).toBe(true);
    expect(existsSync(path.join(pgdata, 'base'))).toBe(true);
    expect(existsSync(`${pgdata}.creating`)).toBe(false);

    const first = await openDatabase({ url: null, dataDir, logger });
    await first.migrate();
    const [setting] = rowsOf<{ shared_buffers: string }>(await first.db.execute(sql`show shared_buffers`));
    expect(setting!.shared_buffers).toBe('8MB');
    await first.db.execute(sql`insert into leases (name, holder, expires_at) values ('kept', 'test', now())`);
    await first.close();

    // Present now: not created again, and what was written is still there.
    await ensurePgliteDataDir(pgdata);
    const again = await openDatabase({ url: null, dataDir, logger });
    expect(rowsOf(await again.db.execute(sql`select holder from leases where name = 'kept'`))).toEqual([{ holder: 'test' }]);
    await again.close();
  });

  it('a directory holding something else is a clear error, and what it holds is left as it was', async () => {
    const dataDir = await tempDir();
    const pgdata = path.join(dataDir, 'pglite');
    mkdirSync(pgdata);
    writeFileSync(path.join(pgdata, 'notes.txt'), 'not a database');
    await expect(ensurePgliteDataDir(pgdata)).rejects.toThrow(/^creating the embedded database failed: .*is not empty and holds no database$/);
    expect(readdirSync(pgdata)).toEqual(['notes.txt']);
    expect(existsSync(`${pgdata}.creating`)).toBe(false);
  });
});
