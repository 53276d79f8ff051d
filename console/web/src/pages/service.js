// A service's map: tiers from the entry point down, pools as groups with their k-of-n rule,
// evidence on hover, depth selectable, layout kept between visits. Pick CIs on the map for a
// what-if (affected services highlighted with their chains) and show single points of failure.
import { add, h, clear, section, badge, link, ciLink, params, routeWith, errorBox, loading } from '../ui.js';
import { gql } from '../api.js';
import { drawMap, MAP_QUERY } from '../map.js';
import { askWhatIf, whatIfResults } from '../whatif-core.js';
import { picked, setPicked, toggle } from '../selection.js';

const SPOF = `query Spof($id: ID!) { singlePointsOfFailure(serviceId: $id) { id depth ci { name class } } }`;

export async function render(view, { args, query, navigate, isCurrent }) {
  const id = args[0];
  const p = params(query);
  const depth = Math.min(Math.max(Number(p.depth) || 8, 1), 20);
  const started = performance.now();
  const data = await gql(MAP_QUERY, { id, depth }).catch((e) => {
    if (e.needsSignIn) throw e;
    add(view, h('h1', null, 'Service map'), errorBox(e), h('p', null, link('/', 'Home')));
    return null;
  });
  if (!data || !isCurrent()) return;
  const fetchedMs = performance.now() - started;
  const map = data.serviceMap;
  document.title = `${map.service.name} map · cmdb`;
  const canvas = h('div', { class: 'map', id: 'map' });
  const panel = h('aside', { class: 'map-panel', id: 'panel' });
  const depthSel = h('select', { id: 'depth', onchange: () => navigate(routeWith(`/service/${encodeURIComponent(id)}`, { depth: depthSel.value })) }, [2, 4, 6, 8, 10, 12, 16, 20].map((d) => h('option', { value: d, selected: d === depth }, `${d} hops`)));
  add(view, 
    h('h1', null, map.service.name, ' ', h('span', { class: 'sub' }, map.service.kind.toLowerCase().replace('_', ' '), ' service')),
    h('div', { class: 'map-layout' }, canvas, panel),
  );
  const pickMode = h('input', { type: 'checkbox', id: 'pick-mode' });
  const pickedList = h('ul', { id: 'picked' });
  const results = h('div', { id: 'whatif-results' });
  const status = h('div', { id: 'map-status', class: 'sub' });
  const names = new Map(map.nodes.map((n) => [n.id, n.name]));
  let ctl;
  const refreshPicked = () => {
    // The tab's one selection (selection.js): what is picked here is what the what-if page sees.
    add(clear(pickedList), ...picked().map((c) => h('li', null, ciLink(c.id, c.name), ' ', h('button', { type: 'button', class: 'small', onclick: () => { setPicked(picked().filter((x) => x.id !== c.id)); refreshPicked(); } }, '×'))));
    ctl && ctl.setSelected(picked().map((c) => c.id));
  };
  const runWhatIf = async () => {
    const ids = picked().map((c) => c.id);
    if (!ids.length) return;
    add(clear(results), loading('Asking…'));
    try {
      const answer = await askWhatIf(ids);
      const mine = answer.impact.services.find((s) => s.serviceId === map.service.id);
      const lit = ctl.highlight({
        failing: ids,
        affected: answer.impact.affected,
        paths: mine ? mine.paths : [],
        pathEdges: mine ? mine.pathEdges : [],
      });
      add(clear(results), 
        h('p', { id: 'this-service' }, 'This service: ', badge(mine ? mine.severity : 'OK'), lit.pathEdges ? ` · ${lit.pathEdges} edges on the explaining chains` : ''),
        ...whatIfResults(answer, { names }),
      );
    } catch (e) {
      if (e.needsSignIn) throw e;
      add(clear(results), errorBox(e));
    }
  };
  const spofOut = h('div', { id: 'spof' });
  add(panel, 
    section(
      'Map',
      h('p', null, 'Depth ', depthSel),
      h('p', { id: 'map-size' }, `${map.nodes.length} CIs, ${map.edges.length} relationships`, map.truncated ? h('b', { class: 'warn-text' }, ` — cut at ${map.nodes.length} of ${map.nodeCount}`) : ''),
      map.service.entryPoints.length ? h('p', null, 'Entry points: ', map.service.entryPoints.join(', ')) : null,
      status,
      h('p', { class: 'legend sub' }, 'Arrows point at what is relied on; dashed: host-level evidence; dotted: carries no failure; hover an edge for its evidence.'),
    ),
    section(
      'What if…',
      h('label', null, pickMode, ' pick CIs by clicking them'),
      pickedList,
      h('button', { type: 'button', id: 'run-whatif', onclick: runWhatIf }, 'Run what-if'),
      ' ',
      h('button', { type: 'button', class: 'secondary', onclick: () => { setPicked([]); refreshPicked(); ctl.highlight({}); clear(results); } }, 'Clear'),
      results,
    ),
    section(
      'Single points of failure',
      h(
        'button',
        {
          type: 'button',
          id: 'show-spof',
          onclick: async () => {
            add(clear(spofOut), loading());
            let list;
            try {
              ({ singlePointsOfFailure: list } = await gql(SPOF, { id }));
            } catch (e) {
              if (e.needsSignIn) throw e;
              add(clear(spofOut), errorBox(e));
              return;
            }
            const n = ctl.markSpof(list.map((x) => x.id));
            add(clear(spofOut), 
              h('p', null, `${list.length} CI${list.length === 1 ? '' : 's'} whose failure alone takes the service down${n < list.length ? ` (${n} on this map)` : ''}:`),
              h('ul', null, list.map((x) => h('li', null, ciLink(x.id, x.ci && x.ci.name)))),
            );
          },
        },
        'Show single points of failure',
      ),
      spofOut,
    ),
    h('div', { id: 'cluster-list' }),
  );
  // Draw after the panel exists so the canvas has its final size.
  await new Promise((r) => requestAnimationFrame(r));
  ctl = drawMap(canvas, map, {
    depth,
    onNode: (d) => {
      if (pickMode.checked) {
        toggle({ id: d.id, name: d.name, class: d.class });
        refreshPicked();
      } else navigate(`/ci/${encodeURIComponent(d.id)}`);
    },
    onCluster: (d) => {
      const box = document.getElementById('cluster-list');
      add(clear(box), section(d.name, h('ul', { class: 'members' }, d.members.slice(0, 500).map((m) => h('li', null, ciLink(m.id, m.name)))), d.members.length > 500 ? h('p', { class: 'sub' }, `and ${d.members.length - 500} more`) : null));
    },
  });
  refreshPicked();
  const drawnMs = await ctl.ready;
  ctl.timings = { fetchMs: Math.round(fetchedMs), drawMs: Math.round(drawnMs) };
  const ms = Math.round(performance.now() - started);
  status.textContent = ctl.summarised
    ? `Summarised: ${map.nodes.length} CIs drawn as ${ctl.drawnNodes} nodes (same class and tier grouped; click a group to list it). ${ms} ms.`
    : `Drawn in ${ms} ms.`;
  if (isCurrent()) view.dataset.ready = 'true';
}
