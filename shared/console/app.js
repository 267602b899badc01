// The Clientele console: one module, no dependencies, no build step.
// Every read and change is a call to the public /v1 API on this origin with the
// credential its user signed in with, kept in this tab's sessionStorage only, so
// the console shows nothing that curl with the same credential would not.
// Data reaches the page only as text (textContent), never as markup.

const main = document.getElementById('main');
const CREDENTIAL = 'clientele.credential';
const PERMISSIONS = ['clients', 'licenses', 'webhooks', 'partners', 'keys']
  .flatMap((r) => ['view', 'edit', 'create', 'remove'].map((a) => `${r}:${a}`));

// Inside another page's frame (a platform's dashboard, API.md §5b) the console takes only
// the session a console link opens: no form here asks for a key or a password, so no
// page that frames it can catch one.
const FRAMED = window.top !== window.self;

let credential = JSON.parse(sessionStorage.getItem(CREDENTIAL) || 'null');
if (FRAMED && !credential?.session) credential = null;
// What the next render shows once above its page (a secret shown once, a notice).
let flash = null;

// ---- the API ----

class Problem extends Error {
  constructor(status, body) {
    super(body?.title || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

async function api(method, path, { body, headers = {}, auth = credential } = {}, retried = false) {
  const sent = { ...headers };
  if (auth?.kind === 'key') sent['X-API-Key'] = auth.value;
  if (auth?.kind === 'token') sent.Authorization = `Bearer ${auth.value}`;
  if (body !== undefined) sent['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(`/v1${path}`, { method, headers: sent, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new Problem(0, { title: 'The API could not be reached', detail: String(err.message || err) });
  }
  // A 5xx that is no problem+json came from the gateway, not from Clientele (which
  // answers every error as one): a read is sent once more.
  const fromGateway = res.status >= 500 && !res.headers.get('content-type')?.startsWith('application/problem+json');
  if (fromGateway && method === 'GET' && !retried) {
    await new Promise((resolve) => { setTimeout(resolve, 1000); });
    return api(method, path, { body, headers, auth }, true);
  }
  const raw = await res.text();
  let data = null;
  try { data = raw ? JSON.parse(raw) : null; } catch { data = null; }
  if (!res.ok) throw new Problem(res.status, data);
  return { data, etag: res.headers.get('etag') };
}

const get = async (path) => (await api('GET', path)).data;
const query = (params) => {
  const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ''));
  return q.toString() ? `?${q}` : '';
};

// Every page of a list, up to `pages` of `size`.
async function all(path, pages = 10, size = 100) {
  const out = [];
  let cursor = null;
  for (let i = 0; i < pages; i += 1) {
    const sep = path.includes('?') ? '&' : '?';
    const page = await get(`${path}${sep}limit=${size}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    out.push(...page.data);
    cursor = page.nextCursor;
    if (!cursor) break;
  }
  return out;
}

// ---- building the page ----

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c !== undefined && c !== null && c !== false) el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

const when = (iso) => (iso ? new Date(iso).toLocaleString() : '—');
const text = (v) => (v === null || v === undefined || v === '' ? '—' : typeof v === 'object' ? JSON.stringify(v) : String(v));

function table(caption, headers, rows) {
  return h('div', { class: 'scroll', tabindex: 0, role: 'region', 'aria-label': caption },
    h('table', {},
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, rows.length ? rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c))))
        : h('tr', {}, h('td', { colspan: headers.length }, 'Nothing here yet.')))));
}

function alertBox() {
  return h('div', { class: 'problem', role: 'alert', tabindex: -1, hidden: true });
}

// Shows an API problem: its title and detail in `alert`, each field error beside
// its field inside `scope` (or in the alert when no field shows it). A 412 is a
// change by someone else: reload.
function showProblem(alert, err, scope = alert.parentElement) {
  if (!(err instanceof Problem)) err = new Problem(0, { title: 'Something went wrong', detail: String(err?.message || err) });
  if (err.status === 401 && credential) {
    signOut(credential.session
      ? 'Your console session has ended (expired, or its access was withdrawn). Open the console from your dashboard again.'
      : 'Your sign-in is no longer valid (expired, revoked or suspended). Sign in again.');
    return;
  }
  const body = err.body;
  const parts = err.status === 412
    ? [h('strong', {}, 'Changed by someone else, reload.'),
      h('p', {}, 'This record changed since you opened it; nothing was saved. Reload it, then make your change again.'),
      h('button', { type: 'button', onclick: () => render() }, 'Reload')]
    : [h('strong', {}, body.title || `Error ${err.status}`), body.detail && h('p', {}, body.detail)];
  alert.replaceChildren(...parts.filter(Boolean));
  for (const { field, message } of body.errors || []) {
    const slot = scope?.querySelector(`[data-field="${CSS.escape(field)}"]`);
    if (slot) {
      slot.querySelector('.field-error').textContent = message;
      slot.querySelector('input, select, textarea')?.setAttribute('aria-invalid', 'true');
    } else {
      alert.append(h('p', {}, `${field}: ${message}`));
    }
  }
  alert.hidden = false;
  alert.focus();
}

function clearProblem(alert, scope) {
  alert.hidden = true;
  alert.replaceChildren();
  for (const slot of scope.querySelectorAll('.field-error')) slot.textContent = '';
  for (const el of scope.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
}

let ids = 0;
// One labelled control: { name, label, type, value, options, hint, field }.
// `field` is the API's name for it in error lists (default `name`).
function field(f) {
  const id = `f${(ids += 1)}`;
  let control;
  if (f.type === 'select') {
    control = h('select', { id, name: f.name }, f.options.map(([v, l]) => h('option', { value: v, selected: v === f.value }, l)));
  } else if (f.type === 'permissions') {
    control = h('fieldset', { class: 'checks', id },
      h('legend', {}, f.label),
      PERMISSIONS.map((p) => h('label', {}, h('input', { type: 'checkbox', name: f.name, value: p, checked: (f.value || []).includes(p) }), ` ${p}`)));
  } else if (f.type === 'textarea') {
    control = h('textarea', { id, name: f.name, rows: 3 });
    control.value = f.value ?? '';
  } else {
    control = h('input', { id, name: f.name, type: f.type || 'text', autocomplete: f.autocomplete || 'off', min: f.min, max: f.max });
    control.value = f.value ?? '';
  }
  control.setAttribute('aria-describedby', `${id}-error${f.hint ? ` ${id}-hint` : ''}`);
  return h('div', { class: 'field', 'data-field': f.field || f.name },
    f.type === 'permissions' ? null : h('label', { for: id }, f.label),
    control,
    f.hint && h('small', { class: 'hint', id: `${id}-hint` }, f.hint),
    h('small', { class: 'field-error', id: `${id}-error` }));
}

function read(form, f) {
  if (f.type === 'permissions') return [...form.querySelectorAll(`input[name="${f.name}"]:checked`)].map((c) => c.value);
  return form.elements[f.name].value.trim();
}

// A form whose submit runs `action(values)`; a problem shows in the form, beside
// the fields it names.
function form({ fields, submit, action, cls = 'form' }) {
  const alert = alertBox();
  const el = h('form', { class: cls, novalidate: true },
    alert, fields.map(field), h('div', { class: 'actions' }, h('button', { type: 'submit' }, submit)));
  el.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearProblem(alert, el);
    const button = el.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      await action(Object.fromEntries(fields.map((f) => [f.name, read(el, f)])));
    } catch (err) {
      showProblem(alert, err, el);
    } finally {
      button.disabled = false;
    }
  });
  return el;
}

// A button whose click runs `action`; a problem shows in `alert`.
function button(label, alert, action, cls) {
  return h('button', {
    type: 'button',
    class: cls,
    onclick: async (e) => {
      const target = e.currentTarget;
      clearProblem(alert, alert.parentElement);
      target.disabled = true;
      try { await action(); } catch (err) { showProblem(alert, err); } finally { target.disabled = false; }
    },
  }, label);
}

function secretBox(what, secret) {
  const code = h('code', { class: 'secret-value' }, secret);
  return h('div', { class: 'secret', role: 'status' },
    h('p', {}, h('strong', {}, what), ' Shown this once: copy it now.'),
    code,
    h('button', { type: 'button', onclick: () => navigator.clipboard?.writeText(secret) }, 'Copy'));
}

function notice(message) {
  return h('p', { class: 'notice', role: 'status' }, message);
}

// ---- signing in and out ----

// A console session's timers: a warning five minutes before its end, then signing out.
let sessionTimers = [];
const WARN_BEFORE_MS = 5 * 60 * 1000;

function watchSession() {
  for (const t of sessionTimers) clearTimeout(t);
  sessionTimers = [];
  const warning = document.getElementById('session-warning');
  warning.hidden = true;
  const ends = credential?.session && Date.parse(credential.session.expiresAt);
  if (!ends) return;
  const left = ends - Date.now();
  const warn = () => {
    warning.textContent = `Your session ends at ${new Date(ends).toLocaleTimeString()}. Save your work; then open the console from your dashboard again.`;
    warning.hidden = false;
  };
  if (left <= WARN_BEFORE_MS) warn();
  else sessionTimers.push(setTimeout(warn, left - WARN_BEFORE_MS));
  sessionTimers.push(setTimeout(() => signOut('Your console session has ended. Open the console from your dashboard again.'), Math.max(0, left)));
}

function signOut(message) {
  credential = null;
  sessionStorage.removeItem(CREDENTIAL);
  watchSession();
  flash = message ? notice(message) : null;
  if (location.hash && location.hash !== '#/') location.hash = '#/';
  else render();
}

function signedIn(value) {
  credential = value;
  sessionStorage.setItem(CREDENTIAL, JSON.stringify(credential));
  watchSession();
  flash = null;
  if (location.hash === '#/clients') render();
  else location.hash = '#/clients';
}

// Enters with a console link's token (from the URL's fragment, already removed from it):
// the first exchange wins, so a link works once.
async function enterWithLink(token) {
  try {
    const { data } = await api('POST', '/console-links/exchange', { body: { token }, auth: null });
    signedIn({ kind: 'token', value: data.token, who: data.partnerName, session: {
      partnerId: data.partnerId, partnerName: data.partnerName, permissions: data.permissions, expiresAt: data.expiresAt } });
  } catch (err) {
    credential = null;
    sessionStorage.removeItem(CREDENTIAL);
    watchSession();
    document.getElementById('nav').hidden = true;
    document.getElementById('sign-out').hidden = true;
    document.getElementById('who').textContent = '';
    const alert = alertBox();
    main.replaceChildren(h('h1', {}, 'This console link cannot be used'), alert,
      h('p', {}, 'A console link works once and for a few minutes only. Open the console from your dashboard again.'));
    showProblem(alert, err, main);
  }
}

// Whose console a session is, what it may do, when it ends.
function sessionBanner() {
  const s = credential?.session;
  if (!s) return null;
  const grouped = {};
  for (const p of s.permissions) {
    const [resource, action] = p.split(':');
    (grouped[resource] ||= []).push(action);
  }
  const may = Object.entries(grouped).map(([r, actions]) => `${RESOURCE_LABELS[r] || r}: ${actions.join(', ')}`).join('; ');
  return h('section', { class: 'session', 'aria-label': 'Your session' },
    h('p', {}, 'Console of ', h('strong', {}, s.partnerName), `, until ${new Date(s.expiresAt).toLocaleTimeString()}.`),
    h('p', {}, may ? `Permissions: ${may}.` : 'No permissions.'));
}

const RESOURCE_LABELS = { clients: 'clients', licenses: 'licenses', webhooks: 'webhooks and events', partners: 'partners', keys: 'keys and teammates' };

function signInPage() {
  if (FRAMED) {
    return [h('h1', {}, 'Sign in'),
      h('p', {}, 'This console is embedded in another site, where it opens only with a link from that site. Open it from your dashboard again.')];
  }
  const withKey = form({
    submit: 'Sign in with the key',
    fields: [{ name: 'key', label: 'API key', type: 'password', hint: 'ck_live_…' }],
    action: async ({ key }) => {
      const candidate = { kind: 'key', value: key };
      await api('GET', '/products?limit=1', { auth: candidate });
      signedIn({ ...candidate, who: `API key ${key.slice(0, 12)}…` });
    },
  });
  const withPassword = form({
    submit: 'Sign in',
    fields: [
      { name: 'username', label: 'Username', autocomplete: 'username' },
      { name: 'password', label: 'Password', type: 'password', autocomplete: 'current-password' },
    ],
    action: async ({ username, password }) => {
      const basic = btoa(String.fromCharCode(...new TextEncoder().encode(`${username}:${password}`)));
      const { data } = await api('POST', '/auth/token', { headers: { Authorization: `Basic ${basic}` }, auth: null });
      signedIn({ kind: 'token', value: data.token, who: username });
    },
  });
  return [h('h1', {}, 'Sign in'),
    h('p', {}, 'The console calls the Clientele API with your credential. It is kept in this tab only and forgotten when you sign out or close it.'),
    h('div', { class: 'columns' },
      h('section', {}, h('h2', {}, 'With an API key'), withKey),
      h('section', {}, h('h2', {}, 'As a teammate'), withPassword))];
}

// ---- partners (for pickers) ----

const partners = () => optional(all('/partners'));

function partnerOptions(list, blank) {
  return [['', blank], ...list.map((p) => [p.id, p.name])];
}

// ---- clients ----

const LIST_FILTERS = ['partner', 'status', 'suspended', 'q', 'email'];

async function clientsPage(params) {
  const list = await partners();
  const filters = Object.fromEntries(LIST_FILTERS.map((k) => [k, params.get(k) || '']));
  const page = await get(`/clients${query({ ...filters, limit: 20, cursor: params.get('cursor') })}`);
  const filterForm = form({
    cls: 'form filters',
    submit: 'Filter',
    fields: [
      list ? { name: 'partner', label: 'Partner (and its sub-partners)', type: 'select', value: filters.partner, options: partnerOptions(list, 'All of my tree') }
        : { name: 'partner', label: 'Partner id or name', value: filters.partner },
      { name: 'status', label: 'Status', type: 'select', value: filters.status, options: [['', 'Any'], ['demo', 'demo'], ['trial', 'trial'], ['live', 'live']] },
      { name: 'suspended', label: 'Suspended', type: 'select', value: filters.suspended, options: [['', 'Either'], ['true', 'Suspended'], ['false', 'Active']] },
      { name: 'q', label: 'Name starts with', value: filters.q },
      { name: 'email', label: 'Email (exact)', type: 'email', value: filters.email },
    ],
    action: async (values) => { location.hash = `#/clients${query(values)}`; },
  });
  const rows = page.data.map((c) => [
    h('a', { href: `#/clients/${c.id}` }, c.name), text(c.email), c.status,
    c.isActive ? 'active' : 'suspended', text(c.directPartner?.name), String(c.licenseCount), when(c.created)]);
  const next = page.nextCursor && h('a', { class: 'button', href: `#/clients${query({ ...filters, cursor: page.nextCursor })}` }, 'Next page');
  const first = params.get('cursor') && h('a', { class: 'button', href: `#/clients${query(filters)}` }, 'First page');
  return [
    h('div', { class: 'title' }, h('h1', {}, 'Clients'), h('a', { class: 'button primary', href: '#/clients/new' }, 'New client')),
    filterForm,
    h('p', { class: 'total', role: 'status' }, `${page.total} ${page.total === 1 ? 'client matches' : 'clients match'}`),
    table('Clients', ['Name', 'Email', 'Status', 'State', 'Direct partner', 'Licenses', 'Created'], rows),
    h('nav', { class: 'pager', 'aria-label': 'Pages' }, first, next),
  ];
}

async function newClientPage() {
  const list = await partners();
  const create = form({
    submit: 'Create client',
    fields: [
      { name: 'name', label: 'Name' },
      { name: 'email', label: 'Email', type: 'email' },
      { name: 'username', label: 'Username (optional)' },
      { name: 'company', label: 'Company (optional)' },
      list ? { name: 'directPartner', label: 'Partner', type: 'select', options: partnerOptions(list, 'My own partner') }
        : { name: 'directPartner', label: 'Partner name (optional)' },
      { name: 'status', label: 'Status', type: 'select', options: [['demo', 'demo'], ['live', 'live']] },
    ],
    action: async (v) => {
      const body = { name: v.name, email: v.email, status: v.status };
      for (const k of ['username', 'company']) if (v[k]) body[k] = v[k];
      if (v.directPartner) body.directPartner = list ? { id: v.directPartner } : { name: v.directPartner };
      const { data } = await api('POST', '/clients', { body });
      flash = secretBox(`Client created. Its API key:`, data.apiKey);
      location.hash = `#/clients/${data.id}`;
    },
  });
  return [h('h1', {}, 'New client'), create];
}

const EDITABLE = ['name', 'email', 'username', 'company', 'mid', 'billingId', 'location'];
const CONTACT = ['firstName', 'lastName', 'email', 'phone'];
// What people read for the API's field names (the name itself is in the hover title).
const LABELS = {
  id: 'Id', number: 'Number', name: 'Name', email: 'Email', username: 'Username', company: 'Company',
  mid: 'Merchant id', billingId: 'Billing id', location: 'Location', contact: 'Contact', metadata: 'Metadata',
  status: 'Status', isActive: 'Active', suspended: 'Suspended', suspendedReason: 'Reason suspended',
  trialEndsAt: 'Trial ends', directPartner: 'Partner', partner: 'Top-level partner', permissions: 'Permissions',
  quotas: 'Quotas', licenseCount: 'Licenses', domainCount: 'Domains', apiKeyPrefix: 'API key starts with',
  created: 'Created', modified: 'Last changed', version: 'Version',
  firstName: 'First name', lastName: 'Last name', phone: 'Phone',
};
const label = (k) => LABELS[k] || k;

function editForm(c, etag) {
  const metadata = Object.entries(c.metadata || {}).map(([k, v]) => `${k}=${v}`).join('\n');
  return form({
    submit: 'Save changes',
    fields: [
      ...EDITABLE.map((k) => ({ name: k, label: label(k), value: c[k] ?? '' })),
      ...CONTACT.map((k) => ({ name: `contact.${k}`, label: `Contact: ${label(k).toLowerCase()}`, value: c.contact?.[k] ?? '' })),
      { name: 'metadata', label: 'Metadata', type: 'textarea', value: metadata, hint: 'One key=value a line.' },
    ],
    action: async (v) => {
      const body = {};
      for (const k of EDITABLE) body[k] = v[k] === '' ? null : v[k];
      body.contact = Object.fromEntries(CONTACT.map((k) => [k, v[`contact.${k}`] || null]));
      const meta = Object.fromEntries(Object.keys(c.metadata || {}).map((k) => [k, null]));
      for (const line of v.metadata.split('\n')) {
        const at = line.indexOf('=');
        if (line.trim()) meta[(at < 0 ? line : line.slice(0, at)).trim()] = at < 0 ? '' : line.slice(at + 1).trim();
      }
      body.metadata = meta;
      await api('PATCH', `/clients/${c.id}`, { body, headers: { 'If-Match': etag } });
      flash = notice('Saved.');
      render();
    },
  });
}

function details(c) {
  const show = (k, v) => {
    if (k === 'directPartner' || k === 'partner') return v ? `${v.name} (${v.id})` : '—';
    if (['created', 'modified', 'trialEndsAt'].includes(k)) return v ? `${when(v)} (${v})` : '—';
    if (typeof v === 'boolean') return v ? 'yes' : 'no';
    if (k === 'contact' && v) return CONTACT.filter((f) => v[f]).map((f) => `${label(f)}: ${v[f]}`).join(' · ') || '—';
    if (k === 'metadata' && v) return Object.entries(v).map(([mk, mv]) => `${mk} = ${mv}`).join(' · ') || '—';
    if (k === 'permissions' && v) return Object.entries(v).map(([f, actions]) => `${f}: ${actions.join(', ') || 'nothing'}`).join(' · ') || 'none';
    if (k === 'quotas' && v) return Object.entries(v).map(([r, q]) => `${r}: ${q.limit}${q.period ? ` a ${q.period}` : ''}`).join(' · ') || 'none';
    return text(v);
  };
  return h('dl', { class: 'details' }, Object.entries(c).flatMap(([k, v]) => [h('dt', { title: k }, label(k)), h('dd', { 'data-key': k }, show(k, v))]));
}

// An editor of named rows (a client's permissions, its quotas): each row is checked as
// the API checks it before anything is sent, each problem shown beside its row; a row
// left without a name is dropped. `cells(value, n)` makes a row's controls,
// `collect(row)` reads them back (a string is that row's problem).
function rowsEditor({ caption, nameLabel, namePattern, nameRule, rows, cells, collect, submit, action }) {
  const alert = alertBox();
  const body = h('tbody');
  const headers = [nameLabel, ...cells(undefined, 0).map((c) => c.dataset.column)];
  const addRow = (name = '', value = undefined) => {
    const n = body.children.length + 1;
    const input = h('input', { type: 'text', 'aria-label': `${nameLabel}, row ${n}`, autocomplete: 'off' });
    input.value = name;
    const error = h('small', { class: 'field-error', id: `${caption.replace(/\W/g, '')}-e${n}` });
    input.setAttribute('aria-describedby', error.id);
    body.append(h('tr', {}, h('td', {}, input, error), cells(value, n).map((c) => h('td', {}, c))));
  };
  for (const [name, value] of rows) addRow(name, value);
  addRow();
  const el = h('form', { class: 'form rows', novalidate: true }, alert,
    h('div', { class: 'scroll', role: 'region', tabindex: 0, 'aria-label': caption },
      h('table', {}, h('caption', {}, caption), h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))), body)),
    h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => { addRow(); body.lastElementChild.querySelector('input').focus(); } }, 'Add a row'),
      h('button', { type: 'submit' }, submit)));
  el.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearProblem(alert, el);
    const out = Object.create(null);
    let bad = null;
    for (const tr of body.children) {
      const input = tr.querySelector('input');
      const name = input.value.trim();
      if (!name) continue;
      const value = collect(tr);
      const problem = !namePattern.test(name) ? nameRule : Object.hasOwn(out, name) ? `${name} is named twice` : typeof value === 'string' ? value : null;
      if (problem) {
        tr.querySelector('.field-error').textContent = problem;
        input.setAttribute('aria-invalid', 'true');
        bad ||= input;
      } else {
        out[name] = value;
      }
    }
    if (bad) { bad.focus(); return; }
    const button = el.querySelector('button[type=submit]');
    button.disabled = true;
    try { await action(out); } catch (err) { showProblem(alert, err, el); } finally { button.disabled = false; }
  });
  return el;
}

