/**
 * Prometheus metrics (`GET /metrics`). One registry per daemon so tests can run several
 * daemons in one process without their counters mixing.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { buildInfo } from './build-info.ts';

/** The daemon's metrics. Labels never carry ids of people or secrets. */
export function createMetrics() {
  const registry = new Registry();
  // The standard process_* and nodejs_* names, so stock Node.js dashboards and alerts work.
  collectDefaultMetrics({ register: registry });
  // prom-client's *_total gauges break the counter naming rule (rate() on them is nonsense);
  // the same counts stay as nodejs_active_handles, nodejs_active_requests, nodejs_active_resources.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name);
  const build = buildInfo();
  new Gauge({ name: 'omnibus_build_info', help: 'Always 1; the labels say which version and commit runs', labelNames: ['version', 'commit'], registers: [registry] }).set(build, 1);
  const labels = ['channel', 'account'] as const;
  return {
    registry,
    webhooksReceived: new Counter({ name: 'omnibus_webhooks_received_total', help: 'Webhook requests received', labelNames: [...labels, 'method'], registers: [registry] }),
    webhooksRejected: new Counter({ name: 'omnibus_webhooks_rejected_total', help: 'Webhook requests refused by verification or as unreadable', labelNames: [...labels, 'reason'], registers: [registry] }),
    webhookDuration: new Histogram({ name: 'omnibus_webhook_duration_seconds', help: 'Time from request to answer', labelNames: [...labels], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5], registers: [registry] }),
    eventsRecorded: new Counter({ name: 'omnibus_events_recorded_total', help: 'Inbound events durably recorded', labelNames: [...labels], registers: [registry] }),
    eventsDeduplicated: new Counter({ name: 'omnibus_events_deduplicated_total', help: 'Inbound events that were redeliveries', labelNames: [...labels], registers: [registry] }),
    eventsIgnored: new Counter({ name: 'omnibus_events_ignored_total', help: 'Inbound events understood but not recorded (wrong phone_number_id, other fields)', labelNames: [...labels, 'reason'], registers: [registry] }),
    // Group commit: webhooks per transaction (1 = recorded alone, also after a failed batch), and the queue.
    ingestBatchSize: new Histogram({ name: 'omnibus_ingest_batch_size', help: 'Webhooks recorded per transaction', buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256], registers: [registry] }),
    ingestQueued: new Gauge({ name: 'omnibus_ingest_queued', help: 'Verified webhooks waiting for the next transaction', registers: [registry] }),
    outboxPublished: new Counter({ name: 'omnibus_outbox_published_total', help: 'Events published to JetStream', registers: [registry] }),
    outboxPublishDuplicates: new Counter({ name: 'omnibus_outbox_publish_duplicates_total', help: 'Publishes JetStream recognised as duplicates', registers: [registry] }),
    outboxPublishFailures: new Counter({ name: 'omnibus_outbox_publish_failures_total', help: 'Failed publish attempts (retried)', registers: [registry] }),
    outboxPending: new Gauge({ name: 'omnibus_outbox_pending', help: 'Outbox rows not yet published', registers: [registry] }),
    outboxLagSeconds: new Gauge({ name: 'omnibus_outbox_lag_seconds', help: 'Age of the oldest unpublished outbox row', registers: [registry] }),
    outboxOldestAgeSeconds: new Gauge({ name: 'omnibus_outbox_oldest_unpublished_age_seconds', help: 'Age of the oldest outbox row ready to publish (not waiting for media); alert when it grows', registers: [registry] }),
    outboxPruned: new Counter({ name: 'omnibus_outbox_pruned_total', help: 'Published outbox rows deleted after the retention period', registers: [registry] }),
    outboxBounded: new Counter({ name: 'omnibus_outbox_bounded_total', help: 'Events published in bounded form (raw omitted, texts cut) to fit max_payload', registers: [registry] }),
    outboxDeadLettered: new Counter({ name: 'omnibus_outbox_dead_lettered_total', help: 'Outbox rows given up on after a permanent publish failure', labelNames: ['reason'], registers: [registry] }),
    mediaProcessed: new Counter({ name: 'omnibus_media_processed_total', help: 'Inbound media by outcome', labelNames: [...labels, 'status'], registers: [registry] }),
    inboundDeadLetters: new Counter({ name: 'omnibus_inbound_deadletters_total', help: 'Inbound items set aside as dead letters (bad values, rows the database refused)', labelNames: [...labels, 'reason'], registers: [registry] }),
    polls: new Counter({ name: 'omnibus_polls_total', help: 'Long polls of polling accounts by outcome', labelNames: [...labels, 'result'], registers: [registry] }),
    pollConflict: new Gauge({ name: 'omnibus_poll_conflict', help: '1 while the platform reports another client polling the account (or a webhook set), else 0', labelNames: [...labels], registers: [registry] }),
    webhookPendingUpdates: new Gauge({ name: 'omnibus_webhook_pending_updates', help: 'Updates the platform holds for the account webhook, from its webhook probe (Telegram getWebhookInfo)', labelNames: [...labels], registers: [registry] }),
    webhookLastErrorSeconds: new Gauge({ name: 'omnibus_webhook_last_error_timestamp_seconds', help: 'When the platform last failed to deliver to the account webhook (Unix seconds; 0 = never)', labelNames: [...labels], registers: [registry] }),
    configReloads: new Counter({ name: 'omnibus_config_reloads_total', help: 'Channel config reloads', labelNames: ['result'], registers: [registry] }),
  };
}

/** The metrics object. */
export type Metrics = ReturnType<typeof createMetrics>;
