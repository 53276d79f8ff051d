// A CI: attributes with source and precedence, identifiers and how identification decided,
// relationships both ways with evidence and confidence, history as a timeline, and what
// depends on it / what it depends on, to a chosen depth.
import { add, h, section, table, badge, ciLink, link, fmtTime, fmtValue, className, params, routeWith, errorBox } from '../ui.js';
import { gql, ApiError } from '../api.js';
import { toggle, isPicked } from '../selection.js';

const REL_PAGE = 100;
const HISTORY_PAGE = 100;
const DEP_PAGE = 200;
// Four questions asked at once rather than one: each stays well inside the API's complexity
// limit (pages of relationships and history multiply what each row asks for).
const CI_QUERY = `query Ci($id: ID!) {
  ci(id: $id) {
    id class name status tags placeholder firstSeen lastSeen sources
    attributeDetails { key value source precedence updatedAt }
    identifiers { key rule value }
    identification { outcome rule explanation source runId at merged }
  }
}`;
const RELS_QUERY = `query Rels($id: ID!) { ci(id: $id) { relationships(first: ${REL_PAGE}) {
  totalCount
  nodes { type fromId toId from { name class } to { name class } status confidence restsOnHostLevelEvidence
          evidence { source kind confidence observations lastSeen } }
} } }`;
const HISTORY_QUERY = `query History($id: ID!) { ci(id: $id) { history(first: ${HISTORY_PAGE}) {
  totalCount nodes { at kind field relationship { type from to } old new source runId }
} } }`;
const DEPS_QUERY = `query Deps($id: ID!, $depth: Int!) {
  up: dependencies(id: $id, direction: UPSTREAM, maxDepth: $depth, first: ${DEP_PAGE}) { id depth via ci { name class status } }
  down: dependencies(id: $id, direction: DOWNSTREAM, maxDepth: $depth, first: ${DEP_PAGE}) { id depth via ci { name class status } }
}`;