const ACTIONS = ['view', 'edit', 'create', 'remove'];

function permissionsEditor(c) {
  return rowsEditor({
    caption: 'Permissions by feature', nameLabel: 'Feature', submit: 'Save permissions',
    namePattern: /^[a-z0-9_.-]{1,64}$/, nameRule: 'A feature is 1 to 64 of a-z, 0-9, _ . -',
    rows: Object.entries(c.permissions || {}),
    cells: (actions, n) => ACTIONS.map((a) => {
      const box = h('input', { type: 'checkbox', value: a, checked: (actions || []).includes(a), 'aria-label': `${a}, row ${n}` });
      const cell = h('span', { class: 'check' }, box);
      cell.dataset.column = a;
      return cell;
    }),
    collect: (tr) => [...tr.querySelectorAll('input[type=checkbox]:checked')].map((b) => b.value),
    action: async (permissions) => {
      await api('PUT', `/clients/${c.id}/permissions`, { body: permissions });
      flash = notice('Permissions saved.');
      render();
    },
  });
}

function quotasEditor(c) {
  return rowsEditor({
    caption: 'Quotas by resource', nameLabel: 'Resource', submit: 'Save quotas',
    namePattern: /^[A-Za-z0-9_.-]{1,64}$/, nameRule: 'A resource is 1 to 64 of A-Z, a-z, 0-9, _ . -',
    rows: Object.entries(c.quotas || {}),
    cells: (q, n) => {
      const limit = h('input', { type: 'number', min: 0, max: 1000000000000, step: 1, 'aria-label': `Limit, row ${n}` });
      limit.value = q?.limit ?? '';
      const period = h('select', { 'aria-label': `Resets, row ${n}` },
        [['', 'never'], ['day', 'daily'], ['month', 'monthly']].map(([v, l]) => h('option', { value: v, selected: (q?.period || '') === v }, l)));
      limit.dataset.column = 'Limit';
      period.dataset.column = 'Resets';
      return [limit, period];
    },
    collect: (tr) => {
      const raw = tr.querySelector('input[type=number]').value.trim();
      const limit = Number(raw);
      if (raw === '' || !Number.isInteger(limit) || limit < 0 || limit > 1e12) return 'The limit is a whole number from 0 to 1 000 000 000 000';
      const period = tr.querySelector('select').value;
      return period ? { limit, period } : { limit };
    },
    action: async (quotas) => {
      await api('PUT', `/clients/${c.id}/quotas`, { body: quotas });
      flash = notice('Quotas saved.');
      render();
    },
  });
}

