/**
 * The embedded database's first start: the data directory is created in a child process (so
 * initdb's memory leaves with it), then opened in the daemon with the embedded settings; a
 * directory that exists is opened as it is, its data kept.
 */
import { existsSync, writeFileSync } from 'node:fs';
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
    await ensurePgliteDataDir(pgdata);
    expect(existsSync(path.join(pgdata, 'PG_VERSION'))).toBe(true);

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

  it('a directory that cannot be created is a clear error, and nothing is left behind', async () => {
    const dataDir = await tempDir();
    const blocked = path.join(dataDir, 'a-file');
    writeFileSync(blocked, 'not a directory');
    const pgdata = path.join(blocked, 'pglite');
    await expect(ensurePgliteDataDir(pgdata)).rejects.toThrow(/^creating the embedded database failed: .+/);
    expect(existsSync(pgdata)).toBe(false);
  });
});
