// The console: a single page routed by the URL's fragment. Every page is a client of the
// GraphQL API (api.js) and nothing else; the server only hands out these files.
import './style.css';
import { add, h, errorBox, link } from './ui.js';
import { ApiError, token, closeLive } from './api.js';
import { forgetPositions } from './map.js';
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
/** The page on screen: its cleanups run when another route replaces it. */
let current = { cleanups: [], live: false };

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const q = raw.indexOf('?');
  return q < 0 ? { path: raw, query: '' } : { path: raw.slice(0, q), query: raw.slice(q + 1) };
}

async function route() {
  const { path, query } = parseHash();
  // Leave the previous page: stop its timers and subscriptions. Whatever it still has in
  // flight writes into its own container, which is no longer in the document.
  current.live = false;
  for (const f of current.cleanups) {
    try {
      f();
    } catch (_) { /* a failed cleanup must not block the next page */ }
  }
  const page = h('div', { id: 'page' });
  const ctx = { cleanups: [], live: true };
  current = ctx;
  view.replaceChildren(page);
  document.title = 'cmdb';
  for (const a of document.querySelectorAll('nav a[data-nav]')) a.classList.toggle('active', path.startsWith(a.dataset.nav) && (a.dataset.nav !== '/' || path === '/'));
  try {
    for (const [re, mod] of ROUTES) {
      const m = path.match(re);
      if (!m) continue;
      const args = m.slice(1).map((x) => (x === undefined ? x : decodeURIComponent(x)));
      await mod.render(page, {
        args,
        query,
        navigate,
        /** Still the page on screen? (false once the user went elsewhere) */
        isCurrent: () => ctx.live,
        /** Run `f` when the user leaves this page. */
        onLeave: (f) => ctx.cleanups.push(f),
      });
      return;
    }
    add(page, errorBox(new ApiError(`no page at ${path}`, 'NOT_FOUND')), h('p', null, link('/', 'Home')));
  } catch (e) {
    if (ctx.live) handleError(e, page);
  }
}

function handleError(e, page = view.firstElementChild || view) {
  if (e instanceof ApiError && e.needsSignIn) {
    const back = location.hash || '#/';
    sessionStorage.setItem('cmdb.signin.reason', e.code === 'TOKEN_EXPIRED' ? 'Your token has expired: sign in with a current one.' : e.message);
    if (!back.startsWith('#/signin')) sessionStorage.setItem('cmdb.signin.back', back);
    location.hash = '#/signin';
    return;
  }
  if (e && e.name === 'AbortError') return;
  if (e instanceof URIError) e = new ApiError('this address is not valid', 'NOT_FOUND');
  console.error(e);
  add(page, errorBox(e));
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
  forgetPositions();
  location.hash = '#/signin';
});

async function whoAmI() {
  who.textContent = token.get() ? 'signed in' : '';
}
whoAmI();
window.addEventListener('cmdb:signed-in', whoAmI);
route();
