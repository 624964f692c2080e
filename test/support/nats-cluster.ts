/**
 * A 3-node nats-server cluster with JetStream for scale-out tests: every node on 127.0.0.1 with
 * free client and route ports and a temp store of its own, routes to each other, one cluster
 * name per call. Each node runs under the daemon's own watchdog, so nothing outlives the test
 * process; `stop()` ends them all and is safe to call whatever state the test left.
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { pino } from 'pino';
import { startLocalNatsServer, type LocalNatsServer } from '../../src/core/nats/local-server.ts';
import { freePort } from '../../src/core/nats/ports.ts';
import { tempDir, waitFor } from './services.ts';

/** One node: its client URL and its process (null while killed). */
export interface ClusterNode {
  name: string;
  url: string;
  server: LocalNatsServer | null;
}

/** A running test cluster. */
export interface NatsCluster {
  nodes: ClusterNode[];
  /** Every node's client URL, comma-separated, for `nats.url`. */
  servers: string;
  /** Kills node `index` with SIGKILL, as a crash or a lost machine would. */
  kill(index: number): Promise<void>;
  /** Starts node `index` again on its port and store. */
  restart(index: number): Promise<void>;
  /** Stops every node and removes the stores. Idempotent. */
  stop(): Promise<void>;
}

interface NodeSpec {
  name: string;
  port: number;
  routePort: number;
  storeDir: string;
}

/** Starts three nodes and resolves once JetStream answers (a meta leader is elected). */
export async function startNatsCluster(size = 3): Promise<NatsCluster> {
  const cluster = `omnitest-${randomBytes(4).toString('hex')}`;
  const specs: NodeSpec[] = [];
  for (let i = 0; i < size; i++) {
    specs.push({ name: `${cluster}-n${i + 1}`, port: await freePort(), routePort: await freePort(), storeDir: await tempDir() });
  }
  const routes = specs.map((spec) => `nats://127.0.0.1:${spec.routePort}`).join(',');
  const logger = pino({ level: process.env.OMNIBUS_TEST_LOG ?? 'silent' }, pino.destination(2));
  const launch = (spec: NodeSpec): Promise<LocalNatsServer> =>
    startLocalNatsServer({
      storeDir: spec.storeDir,
      port: spec.port,
      logger: logger.child({ component: spec.name }),
      extraArgs: ['-n', spec.name, '--cluster_name', cluster, '--cluster', `nats://127.0.0.1:${spec.routePort}`, '--routes', routes],
    });
  const nodes: ClusterNode[] = specs.map((spec) => ({ name: spec.name, url: `nats://127.0.0.1:${spec.port}`, server: null }));
  let stopped: Promise<void> | undefined;
  const handle: NatsCluster = {
    nodes,
    servers: nodes.map((node) => node.url).join(','),
    async kill(index) {
      const node = nodes[index]!;
      await node.server?.kill();
      node.server = null;
    },
    async restart(index) {
      nodes[index]!.server = await launch(specs[index]!);
    },
    stop() {
      stopped ??= (async () => {
        await Promise.allSettled(nodes.map(async (node) => node.server?.stop()));
        await Promise.allSettled(specs.map((spec) => rm(spec.storeDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 })));
      })();
      return stopped;
    },
  };
  try {
    // All at once: JetStream waits for the routes before it elects a meta leader.
    const started = await Promise.allSettled(specs.map(launch));
    started.forEach((result, i) => {
      if (result.status === 'fulfilled') nodes[i]!.server = result.value;
    });
    const failed = started.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    await waitForJetStream(handle.servers, size);
    return handle;
  } catch (error) {
    await handle.stop();
    throw error;
  }
}

/** Resolves once the cluster's JetStream answers API calls and can place a stream on every node. */
async function waitForJetStream(servers: string, replicas: number): Promise<void> {
  const nc = await connect({ servers: servers.split(',') });
  try {
    const probe = `PROBE_${randomBytes(4).toString('hex')}`;
    // jetstreamManager() itself asks the API, which times out until a meta leader is elected.
    const jsm = await waitFor(
      async () => {
        const manager = await jetstreamManager(nc, { timeout: 5_000 });
        await manager.streams.add({ name: probe, subjects: [`${probe.toLowerCase()}.>`], num_replicas: replicas });
        return manager;
      },
      { timeoutMs: 60_000, intervalMs: 250, description: 'JetStream cluster ready for replicated streams' },
    );
    await jsm.streams.delete(probe);
  } finally {
    await nc.close();
  }
}
