/**
 * The platform's view of each webhook-mode account's webhook (Telegram's getWebhookInfo:
 * pending updates, the last delivery error), asked every `intervalMs` for adapters that offer
 * `webhookStatus`, never per request. The latest answer feeds `/readyz` details and the
 * `omnibus_webhook_*` gauges; a failed probe keeps the previous answer and notes the failure.
 */
import type { Logger } from 'pino';
import type { ChannelAdapter, WebhookStatus } from '../adapter.ts';
import type { Metrics } from '../metrics.ts';

/** One account's latest probe, as `/readyz` shows it. */
export interface WebhookProbeResult {
  channel: string;
  pendingUpdates: number | null;
  lastErrorAt: string | null;
  lastErrorMessage: string | null;
  /** Whether the platform has a webhook URL set for the account. */
  registered: boolean;
  checkedAt: string;
  /** Set when the last probe itself failed (its error code). */
  probeError?: string;
}

/** What the probes need. */
export interface WebhookProbeDeps {
  adapters: () => Iterable<{ adapter: ChannelAdapter }>;
  metrics: Metrics;
  logger: Logger;
  intervalMs?: number;
}

const PROBE_TIMEOUT_MS = 10_000;

/** Probes every webhook-mode account that can say how its webhook fares. */
export class WebhookProbes {
  private readonly results = new Map<string, WebhookProbeResult>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(private readonly deps: WebhookProbeDeps) {}

  /** Probes now, then every interval. */
  start(): void {
    if (this.timer) return;
    void this.probeAll();
    this.timer = setInterval(() => void this.probeAll(), this.deps.intervalMs ?? 60_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** The latest result per account (accounts no longer configured are dropped). */
  snapshot(): Record<string, WebhookProbeResult> {
    return Object.fromEntries(this.results);
  }

  /** One round over every account; rounds never overlap. */
  probeAll(): Promise<void> {
    this.running ??= this.round().finally(() => (this.running = null));
    return this.running;
  }

  private async round(): Promise<void> {
    const live = new Set<string>();
    const probes: Array<Promise<void>> = [];
    for (const { adapter } of this.deps.adapters()) {
      if ((adapter.inboundMode ?? 'webhook') !== 'webhook' || typeof adapter.webhookStatus !== 'function') continue;
      live.add(adapter.account);
      probes.push(this.probe(adapter));
    }
    await Promise.allSettled(probes);
    for (const account of [...this.results.keys()]) if (!live.has(account)) this.results.delete(account);
  }

  private async probe(adapter: ChannelAdapter): Promise<void> {
    const labels = { channel: adapter.channel, account: adapter.account };
    const checkedAt = new Date().toISOString();
    let status: WebhookStatus;
    try {
      status = await adapter.webhookStatus!(AbortSignal.timeout(PROBE_TIMEOUT_MS));
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      const probeError = typeof code === 'string' ? code : 'internal';
      const previous = this.results.get(adapter.account);
      this.results.set(adapter.account, { ...(previous ?? { channel: adapter.channel, pendingUpdates: null, lastErrorAt: null, lastErrorMessage: null, registered: false }), checkedAt, probeError });
      this.deps.logger.warn({ ...labels, code: probeError }, 'webhook probe failed');
      return;
    }
    const result: WebhookProbeResult = {
      channel: adapter.channel,
      pendingUpdates: status.pendingUpdates,
      lastErrorAt: status.lastErrorAt?.toISOString() ?? null,
      lastErrorMessage: status.lastErrorMessage,
      registered: status.url !== '',
      checkedAt,
    };
    this.results.set(adapter.account, result);
    if (status.pendingUpdates !== null) this.deps.metrics.webhookPendingUpdates.set(labels, status.pendingUpdates);
    this.deps.metrics.webhookLastErrorSeconds.set(labels, status.lastErrorAt ? Math.floor(status.lastErrorAt.getTime() / 1000) : 0);
  }
}
