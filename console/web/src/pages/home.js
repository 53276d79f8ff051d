// Home: services with criticality, owner and live status; CI counts by class and status;
// recent discovery runs; the CMDB's own health figures.
import { add, h, section, table, badge, link, fmtTime, className, errorBox } from '../ui.js';
import { gql, ApiError } from '../api.js';

const QUERY = `{
  businessServices(first: 500) { id name criticality owner slaTarget status operationalStatus definition { kind mapSize } }
  stats { cis relationships byClass { name count } byStatus { name count } }
  discoveryRuns(first: 8) { id status trigger startedAt finishedAt targetsOk targetsFailed cisCreated cisUpdated cisStaled }
  cmdbHealth { completenessPercent openAlerts unboundAlerts duplicates { name } staleness { source stale } }
}`;

export async function render(view) {
  document.title = 'Home · cmdb';
  // Partial answers are still useful: a reader without discovery sees the rest.
  const { data, errors } = await gql(QUERY, {}, { partial: true });
  const failures = errors.map((e) => new ApiError(e.message, e.extensions && e.extensions.code));
  const authError = failures.find((e) => e.needsSignIn);
  if (authError) throw authError;
  add(view, h('h1', null, 'Home'));
  const services = data.businessServices || [];
  add(view, 
    section(
      `Business services (${services.length})`,
      table(
        ['Service', 'Status now', 'Criticality', 'Owner', 'SLA', 'Map', ''],
        services
          .slice()
          .sort((a, b) => (a.criticality ?? 9) - (b.criticality ?? 9) || a.name.localeCompare(b.name))
          .map((s) =>
            h(
              'tr',
              { dataset: { service: s.name } },
              h('td', null, link(`/ci/${encodeURIComponent(s.id)}`, s.name)),
              h('td', null, badge(s.operationalStatus), s.status !== 'ACTIVE' ? [' ', badge(s.status)] : null),
              h('td', null, s.criticality ?? '—'),
              h('td', null, s.owner || '—'),
              h('td', null, s.slaTarget || '—'),
              h('td', null, s.definition ? `${s.definition.kind.toLowerCase().replace('_', ' ')} · ${s.definition.mapSize} CIs` : '—'),
              h('td', null, link(`/service/${encodeURIComponent(s.id)}`, 'Map', { class: 'button small' })),
            ),
          ),
        { id: 'services' },
      ),
    ),
  );
  const stats = data.stats;
  if (stats) {
    add(view, 
      h(
        'div',
        { class: 'grid' },
        section(
          `CIs (${stats.cis}) · relationships (${stats.relationships})`,
          table(
            ['Class', 'CIs'],
            stats.byClass.map((c) => h('tr', null, h('td', null, link(`/search?class=${encodeURIComponent(c.name)}`, className(c.name))), h('td', { class: 'num' }, c.count))),
            { id: 'by-class' },
          ),
        ),
        section('By status', table(['Status', 'CIs'], stats.byStatus.map((c) => h('tr', null, h('td', null, badge(c.name)), h('td', { class: 'num' }, c.count))))),
        data.cmdbHealth ? healthCard(data.cmdbHealth) : null,
      ),
    );
  }
  const runs = data.discoveryRuns;
  if (runs) {
    add(view, 
      section(
        'Recent discovery runs',
        table(
          ['Run', 'Status', 'Trigger', 'Started', 'Finished', 'Targets ok / failed', 'CIs created / updated / staled'],
          runs.map((r) =>
            h(
              'tr',
              null,
              h('td', null, link(`/discovery/${encodeURIComponent(r.id)}`, r.id)),
              h('td', null, badge(r.status)),
              h('td', null, r.trigger),
              h('td', null, fmtTime(r.startedAt)),
              h('td', null, fmtTime(r.finishedAt)),
              h('td', { class: 'num' }, `${r.targetsOk} / ${r.targetsFailed}`),
              h('td', { class: 'num' }, `${r.cisCreated} / ${r.cisUpdated} / ${r.cisStaled}`),
            ),
          ),
        ),
      ),
    );
  }
  for (const e of failures) add(view, errorBox(e));
}

function healthCard(hh) {
  return section(
    'CMDB health',
    h(
      'dl',
      { class: 'facts' },
      h('dt', null, 'Complete CIs'), h('dd', null, `${hh.completenessPercent.toFixed(1)} %`),
      h('dt', null, 'Duplicate candidates'), h('dd', null, hh.duplicates.length),
      h('dt', null, 'Stale CIs'), h('dd', null, hh.staleness.reduce((n, s) => n + s.stale, 0)),
      h('dt', null, 'Open alerts'), h('dd', null, `${hh.openAlerts} (${hh.unboundAlerts} unbound)`),
    ),
  );
}
