// The console in a real browser: Debian's Chromium, driven by playwright-core,
// against the running stack (CLIENTELE_URL, CLIENTELE_ADMIN_KEY). Each step is a
// subtest that fails when what it did is not on the page (and not in the API);
// after a failed step the rest are skipped. A screenshot of every page it looks
// at goes to CONSOLE_SCREENSHOTS (default .run/console-screenshots/).
//
//   node --test tests/browser/console.test.mjs
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { chromium } = createRequire(join(root, '.tools', 'node', 'package.json'))('playwright-core');

const BASE = process.env.CLIENTELE_URL;
const ADMIN = process.env.CLIENTELE_ADMIN_KEY;
assert.ok(BASE && ADMIN, 'CLIENTELE_URL and CLIENTELE_ADMIN_KEY name the stack under test');
const SHOTS = process.env.CONSOLE_SCREENSHOTS || join(root, '.run', 'console-screenshots');
const WAIT = 15_000;
const ALL = ['clients', 'licenses', 'webhooks', 'partners', 'keys'].flatMap((r) => ['view', 'edit', 'create', 'remove'].map((a) => `${r}:${a}`));
const run = Math.random().toString(36).slice(2, 8);

// The local gateway emulator's own answer when it lost a function's response (see
// is_emulator_500 in tests/tests/api/helpers.rs): never one of Clientele's, whose
// errors are all problem+json.
const EMULATOR_500 = '{"type":"https://httpstatuses.com/500","status":500,"title":"Internal Server Error"}';
const isEmulator500 = (status, contentType, body) =>
  status === 500 && Boolean(contentType?.startsWith('text/plain')) && body === EMULATOR_500;
// Its headers (axum's (status, String): text/plain and the length of that body).
const isEmulator500Headers = (res) => {
  const headers = res.headers();
  return res.status() === 500 && Boolean(headers['content-type']?.startsWith('text/plain'))
    && headers['content-length'] === String(Buffer.byteLength(EMULATOR_500));
};
// Whether a page's response is that answer. Chromium aborts the body of a module script
// answered 500, and Playwright then reads back another body: once, on a clean clone, the
// 84-byte 500 read back as the 32 KB app.js of an earlier load. So a body read back at
// that length must be exactly the emulator's; one of another length (or none) leaves the
// headers to decide.
async function emulator500(res) {
  if (!isEmulator500Headers(res)) return false;
  const body = await res.text().catch(() => null);
  return body === null || body.length !== EMULATOR_500.length || body === EMULATOR_500;
}

// A /v1 call. A read the emulator itself lost is sent once more.
async function call(method, path, key, body, retried = false) {
  const res = await fetch(`${BASE}/v1${path}`, {
    method,
    headers: { ...(key ? { 'X-API-Key': key } : {}), ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (isEmulator500(res.status, res.headers.get('content-type'), text) && method === 'GET' && !retried) {
    return call(method, path, key, body, true);
  }
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function created(method, path, key, body) {
  const res = await call(method, path, key, body);
  assert.equal(res.status, 201, `${method} ${path}: ${JSON.stringify(res.body)}`);
  return res.body;
}

// A partner with a key holding every permission.
async function partner(name, extra = {}) {
  const p = await created('POST', '/partners', ADMIN, { name: `${name} ${run}`, type: 'reseller', ...extra });
  const k = await created('POST', '/api-keys', ADMIN, { partnerId: p.id, name: 'console test', permissions: ALL });
  return { ...p, key: k.key };
}

// Webhook deliveries land here: event ids in the order they came, and each event's body.
const received = [];
const bodies = new Map();
const receiver = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    received.push(req.headers['webhook-id']);
    try { bodies.set(req.headers['webhook-id'], JSON.parse(Buffer.concat(chunks).toString())); } catch { /* the step asserts the body */ }
    res.writeHead(204).end();
  });
});

let browser;
let shot = 0;
const errors = [];
const profiles = [];
// The browser logs "Failed to load resource ... 500" for every 500 it gets, the
// emulator's own included (app.js sends such a read once more). Each 500 line is
// forgiven only against an answer that was exactly the emulator's (emulator500s).
const emulator500s = [];
let logged500s = 0;
// Likewise each 4xx line ("status of 404") is forgiven only against a problem+json answer
// of that status from the API (/v1): the 412 this test provokes, the 400s of the forms it
// fills wrongly on purpose, a 404 after a delete. A 4xx for a console file, or one not in
// the API's problem+json, is not forgiven.
const api4xx = new Map();
const logged4xx = new Map();
const bump = (m, status) => m.set(status, (m.get(status) ?? 0) + 1);
const other4xx = [];

async function tab(context) {
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  // A CSP violation or a script error shows as a console error; so does every answer of
  // 4xx or 5xx ("Failed to load resource: the server responded with a status of ..."),
  // counted here and judged at the end against the answers that came (see api4xx).
  const a4xx = /^Failed to load resource: the server responded with a status of (4\d\d)\b/;
  const a500 = /^Failed to load resource: the server responded with a status of 500\b/;
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const client = a4xx.exec(m.text());
    // Chromium's own probe for /favicon.ico (the console names no icon) is 404, and
    // Playwright reports no response for it.
    const favicon = client?.[1] === '404' && new URL(m.location().url || BASE).pathname === '/favicon.ico';
    if (favicon) return;
    if (client) bump(logged4xx, client[1]);
    else if (a500.test(m.text())) logged500s += 1;
    else errors.push(m.text());
  });
  page.on('response', (res) => {
    if (res.status() >= 400 && res.status() < 500 && new URL(res.url()).pathname.startsWith('/v1/')
      && res.headers()['content-type'] === 'application/problem+json') bump(api4xx, String(res.status()));
    else if (res.status() >= 400 && res.status() < 500) other4xx.push(`${res.status()} ${res.url()} (${res.headers()['content-type']})`);
    if (res.status() !== 500) return;
    emulator500s.push(emulator500(res));
  });
  return page;
}

