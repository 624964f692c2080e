import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { startTestNats } from '../test/support/global-setup.ts';
import { writeChildConfig } from '../test/support/child-daemon.ts';
import { freePort } from '../test/support/services.ts';
import { signedWebhooks, whatsappChannelYaml } from './fixtures.ts';
import { runLoad } from './load.ts';
import { processCpuMs } from './costs.ts';
import { readdirSync } from 'node:fs';
function threads(pid: number): Map<string, number> {
  const m = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try { const st = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'); const comm = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')')); const f = st.slice(st.lastIndexOf(')') + 2).split(' '); const t = (Number(f[11]) + Number(f[12])) * 10; const k = `${comm}#${tid}`; m.set(k, t); } catch {}
  }
  return m;
}
function diff(a: Map<string, number>, b: Map<string, number>) { const agg = new Map<string, number>(); for (const [k, v] of b) { const name = k; agg.set(name, (agg.get(name) ?? 0) + v - (a.get(k) ?? 0)); } return [...agg].filter(([, v]) => v > 20).map(([k, v]) => `${k}:${v}`).join(' '); }
function rss(pid: number) { const l = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((x) => x.startsWith('VmRSS:')); return Number(l!.match(/\d+/)![0]) / 1024; }
const nats = await startTestNats();
const port = await freePort();
const dir = await writeChildConfig({ databaseUrl: null, natsUrl: nats.url, prefix: 'cold', port, accounts: { 'bench-wa.yaml': whatsappChannelYaml() } });
const flags = (process.env.NODE_FLAGS ?? '').split(' ').filter(Boolean);
const child = spawn(process.execPath, [...flags, 'bin/omnibus.mjs', 'start', '--config', dir], { stdio: 'ignore' });
const url = `http://127.0.0.1:${port}`;
const t0 = Date.now();
while (!(await fetch(`${url}/readyz`).then((r) => r.ok, () => false))) await new Promise((r) => setTimeout(r, 200));
const ready = Date.now() - t0;
await new Promise((r) => setTimeout(r, 15000));
const idle = rss(child.pid!);
const out: string[] = [];
for (const round of [0, 1, 2]) {
  const c0 = processCpuMs(child.pid!); const th0 = threads(child.pid!);
  const r = await runLoad(url, signedWebhooks({ count: 1000, senders: 170, tag: `L${round}`, senderOffset: 700_000 + round * 1000 }), 32);
  out.push(`${r.requestsPerSecond.toFixed(0)}/s cpu ${((processCpuMs(child.pid!) - c0) / 1000).toFixed(2)} non2xx ${r.non2xx} [${diff(th0, threads(child.pid!))}]`);
}
console.log(`flags=${flags.join(' ')} ready ${ready} ms idle ${idle.toFixed(0)} | ${out.join(' | ')} | rss ${rss(child.pid!).toFixed(0)}`);
child.kill('SIGTERM');
await new Promise((r) => child.on('exit', r));
await nats.stop();
