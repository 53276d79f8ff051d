// Time to an interactive service map in headless Chromium, for maps of 200 and 2,000 nodes
// (docs/benchmarks.md "Console"). One command:
//   cargo build --release -p cmdb-server && node tests/browser/bench.mjs [target/release/cmdb]
// For each size: a fresh store with a generated service (big-service.mjs), `cmdb serve`, a
// signed-in page; then RUNS cold loads of the map page (new page, empty cache and storage)
// and RUNS warm ones (same tab: the console's files revalidated, not fetched), timed from
// navigation to the page marking itself ready (data fetched, laid out, drawn, events bound).
import { chromium } from 'playwright-core';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

const here = new URL('.', import.meta.url).pathname;
const cmdb = resolve(process.argv[2] || join(here, '../../target/release/cmdb'));
const RUNS = Number(process.env.RUNS || 5);
const TOKEN = 'bench-token';
const hash = execFileSync(cmdb, ['token-hash', '--name', 'bench', TOKEN]).toString().match(/sha256 = "([0-9a-f]+)"/)[1];

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function serve(dir) {
  writeFileSync(join(dir, 'cmdb.toml'), `[[auth.tokens]]\nname = "bench"\nsha256 = "${hash}"\nrole = "reader"\n`);
  const p = spawn(cmdb, ['--data-dir', join(dir, 'data'), '--config', join(dir, 'cmdb.toml'), '--log', 'warn', 'serve', '--bind', '127.0.0.1:0'], {
    env: { ...process.env, CMDB_SERVER_DISCOVER_LOCAL_ON_START: 'false' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise((ok) => createInterface({ input: p.stdout }).once('line', ok));
  return { proc: p, url: line.replace('listening on ', '').trim() };
}

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox', '--disable-dev-shm-usage'] });
const rows = [];
for (const n of [200, 2000]) {
  const dir = mkdtempSync(join(tmpdir(), `cmdb-console-bench-${n}-`));
  writeFileSync(join(dir, 'svc.jsonl'), execFileSync('node', [join(here, 'big-service.mjs'), String(n), 'Bench']));
  execFileSync(cmdb, ['--data-dir', join(dir, 'data'), '--log', 'warn', 'import', join(dir, 'svc.jsonl')]);
  const { proc, url } = await serve(dir);
  const sid = (await (await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body: JSON.stringify({ query: '{ businessServices { id name } }' }) })).json()).data.businessServices.find((s) => s.name === 'Bench').id;
  const mapUrl = `${url}/console/#/service/${encodeURIComponent(sid)}`;
  // From navigation (the console's own files included) to the page marking the map ready.
  const time = async (page) => {
    const t0 = Date.now();
    await page.goto(mapUrl);
    await page.waitForSelector('#page[data-ready=true]', { timeout: 60000 });
    const t = Date.now() - t0;
    const info = await page.evaluate(() => ({ nodes: window.__cmdbMap.cy.nodes().length, edges: window.__cmdbMap.cy.edges().length, ...window.__cmdbMap.timings }));
    return { t, ...info };
  };
  const cold = [];
  const warm = [];
  const fetchMs = [];
  const drawMs = [];
  let info;
  for (let i = 0; i < RUNS; i++) {
    const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    await ctx.addInitScript((t) => sessionStorage.setItem('cmdb.token', t), TOKEN);
    const page = await ctx.newPage();
    const c = await time(page);
    cold.push(c.t);
    info = c;
    fetchMs.push(c.fetchMs);
    drawMs.push(c.drawMs);
    console.error(`${n}: cold ${c.t} ms (fetch ${c.fetchMs} ms, draw ${c.drawMs} ms)`);
    await page.goto('about:blank');
    warm.push((await time(page)).t);
    await ctx.close();
  }
  rows.push({ n, drawn: info.nodes, edges: info.edges, cold: median(cold), warm: median(warm), layout: median(drawMs), fetch: median(fetchMs), goal: n <= 200 ? 1000 : 3000 });
  proc.kill();
}
await browser.close();
console.log(`| map nodes | drawn nodes / edges | cold load, median of ${RUNS} | warm (files cached) | of which (medians): map query | layout and first frame | goal | ratio to goal |`);
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.n} | ${r.drawn} / ${r.edges} | ${r.cold} ms | ${r.warm} ms | ${r.fetch} ms | ${r.layout} ms | ≤ ${r.goal} ms | ${(r.cold / r.goal).toFixed(2)} |`);