async function newTab() {
  return tab(await browser.newContext({ viewport: { width: 1200, height: 900 } }));
}

async function screenshot(page, name) {
  shot += 1;
  await page.screenshot({ path: join(SHOTS, `${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true });
}

// Waits until `locator` (its first match) shows text matching `pattern`.
async function expectText(locator, pattern, what) {
  const deadline = Date.now() + WAIT;
  let last = '';
  while (Date.now() < deadline) {
    last = (await locator.first().textContent({ timeout: WAIT }).catch(() => '')) ?? '';
    if (pattern.test(last)) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`${what}: expected ${pattern}, the page shows ${JSON.stringify(last.slice(0, 300))}`);
}

// The console's files as its function serves them (compiled in from shared/console/).
const SERVED = {
  '/console': readFileSync(join(root, 'shared', 'console', 'index.html'), 'utf8'),
  '/console/app.js': readFileSync(join(root, 'shared', 'console', 'app.js'), 'utf8'),
  '/console/style.css': readFileSync(join(root, 'shared', 'console', 'style.css'), 'utf8'),
};

// Loads the console's document (`navigate` goes to it or reloads it) and waits until
// app.js has run: the main region of `root` (the page, or the frame that holds the console
// in a dashboard's page) shows a heading. The only failure forgiven, once,
// is the local gateway emulator's own 500 for a console file, exactly (isEmulator500: it
// loses a function's answer over about 8 KB, docs/EMULATOR.md); a GET changes nothing, so
// the page is loaded once more, as a person would. Any other bad file (our own 500, other
// bytes than shared/console/ holds, a dropped request) fails at once, and so does a second
// emulator 500. The page errors that forgiven load logged are printed, not kept.
async function load(page, navigate, root = page) {
  for (let attempt = 1; ; attempt += 1) {
    const broken = [];
    const checks = [];
    const fileOf = (url) => { const { pathname } = new URL(url); return pathname in SERVED ? pathname : null; };
    // Requests the emulator answered its own 500: their later abort is part of that answer.
    const lost = new Set();
    const arrived = (res) => {
      const path = fileOf(res.url());
      if (!path) return;
      if (isEmulator500Headers(res)) {
        lost.add(res.request());
        checks.push(emulator500(res).then((emulator) => {
          broken.push({ emulator, what: `${path}: 500 ${res.headers()['content-type']}${emulator ? ", the emulator's own 500" : ', not the emulator\'s body'}` });
        }));
        return;
      }
      checks.push(res.text().then((body) => {
        if (res.status() === 200 && body === SERVED[path]) return;
        const type = res.headers()['content-type'];
        const emulator = isEmulator500(res.status(), type, body);
        broken.push({ emulator, what: `${path}: ${res.status()} ${type}, ${body.length} characters${emulator ? ", the emulator's own 500" : ''}` });
      }, (err) => { broken.push({ emulator: false, what: `${path}: its body could not be read (${err.message})` }); }));
    };
    const failed = (req) => {
      const path = fileOf(req.url());
      // The abort that follows a 500 to a module script is that answer's, judged above.
      if (path && !(lost.has(req) && req.failure()?.errorText === 'net::ERR_ABORTED')) broken.push({ emulator: false, what: `${path}: ${req.failure()?.errorText ?? 'failed'}` });
    };
    const logged = errors.length;
    page.on('response', arrived);
    page.on('requestfailed', failed);
    await navigate();
    const deadline = Date.now() + WAIT;
    let started = false;
    while (!started && Date.now() < deadline) {
      started = (await root.locator('#main h1').count()) > 0;
      await Promise.all(checks);
      if (started || broken.length) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    page.off('response', arrived);
    page.off('requestfailed', failed);
    const what = broken.map((b) => b.what).join('; ');
    assert.ok(!broken.length || (attempt === 1 && broken.every((b) => b.emulator)),
      `a console file did not arrive as served${attempt > 1 ? ' (the second load)' : ''}: ${what}; page errors: ${errors.slice(logged).join('; ')}`);
    if (started && !broken.length) return;
    assert.ok(broken.length, `the console did not start: ${errors.slice(logged).join('; ')}`);
    console.log(`# the local emulator answered its own 500 for a console file (${what}); loading the console once more`);
    console.log(`# page errors of that load, not kept: ${errors.splice(logged).join('; ') || 'none'}`);
  }
}

async function signInWithKey(page, key) {
  await load(page, () => page.goto(`${BASE}/console`));
  await page.getByLabel('API key', { exact: true }).fill(key);
  await page.getByRole('button', { name: 'Sign in with the key' }).click();
  await expectText(page.locator('h1'), /^Clients$/, 'after signing in with a key');
}

async function signInAsTeammate(page, username, password) {
  await load(page, () => page.goto(`${BASE}/console`));
  await page.getByLabel('Username', { exact: true }).fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expectText(page.locator('h1'), /^Clients$/, 'after signing in as a teammate');
}

// Runs in the page: each visible text whose contrast with the background behind it
// is below WCAG 2.1 AA (4.5:1; 3:1 for large text), as "text: ratio".
function lowContrast() {
  const rgb = (c) => c.match(/[\d.]+/g).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { const s = v / 255; return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length < 4 || c[3] > 0) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
    if (!own || !el.checkVisibility() || el.closest('.skip')) continue;
    const style = getComputedStyle(el);
    const [l1, l2] = [lum(rgb(style.color)), lum(background(el))].sort((x, y) => y - x);
    const ratio = (l1 + 0.05) / (l2 + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) out.push(`${el.textContent.trim().slice(0, 40)}: ${ratio.toFixed(2)}`);
  }
  return out;
}

const details = (page, key) => page.locator(`dd[data-key="${key}"]`);

before(async () => {
  // This run's screenshots only: an earlier run's (a failed step's) would mislead.
  rmSync(SHOTS, { recursive: true, force: true });
  mkdirSync(SHOTS, { recursive: true });
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  const profile = mkdtempSync(join(tmpdir(), 'console-chromium-'));
  profiles.push(profile);
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-quic'],
  });
  browser = context.browser() ?? { newContext: async () => context };
});

