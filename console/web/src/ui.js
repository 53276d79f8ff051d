// Small DOM helpers: the console builds its pages with these, no framework.

/** `h('a', {href, class, onclick}, ...children)`: children may be strings, nodes, arrays, null. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** `el.append(...)` that skips null, undefined and false (DOM's append writes "null"). */
export function add(el, ...children) {
  append(el, children);
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** A link inside the console. */
export function link(route, text, attrs = {}) {
  return h('a', { href: `#${route}`, ...attrs }, text);
}

export function ciLink(id, name) {
  return link(`/ci/${encodeURIComponent(id)}`, name || id, { class: 'ci-link', title: id });
}

export function fmtTime(t) {
  if (!t) return '—';
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function fmtValue(v) {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

const STATE_CLASS = {
  OK: 'ok', ACTIVE: 'ok', SUCCEEDED: 'ok', UP: 'ok',
  DEGRADED: 'warn', AT_RISK: 'warn', PARTIAL: 'warn', STALE: 'warn', RUNNING: 'info', PENDING: 'info',
  DOWN: 'bad', FAILED: 'bad', INTERRUPTED: 'bad', RETIRED: 'muted', UNKNOWN: 'muted', SKIPPED: 'muted',
};

/** A coloured label for a status or severity. */
export function badge(value) {
  const v = value === null || value === undefined ? 'NONE' : String(value);
  return h('span', { class: `badge ${STATE_CLASS[v] || 'muted'}`, dataset: { value: v } }, v);
}

export function table(headers, rows, attrs = {}) {
  return h(
    'table',
    attrs,
    h('thead', null, h('tr', null, headers.map((x) => h('th', null, x)))),
    h('tbody', null, rows.length ? rows : h('tr', null, h('td', { colspan: headers.length, class: 'empty' }, 'Nothing here.'))),
  );
}

export function section(title, ...body) {
  return h('section', { class: 'card' }, h('h2', null, title), ...body);
}

export function errorBox(e) {
  const code = e && e.code ? ` (${e.code})` : '';
  return h('div', { class: 'error', role: 'alert' }, `${(e && e.message) || e}${code}`);
}

export function loading(text = 'Loading…') {
  return h('div', { class: 'loading' }, text);
}

/** Parse `a=1&b=2` of a route's query. */
export function params(query) {
  return Object.fromEntries(new URLSearchParams(query || ''));
}

export function routeWith(path, q) {
  const s = new URLSearchParams(Object.entries(q).filter(([, v]) => v !== undefined && v !== null && v !== '')).toString();
  return s ? `${path}?${s}` : path;
}

const CLASS_NAMES = {
  HOST: 'Host', NETWORK_DEVICE: 'Network device', INTERFACE: 'Interface', IP_ADDRESS: 'IP address',
  SUBNET: 'Subnet', PROCESS: 'Process', LISTENING_ENDPOINT: 'Endpoint', APPLICATION: 'Application',
  SOFTWARE_PACKAGE: 'Package', CONTAINER: 'Container', BUSINESS_SERVICE: 'Business service', CLUSTER: 'Pool / cluster',
};
export const CLASSES = Object.keys(CLASS_NAMES);
export function className(c) {
  return CLASS_NAMES[c] || c;
}
