import postgres from 'postgres';
import { startTestNats, startTestPostgres } from '/work/main/test/support/global-setup.ts';
import { runOutboundBench } from '/work/main/bench/outbound.ts';
import { table } from '/work/main/bench/report.ts';
const [pg, nats] = await Promise.all([startTestPostgres(), startTestNats()]);
try {
  const admin = postgres(pg.url, { max: 1 });
  await admin.unsafe('create database omnibus_bench_out');
  await admin.end();
  const url = new URL(pg.url); url.pathname = '/omnibus_bench_out';
  const started = performance.now();
  const rows = await runOutboundBench({ natsUrl: nats.url, databaseUrl: url.toString(), log: (m) => process.stderr.write(`bench: ${m}\n`), sizes: JSON.parse(process.env.SIZES ?? '{}') });
  console.log(table(['metric', 'omnibus', 'baseline', 'ratio'], rows));
  console.log('took', ((performance.now() - started) / 1000).toFixed(1), 's');
} finally {
  await nats.stop(); await pg.stop();
}
process.exit(0);
