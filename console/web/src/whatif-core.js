// The what-if question asked of the API, shared by the service map and the what-if page:
// impact (severity per service, explaining chains, affected CIs) and change risk (score,
// weak edges, caveats) for a set of CIs and an optional change window.
import { h, table, badge, link, ciLink } from './ui.js';
import { gql } from './api.js';

export const WHATIF_QUERY = `query WhatIf($ids: [ID!]!, $window: ChangeWindow) {
  impact(ids: $ids) {
    failing { id name class }
    affectedCount
    affected(first: 1000) { id severity }
    services { serviceId name severity depth criticality owner slaTarget paths pathsTruncated
               pathEdges { from type to } restsOnHostLevelEvidence }
    groups { groupId group { name } members down minUp severity }
  }
  changeRisk(ids: $ids, window: $window) {
    totalScore caveats scoreFormula windowStart windowEnd
    services { serviceId score severity criticality weakEdges { from type to reasons confidence } }
  }
}`;

const NAMES_QUERY = `query Names($ids: [ID!]) { cis(filter: { ids: $ids }, first: 1000) { nodes { id name } } }`;

/** The answer, plus `names`: id → name of every CI on the explaining chains shown. */
export async function askWhatIf(ids, window) {
  const answer = await gql(WHATIF_QUERY, { ids, window: window || null });
  const onChains = new Set();
  for (const s of answer.impact.services) for (const p of s.paths.slice(0, 3)) for (const id of p) onChains.add(id);
  answer.names = new Map();
  if (onChains.size) {
    // Names make the chains readable; without them (say a lower page-size cap) ids still do.
    try {
      const { cis } = await gql(NAMES_QUERY, { ids: [...onChains].slice(0, 1000) });
      for (const c of cis.nodes) answer.names.set(c.id, c.name);
    } catch (e) {
      if (e.needsSignIn) throw e;
    }
  }
  return answer;
}

/** Name of a CI id as the answer knows it (chains are ids). */
function namer(answer, extra = new Map()) {
  const names = new Map([...(answer.names || []), ...extra]);
  for (const f of answer.impact.failing) names.set(f.id, f.name);
  for (const s of answer.impact.services) if (s.name) names.set(s.serviceId, s.name);
  return (id) => names.get(id) || id;
}

/**
 * The answer as a table of affected services (worst first) with their explaining chains.
 * `onService(s)` is called when a row is chosen (to draw its map).
 */
export function whatIfResults(answer, { onService, names } = {}) {
  const name = namer(answer, names);
  const risk = new Map(answer.changeRisk.services.map((s) => [s.serviceId, s]));
  const services = answer.impact.services;
  const rows = services.map((s) => {
    const r = risk.get(s.serviceId);
    return h(
      'tr',
      { class: 'clickable', dataset: { service: s.name || s.serviceId, severity: s.severity }, onclick: () => onService && onService(s) },
      h('td', null, link(`/service/${encodeURIComponent(s.serviceId)}`, s.name || s.serviceId)),
      h('td', { class: 'severity' }, badge(s.severity)),
      h('td', { class: 'num' }, s.criticality ?? '—'),
      h('td', null, s.owner || '—'),
      h('td', null, s.slaTarget || '—'),
      h('td', { class: 'num' }, r ? r.score : '—'),
      h(
        'td',
        null,
        h(
          'ol',
          { class: 'paths' },
          s.paths.slice(0, 3).map((p) => h('li', { class: 'path' }, p.map((id, i) => [i ? ' → ' : '', ciLink(id, name(id))]))),
        ),
        s.pathsTruncated ? h('div', { class: 'sub' }, 'more chains exist') : null,
        s.restsOnHostLevelEvidence ? h('div', { class: 'tag' }, 'rests on host-level evidence') : null,
      ),
    );
  });
  const out = [
    h('p', { id: 'whatif-summary' }, services.length ? `${services.length} service${services.length > 1 ? 's' : ''} affected, ${answer.impact.affectedCount} CIs in all · change risk score ${answer.changeRisk.totalScore}` : 'No business service is affected.'),
    table(['Service', 'Severity', 'Criticality', 'Owner', 'SLA', 'Risk score', 'Why (failing CI → … → service)'], rows, { id: 'affected-services' }),
  ];
  if (answer.impact.groups.length) {
    out.push(
      h('h3', null, 'Pools and clusters that lose members'),
      table(['Group', 'Down / members', 'Needs', 'State'], answer.impact.groups.map((g) => h('tr', null, h('td', null, ciLink(g.groupId, g.group && g.group.name)), h('td', { class: 'num' }, `${g.down} / ${g.members}`), h('td', { class: 'num' }, `${g.minUp} up`), h('td', null, badge(g.severity))))),
    );
  }
  if (answer.changeRisk.caveats.length) out.push(h('ul', { class: 'caveats' }, answer.changeRisk.caveats.map((c) => h('li', null, c))));
  return out;
}
