import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One real PostgreSQL and one real nats-server for the whole run; see the file for details.
    globalSetup: ['test/support/global-setup.ts'],
    // Forks, not threads: tests start child processes and open many sockets, and a crash stays contained.
    pool: 'forks',
    // The CI machine has 2 cores; more workers only add contention on the shared servers.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
