// The one way the console talks to the server: GraphQL over POST /graphql (and
// graphql-transport-ws on /graphql/ws for live progress), with the signed-in token.
import { createClient } from 'graphql-ws';

const TOKEN_KEY = 'cmdb.token';

/** A GraphQL or HTTP failure, with the server's stable code when it gave one. */
export class ApiError extends Error {
  constructor(message, code, status) {
    super(message);
    this.code = code || 'ERROR';
    this.status = status || 0;
  }
  /** The token is missing, wrong or expired: the user must sign in (again). */
  get needsSignIn() {
    return this.status === 401 || this.code === 'UNAUTHENTICATED' || this.code === 'TOKEN_EXPIRED';
  }
}

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (t) => sessionStorage.setItem(TOKEN_KEY, t),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

function headers() {
  const h = { 'content-type': 'application/json', accept: 'application/json' };
  const t = token.get();
  if (t) h.authorization = `Bearer ${t}`;
  return h;
}

function firstError(body, status) {
  const e = body && Array.isArray(body.errors) && body.errors[0];
  const code = (e && e.extensions && e.extensions.code) || (body && body.code) || undefined;
  const message = (e && e.message) || (body && body.error) || `HTTP ${status}`;
  return new ApiError(message, code, status);
}

/**
 * Run one operation. Resolves with `data`; rejects with an ApiError when the request failed
 * or when the answer has errors and `partial` is not set (with `partial`, resolves with
 * `{data, errors}` so a page can show what it got).
 */
export async function gql(query, variables = {}, { partial = false, signal } = {}) {
  let res;
  try {
    res = await fetch('/graphql', {
      method: 'POST',
      headers: headers(),
      body: JSON.stringify({ query, variables }),
      signal,
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(`the server cannot be reached (${e.message})`, 'NETWORK', 0);
  }
  let body = null;
  try {
    body = await res.json();
  } catch (_) {
    throw new ApiError(`the server answered HTTP ${res.status} without JSON`, 'BAD_RESPONSE', res.status);
  }
  if (!res.ok && !(body && body.data)) throw firstError(body, res.status);
  const errors = body.errors || [];
  if (partial) return { data: body.data || {}, errors };
  if (errors.length) {
    const err = firstError(body, res.status);
    // An auth failure anywhere means the whole page needs a sign-in.
    throw err;
  }
  return body.data;
}

let wsClient = null;
let wsToken = undefined;

function ws() {
  const t = token.get();
  if (!wsClient || wsToken !== t) {
    if (wsClient) wsClient.dispose();
    wsToken = t;
    wsClient = createClient({
      url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql/ws`,
      connectionParams: () => (t ? { Authorization: `Bearer ${t}` } : {}),
      lazy: true,
      retryAttempts: 3,
    });
  }
  return wsClient;
}

/** Subscribe; returns a function that ends the subscription. */
export function subscribe(query, variables, { next, error, complete }) {
  return ws().subscribe(
    { query, variables },
    {
      next: (msg) => {
        if (msg.errors && msg.errors.length) error && error(firstError(msg, 200));
        else next(msg.data);
      },
      error: (e) => error && error(e instanceof Error ? e : new ApiError(String(e && (e.reason || e.message) || e), 'WS')),
      complete: () => complete && complete(),
    },
  );
}

export function closeLive() {
  if (wsClient) wsClient.dispose();
  wsClient = null;
}
