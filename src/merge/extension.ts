/**
 * The contacts module as a daemon extension: the `/v1/contacts` routes, the
 * `<p>.v1.api.contact.*` request/reply subjects (queue group `omnibus`, so any replica
 * answers). The ingest path reaches this module through the identity port (identity-resolver.ts).
 */
import type { DaemonExtension, ExtensionContext } from '../core/extension-context.ts';
import { mountHttp, serveOverNats } from '../core/api/operations.ts';
import type { MergePolicy } from './evidence.ts';
import { contactOperations, contactRoutes, type ContactApiDeps } from './operations.ts';

/** How often start() looks for a NATS connection that was not up when the daemon started. */
const BUS_POLL_MS = 500;

/** The contacts extension (register it in `src/extensions.ts`). */
export function contactsExtension(): DaemonExtension {
  let serving: { stop(): Promise<void> } | null = null;
  let poll: NodeJS.Timeout | null = null;
  const depsOf = (context: ExtensionContext, via: ContactApiDeps['via']): ContactApiDeps => ({
    db: context.db,
    subjects: context.subjects,
    clock: context.clock,
    policy: () => policyOf(context),
    via,
  });
  return {
    mountApi(api, context) {
      for (const [method, path, operation, toRequest] of contactRoutes(depsOf(context, 'http'))) {
        mountHttp(api, method, path, operation, context.logger.child({ component: 'contacts' }), toRequest);
      }
    },
    async start(context) {
      const serve = () => {
        const bus = context.bus;
        if (serving || !bus) return;
        const operations = Object.values(contactOperations(depsOf(context, 'nats')));
        serving = serveOverNats(bus.nc, bus.subjects.api, operations, context.logger.child({ component: 'contacts' }), context.apiLimiter);
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

function policyOf(context: ExtensionContext): MergePolicy {
  return context.config.daemon.merge;
}