export async function render(view, { args, query, navigate }) {
  const id = args[0];
  const p = params(query);
  const depth = Math.min(Math.max(Number(p.depth) || 3, 1), 20);
  let data;
  let rels;
  let hist;
  let deps;
  try {
    data = await gql(CI_QUERY, { id });
    if (!data.ci) {
      add(view, h('h1', null, 'No such CI'), errorBox(new ApiError(`no CI has the id ${id} (it may have been deleted)`, 'NOT_FOUND')), h('p', null, link('/search', 'Search')));
      return;
    }
    [rels, hist, deps] = await Promise.all([
      gql(RELS_QUERY, { id }),
      gql(HISTORY_QUERY, { id }),
      gql(DEPS_QUERY, { id, depth }),
    ]);
  } catch (e) {
    if (e.needsSignIn) throw e;
    add(view, h('h1', null, 'CI'), errorBox(e));
    return;
  }
  const ci = data.ci;
  if (!ci || !rels.ci || !hist.ci) {
    add(view, h('h1', null, 'No such CI'), errorBox(new ApiError(`no CI has the id ${id} (it may have been deleted)`, 'NOT_FOUND')), h('p', null, link('/search', 'Search')));
    return;
  }
  document.title = `${ci.name} · cmdb`;
  const pickBtn = h('button', { type: 'button', id: 'pick', onclick: () => { toggle(ci); pickBtn.textContent = isPicked(ci.id) ? 'Picked for what-if ✓' : 'Pick for what-if'; } }, isPicked(ci.id) ? 'Picked for what-if ✓' : 'Pick for what-if');
  add(view, 
    h('h1', { id: 'ci-name' }, ci.name, ' ', badge(ci.status), ci.placeholder ? h('span', { class: 'tag' }, 'placeholder') : null),
    h(
      'p',
      { class: 'sub' },
      className(ci.class), ' · ', h('code', null, ci.id), ` · first seen ${fmtTime(ci.firstSeen)} · last seen ${fmtTime(ci.lastSeen)} · sources ${ci.sources.join(', ') || '—'}`,
      ' ', pickBtn,
      ' ', link(routeWith('/whatif', { ids: ci.id }), 'What if it fails?', { class: 'button small', id: 'whatif-this' }),
      ci.class === 'BUSINESS_SERVICE' ? [' ', link(`/service/${encodeURIComponent(ci.id)}`, 'Service map', { class: 'button small' })] : null,
    ),
    ci.tags.length ? h('p', null, ci.tags.map((t) => link(routeWith('/search', { q: t }), t, { class: 'tag' }))) : null,
  );
  add(view, 
    h(
      'div',
      { class: 'grid' },
      section(
        'Attributes',
        table(
          ['Attribute', 'Value', 'Source', 'Precedence', 'Updated'],
          ci.attributeDetails.map((a) => h('tr', null, h('td', null, a.key), h('td', { class: 'value' }, fmtValue(a.value)), h('td', null, a.source), h('td', { class: 'num', title: '1 is the strongest source' }, a.precedence), h('td', null, fmtTime(a.updatedAt)))),
          { id: 'attributes' },
        ),
      ),
      section(
        'Identification',
        ci.identification
          ? h(
              'div',
              { id: 'identification' },
              h('p', null, badge(ci.identification.outcome), ' ', ci.identification.explanation),
              h('p', { class: 'sub' }, `by ${ci.identification.source}${ci.identification.runId ? ` (run ${ci.identification.runId})` : ''} at ${fmtTime(ci.identification.at)}${ci.identification.rule ? ` · rule ${ci.identification.rule}` : ''}`),
              ci.identification.merged.length ? h('p', null, 'Merged into it: ', ci.identification.merged.join(', ')) : null,
            )
          : h('p', { class: 'hint' }, 'No identification recorded yet (stored before identification was kept).'),
        table(['Rule', 'Value', 'Key'], ci.identifiers.map((i) => h('tr', null, h('td', null, i.rule), h('td', null, i.value), h('td', null, h('code', null, i.key)))), { id: 'identifiers' }),
      ),
    ),
  );
  add(view, 
    section(
      `Relationships (${rels.ci.relationships.totalCount}${rels.ci.relationships.totalCount > REL_PAGE ? `, first ${REL_PAGE}` : ''})`,
      table(
        ['From', 'Type', 'To', 'Status', 'Confidence', 'Evidence'],
        rels.ci.relationships.nodes.map((r) =>
          h(
            'tr',
            { class: r.restsOnHostLevelEvidence ? 'host-level' : '' },
            h('td', null, r.fromId === ci.id ? h('b', null, ci.name) : ciLink(r.fromId, r.from && r.from.name)),
            h('td', null, r.type),
            h('td', null, r.toId === ci.id ? h('b', null, ci.name) : ciLink(r.toId, r.to && r.to.name)),
            h('td', null, badge(r.status)),
            h('td', { class: 'num' }, r.confidence.toFixed(2), r.restsOnHostLevelEvidence ? h('span', { class: 'tag', title: 'all its evidence is host-level: a guess' }, 'host-level') : null),
            h('td', null, r.evidence.map((e) => h('div', { class: 'evidence' }, `${e.source}/${e.kind.toLowerCase()} ${e.confidence.toFixed(2)} ×${e.observations}, last ${fmtTime(e.lastSeen)}`))),
          ),
        ),
        { id: 'relationships' },
      ),
    ),
  );
  const depthSel = h(
    'select',
    { id: 'depth', onchange: () => navigate(routeWith(`/ci/${encodeURIComponent(id)}`, { depth: depthSel.value })) },
    [1, 2, 3, 5, 8, 12, 20].map((d) => h('option', { value: d, selected: d === depth }, `${d} hop${d > 1 ? 's' : ''}`)),
  );
  add(view, 
    h(
      'div',
      { class: 'grid' },
      section('What depends on this', h('p', null, 'Depth ', depthSel), depList(deps.down, 'downstream')),
      section('What this depends on', depList(deps.up, 'upstream')),
    ),
  );
  add(view, 
    section(
      `History (${hist.ci.history.totalCount}${hist.ci.history.totalCount > HISTORY_PAGE ? `, newest ${HISTORY_PAGE}` : ''})`,
      h(
        'ol',
        { class: 'timeline', id: 'history' },
        hist.ci.history.nodes.map((e) =>
          h(
            'li',
            null,
            h('time', null, fmtTime(e.at)),
            ' ',
            h('b', null, e.kind.replaceAll('_', ' ').toLowerCase()),
            e.field ? ` ${e.field}` : '',
            e.relationship ? [' ', e.relationship.type, ' ', ciLink(e.relationship.from === ci.id ? e.relationship.to : e.relationship.from)] : '',
            e.old !== null && e.old !== undefined ? [' from ', h('code', null, fmtValue(e.old))] : '',
            e.new !== null && e.new !== undefined ? [' to ', h('code', null, fmtValue(e.new))] : '',
            h('span', { class: 'sub' }, ` · ${e.source}${e.runId ? ` · ${e.runId}` : ''}`),
          ),
        ),
      ),
    ),
  );
}

function depList(list, id) {
  return table(
    ['CI', 'Class', 'Status', 'Hops'],
    list.map((d) => h('tr', null, h('td', null, ciLink(d.id, d.ci && d.ci.name)), h('td', null, d.ci ? className(d.ci.class) : '—'), h('td', null, d.ci ? badge(d.ci.status) : '—'), h('td', { class: 'num' }, d.depth))),
    { id },
  );
}
