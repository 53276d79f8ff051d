// A CI: attributes with source and precedence, identifiers and how identification decided,
// relationships both ways with evidence and confidence, history as a timeline, and what
// depends on it / what it depends on, to a chosen depth.
import { h, section, table, badge, ciLink, link, fmtTime, fmtValue, className, params, routeWith, errorBox } from '../ui.js';
import { gql, ApiError } from '../api.js';
import { toggle, isPicked } from '../selection.js';

const QUERY = `query Ci($id: ID!, $depth: Int!) {
  ci(id: $id) {
    id class name status tags placeholder firstSeen lastSeen sources
    attributeDetails { key value source precedence updatedAt }
    identifiers { key rule value }
    identification { outcome rule explanation source runId at merged }
    relationships(first: 200) {
      totalCount
      nodes { type fromId toId from { name class } to { name class } status confidence restsOnHostLevelEvidence
              evidence { source kind confidence observations firstSeen lastSeen } }
    }
    history(first: 100) { totalCount nodes { at kind field relationship { type from to } old new source runId } }
  }
  up: dependencies(id: $id, direction: UPSTREAM, maxDepth: $depth, first: 200) { id depth via ci { name class status } }
  down: dependencies(id: $id, direction: DOWNSTREAM, maxDepth: $depth, first: 200) { id depth via ci { name class status } }
}`;

export async function render(view, { args, query, navigate }) {
  const id = args[0];
  const p = params(query);
  const depth = Math.min(Math.max(Number(p.depth) || 3, 1), 20);
  let data;
  try {
    data = await gql(QUERY, { id, depth });
  } catch (e) {
    if (e.needsSignIn) throw e;
    view.append(h('h1', null, 'CI'), errorBox(e));
    return;
  }
  const ci = data.ci;
  if (!ci) {
    view.append(h('h1', null, 'No such CI'), errorBox(new ApiError(`no CI has the id ${id} (it may have been deleted)`, 'NOT_FOUND')), h('p', null, link('/search', 'Search')));
    return;
  }
  document.title = `${ci.name} · cmdb`;
  const pickBtn = h('button', { type: 'button', id: 'pick', onclick: () => { toggle(ci); pickBtn.textContent = isPicked(ci.id) ? 'Picked for what-if ✓' : 'Pick for what-if'; } }, isPicked(ci.id) ? 'Picked for what-if ✓' : 'Pick for what-if');
  view.append(
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
  view.append(
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
  view.append(
    section(
      `Relationships (${ci.relationships.totalCount})`,
      table(
        ['From', 'Type', 'To', 'Status', 'Confidence', 'Evidence'],
        ci.relationships.nodes.map((r) =>
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
  view.append(
    h(
      'div',
      { class: 'grid' },
      section('What depends on this', h('p', null, 'Depth ', depthSel), depList(data.down, 'downstream')),
      section('What this depends on', depList(data.up, 'upstream')),
    ),
  );
  view.append(
    section(
      `History (${ci.history.totalCount})`,
      h(
        'ol',
        { class: 'timeline', id: 'history' },
        ci.history.nodes.map((e) =>
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