function usageBars(usage) {
  const entries = Object.entries(usage);
  if (!entries.length) return h('p', {}, 'No quotas set.');
  return h('ul', { class: 'usage' }, entries.map(([resource, u]) => h('li', {},
    h('span', { class: 'usage-label', id: `usage-${resource}` }, `${resource}: ${u.used} of ${u.limit}${u.period ? ` a ${u.period}` : ''}`),
    h('progress', { max: u.limit, value: Math.min(u.used, u.limit), 'aria-labelledby': `usage-${resource}` }),
    u.resetsAt && h('small', {}, ` resets ${when(u.resetsAt)}`))));
}

function licensesTable(licenses) {
  return table('Licenses', ['Product', 'Tier', 'Status', 'Expires', 'Activations'], licenses.map((l) => [
    text(l.product?.name), text(l.tier), text(l.status), when(l.expiresAt),
    (l.activations || []).map((a) => a.domain || text(a)).join(', ') || '—']));
}

// Who made a change, as a person reads it: a key's name, a teammate's username (the
// kind and id in the hover title). `names` maps the ids the caller may list to names.
function actor(a, names) {
  if (!a) return '—';
  const known = names?.get(a.id);
  const shown = {
    admin: 'Platform admin',
    apiKey: known ? `Key “${known}”` : 'An API key',
    teammate: known ? `Teammate ${known}` : 'A teammate',
    consoleLink: 'A console session',
    system: 'Clientele (scheduled)',
    licenseKey: 'A license key holder',
  }[a.kind] || a.kind;
  return h('span', { class: 'actor', title: `${a.kind} ${a.id}` }, shown);
}

