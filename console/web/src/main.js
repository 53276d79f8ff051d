// The console: a single page routed by the URL's fragment. Every page is a client of the
// GraphQL API (api.js) and nothing else; the server only hands out these files.
import './style.css';
import { add, h, clear, errorBox, link } from './ui.js';
import { ApiError, token, gql, closeLive } from './api.js';
import * as home from './pages/home.js';
import * as search from './pages/search.js';
import * as ci from './pages/ci.js';
import * as service from './pages/service.js';
import * as whatif from './pages/whatif.js';
import * as discovery from './pages/discovery.js';
import * as signin from './pages/signin.js';

const ROUTES = [
  [/^\/$/, home],
  [/^\/search$/, search],
  [/^\/ci\/(.+)$/, ci],
  [/^\/service\/(.+)$/, service],
  [/^\/whatif$/, whatif],
  [/^\/discovery(?:\/(.+))?$/, discovery],
  [/^\/signin$/, signin],
];

const view = document.getElementById('view');
const who = document.getElementById('who');
let current = null;

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, query] = raw.split('?', 2);
  return { path, query: query || '' };
}

async function route() {
  const { path, query } = parseHash();
  if (current && current.leave) current.leave();
  current = null;
  for (const [re, page] of ROUTES) {
    const m = path.match(re);
    if (!m) continue;
    const args = m.slice(1).map((x) => (x === undefined ? x : decodeURIComponent(x)));
    for (const a of document.querySelectorAll('nav a[data-nav]')) a.classList.toggle('active', path.startsWith(a.dataset.nav) && (a.dataset.nav !== '/' || path === '/'));
    clear(view);
    for (const k of Object.keys(view.dataset)) delete view.dataset[k];
    document.title = 'cmdb';
    try {
      current = page;
      await page.render(view, { args, query, navigate });
    } catch (e) {
      handleError(e);
    }
    return;
  }
  add(clear(view), errorBox(new ApiError(`no page at ${path}`, 'NOT_FOUND')), h('p', null, link('/', 'Home')));
}

function handleError(e) {
  if (e instanceof ApiError && e.needsSignIn) {
    const back = location.hash || '#/';
    sessionStorage.setItem('cmdb.signin.reason', e.code === 'TOKEN_EXPIRED' ? 'Your token has expired: sign in with a current one.' : e.message);
    if (!back.startsWith('#/signin')) sessionStorage.setItem('cmdb.signin.back', back);
    location.hash = '#/signin';
    return;
  }
  if (e && e.name === 'AbortError') return;
  console.error(e);
  add(view, errorBox(e));
}

export function navigate(route) {
  location.hash = `#${route}`;
}

window.addEventListener('hashchange', route);
window.addEventListener('unhandledrejection', (ev) => handleError(ev.reason));
document.getElementById('signout').addEventListener('click', (ev) => {
  ev.preventDefault();
  token.clear();
  closeLive();
  location.hash = '#/signin';
});

async function whoAmI() {
  who.textContent = token.get() ? 'signed in' : '';
}
whoAmI();
window.addEventListener('cmdb:signed-in', whoAmI);
route();
export { gql };
