/**
 * The contacts module as a daemon extension: the `/v1/contacts` routes, the
 * `<p>.v1.api.contact.*` request/reply subjects (queue group `omnibus`, so any replica
 * answers). The ingest path reaches this module through the identity port (identity-resolver.ts).
 */
import type { DaemonExtension, Daemon } from '../core/daemon.ts';
import { mountHttp, serveOverNats } from '../core/api/operations.ts';
import { subjects as subjectsFor } from '../core/schemas/subjects.ts';
import type { MergePolicy } from './evidence.ts';
import { contactOperations, contactRoutes, type ContactApiDeps } from './operations.ts';

/** How often start() looks for a NATS connection that was not up when the daemon started. */
const BUS_POLL_MS = 500;

/** The contacts extension (register it in `src/extensions.ts`). */
export function contactsExtension(): DaemonExtension {
  let serving: { stop(): Promise<void> } | null = null;
  let poll: NodeJS.Timeout | null = null;
  const depsOf = (daemon: Daemon, via: ContactApiDeps['via']): ContactApiDeps => ({
    db: daemon.database.db,
    subjects: subjectsFor(daemon.config.daemon.nats.prefix),
    clock: daemon.clock,
    policy: () => policyOf(daemon),
    via,
  });
  return {
    mountApi(api, daemon) {
      for (const [method, path, operation, toRequest] of contactRoutes(depsOf(daemon, 'http'))) {
        mountHttp(api, method, path, operation, daemon.logger.child({ component: 'contacts' }), toRequest);
      }
    },
    async start(daemon) {
      const serve = () => {
        if (serving || !daemon.bus) return;
        const operations = Object.values(contactOperations(depsOf(daemon, 'nats')));
        serving = serveOverNats(daemon.bus.nc, daemon.bus.subjects.api, operations, daemon.logger.child({ component: 'contacts' }), daemon.apiLimiter);
        if (poll) clearInterval(poll);
        poll = null;
      };
      serve();
      // NATS may come up after the daemon (it keeps recording webhooks meanwhile).
      if (!serving) poll = setInterval(serve, BUS_POLL_MS);
    },
    async stop() {
      if (poll) clearInterval(poll);
      poll = null;
      await serving?.stop();
      serving = null;
    },
  };
}

function policyOf(daemon: Daemon): MergePolicy {
  return daemon.config.daemon.merge;
}