// The names of the caller's partner's keys and teammates, where it may list them.
async function actorNames() {
  const quietly = (p) => p.catch(() => null);
  const [keys, mates] = await Promise.all([quietly(all('/api-keys', 1)), quietly(all('/teammates', 1))]);
  const names = new Map();
  for (const k of keys || []) names.set(k.id, k.name || `${k.prefix}…`);
  for (const t of mates || []) names.set(t.id, t.username);
  return names;
}

function eventsTable(caption, events, names) {
  return table(caption, ['Time', 'Type', 'Actor', 'Request id', 'Object'], events.map((e) => [
    when(e.createdAt), e.type, actor(e.actor, names), text(e.requestId),
    text(e.data?.object?.name ?? e.data?.object?.username ?? e.data?.object?.id)]));
}

// What the credential may not read (403) is left out of a page, not an error.
async function optional(promise) {
  try { return await promise; } catch (err) { if (err instanceof Problem && err.status === 403) return null; throw err; }
}

// A client's events (its own and its licenses'), a page at a time, newest first.
const clientEvents = (id, cursor) => optional(get(`/events${query({ clientId: id, limit: 20, cursor })}`));

// The events section of a client's page: a page, and a button for the older ones.
function clientHistory(id, first, names) {
  const section = h('div', { class: 'history' });
  const shown = [...first.data];
  let cursor = first.nextCursor;
  const alert = alertBox();
  const draw = () => {
    section.replaceChildren(...[
      h('p', { class: 'total', role: 'status', tabindex: -1 }, `${shown.length} of ${first.total} events`),
      eventsTable('Events of this client', shown, names),
      alert,
      cursor && button('Older events', alert, async () => {
        const next = await get(`/events${query({ clientId: id, limit: 20, cursor })}`);
        shown.push(...next.data);
        cursor = next.nextCursor;
        draw();
        (section.querySelector('button') || section.querySelector('.total')).focus();
      })].filter(Boolean));
  };
  draw();
  return section;
}

