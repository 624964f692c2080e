// Creates a new PGlite data directory, then exits (see pglite-initdb.ts for why in a worker).
import { workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';

const db = await PGlite.create(workerData.dir, { postgresqlconf: workerData.settings });
await db.close();
