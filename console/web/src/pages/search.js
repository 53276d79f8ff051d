// Search: one box over names, IP and MAC addresses, serial numbers, host names and tags
// (the API's `search`), narrowed by class, paginated; without text, a class listing.
import { add, h, table, badge, ciLink, className, CLASSES, params, routeWith, errorBox } from '../ui.js';
import { gql } from '../api.js';
import { toggle, isPicked } from '../selection.js';

const PAGE = 25;
const FIELDS = 'totalCount pageInfo { hasNextPage endCursor } nodes { id class name status tags lastSeen }';
const SEARCH = `query Search($text: String!, $classes: [CIClass!], $first: Int, $after: String) {
  search(text: $text, classes: $classes, first: $first, after: $after) { ${FIELDS} } }`;
const LIST = `query List($classes: [CIClass!], $first: Int, $after: String) {
  cis(filter: { classes: $classes }, orderBy: { field: NAME }, first: $first, after: $after) { ${FIELDS} } }`;

export async function render(view, { query, navigate }) {
  document.title = 'Search · cmdb';
  const p = params(query);
  const input = h('input', { type: 'search', name: 'q', id: 'q', value: p.q || '', placeholder: 'name, IP, MAC, serial, tag…', autofocus: true });
  const cls = h('select', { name: 'class', id: 'class' }, h('option', { value: '' }, 'any class'), CLASSES.map((c) => h('option', { value: c, selected: p.class === c }, className(c))));
  add(view, 
    h('h1', null, 'Search'),
    h(
      'form',
      {
        class: 'searchbar',
        onsubmit: (ev) => {
          ev.preventDefault();
          navigate(routeWith('/search', { q: input.value.trim(), class: cls.value }));
        },
      },
      input,
      cls,
      h('button', { type: 'submit' }, 'Search'),
    ),
  );
  const text = (p.q || '').trim();
  if (!text && !p.class) {
    add(view, h('p', { class: 'hint' }, 'Type a name, an address (10.0.0.5, 00:1a:2b:3c:4d:5e), a serial number or a tag, or pick a class.'));
    return;
  }
  const vars = { classes: p.class ? [p.class] : null, first: PAGE, after: p.after || null };
  let conn;
  try {
    conn = text ? (await gql(SEARCH, { ...vars, text })).search : (await gql(LIST, vars)).cis;
  } catch (e) {
    if (e.needsSignIn) throw e;
    add(view, errorBox(e));
    return;
  }
  const start = Number.isInteger(Number(p.n)) && Number(p.n) > 0 ? Number(p.n) : 0;
  add(view, 
    h('p', { id: 'result-count' }, `${conn.totalCount} CI${conn.totalCount === 1 ? '' : 's'}`, conn.totalCount ? ` · showing ${start + 1}–${start + conn.nodes.length}` : ''),
    table(
      ['Name', 'Class', 'Status', 'Tags', 'What-if'],
      conn.nodes.map((c) =>
        h(
          'tr',
          null,
          h('td', null, ciLink(c.id, c.name)),
          h('td', null, className(c.class)),
          h('td', null, badge(c.status)),
          h('td', null, c.tags.map((t) => h('span', { class: 'tag' }, t))),
          h('td', null, h('input', { type: 'checkbox', title: 'pick for a what-if', checked: isPicked(c.id), onchange: () => toggle(c) })),
        ),
      ),
      { id: 'results' },
    ),
    h(
      'div',
      { class: 'pager' },
      start > 0 ? h('button', { type: 'button', class: 'secondary', onclick: () => navigate(routeWith('/search', { q: text, class: p.class })) }, '⇤ First page') : null,
      conn.pageInfo.hasNextPage
        ? h('button', { type: 'button', id: 'next', onclick: () => navigate(routeWith('/search', { q: text, class: p.class, after: conn.pageInfo.endCursor, n: start + conn.nodes.length })) }, 'Next →')
        : null,
    ),
  );
}