async function clientPage(id) {
  const { data: c, etag } = await api('GET', `/clients/${id}`);
  const [licenses, usage, events, list, names] = await Promise.all([
    optional(get(`/clients/${id}/licenses?limit=100`)), optional(get(`/clients/${id}/usage`)), clientEvents(id), partners(), actorNames()]);
  const alert = alertBox();
  const actions = h('div', { class: 'client-actions' }, alert);
  const reload = (message) => { flash = message; render(); };
  const post = (path, body) => api('POST', `/clients/${id}/${path}`, body === undefined ? {} : { body });

  if (c.status !== 'live') {
    actions.append(form({
      submit: 'Offer trial', cls: 'form inline',
      fields: [{ name: 'days', label: 'Trial days', type: 'number', value: '14', min: 1, max: 90 }],
      action: async ({ days }) => { await post('offer-trial', { days: Number(days) }); reload(notice(`Trial offered for ${days} days.`)); },
    }));
    actions.append(button('Make live', alert, async () => { await post('make-live'); reload(notice('The client is live.')); }));
  }
  if (c.suspended) {
    actions.append(button('Unsuspend', alert, async () => { await post('unsuspend'); reload(notice('Unsuspended.')); }));
  } else {
    actions.append(form({
      submit: 'Suspend', cls: 'form inline',
      fields: [{ name: 'reason', label: 'Reason for suspending' }],
      action: async ({ reason }) => { await post('suspend', { reason }); reload(notice('Suspended.')); },
    }));
  }
  if (list) {
    actions.append(form({
      submit: 'Move', cls: 'form inline',
      fields: [{ name: 'directPartner', label: 'Move to partner', type: 'select', value: c.directPartner?.id, options: list.map((p) => [p.id, p.name]) }],
      action: async ({ directPartner }) => {
        await api('PATCH', `/clients/${id}`, { body: { directPartner: { id: directPartner } }, headers: { 'If-Match': etag } });
        reload(notice('Moved.'));
      },
    }));
  }
  actions.append(button('Rotate API key', alert, async () => {
    const { data } = await post('rotate-api-key');
    reload(secretBox('New API key (the old one no longer works):', data.apiKey));
  }));
  const confirmDelete = h('div', { class: 'confirm', hidden: true, role: 'group', 'aria-label': 'Confirm delete' },
    h('p', {}, `Delete ${c.name}? Its licenses are revoked and this cannot be undone.`),
    button('Yes, delete', alert, async () => {
      await api('DELETE', `/clients/${id}`, { headers: { 'If-Match': etag } });
      flash = notice(`${c.name} was deleted.`);
      location.hash = '#/clients';
    }, 'danger'),
    h('button', { type: 'button', onclick: () => { confirmDelete.hidden = true; } }, 'Cancel'));
  actions.append(h('button', { type: 'button', class: 'danger', onclick: () => { confirmDelete.hidden = false; confirmDelete.querySelector('button').focus(); } }, 'Delete client'), confirmDelete);

  return [
    h('p', {}, h('a', { href: '#/clients' }, '← Clients')),
    h('h1', {}, c.name, ' ', h('span', { class: `badge ${c.status}` }, c.status), c.suspended && h('span', { class: 'badge suspended' }, 'suspended')),
    h('section', { 'aria-labelledby': 'actions-h' }, h('h2', { id: 'actions-h' }, 'Actions'), actions),
    h('div', { class: 'columns' },
      h('section', { 'aria-labelledby': 'details-h' }, h('h2', { id: 'details-h' }, 'Details'), details(c)),
      h('section', { 'aria-labelledby': 'edit-h' }, h('h2', { id: 'edit-h' }, 'Edit'), editForm(c, etag))),
    h('div', { class: 'columns' },
      h('section', { 'aria-labelledby': 'permissions-h' }, h('h2', { id: 'permissions-h' }, 'Permissions'), permissionsEditor(c)),
      h('section', { 'aria-labelledby': 'quotas-h' }, h('h2', { id: 'quotas-h' }, 'Quotas'), quotasEditor(c))),
    h('section', { 'aria-labelledby': 'usage-h' }, h('h2', { id: 'usage-h' }, 'Usage against quotas'), usage ? usageBars(usage) : h('p', {}, 'Not permitted.')),
    h('section', { 'aria-labelledby': 'licenses-h' }, h('h2', { id: 'licenses-h' }, 'Licenses and activations'), licenses ? licensesTable(licenses.data) : h('p', {}, 'Not permitted.')),
    h('section', { 'aria-labelledby': 'events-h' }, h('h2', { id: 'events-h' }, 'Events'), events ? clientHistory(id, events, names) : h('p', {}, 'Not permitted (needs webhooks:view).')),
  ];
}

