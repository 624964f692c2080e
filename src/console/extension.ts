/**
 * The agent console as a daemon extension: `/console` on the daemon's own HTTP server, on
 * when `console.enabled` or in sandbox mode (otherwise nothing is mounted and `/console` is a
 * 404), and the NATS subscription that feeds its live updates. See docs/console.md.
 */
import type { DaemonExtension, ExtensionContext } from '../core/extension-context.ts';
import { createSharedState } from '../core/storage/shared-state.ts';
import { LiveHub } from './live.ts';
import { mountConsole } from './routes.ts';
import { ConsoleSessions } from './sessions.ts';

const BUS_POLL_MS = 500;

/** Whether a daemon with this config serves the console. */
export function consoleEnabled(context: Pick<ExtensionContext, 'config'>): boolean {
  return context.config.daemon.console.enabled || context.config.daemon.sandbox;
}

/** The console extension (register it in `src/extensions.ts`). */
export function consoleExtension(): DaemonExtension {
  let live: LiveHub | null = null;
  let poll: NodeJS.Timeout | null = null;
  return {
    mountApp(app, context) {
      if (!consoleEnabled(context)) return;
      live = new LiveHub(context.db, context.logger.child({ component: 'console' }));
      const sessions = new ConsoleSessions(
        createSharedState(context.db, 'console'),
        () => context.config.daemon.api.tokens,
        () => context.config.daemon.console.sessionTtlMinutes * 60_000,
      );
      mountConsole(app, {
        sessions,
        live,
        now: () => new Date(),
        accounts: () => context.accounts.all().map((entry) => ({ id: entry.account.id, channel: entry.account.channel })),
        publicUrl: () => context.config.daemon.http.publicUrl,
        bodyLimitBytes: () => context.config.daemon.api.bodyLimitBytes,
      });
    },
    async start(context) {
      if (!live) return;
      const hub = live;
      const attach = () => {
        if (context.bus && !hub.attached) hub.attach(context.bus);
        if (hub.attached && poll) {
          clearInterval(poll);
          poll = null;
        }
      };
      attach();
      // NATS may come up after the daemon.
      if (!hub.attached) poll = setInterval(attach, BUS_POLL_MS);
    },
    async stop() {
      if (poll) clearInterval(poll);
      poll = null;
      await live?.stop();
    },
  };
}