after(async () => {
  receiver.close();
  await browser?.close?.();
  for (const p of profiles) rmSync(p, { recursive: true, force: true });
});

test('the console, step by step, through the API', async (t) => {
  let failed = false;
  let page;
  let second;
  const step = (name, fn) => t.test(name, { skip: failed && 'an earlier step failed' }, async () => {
    try {
      await fn();
    } catch (err) {
      failed = true;
      if (errors.length) err.message += `\nthe pages' errors so far: ${errors.join('; ')}`;
      for (const [tabName, p] of [['tab-one', page], ['tab-two', second]]) if (p) await screenshot(p, `FAILED-${tabName}`).catch(() => {});
      throw err;
    }
  });

  const a = await partner('Console A');
  const agency = await created('POST', '/partners', a.key, { name: `Console A agency ${run}`, type: 'agency' });
  const b = await partner('Console B');
  const bClient = await created('POST', '/clients', b.key, { name: `B only ${run}`, email: `b-only-${run}@example.com` });
  const aOther = await created('POST', '/clients', a.key, { name: `A other ${run}`, email: `a-other-${run}@example.com` });
  const mate = { username: `ops.${run}`, password: 'a long passphrase for the console' };
  await created('POST', '/teammates', a.key, { ...mate, permissions: ALL });
  const name = `Console Bakery ${run}`;
  let clientId;
  let hookId;
  let firstKey;
  let attemptView;

  await step('signs in with an API key', async () => {
    page = await newTab();
    await load(page, () => page.goto(`${BASE}/console`));
    await screenshot(page, 'sign-in');
    await page.getByLabel('API key', { exact: true }).fill('ck_live_not_a_key');
    await page.getByRole('button', { name: 'Sign in with the key' }).click();
    await expectText(page.locator('.problem:not([hidden])'), /unauthenticated|credential|authenticat/i, 'a bad key is refused');
    await signInWithKey(page, a.key);
    await screenshot(page, 'clients-empty');
  });

  await step('creates a webhook endpoint and shows its secret once', async () => {
    await page.goto(`${BASE}/console#/webhooks`);
    await page.getByLabel('URL', { exact: true }).fill(`http://127.0.0.1:${receiver.address().port}/hook`);
    await page.getByRole('button', { name: 'Create endpoint' }).click();
    await expectText(page.locator('.secret-value'), /^whsec_/, 'the new signing secret');
    hookId = decodeURIComponent(new URL(page.url()).hash.split('/')[2]);
    await screenshot(page, 'webhook-created');
  });

  await step('creates a client, showing field errors first', async () => {
    await page.goto(`${BASE}/console#/clients/new`);
    await page.getByLabel('Name', { exact: true }).fill(name);
    await page.getByLabel('Email', { exact: true }).fill('not an email');
    await page.getByRole('button', { name: 'Create client' }).click();
    await expectText(page.locator('[data-field="email"] .field-error'), /email/i, 'the email error beside its field');
    await expectText(page.locator('.problem:not([hidden])'), /validation/i, "the problem's title");
    await screenshot(page, 'client-field-error');
    await page.getByLabel('Email', { exact: true }).fill(`bakery-${run}@example.com`);
    await page.getByLabel('Username (optional)', { exact: true }).fill(`bakery.${run}`);
    await page.getByLabel('Partner', { exact: true }).selectOption({ label: a.name });
    await page.getByRole('button', { name: 'Create client' }).click();
    firstKey = await expectText(page.locator('.secret-value'), /^cli_live_/, "the client's API key, shown once");
    await expectText(page.locator('h1'), new RegExp(name), 'the client page');
    clientId = decodeURIComponent(new URL(page.url()).hash.split('/')[2]);
    assert.equal((await call('GET', `/clients/${clientId}`, a.key)).status, 200);
  });

  await step('finds it by name prefix', async () => {
    await page.goto(`${BASE}/console#/clients`);
    await page.getByLabel('Name starts with', { exact: true }).fill(`console bakery ${run.slice(0, 4)}`);
    await page.getByRole('button', { name: 'Filter' }).click();
    await expectText(page.locator('.total'), /^1 client matches$/, 'the total of the filtered list');
    await expectText(page.locator('tbody tr'), new RegExp(name), 'the one row');
    await screenshot(page, 'clients-filtered');
    await page.getByRole('link', { name }).click();
    await expectText(page.locator('h1'), new RegExp(name), 'the client page from the list');
  });

  await step('edits it', async () => {
    await page.getByLabel('Company', { exact: true }).fill('Bakery Ltd');
    await page.getByLabel('Metadata', { exact: true }).fill('tier=gold');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await expectText(page.locator('.notice'), /Saved/, 'the saved notice');
    await expectText(details(page, 'company'), /^Bakery Ltd$/, 'the new company');
    await expectText(details(page, 'metadata'), /gold/, 'the new metadata');
    const api = (await call('GET', `/clients/${clientId}`, a.key)).body;
    assert.equal(api.company, 'Bakery Ltd');
    assert.equal(api.version, 1);
  });

  await step('signs in as a teammate in a second tab, and shows a 412 in the first', async () => {
    second = await newTab();
    await signInAsTeammate(second, mate.username, mate.password);
    await second.goto(`${BASE}/console#/clients/${clientId}`);
    await second.getByLabel('Company', { exact: true }).fill('Changed in tab two');
    await second.getByRole('button', { name: 'Save changes' }).click();
    await expectText(second.locator('.notice'), /Saved/, 'the second tab saves');
    await page.getByLabel('Company', { exact: true }).fill('Changed in tab one');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await expectText(page.locator('.problem:not([hidden])'), /Changed by someone else, reload/, 'the 412 in the first tab');
    await screenshot(page, 'client-412');
    assert.equal((await call('GET', `/clients/${clientId}`, a.key)).body.company, 'Changed in tab two', 'the stale save changed nothing');
    await page.getByRole('button', { name: 'Reload' }).click();
    await expectText(details(page, 'company'), /^Changed in tab two$/, 'the reloaded client');
  });

  await step('suspends it with a reason', async () => {
    await page.getByLabel('Reason for suspending', { exact: true }).fill('unpaid invoice');
    await page.getByRole('button', { name: 'Suspend', exact: true }).click();
    await expectText(details(page, 'suspendedReason'), /^unpaid invoice$/, 'the reason');
    await expectText(page.locator('h1'), /suspended/, 'the suspended badge');
    assert.equal((await call('GET', `/clients/${clientId}`, a.key)).body.suspended, true);
    await page.getByRole('button', { name: 'Unsuspend' }).click();
    await expectText(details(page, 'suspended'), /^no$/, 'unsuspended');
  });

  await step('offers a trial, then makes it live', async () => {
    await page.getByLabel('Trial days', { exact: true }).fill('21');
    await page.getByRole('button', { name: 'Offer trial' }).click();
    await expectText(details(page, 'status'), /^trial$/, 'the trial status');
    await page.getByRole('button', { name: 'Make live' }).click();
    await expectText(details(page, 'status'), /^live$/, 'the live status');
    assert.equal((await call('GET', `/clients/${clientId}`, a.key)).body.status, 'live');
  });

  await step('moves it to another partner', async () => {
    await page.getByLabel('Move to partner', { exact: true }).selectOption({ label: agency.name });
    await page.getByRole('button', { name: 'Move', exact: true }).click();
    await expectText(details(page, 'directPartner'), new RegExp(agency.name), 'the new direct partner');
  });

  await step('shows its licenses, activations and usage against quotas', async () => {
    const product = await created('POST', '/products', ADMIN, { name: `Site Builder ${run}`, slug: `site-builder-${run}` });
    const license = await created('POST', '/licenses', a.key, { productId: product.id, tier: 'pro', clientId, maxActivations: 2 });
    const activated = await call('POST', '/licenses/activate', a.key, { licenseKey: license.licenseKey, domain: `shop-${run}.example.com` });
    assert.equal(activated.status, 200, JSON.stringify(activated.body));
    const quotas = { apiCalls: { limit: 1000, period: 'month' }, domains: { limit: 3 } };
    assert.equal((await call('PUT', `/clients/${clientId}/quotas`, a.key, quotas)).status, 200);
    assert.equal((await call('POST', `/clients/${clientId}/usage`, a.key, { resource: 'apiCalls', amount: 420 })).status, 200);
    await load(page, () => page.reload());
    await expectText(page.locator('.usage li', { hasText: 'apiCalls' }), /apiCalls: 420 of 1000 a month/, 'the apiCalls usage');
    assert.equal(await page.getByRole('progressbar', { name: /apiCalls/ }).getAttribute('value'), '420', 'its bar');
    assert.equal(await page.getByRole('progressbar', { name: /domains/ }).getAttribute('max'), '3', 'a bar per resource');
    const row = page.locator('tbody tr', { hasText: `Site Builder ${run}` });
    await expectText(row, new RegExp(`pro.*active.*shop-${run}\\.example\\.com`), 'the license and its activation');
    await expectText(page.locator('.history .total'), /^\d+ of \d+ events$/, "the client's history, from the client filter");
    await screenshot(page, 'client-page');
  });

  await step('edits its permissions and quotas in forms that check them as the API does', async () => {
    const perms = page.locator('form', { has: page.getByRole('button', { name: 'Save permissions' }) });
    const last = await perms.locator('tbody tr').count();
    await perms.getByLabel(`Feature, row ${last}`, { exact: true }).fill('Reports!');
    await perms.getByLabel(`view, row ${last}`, { exact: true }).check();
    await perms.getByRole('button', { name: 'Save permissions' }).click();
    await expectText(perms.locator('tbody tr').nth(last - 1).locator('.field-error'), /1 to 64 of a-z/, 'a bad feature name, beside its row');
    await perms.getByLabel(`Feature, row ${last}`, { exact: true }).fill('reports');
    await perms.getByLabel(`edit, row ${last}`, { exact: true }).check();
    await perms.getByRole('button', { name: 'Save permissions' }).click();
    await expectText(page.locator('.notice'), /Permissions saved/, 'the permissions saved');
    assert.deepEqual((await call('GET', `/clients/${clientId}`, a.key)).body.permissions.reports, ['view', 'edit']);
    await expectText(details(page, 'permissions'), /reports: view, edit/, 'the permissions, as words');

    const quotas = page.locator('form', { has: page.getByRole('button', { name: 'Save quotas' }) });
    const rows = await quotas.locator('tbody tr').count();
    assert.equal(rows, 3, 'a row for each quota, and an empty one');
    await quotas.getByLabel(`Resource, row ${rows}`, { exact: true }).fill('seats');
    await quotas.getByLabel(`Limit, row ${rows}`, { exact: true }).fill('-1');
    await quotas.getByRole('button', { name: 'Save quotas' }).click();
    await expectText(quotas.locator('tbody tr').nth(rows - 1).locator('.field-error'), /whole number/, 'a bad limit, beside its row');
    await quotas.getByLabel(`Limit, row ${rows}`, { exact: true }).fill('25');
    await quotas.getByLabel(`Resets, row ${rows}`, { exact: true }).selectOption('day');
    await quotas.getByRole('button', { name: 'Save quotas' }).click();
    await expectText(page.locator('.notice'), /Quotas saved/, 'the quotas saved');
    const saved = (await call('GET', `/clients/${clientId}`, a.key)).body.quotas;
    assert.deepEqual(saved, { apiCalls: { limit: 1000, period: 'month' }, domains: { limit: 3 }, seats: { limit: 25, period: 'day' } });
    await screenshot(page, 'client-editors');
  });

  await step("rotates its API key, showing the new one once", async () => {
    await page.getByRole('button', { name: 'Rotate API key' }).click();
    const rotated = await expectText(page.locator('.secret-value'), /^cli_live_/, 'the new key');
    assert.notEqual(rotated, firstKey);
    await screenshot(page, 'client-key-rotated');
  });

  await step("shows the webhook's deliveries and redelivers one", async () => {
    await page.goto(`${BASE}/console#/webhooks/${hookId}`);
    const rows = page.locator('tbody tr', { has: page.getByRole('button', { name: 'Redeliver' }) });
    const deadline = Date.now() + 30_000;
    while ((await rows.count()) === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 1000));
      await page.getByRole('button', { name: 'Reload deliveries' }).click();
    }
    assert.ok((await rows.count()) > 0, 'a delivery attempt is listed');
    await expectText(rows.first(), /204/, 'the receiver answered 204');
    await screenshot(page, 'webhook-deliveries');
    const eventId = (await rows.first().locator('td').nth(2).textContent()).trim();
    const before = received.filter((id) => id === eventId).length;
    assert.ok(before >= 1, 'the receiver got the event');
    await rows.first().getByRole('button', { name: 'Redeliver' }).click();
    await expectText(page.locator('.notice'), /queued for delivery again/, 'the redeliver notice');
    const until = Date.now() + 30_000;
    while (received.filter((id) => id === eventId).length === before && Date.now() < until) await new Promise((r) => setTimeout(r, 250));
    assert.ok(received.filter((id) => id === eventId).length > before, 'the event was delivered again');
  });

  await step('sends the endpoint a test event of a chosen type', async () => {
    await page.getByLabel('Event type', { exact: true }).selectOption('license.revoked');
    await page.getByRole('button', { name: 'Send test event' }).click();
    const note = await expectText(page.locator('.notice'), /Test event \S+ \(license\.revoked\) sent/, 'the test event notice');
    const eventId = note.match(/Test event (\S+)/)[1];
    const until = Date.now() + 30_000;
    while (!bodies.has(eventId) && Date.now() < until) await new Promise((r) => setTimeout(r, 250));
    const body = bodies.get(eventId);
    assert.ok(body, 'the receiver got the test event');
    assert.equal(body.type, 'license.revoked');
    assert.equal(body.test, true, 'marked as a test');
    const row = page.locator('tbody tr', { hasText: eventId });
    const listed = Date.now() + 30_000;
    while ((await row.count()) === 0 && Date.now() < listed) {
      await new Promise((r) => setTimeout(r, 500));
      await page.getByRole('button', { name: 'Reload deliveries' }).click();
    }
    await expectText(row, /license\.revoked.*test event/, 'its attempt, marked as a test');
    assert.equal(await row.getByRole('button', { name: 'Redeliver' }).count(), 0, 'a test event has no Redeliver');
    await screenshot(page, 'webhook-test-event');
    // The attempt opens to what it sent: headers (the signature too) and the body as the receiver got it.
    await row.first().getByRole('link').click();
    await expectText(page.locator('h1'), /^Attempt 1 of license\.revoked/, "the attempt's page");
    attemptView = new URL(page.url()).hash;
    const signature = page.locator('tr', { hasText: 'webhook-signature' });
    await expectText(signature, /webhook-signature\s*v1,/, 'its signature header');
    const sentId = (await page.locator('tr', { hasText: 'webhook-id' }).locator('td').nth(1).textContent()).trim();
    const sentBody = (await page.getByLabel('Request body').textContent());
    assert.deepEqual(JSON.parse(sentBody), bodies.get(sentId), 'the body the receiver got');
    await expectText(page.locator('dd[data-key="statusCode"]'), /^204$/, 'the status it got');
    await screenshot(page, 'webhook-attempt');
  });

  await step("is framed by a page of the console origins its parent set", async () => {
    const embed = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>Dashboard</title>'
        + `<iframe src="${BASE}/console?partner=${agency.id}" title="Clientele console" width="1100" height="800"></iframe>`);
    });
    await new Promise((r) => embed.listen(0, '127.0.0.1', r));
    try {
      // Local runs take an http:// loopback origin (AWS takes https:// ones only).
      const origin = `http://127.0.0.1:${embed.address().port}`;
      await page.goto(`${BASE}/console#/partners`);
      const form = page.locator('form', { has: page.getByRole('button', { name: 'Save console origins' }) });
      // Its own are its parent's to set (403); the agency's are the reseller's.
      await form.getByLabel('Partner', { exact: true }).selectOption({ label: a.name });
      await form.getByLabel('Origins (one per line)', { exact: true }).fill('https://dash.example.com');
      await form.getByRole('button', { name: 'Save console origins' }).click();
      await expectText(form.locator('.problem:not([hidden])'), /parent or the platform admin/, 'the 403 on its own');
      await form.getByLabel('Partner', { exact: true }).selectOption({ label: agency.name });
      await form.getByLabel('Origins (one per line)', { exact: true }).fill('not an origin');
      await form.getByRole('button', { name: 'Save console origins' }).click();
      await expectText(form.locator('[data-field="consoleOrigins"] .field-error'), /origin/, 'the field error');
      await form.getByLabel('Origins (one per line)', { exact: true }).fill(`${origin}/\n`);
      await form.getByRole('button', { name: 'Save console origins' }).click();
      await expectText(page.locator('.notice'), new RegExp(`may be embedded by ${origin.replace(/\./g, '\\.')}\\.`), 'the saved origins');
      assert.deepEqual((await call('GET', `/partners/${agency.id}`, a.key)).body.consoleOrigins, [origin]);
      assert.deepEqual((await call('GET', `/partners/${a.id}`, a.key)).body.consoleOrigins, [], 'the 403 changed nothing');
      const host = await newTab();
      await load(host, () => host.goto(`${origin}/`), host.frameLocator('iframe'));
      // Framed, the console offers no sign-in form: only a link's session works there.
      await expectText(host.frameLocator('iframe').locator('h1'), /^Sign in$/, 'the console inside the dashboard');
      assert.equal(await host.frameLocator('iframe').locator('input').count(), 0, 'no key or password field in a frame');
      await host.close();
    } finally {
      embed.close();
    }
  });

  await step("enters the dashboard's frame by a minted link, once, and works there", async () => {
    // The platform's back end mints a link per visit; its dashboard frames the link's URL.
    const permissions = ['clients:view', 'clients:edit', 'clients:create', 'webhooks:view', 'webhooks:edit', 'webhooks:create'];
    const mint = async () => {
      const res = await call('POST', '/console-links', a.key, { partnerId: agency.id, permissions, expiresIn: 600 });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body.url;
    };
    let framed = await mint();
    const dashboard = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><meta name="viewport" content="width=device-width">'
        + '<title>Dashboard</title><h1>Acme dashboard</h1>'
        + `<iframe src="${framed}" title="Clients" style="width:100%;height:760px;border:0"></iframe>`);
    });
    await new Promise((r) => dashboard.listen(0, '127.0.0.1', r));
    const stranger = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>Elsewhere</title>'
        + `<iframe src="${framed}" title="Clients" width="900" height="600"></iframe>`);
    });
    await new Promise((r) => stranger.listen(0, '127.0.0.1', r));
    try {
      // The saved origin is this dashboard's (the step above saved the origin of its own port):
      // save this one's beside it.
      const origin = `http://127.0.0.1:${dashboard.address().port}`;
      const saved = (await call('GET', `/partners/${agency.id}`, a.key)).body.consoleOrigins;
      assert.equal((await call('PATCH', `/partners/${agency.id}`, a.key, { consoleOrigins: [...saved, origin] })).status, 200);
      const host = await newTab();
      const frame = host.frameLocator('iframe');
      await load(host, () => host.goto(`${origin}/`), frame);
      await expectText(frame.locator('h1'), /^Clients$/, 'the console, entered by the link');
      await expectText(frame.locator('.session'), new RegExp(`Console of ${agency.name}, until`), 'whose console, and until when');
      await expectText(frame.locator('.session'), /clients: view, edit, create; webhooks and events: view, edit, create/, 'what it may do');
      assert.equal(await frame.locator('#nav a', { hasText: 'Partners' }).isVisible(), false, 'no section the session may not open');
      await screenshot(host, 'console-embedded');

      // The partner's staff create a client, then an endpoint, and send it a test event.
      await frame.getByRole('link', { name: 'New client' }).click();
      await frame.getByLabel('Name', { exact: true }).fill(`Framed ${run}`);
      await frame.getByLabel('Email', { exact: true }).fill(`framed-${run}@example.com`);
      await frame.getByRole('button', { name: 'Create client' }).click();
      await expectText(frame.locator('h1'), new RegExp(`^Framed ${run}`), 'the client made in the frame');
      const made = (await call('GET', `/clients?q=${encodeURIComponent(`Framed ${run}`)}`, a.key)).body.data;
      assert.equal(made.length, 1);
      assert.equal((await call('GET', `/clients/${made[0].id}`, a.key)).body.directPartner.id, agency.id, "the agency's client");
      await frame.getByRole('link', { name: 'Webhooks' }).click();
      await frame.getByLabel('URL', { exact: true }).fill(`http://127.0.0.1:${receiver.address().port}/framed`);
      await frame.getByRole('button', { name: 'Create endpoint' }).click();
      await expectText(frame.locator('.secret-value'), /^whsec_/, "the endpoint's secret");
      await frame.getByLabel('Event type', { exact: true }).selectOption('client.made_live');
      await frame.getByRole('button', { name: 'Send test event' }).click();
      await expectText(frame.locator('.notice'), /Test event \S+ \(client\.made_live\) sent/, 'the test event sent');
      const row = frame.locator('tbody tr', { hasText: 'client.made_live' });
      const listed = Date.now() + 30_000;
      while ((await row.count()) === 0 && Date.now() < listed) {
        await new Promise((r) => setTimeout(r, 500));
        await frame.getByRole('button', { name: 'Reload deliveries' }).click();
      }
      await expectText(row, /client\.made_live.*204 ok.*test event/, 'its attempt, delivered and marked as a test');
      const testId = (await row.first().locator('td').nth(2).textContent()).trim();
      assert.equal(bodies.get(testId)?.test, true, 'the receiver got it, marked "test": true');
      assert.equal(bodies.get(testId)?.type, 'client.made_live');
      await screenshot(host, 'console-embedded-test-event');

      // At 375 px the framed console fits, keeps AA contrast, and is worked by keyboard.
      await host.setViewportSize({ width: 375, height: 800 });
      assert.equal((await call('GET', '/event-types?limit=1', a.key)).status, 200, 'the catalog is served');
      const inner = host.frames().find((f) => f !== host.mainFrame());
      await load(host, () => inner.goto(`${BASE}/console?partner=${agency.id}#/event-types`), frame);
      await expectText(frame.locator('h1'), /^Event types$/, 'the event types, framed');
      // By keyboard: Tab from the heading (where each page puts the focus) to the first example, Enter.
      let reached = false;
      for (let i = 0; i < 20 && !reached; i += 1) {
        await host.keyboard.press('Tab');
        reached = await inner.evaluate(() => document.activeElement?.tagName === 'SUMMARY' && document.activeElement.textContent === 'Example: client.created');
      }
      assert.ok(reached, 'Tab reaches the first example');
      await host.keyboard.press('Enter');
      await expectText(frame.getByLabel('Example client.created event', { exact: true }), /"type": "client\.created"/, 'an example, opened by keyboard');
      await screenshot(host, 'event-types-framed-phone');
      const overflow = await inner.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `the framed console fits 375 px (overflows by ${overflow} px)`);
      assert.deepEqual(await inner.evaluate(lowContrast), [], 'framed: text below WCAG AA contrast');
      await host.setViewportSize({ width: 1200, height: 900 });

      // The same link again, anywhere: refused.
      const again = await newTab();
      await load(again, () => again.goto(framed));
      await expectText(again.locator('h1'), /^This console link cannot be used$/, 'a second use of the link');
      await expectText(again.locator('.problem:not([hidden])'), /used already|expired/, 'why');
      await again.close();

      // The session gone (its partner suspended): the next call signs the console out, saying why.
      assert.equal((await call('POST', `/partners/${agency.id}/suspend`, a.key)).status, 200);
      await frame.getByRole('link', { name: 'Clients' }).click();
      await expectText(frame.locator('.notice'), /console session has ended/, 'signed out when the session is gone');
      await expectText(frame.locator('h1'), /^Sign in$/, 'and back at the (formless) framed sign-in');
      assert.equal((await call('POST', `/partners/${agency.id}/unsuspend`, a.key)).status, 200);
      await host.close();

      // A warning five minutes before the end, then signing out at the end (the page's clock run forward).
      const timed = await newTab();
      await timed.clock.install();
      const timedLink = await mint();
      await load(timed, () => timed.goto(timedLink));
      await expectText(timed.locator('h1'), /^Clients$/, 'a session opened by a link');
      assert.equal(await timed.locator('#session-warning').isVisible(), false, 'no warning yet');
      await timed.clock.fastForward('56:00');
      await expectText(timed.locator('#session-warning'), /Your session ends at/, 'the warning, five minutes before the end');
      await timed.clock.fastForward('05:00');
      await expectText(timed.locator('.notice'), /console session has ended/, 'signed out at the end');
      await timed.close();

      // A page at an origin the partner did not name cannot frame it; the link stays unused.
      framed = await mint();
      const elsewhere = await (await browser.newContext()).newPage();
      await elsewhere.goto(`http://127.0.0.1:${stranger.address().port}/`);
      // Chromium shows its own error page in a frame it refused: wait for that, not a while.
      const child = elsewhere.frames().find((f) => f !== elsewhere.mainFrame());
      const refusedBy = Date.now() + WAIT;
      while (!child.url().startsWith('chrome-error:') && Date.now() < refusedBy) await new Promise((r) => setTimeout(r, 100));
      assert.ok(!child.url().startsWith(BASE), `the frame was refused (it shows ${child.url()})`);
      await elsewhere.context().close();
      const token = framed.split('#link=')[1];
      const unused = await call('POST', '/console-links/exchange', null, { token });
      assert.equal(unused.status, 200, 'the refused frame never ran the console, so the link was still unused');
    } finally {
      dashboard.close();
      stranger.close();
    }
  });

  await step('lists the audit log by type with actor and request id', async () => {
    await page.goto(`${BASE}/console#/audit`);
    await page.getByLabel('Type', { exact: true }).selectOption('client.suspended');
    await page.getByRole('button', { name: 'Filter' }).click();
    await expectText(page.locator('.total'), /^1 events$/, 'one suspension');
    // The actor by its name ("console test" is the key this test signed in with), its kind and id on hover.
    await expectText(page.locator('tbody tr .actor'), /^Key “console test”$/, 'the actor, by name');
    assert.match(await page.locator('tbody tr .actor').first().getAttribute('title'), /^apiKey [0-9a-f-]{36}$/, 'its kind and id');
    await screenshot(page, 'audit');
  });

  await step('manages keys and teammates, each secret shown once', async () => {
    await page.goto(`${BASE}/console#/access`);
    await page.getByLabel('Name', { exact: true }).fill(`ci ${run}`);
    await page.getByRole('button', { name: 'Create key' }).click();
    await expectText(page.locator('.secret-value'), /^ck_live_/, 'the new key');
    await page.getByRole('button', { name: `Revoke ci ${run}` }).click();
    await page.getByRole('button', { name: `Revoke ci ${run}` }).waitFor({ state: 'detached' });
    await screenshot(page, 'keys-and-teammates');
  });

  await step("the platform admin picks a partner to see its keys and teammates", async () => {
    const admin = await newTab();
    await signInWithKey(admin, ADMIN);
    await admin.goto(`${BASE}/console#/access`);
    await expectText(admin.locator('.problem:not([hidden])'), /partnerId/, 'the admin is asked to name a partner');
    await admin.getByLabel('Partner', { exact: true }).selectOption({ label: a.name });
    await admin.getByRole('button', { name: 'Show' }).click();
    await expectText(admin.locator('table', { hasText: 'API keys' }).locator('tbody'), /console test/, "A's key");
    await expectText(admin.locator('table', { hasText: 'Teammates' }).locator('tbody'), new RegExp(mate.username.replace('.', '\\.')), "A's teammate");
    await screenshot(admin, 'admin-keys-of-a-partner');
  });

  await step('shows the partner tree and suspends a sub-partner', async () => {
    await page.goto(`${BASE}/console#/partners`);
    await expectText(page.locator('.tree'), new RegExp(agency.name), 'the sub-partner in the tree');
    await page.getByRole('button', { name: `Suspend ${agency.name}` }).click();
    await page.getByRole('button', { name: `Unsuspend ${agency.name}` }).waitFor();
    assert.equal((await call('GET', `/partners/${agency.id}`, a.key)).body.suspended, true);
    await screenshot(page, 'partners');
    await page.getByRole('button', { name: `Unsuspend ${agency.name}` }).click();
    await page.getByRole('button', { name: `Suspend ${agency.name}` }).waitFor();
  });

  await step('deletes it after confirmation', async () => {
    await page.goto(`${BASE}/console#/clients/${clientId}`);
    await page.getByRole('button', { name: 'Delete client' }).click();
    await page.getByRole('button', { name: 'Yes, delete' }).click();
    await expectText(page.locator('.notice'), /was deleted/, 'the delete notice');
    assert.equal((await call('GET', `/clients/${clientId}`, a.key)).status, 404);
  });

  await step("a second partner's console never shows the first partner's clients", async () => {
    const other = await newTab();
    await signInWithKey(other, b.key);
    await expectText(other.locator('.total'), /^1 client matches$/, "B's total");
    await expectText(other.locator('tbody'), new RegExp(bClient.name), "B's client");
    assert.ok(!(await other.locator('main').textContent()).includes(`A other ${run}`), "A's client is not listed");
    await screenshot(other, 'second-partner');
    await other.goto(`${BASE}/console#/clients/${aOther.id}`);
    await expectText(other.locator('.problem:not([hidden])'), /not found/i, "A's client page is not found for B");
  });

  await step('works at phone width and by keyboard alone, with AA contrast', async () => {
    await page.setViewportSize({ width: 375, height: 800 });
    await page.goto(`${BASE}/console#/clients`);
    await load(page, () => page.reload());
    await expectText(page.locator('h1'), /^Clients$/, 'the list at phone width');
    // Each page puts the focus on its heading; Tab from there to the name filter, type,
    // Enter; then to the client's link, Enter.
    assert.equal(await page.evaluate(() => document.activeElement.tagName), 'H1', 'the focus starts at the heading');
    const focusOn = async (matches, what) => {
      for (let i = 0; i < 40; i += 1) {
        await page.keyboard.press('Tab');
        if (await page.evaluate(matches)) {
          const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
          assert.notEqual(outline, 'none', `${what} shows where the focus is`);
          return;
        }
      }
      assert.fail(`Tab never reaches ${what}`);
    };
    await focusOn(() => document.activeElement.labels?.[0]?.textContent === 'Name starts with', 'the name filter');
    await page.keyboard.type(`a other ${run}`);
    await page.keyboard.press('Enter');
    // The filtered page is rendered once the focus is back on its heading.
    await page.waitForFunction(() => location.hash.includes('q=') && document.activeElement.tagName === 'H1');
    await expectText(page.locator('.total'), /^1 client matches$/, 'filtered by keyboard');
    await focusOn(() => document.activeElement.textContent === document.querySelector('tbody a')?.textContent, "the client's link");
    await page.keyboard.press('Enter');
    await expectText(page.locator('h1'), new RegExp(`A other ${run}`), 'the client page, by keyboard');
    const views = [['#/clients', /^Clients$/], [`#/webhooks/${hookId}`, /127\.0\.0\.1/], ['#/access', /^Keys and teammates$/],
      ['#/partners', /^Partners$/], ['#/audit', /^Audit log$/], [`#/clients/${aOther.id}`, new RegExp(`A other ${run}`)],
      ['#/event-types', /^Event types$/], [attemptView, /^Attempt 1 of/]];
    for (const [view, heading] of views) {
      await page.goto(`${BASE}/console${view}`);
      await expectText(page.locator('h1'), heading, `${view} at phone width`);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${view} fits 375 px (overflows by ${overflow} px)`);
      assert.deepEqual(await page.evaluate(lowContrast), [], `${view}: text below WCAG AA contrast`);
    }
    await screenshot(page, 'client-page-phone');
    await page.setViewportSize({ width: 1200, height: 900 });
  });

  await step('the pages raised no script error or policy violation', async () => {
    const fromEmulator = (await Promise.all(emulator500s)).filter(Boolean).length;
    if (logged500s > fromEmulator) errors.push(`${logged500s - fromEmulator} answers of 500 that were not the emulator's`);
    for (const [status, n] of logged4xx) {
      const fromApi = api4xx.get(status) ?? 0;
      if (n > fromApi) errors.push(`${n - fromApi} answers of ${status} that were not the API's problem+json (other 4xx answers: ${other4xx.join('; ') || 'none'})`);
    }
    assert.deepEqual(errors, []);
  });
});