// ---- partners ----

async function partnersPage() {
  const list = await all('/partners');
  const alert = alertBox();
  const children = (id) => list.filter((p) => p.parentId === id);
  const known = new Set(list.map((p) => p.id));
  const node = (p) => h('li', {},
    h('span', { class: 'partner' }, h('strong', {}, p.name), ` ${p.type}`, p.suspended && h('span', { class: 'badge suspended' }, 'suspended')),
    ' ',
    p.suspended
      ? button(`Unsuspend ${p.name}`, alert, async () => { await api('POST', `/partners/${p.id}/unsuspend`); render(); })
      : p.parentId && known.has(p.parentId) && button(`Suspend ${p.name}`, alert, async () => { await api('POST', `/partners/${p.id}/suspend`); render(); }),
    children(p.id).length ? h('ul', {}, children(p.id).map(node)) : null);
  const roots = list.filter((p) => !known.has(p.parentId));
  const create = form({
    submit: 'Create partner',
    fields: [
      { name: 'name', label: 'Name' },
      { name: 'type', label: 'Type', type: 'select', options: [['partner', 'partner'], ['reseller', 'reseller'], ['agency', 'agency']] },
      { name: 'parentId', label: 'Under', type: 'select', options: list.map((p) => [p.id, p.name]) },
    ],
    action: async (v) => { await api('POST', '/partners', { body: v }); flash = notice(`${v.name} created.`); render(); },
  });
  const origins = form({
    submit: 'Save console origins',
    fields: [
      { name: 'partnerId', label: 'Partner', type: 'select', options: list.map((p) => [p.id, p.name]) },
      { name: 'consoleOrigins', label: 'Origins (one per line)', type: 'textarea',
        hint: 'The https:// pages that may embed this console for the partner and its tree, such as https://dashboard.example.com. Empty: none. Set by the partner\'s parent or the platform admin.' },
    ],
    action: async (v) => {
      const consoleOrigins = v.consoleOrigins.split('\n').map((o) => o.trim()).filter(Boolean);
      const { data } = await api('PATCH', `/partners/${v.partnerId}`, { body: { consoleOrigins } });
      flash = notice(data.consoleOrigins.length ? `${data.name} may be embedded by ${data.consoleOrigins.join(', ')}.` : `${data.name} may be embedded by no page.`);
      render();
    },
  });
  return [h('h1', {}, 'Partners'), alert, h('ul', { class: 'tree' }, roots.map(node)), h('h2', {}, 'New sub-partner'), create,
    h('h2', {}, 'Embedding the console'), origins];
}

// ---- webhooks ----

async function webhooksPage() {
  const hooks = await all('/webhooks');
  const create = form({
    submit: 'Create endpoint',
    fields: [
      { name: 'url', label: 'URL', type: 'url' },
      { name: 'events', label: 'Events (comma-separated, * for all)', value: '*' },
      { name: 'description', label: 'Description (optional)' },
    ],
    action: async (v) => {
      const body = { url: v.url, events: v.events.split(',').map((e) => e.trim()).filter(Boolean) };
      if (v.description) body.description = v.description;
      const { data } = await api('POST', '/webhooks', { body });
      flash = secretBox('Endpoint created. Its signing secret:', data.secret);
      location.hash = `#/webhooks/${data.id}`;
    },
  });
  return [h('h1', {}, 'Webhooks'),
    table('Endpoints', ['URL', 'Events', 'Enabled', 'Description', 'Created'], hooks.map((w) => [
      h('a', { href: `#/webhooks/${w.id}` }, w.url), w.events.join(', '), w.enabled ? 'yes' : 'no', text(w.description), when(w.created)])),
    h('h2', {}, 'New endpoint'), create];
}

