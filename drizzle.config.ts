import { defineConfig } from 'drizzle-kit';

// Migrations are generated from the one schema and applied by both PostgreSQL and PGlite.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/core/storage/schema.ts',
  out: './drizzle',
});
