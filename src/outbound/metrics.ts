/**
 * Outbound counters on the daemon's registry (`GET /metrics`). Labels are bounded: sources,
 * contract codes, accounts; never a recipient or a key.
 */
import { Counter, type Registry } from 'prom-client';

/** The outbound module's counters. */
export interface OutboundMetrics {
  /** Send requests by source and result: `accepted`, `repeated` (a known key) or the refusal's code. */
  requests: Counter<'source' | 'result'>;
  /** Platform calls by result: `sent`, `retry`, `throttled`, `failed`, `ambiguous`, `quota_refused` (no call made). */
  calls: Counter<'channel' | 'account' | 'result'>;
  /** Messages and commands dead-lettered. */
  deadLetters: Counter<'channel' | 'account'>;
  /** Accepted sends by route where a channel has more than one (LINE `reply` is free, `push` is not). */
  routes: Counter<'channel' | 'account' | 'route'>;
}

/** Registers the counters on `registry`. */
export function createOutboundMetrics(registry: Registry): OutboundMetrics {
  return {
    requests: new Counter({ name: 'omnibus_send_requests_total', help: 'Send requests by source and result', labelNames: ['source', 'result'], registers: [registry] }),
    calls: new Counter({ name: 'omnibus_send_calls_total', help: 'Platform send calls by result', labelNames: ['channel', 'account', 'result'], registers: [registry] }),
    deadLetters: new Counter({ name: 'omnibus_send_deadletters_total', help: 'Sends and send commands dead-lettered', labelNames: ['channel', 'account'], registers: [registry] }),
    routes: new Counter({ name: 'omnibus_sends_by_route_total', help: 'Accepted sends by the route the platform took', labelNames: ['channel', 'account', 'route'], registers: [registry] }),
  };
}