async function webhookPage(id) {
  const [hook, deliveries] = await Promise.all([get(`/webhooks/${id}`), get(`/webhooks/${id}/deliveries?limit=100`)]);
  const alert = alertBox();
  const rows = deliveries.data.map((d) => [
    h('a', { href: `#/webhooks/${id}/deliveries/${d.id}`, title: 'What this attempt sent and got' }, when(d.at)), d.eventType, d.eventId, String(d.attempt), d.success ? `${d.statusCode} ok` : text(d.statusCode),
    `${d.latencyMs} ms`, text(d.error),
    d.test ? 'test event' : button('Redeliver', alert, async () => {
      await api('POST', `/events/${d.eventId}/redeliver`);
      flash = notice(`Event ${d.eventId} queued for delivery again.`);
      render();
    })]);
  const test = form({
    submit: 'Send test event', cls: 'form filters',
    fields: [{ name: 'type', label: 'Event type', type: 'select', value: 'client.updated', options: EVENT_TYPES.map((t) => [t, t]) }],
    action: async (v) => {
      const { data } = await api('POST', `/webhooks/${id}/test`, { body: { type: v.type } });
      flash = notice(`Test event ${data.eventId} (${v.type}) sent to this endpoint; reload the deliveries to see its attempt.`);
      render();
    },
  });
  return [
    h('p', {}, h('a', { href: '#/webhooks' }, '← Webhooks')),
    h('h1', {}, hook.url),
    alert,
    h('p', {}, `Events: ${hook.events.join(', ')} · ${hook.enabled ? 'enabled' : 'disabled'}${hook.description ? ` · ${hook.description}` : ''}`),
    h('div', { class: 'client-actions' },
      button('Rotate secret', alert, async () => {
        const { data } = await api('POST', `/webhooks/${id}/rotate-secret`);
        flash = secretBox('New signing secret (the old one signs too for 24 h):', data.secret);
        render();
      }),
      button('Reload deliveries', alert, async () => render())),
    h('h2', {}, 'Test event'),
    h('p', {}, 'A signed sample of the chosen type, marked "test": true, to this endpoint only. It changes nothing.'),
    test,
    table('Delivery attempts', ['Time', 'Event type', 'Event', 'Attempt', 'Status', 'Latency', 'Error', ''], rows),
  ];
}

// One attempt: what it sent (URL, headers with the signature, the body byte for byte)
// and what came back.
async function deliveryPage(hookId, attemptId) {
  const d = await get(`/webhooks/${hookId}/deliveries/${attemptId}`);
  const sent = d.request;
  return [
    h('p', {}, h('a', { href: `#/webhooks/${hookId}` }, '← Endpoint')),
    h('h1', {}, `Attempt ${d.attempt} of ${d.eventType}`, d.test && h('span', { class: 'badge' }, 'test event')),
    h('h2', {}, 'Response'),
    h('dl', { class: 'details' },
      h('dt', {}, 'Sent at'), h('dd', {}, `${when(d.at)} (${d.at})`),
      h('dt', {}, 'Status'), h('dd', { 'data-key': 'statusCode' }, d.statusCode === null ? 'no answer' : String(d.statusCode)),
      h('dt', {}, 'Time taken'), h('dd', {}, `${d.latencyMs} ms`),
      h('dt', {}, 'Outcome'), h('dd', {}, d.success ? 'delivered' : text(d.error))),
    h('h2', {}, 'Request'),
    sent ? [
      h('p', {}, 'POST ', h('code', {}, sent.url)),
      table('Request headers', ['Header', 'Value'], Object.entries(sent.headers).map(([k, v]) => [k, h('code', { class: 'wrap' }, v)])),
      h('h3', {}, 'Body'),
      sent.body === null ? h('p', {}, 'Not shown: a test event is kept for its deliveries only, and a body is shown only while it is byte for byte the one sent.')
        : h('pre', { class: 'body', tabindex: 0, 'aria-label': 'Request body' }, sent.body),
    ] : h('p', {}, 'Not recorded: the address was refused before anything was sent, or the attempt was made before requests were kept.'),
  ];
}

// ---- audit ----

const EVENT_TYPES = ['client.created', 'client.updated', 'client.removed', 'client.suspended', 'client.unsuspended',
  'client.trial_started', 'client.trial_expired', 'client.made_live', 'license.created', 'license.activated',
  'license.deactivated', 'license.revoked', 'partner.created', 'partner.updated', 'partner.suspended',
  'partner.unsuspended', 'key.created', 'key.revoked', 'teammate.created', 'teammate.updated', 'teammate.removed',
  'webhook.secret_rotated', 'console_link.created'];

// ---- event types ----

async function eventTypesPage() {
  // In pages of 4: each type carries its schema and an example, so a page of them all is
  // large, and a small answer is the surer one through any proxy (and the local emulator).
  const types = await all('/event-types', 10, 4);
  const fields = (schema) => table('Fields of data.object', ['Field', 'Type', 'Always there'],
    Object.entries(schema.properties || {}).map(([name, d]) => [
      name, [d.type].flat().filter(Boolean).join(' or ') || (d.$ref ? 'object' : 'any'), (schema.required || []).includes(name) ? 'yes' : 'no']));
  return [h('h1', {}, 'Event types'),
    h('p', {}, 'Every change is an event. Endpoints receive each as a signed POST of the JSON below, with the headers webhook-id, webhook-timestamp and webhook-signature.'),
    types.map((t) => h('section', { class: 'event-type', 'aria-label': t.type },
      h('h2', {}, t.type),
      h('p', {}, t.description),
      h('details', {}, h('summary', {}, `Example: ${t.type}`), h('pre', { tabindex: 0, 'aria-label': `Example ${t.type} event` }, JSON.stringify(t.example, null, 2))),
      h('details', {}, h('summary', {}, `Fields of ${t.type}`), fields(t.schema))))];
}

async function auditPage(params) {
  const type = params.get('type') || '';
  const [page, names] = await Promise.all([get(`/events${query({ type, limit: 50, cursor: params.get('cursor') })}`), actorNames()]);
  const filter = form({
    submit: 'Filter', cls: 'form filters',
    fields: [{ name: 'type', label: 'Type', type: 'select', value: type, options: [['', 'Every type'], ...EVENT_TYPES.map((t) => [t, t])] }],
    action: async (v) => { location.hash = `#/audit${query(v)}`; },
  });
  return [h('h1', {}, 'Audit log'), filter,
    h('p', { class: 'total', role: 'status' }, `${page.total} events`),
    eventsTable('Events', page.data, names),
    h('nav', { class: 'pager', 'aria-label': 'Pages' },
      params.get('cursor') && h('a', { class: 'button', href: `#/audit${query({ type })}` }, 'First page'),
      page.nextCursor && h('a', { class: 'button', href: `#/audit${query({ type, cursor: page.nextCursor })}` }, 'Next page'))];
}

// ---- keys and teammates ----

