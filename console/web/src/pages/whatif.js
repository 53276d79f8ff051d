// What-if: pick CIs (here by search, or on a map, a CI page or the search page), optionally a
// change window → affected services with severity and why, change risk, and the chosen
// service's map with the failing CIs and explaining chains highlighted.
import { add, h, clear, section, ciLink, params, routeWith, errorBox, loading, className } from '../ui.js';
import { gql } from '../api.js';
import { picked, setPicked } from '../selection.js';
import { askWhatIf, whatIfResults } from '../whatif-core.js';
import { drawMap, MAP_QUERY } from '../map.js';

const FIND = `query Find($text: String!) { search(text: $text, first: 10) { nodes { id name class } } }`;
const NAMES = `query Names($ids: [ID!]) { cis(filter: { ids: $ids }, first: 100) { nodes { id name class } } }`;

export async function render(view, { query, navigate, isCurrent }) {
  document.title = 'What-if · cmdb';
  const p = params(query);
  // The URL wins (links from CI pages); otherwise what was picked while browsing.
  let list = p.ids ? p.ids.split(',').filter(Boolean).map((id) => ({ id })) : picked();
  if (list.some((x) => !x.name)) {
    const { cis } = await gql(NAMES, { ids: list.map((x) => x.id) });
    const byId = new Map(cis.nodes.map((c) => [c.id, c]));
    list = list.map((x) => byId.get(x.id) || x);
  }
  setPicked(list);
  const chosen = h('ul', { id: 'chosen' });
  const show = () => {
    add(clear(chosen), 
      ...picked().map((c) => h('li', null, ciLink(c.id, c.name), ` (${className(c.class)}) `, h('button', { type: 'button', class: 'small', onclick: () => { setPicked(picked().filter((x) => x.id !== c.id)); show(); } }, '×'))),
    );
    if (!picked().length) add(chosen, h('li', { class: 'hint' }, 'Nothing picked yet.'));
  };
  const findInput = h('input', { type: 'search', id: 'find', placeholder: 'add a CI: name, IP, serial…' });
  const found = h('ul', { id: 'found', class: 'found' });
  const windowInput = h('input', { type: 'text', id: 'window', value: p.window || '', placeholder: 'e.g. 2026-12-01T02:00:00Z/PT2H (optional)' });
  const out = h('div', { id: 'whatif-out' });
  add(view, 
    h('h1', null, 'What if these fail?'),
    h(
      'div',
      { class: 'grid' },
      section(
        'CIs',
        chosen,
        h(
          'form',
          {
            class: 'searchbar',
            onsubmit: async (ev) => {
              ev.preventDefault();
              const text = findInput.value.trim();
              if (!text) return;
              add(clear(found), loading('Searching…'));
              try {
                const { search } = await gql(FIND, { text });
                add(clear(found), 
                  ...search.nodes.map((c) => h('li', null, h('button', { type: 'button', class: 'small', onclick: () => { if (!picked().some((x) => x.id === c.id)) setPicked([...picked(), c]); show(); } }, '+'), ' ', c.name, ` (${className(c.class)})`)),
                );
                if (!search.nodes.length) add(found, h('li', { class: 'hint' }, 'No match.'));
              } catch (e) {
                if (e.needsSignIn) throw e;
                add(clear(found), errorBox(e));
              }
            },
          },
          findInput,
          h('button', { type: 'submit' }, 'Find'),
        ),
        found,
      ),
      section(
        'Change window',
        h('p', { class: 'hint' }, 'When the change happens: staleness is judged at its start. `start/end`, `start/duration` or a duration from now.'),
        windowInput,
        h('p', null, h('button', { type: 'button', id: 'run', onclick: () => navigate(routeWith('/whatif', { ids: picked().map((c) => c.id).join(','), window: windowInput.value.trim(), run: '1' })) }, 'Run what-if')),
      ),
    ),
    out,
  );
  show();
  if (!p.run && !p.ids) return;
  const ids = picked().map((c) => c.id);
  if (!ids.length) return;
  add(out, loading('Asking…'));
  let answer;
  try {
    answer = await askWhatIf(ids, p.window);
  } catch (e) {
    if (e.needsSignIn) throw e;
    add(clear(out), errorBox(e));
    return;
  }
  const mapBox = h('div', { class: 'map', id: 'map' });
  const mapTitle = h('h2', { id: 'map-title' });
  const drawService = async (s) => {
    mapTitle.textContent = `${s.name || s.serviceId}: ${s.severity}`;
    add(clear(mapBox), loading('Drawing…'));
    let serviceMap;
    try {
      ({ serviceMap } = await gql(MAP_QUERY, { id: s.serviceId, depth: 20 }));
    } catch (e) {
      if (e.needsSignIn) throw e;
      add(clear(mapBox), errorBox(e));
      return;
    }
    if (!isCurrent()) return;
    const ctl = drawMap(mapBox, serviceMap, { depth: 20, onNode: (d) => navigate(`/ci/${encodeURIComponent(d.id)}`) });
    const lit = ctl.highlight({ failing: ids, affected: answer.impact.affected, paths: s.paths, pathEdges: s.pathEdges });
    mapBox.dataset.pathEdges = String(lit.pathEdges);
    mapBox.dataset.pathNodes = String(lit.pathNodes);
    await ctl.ready;
    mapBox.dataset.ready = 'true';
  };
  add(clear(out), 
    section('Affected services', ...whatIfResults(answer, { onService: drawService, names: new Map(picked().map((c) => [c.id, c.name])) })),
    section('Map', mapTitle, h('p', { class: 'sub' }, 'Failing CIs dark red, affected CIs by severity, the explaining chains in orange. Click a service above to draw its map.'), mapBox),
  );
  if (answer.impact.services.length) await drawService(answer.impact.services[0]);
  else add(clear(mapBox), h('p', { class: 'hint' }, 'No affected service to draw.'));
}
