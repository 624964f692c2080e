// Creates a new PGlite data directory, then exits (see pglite-initdb.ts for why in a process of
// its own). Arguments: the directory, then the PostgreSQL settings (name=value each).
import { PGlite } from '@electric-sql/pglite';

const [dir, ...settings] = process.argv.slice(2);
try {
  const db = await PGlite.create(dir, { postgresqlconf: settings });
  await db.close();
} catch (error) {
  // The reason only: no data, nothing of the environment.
  const reason = error instanceof Error ? `${error.name}: ${String(error.message).split('\n', 1)[0].slice(0, 200)}` : typeof error;
  process.stderr.write(`${reason}\n`);
  process.exit(1);
}