// Keys and teammates of one partner: the caller's own, or (`?partnerId=`) one of its tree's.
async function accessPage(params) {
  const partnerId = params.get('partnerId') || '';
  const list = await partners();
  const scope = query({ partnerId });
  const alert = alertBox();
  let [keys, teammates] = [[], []];
  try {
    [keys, teammates] = await Promise.all([all(`/api-keys${scope}`), all(`/teammates${scope}`)]);
  } catch (err) {
    // The platform admin has no partner of its own: it picks one first.
    if (!(err instanceof Problem && err.status === 400 && list)) throw err;
    queueMicrotask(() => showProblem(alert, err));
  }
  const whose = list && form({
    cls: 'form filters', submit: 'Show',
    fields: [{ name: 'partnerId', label: 'Partner', type: 'select', value: partnerId, options: partnerOptions(list, 'My own partner') }],
    action: async (v) => { location.hash = `#/access${query(v)}`; },
  });
  const owner = partnerId ? { partnerId } : {};
  const newKey = form({
    submit: 'Create key',
    fields: [{ name: 'name', label: 'Name' }, { name: 'permissions', label: 'Permissions', type: 'permissions', value: PERMISSIONS.filter((p) => p.startsWith('clients:')) }],
    action: async (v) => {
      const { data } = await api('POST', '/api-keys', { body: { ...v, ...owner } });
      flash = secretBox(`Key ${data.name || data.prefix} created:`, data.key);
      render();
    },
  });
  const newTeammate = form({
    submit: 'Add teammate',
    fields: [
      { name: 'username', label: 'Username' },
      { name: 'password', label: 'Password (12 characters or more)', type: 'password', autocomplete: 'new-password' },
      { name: 'permissions', label: 'Permissions', type: 'permissions', value: PERMISSIONS.filter((p) => p.startsWith('clients:')) },
    ],
    action: async (v) => { await api('POST', '/teammates', { body: { ...v, ...owner } }); flash = notice(`${v.username} added.`); render(); },
  });
  return [h('h1', {}, 'Keys and teammates'), whose, alert,
    table('API keys', ['Name', 'Prefix', 'Permissions', 'Created', ''], keys.map((k) => [
      text(k.name), text(k.prefix), k.permissions.join(' '), when(k.created),
      button(`Revoke ${k.name || k.prefix}`, alert, async () => { await api('DELETE', `/api-keys/${k.id}`); render(); }, 'danger')])),
    table('Teammates', ['Username', 'Permissions', 'Created', ''], teammates.map((t) => [
      t.username, t.permissions.join(' '), when(t.created),
      button(`Remove ${t.username}`, alert, async () => { await api('DELETE', `/teammates/${t.id}`); render(); }, 'danger')])),
    // A console session never holds keys:create (no credential outlives it): no forms for it.
    credential?.session ? h('p', {}, 'A console session cannot create keys or teammates.')
      : h('div', { class: 'columns' },
        h('section', {}, h('h2', {}, 'New API key'), newKey),
        h('section', {}, h('h2', {}, 'New teammate'), newTeammate))];
}

// ---- routing ----

const ROUTES = [
  [/^\/clients\/new$/, newClientPage],
  [/^\/clients\/([^/]+)$/, clientPage],
  [/^\/clients$/, clientsPage],
  [/^\/partners$/, partnersPage],
  [/^\/webhooks\/([^/]+)\/deliveries\/([^/]+)$/, deliveryPage],
  [/^\/webhooks\/([^/]+)$/, webhookPage],
  [/^\/webhooks$/, webhooksPage],
  [/^\/audit$/, auditPage],
  [/^\/access$/, accessPage],
  [/^\/event-types$/, eventTypesPage],
];

let rendering = 0;
async function render() {
  const token = (rendering += 1);
  const signed = Boolean(credential);
  document.getElementById('nav').hidden = !signed;
  document.getElementById('sign-out').hidden = !signed;
  document.getElementById('who').textContent = !signed ? ''
    : credential.session ? `${credential.session.partnerName} · until ${new Date(credential.session.expiresAt).toLocaleTimeString()}` : `Signed in: ${credential.who}`;
  // A session shows the sections its permissions open (any other credential, all of them).
  for (const a of document.querySelectorAll('#nav a[data-needs]')) {
    a.hidden = Boolean(credential?.session) && !credential.session.permissions.includes(a.dataset.needs);
  }
  const shown = flash;
  flash = null;
  let nodes;
  if (!signed) {
    nodes = signInPage();
  } else {
    const [path, search] = (location.hash.slice(1) || '/clients').split('?');
    const route = ROUTES.find(([re]) => re.test(path));
    for (const a of document.querySelectorAll('#nav a')) {
      if (path.startsWith(a.getAttribute('href').slice(1))) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    main.setAttribute('aria-busy', 'true');
    try {
      nodes = route
        ? await route[1](...(path.match(route[0]).slice(1).map(decodeURIComponent)), new URLSearchParams(search))
        : [h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '#/clients' }, 'Go to clients'))];
    } catch (err) {
      const alert = alertBox();
      nodes = [h('h1', {}, 'Could not load this page'), alert];
      queueMicrotask(() => showProblem(alert, err, main));
    }
    main.removeAttribute('aria-busy');
  }
  if (token !== rendering) return;
  main.replaceChildren(...[shown, signed && sessionBanner(), ...nodes].flat(Infinity).filter(Boolean));
  (main.querySelector('.secret, .problem:not([hidden]), .notice') || main.querySelector('h1'))?.setAttribute('tabindex', '-1');
  (main.querySelector('.secret, .notice') || main.querySelector('h1'))?.focus();
}

document.getElementById('sign-out').addEventListener('click', () => signOut(credential?.session
  ? 'Signed out. Open the console from your dashboard to come back.' : 'Signed out.'));
// A console link: its token is in the fragment (`#link=cl_…`), taken out of the address
// at once (so that neither history nor a reload holds it), then exchanged; on loading, or
// when a dashboard points its frame at a new link.
function takeLink() {
  if (!location.hash.startsWith('#link=')) return false;
  let token = location.hash.slice('#link='.length);
  try { token = decodeURIComponent(token); } catch { /* not escaped: the exchange judges it */ }
  history.replaceState(null, '', `${location.pathname}${location.search}#/clients`);
  enterWithLink(token);
  return true;
}
window.addEventListener('hashchange', () => { if (!takeLink()) render(); });
if (!takeLink()) {
  watchSession();
  render();
}
