// The console in real headless Chromium (Debian's `chromium`, driven by playwright-core).
// tests/tests/console.rs starts `cmdb serve` over a discovered estate and runs:
//   node console.mjs estate   — sign in (expired and wrong tokens refused), search, a CI page,
//                               the service map, what-if on a web host (DEGRADED) and on the
//                               database (DOWN) with highlighted chains, single points of
//                               failure, a discovery run watched live, GraphiQL offline
//   node console.mjs big      — a service of 5,000 map nodes stays usable (summarised)
// Inputs come from the environment (CMDB_URL, CMDB_TOKEN, …); screenshots go to ARTIFACTS.
// Exits non-zero with the failed check on stderr.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const env = (k, d) => {
  const v = process.env[k] ?? d;
  if (v === undefined) throw new Error(`${k} is not set`);
  return v;
};
const URL_ = env('CMDB_URL');
const ART = env('ARTIFACTS', 'target/console-artifacts');
mkdirSync(ART, { recursive: true });
const origin = new URL(URL_).host;

const browser = await chromium.launch({ executablePath: env('CHROMIUM', '/usr/bin/chromium'), args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
const page = await context.newPage();
const problems = [];
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
// Refused tokens show up as failed loads (expected); anything else logged as an error is not,
// CSP refusals in particular.
page.on('console', (m) => {
  if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console error: ${m.text()}`);
});
page.on('request', (r) => {
  const u = new URL(r.url());
  if (!['data:', 'blob:'].includes(u.protocol) && u.host !== origin) problems.push(`request off the server: ${r.url()}`);
});
const shot = (name) => page.screenshot({ path: join(ART, `${name}.png`) });
const step = (s) => console.log(`· ${s}`);

async function signIn(token) {
  await page.goto(`${URL_}/`);
  await page.waitForSelector('#token');
  await page.fill('#token', token);
  await page.click('form.signin button[type=submit]');
}

/** Click a map node by CI name (and class), as a user does: at its place on the canvas. */
async function clickNode(name, cls) {
  const pos = await page.evaluate(([n, c]) => {
    const cy = window.__cmdbMap.cy;
    const node = cy.nodes().filter((x) => x.data('name') === n && (!c || x.data('class') === c))[0];
    if (!node) return null;
    cy.center(node);
    const p = node.renderedPosition();
    const r = cy.container().getBoundingClientRect();
    return { x: r.left + p.x, y: r.top + p.y };
  }, [name, cls]);
  assert.ok(pos, `no node ${name} (${cls}) on the map`);
  await page.mouse.click(pos.x, pos.y);
}

async function estate() {
  const service = env('SERVICE');
  const web = env('WEB');
  const db = env('DB');

  step('a browser opening the server lands on sign-in');
  await page.goto(`${URL_}/`);
  await page.waitForSelector('#token');
  assert.match(page.url(), /\/console\/#\/signin$/);
  await shot('01-signin');

  if (process.env.CMDB_EXPIRED_TOKEN) {
    step('an expired token is refused, saying so');
    await page.fill('#token', process.env.CMDB_EXPIRED_TOKEN);
    await page.click('form.signin button[type=submit]');
    await page.waitForSelector('#signin-message .error');
    assert.match(await page.textContent('#signin-message'), /expired/i);
  }
  step('a wrong token is refused');
  await page.fill('#token', 'not-a-token');
  await page.click('form.signin button[type=submit]');
  await page.waitForSelector('#signin-message .error');
  assert.match(await page.textContent('#signin-message'), /invalid/i);

  step('sign in; home lists the service with its status, counts and runs');
  await page.fill('#token', env('CMDB_TOKEN'));
  await page.click('form.signin button[type=submit]');
  await page.waitForSelector('#services');
  const row = page.locator(`#services tr[data-service="${service}"]`);
  assert.equal(await row.count(), 1, `home lists ${service}`);
  assert.match(await row.textContent(), /OK|DEGRADED|DOWN|AT_RISK/);
  assert.ok((await page.locator('#by-class tr').count()) > 3, 'CI counts by class');
  await shot('02-home');

  step(`search finds ${web} and opens its CI page`);
  await page.goto(`${URL_}/console/#/search`);
  await page.fill('#q', web);
  await page.press('#q', 'Enter');
  await page.waitForSelector('#results');
  await page.click(`#results a:text-is("${web}")`);
  await page.waitForSelector('#ci-name');
  assert.match(await page.textContent('#ci-name'), new RegExp(web));
  assert.ok((await page.locator('#attributes tbody tr').count()) > 2, 'attributes with sources');
  assert.match(await page.textContent('#attributes'), /ssh|snmp/);
  assert.ok((await page.locator('#identifiers tbody tr').count()) >= 1, 'identifiers');
  assert.match(await page.textContent('#identification'), /MATCHED|CREATED|MERGED|matched|created/i);
  assert.ok((await page.locator('#relationships tbody tr').count()) >= 1, 'relationships');
  assert.ok((await page.locator('#history li').count()) >= 1, 'history');
  assert.ok((await page.locator('#downstream tbody tr').count()) >= 1, 'what depends on it');
  assert.doesNotMatch(await page.textContent('#view'), /\b(null|undefined)\b/, 'no stray null/undefined on the CI page');
  await shot('03-ci');

  step('an unknown CI id says so');
  await page.goto(`${URL_}/console/#/ci/ci_0000000000000000`);
  await page.waitForSelector('h1:text("No such CI")');

  step('the service map: tiers, pools, depth');
  await page.goto(`${URL_}/console/#/`);
  await page.waitForSelector('#services');
  await row.locator('a.button').click();
  await page.waitForSelector('#page[data-ready=true]');
  const drawn = await page.evaluate(() => ({ nodes: window.__cmdbMap.cy.nodes().length, pools: window.__cmdbMap.cy.nodes('.pool').length }));
  assert.ok(drawn.nodes > 10, `map drawn: ${JSON.stringify(drawn)}`);
  assert.ok(drawn.pools >= 1, 'the web pool is drawn as a group');
  assert.match(await page.textContent('#panel'), /of \d+ needed|Entry points/);
  await shot('04-map');

  step(`what-if on ${web}, picked on the map: the service is DEGRADED, chain highlighted`);
  await page.check('#pick-mode');
  await clickNode(web, 'HOST');
  await page.waitForSelector('#picked li');
  await page.click('#run-whatif');
  await page.waitForSelector('#this-service .badge');
  assert.equal(await page.getAttribute('#this-service .badge', 'data-value'), 'DEGRADED');
  const lit = await page.evaluate(() => ({ edges: window.__cmdbMap.cy.edges('.on-path').length, failing: window.__cmdbMap.cy.nodes('.failing').length }));
  assert.ok(lit.edges > 0 && lit.failing === 1, `highlighted: ${JSON.stringify(lit)}`);
  await shot('05-whatif-web');

  step('single points of failure are marked');
  await page.click('#show-spof');
  await page.waitForSelector('#spof li');
  assert.match(await page.textContent('#spof'), new RegExp(db));
  assert.ok((await page.evaluate(() => window.__cmdbMap.cy.nodes('.spof').length)) > 0);
  await shot('06-spof');

  step(`what-if on ${db} from the what-if page: DOWN, chain on the map`);
  await page.goto(`${URL_}/console/#/whatif`);
  await page.waitForSelector('#chosen');
  for (;;) {
    const x = page.locator('#chosen li button');
    if (!(await x.count())) break;
    await x.first().click();
  }
  await page.fill('#find', db);
  await page.press('#find', 'Enter');
  await page.waitForSelector('#found li button');
  const hit = page.locator('#found li', { hasText: new RegExp(`^\\+ ${db} \\(Host\\)`) });
  await hit.locator('button').click();
  await page.fill('#window', 'PT2H');
  await page.click('#run');
  await page.waitForSelector('#map[data-ready=true]');
  const sev = await page.getAttribute(`#affected-services tr[data-service="${service}"]`, 'data-severity');
  assert.equal(sev, 'DOWN');
  assert.ok(Number(await page.getAttribute('#map', 'data-path-edges')) > 0, 'the chain is highlighted');
  await shot('07-whatif-db');

  if (process.env.DISCOVER_TARGET) {
    step('discovery: start a run with a named credential and watch it finish');
    await page.goto(`${URL_}/console/#/discovery`);
    await page.waitForSelector('#start-run');
    await page.fill('#targets', env('DISCOVER_TARGET'));
    for (const box of await page.locator('input[name=cred]').all()) {
      if ((await box.getAttribute('value')) !== env('DISCOVER_CREDENTIAL')) await box.uncheck();
    }
    await page.click('#start-run button[type=submit]');
    await page.waitForSelector('#page[data-finished]', { timeout: 120000 });
    assert.equal(await page.getAttribute('#page', 'data-finished'), 'SUCCEEDED');
    assert.ok((await page.locator('#targets-table tr[data-status=OK]').count()) >= 1, 'per-target outcome');
    assert.doesNotMatch(await page.textContent('#view'), /\b(null|undefined)\b/, 'no stray null/undefined on the run page');
    await shot('08-discovery');
  }

  step('GraphiQL is served from the binary and works offline');
  await page.goto(`${URL_}/graphiql`);
  await page.waitForSelector('.graphiql-container', { timeout: 30000 });
  await shot('09-graphiql');
}

async function big() {
  const service = env('SERVICE');
  step('sign in and open a 5,000-node service map');
  await signIn(env('CMDB_TOKEN'));
  await page.waitForSelector('#services');
  await page.locator(`#services tr[data-service="${service}"] a.button`).click();
  await page.waitForSelector('#page[data-ready=true]', { timeout: 60000 });
  const status = await page.textContent('#map-status');
  assert.match(status, /Summarised/);
  assert.match(await page.textContent('#map-size'), /cut at \d+ of 5\d{3}/);
  const drawn = await page.evaluate(() => window.__cmdbMap.drawnNodes);
  assert.ok(drawn < 60, `summarised to ${drawn} nodes`);
  step('a summary node lists its members; the page still answers');
  const pos = await page.evaluate(() => {
    const cy = window.__cmdbMap.cy;
    const n = cy.nodes('[role = "CLUSTER"]')[0];
    const p = n.renderedPosition();
    const r = cy.container().getBoundingClientRect();
    return { x: r.left + p.x, y: r.top + p.y };
  });
  await page.mouse.click(pos.x, pos.y);
  await page.waitForSelector('#cluster-list li');
  assert.ok((await page.locator('#cluster-list li').count()) > 100);
  await page.selectOption('#depth', '4');
  await page.waitForSelector('#page[data-ready=true]');
  await shot('10-big-map');

  step('hostile names are shown as text, never run');
  await page.goto(`${URL_}/console/#/search?q=${encodeURIComponent('onerror')}`);
  await page.waitForSelector('#results a.ci-link');
  const hostile = await page.textContent('#results');
  assert.ok(hostile.includes('<img src=x onerror='), 'the name is shown literally');
  await page.click('#results a.ci-link');
  await page.waitForSelector('#ci-name');
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  assert.equal(await page.locator('#view img').count(), 0);
}

const scenario = process.argv[2];
try {
  if (scenario === 'estate') await estate();
  else if (scenario === 'big') await big();
  else throw new Error(`unknown scenario ${scenario}`);
  assert.deepEqual(problems, [], 'no page errors, nothing fetched from elsewhere');
  console.log(`ok: ${scenario}`);
} catch (e) {
  await shot(`failed-${scenario}`).catch(() => {});
  console.error(`FAILED (${scenario}): ${e.stack || e}`);
  if (problems.length) console.error(problems.join('\n'));
  process.exitCode = 1;
} finally {
  await browser.close();
}
