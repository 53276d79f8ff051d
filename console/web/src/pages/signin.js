// Sign in with an API token (the same tokens as the API; kept in this tab's sessionStorage,
// never in a cookie, so other sites cannot make the browser use it).
import { add, h, errorBox } from '../ui.js';
import { gql, token, ApiError, closeLive } from '../api.js';

export async function render(view) {
  document.title = 'Sign in · cmdb';
  const reason = sessionStorage.getItem('cmdb.signin.reason');
  sessionStorage.removeItem('cmdb.signin.reason');
  const input = h('input', { type: 'password', name: 'token', id: 'token', autocomplete: 'off', required: true, placeholder: 'API token' });
  const msg = h('div', { id: 'signin-message' }, reason ? errorBox(new ApiError(reason)) : null);
  const form = h(
    'form',
    {
      class: 'card signin',
      onsubmit: async (ev) => {
        ev.preventDefault();
        const t = input.value.trim();
        if (!t) return;
        token.set(t);
        closeLive();
        try {
          await gql('{ stats { cis } }');
        } catch (e) {
          token.clear();
          msg.replaceChildren(errorBox(e instanceof ApiError && e.code === 'TOKEN_EXPIRED' ? new ApiError('This token has expired.', e.code) : e));
          return;
        }
        window.dispatchEvent(new Event('cmdb:signed-in'));
        const back = sessionStorage.getItem('cmdb.signin.back') || '#/';
        sessionStorage.removeItem('cmdb.signin.back');
        location.hash = back;
      },
    },
    h('h1', null, 'Sign in'),
    h('p', null, 'Paste an API token (ask an admin for one; `[[auth.tokens]]` in cmdb.toml).'),
    h('label', { for: 'token' }, 'Token'),
    input,
    h('button', { type: 'submit' }, 'Sign in'),
    msg,
  );
  add(view, form);
  input.focus();
}
