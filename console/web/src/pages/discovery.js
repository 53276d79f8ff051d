// Discovery: start a run (targets, named credentials), watch it live (the discoveryProgress
// subscription, with the run re-read as targets finish), per-target outcomes and diagnostics.
import { add, h, clear, section, table, badge, link, fmtTime, errorBox, loading } from '../ui.js';
import { gql, subscribe, ApiError } from '../api.js';

const FORM = `{ discoveryCredentials { name kind scope } discoveryRuns(first: 15) { id status trigger startedAt finishedAt targetsOk targetsFailed } }`;
const START = `mutation Start($input: RunDiscoveryInput!) { runDiscovery(input: $input) { id status } }`;
const RUN = `query Run($id: ID!) { discoveryRun(id: $id) {
  id status trigger startedAt finishedAt message targetsDone targetsOk targetsFailed
  cisCreated cisUpdated cisUnchanged cisStaled relationshipsCreated relationshipsClosed
  errors { target probe code message }
  targets { target probe status records relationships durationMs error { code message } diagnostics { level code message } }
} }`;
const PROGRESS = `subscription P($id: ID!) { discoveryProgress(runId: $id) { phase targetsDone targetsTotal message target status at } }`;

export async function render(view, { args, navigate, isCurrent, onLeave }) {
  if (args[0]) return renderRun(view, args[0], { isCurrent, onLeave });
  document.title = 'Discovery · cmdb';
  const { discoveryCredentials: creds, discoveryRuns: runs } = await gql(FORM);
  const targets = h('textarea', { id: 'targets', rows: 4, placeholder: '10.0.0.5\n10.0.1.0/28\nswitch1.example:161' });
  const boxes = creds.map((c) => h('label', { class: 'cred' }, h('input', { type: 'checkbox', name: 'cred', value: c.name, checked: true }), ` ${c.name} `, h('span', { class: 'sub' }, `${c.kind}${c.scope ? ` · ${c.scope}` : ''}`)));
  const local = h('input', { type: 'checkbox', id: 'local' });
  const acceptKeys = h('input', { type: 'checkbox', id: 'accept-keys' });
  const msg = h('div', { id: 'start-message' });
  add(view, 
    h('h1', null, 'Discovery'),
    section(
      'Start a run',
      h(
        'form',
        {
          id: 'start-run',
          onsubmit: async (ev) => {
            ev.preventDefault();
            const list = targets.value.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
            const credentials = boxes.map((b) => b.querySelector('input')).filter((i) => i.checked).map((i) => i.value);
            clear(msg);
            try {
              const { runDiscovery } = await gql(START, { input: { targets: list, credentials, local: local.checked, acceptNewHostKeys: acceptKeys.checked } });
              navigate(`/discovery/${encodeURIComponent(runDiscovery.id)}`);
            } catch (e) {
              if (e.needsSignIn) throw e;
              add(msg, errorBox(e.code === 'FORBIDDEN' ? new ApiError('Starting a run needs an editor or admin token.', e.code) : e));
            }
          },
        },
        h('label', { for: 'targets' }, 'Targets (addresses, host:port, CIDR ranges)'),
        targets,
        h('fieldset', null, h('legend', null, 'Credentials'), creds.length ? boxes : h('p', { class: 'hint' }, 'No credentials are configured ([discovery] in cmdb.toml).')),
        h('label', null, local, ' also this server itself'),
        h('label', null, acceptKeys, ' accept and remember SSH host keys not seen before'),
        h('button', { type: 'submit' }, 'Start'),
        msg,
      ),
    ),
    section('Recent runs', runsTable(runs)),
  );
}

function runsTable(runs) {
  return table(
    ['Run', 'Status', 'Trigger', 'Started', 'Finished', 'Targets ok / failed'],
    runs.map((r) => h('tr', null, h('td', null, link(`/discovery/${encodeURIComponent(r.id)}`, r.id)), h('td', null, badge(r.status)), h('td', null, r.trigger), h('td', null, fmtTime(r.startedAt)), h('td', null, fmtTime(r.finishedAt)), h('td', { class: 'num' }, `${r.targetsOk} / ${r.targetsFailed}`))),
    { id: 'runs' },
  );
}

async function renderRun(view, id, { isCurrent, onLeave }) {
  document.title = `Run ${id} · cmdb`;
  const head = h('div', { id: 'run-head' }, loading());
  const bar = h('progress', { id: 'run-progress', max: 1, value: 0 });
  const live = h('p', { id: 'run-live', class: 'sub' });
  const body = h('div', { id: 'run-body' });
  add(view, h('h1', null, 'Discovery run ', h('code', null, id)), head, bar, live, body);
  let timer = null;
  let pending = null;
  let unsub = () => {};
  let ended = false;
  // Everything this page starts stops when the run ends or the user leaves, whichever first.
  const stop = () => {
    unsub();
    clearInterval(timer);
    clearTimeout(pending);
  };
  onLeave(stop);
  const refresh = async () => {
    if (!isCurrent()) return null;
    const { discoveryRun: run } = await gql(RUN, { id });
    if (!run) {
      add(clear(head), errorBox(new ApiError(`no run ${id}`, 'NOT_FOUND')));
      return null;
    }
    draw(run, head, body);
    if (run.targetsDone && !bar.max) bar.max = run.targetsDone;
    if (run.status !== 'RUNNING') {
      bar.max = 1;
      bar.value = 1;
      ended = true;
      view.dataset.finished = run.status;
    }
    return run;
  };
  const first = await refresh();
  if (!first || ended || !isCurrent()) return;
  // Re-read the run at most every second while progress events arrive, and every 3 s anyway.
  const soon = () => {
    if (pending) return;
    pending = setTimeout(async () => {
      pending = null;
      await refresh().catch(() => {});
    }, 1000);
  };
  unsub = subscribe(PROGRESS, { id }, {
    next: ({ discoveryProgress: p }) => {
      bar.max = Math.max(p.targetsTotal, 1);
      bar.value = p.targetsDone;
      live.textContent = `${p.phase.toLowerCase().replace('_', ' ')} · ${p.targetsDone} of ${p.targetsTotal} targets${p.target ? ` · ${p.target} ${p.status ? p.status.toLowerCase() : ''}` : ''}${p.message ? ` · ${p.message}` : ''}`;
      soon();
    },
    error: (e) => { live.textContent = `live progress unavailable (${e.message}); refreshing every 3 s`; },
    complete: () => soon(),
  });
  timer = setInterval(async () => {
    if (ended) return stop();
    await refresh().catch(() => {});
  }, 3000);
}

function draw(run, head, body) {
  add(clear(head), 
    h(
      'dl',
      { class: 'facts' },
      h('dt', null, 'Status'), h('dd', { id: 'run-status' }, badge(run.status)),
      h('dt', null, 'Trigger'), h('dd', null, run.trigger),
      h('dt', null, 'Started'), h('dd', null, fmtTime(run.startedAt)),
      h('dt', null, 'Finished'), h('dd', null, fmtTime(run.finishedAt)),
      h('dt', null, 'Targets'), h('dd', null, `${run.targetsDone} done · ${run.targetsOk} ok · ${run.targetsFailed} failed`),
      h('dt', null, 'CIs'), h('dd', null, `${run.cisCreated} created · ${run.cisUpdated} updated · ${run.cisUnchanged} unchanged · ${run.cisStaled} staled`),
      h('dt', null, 'Relationships'), h('dd', null, `${run.relationshipsCreated} created · ${run.relationshipsClosed} closed`),
    ),
    run.message ? errorBox(new ApiError(run.message)) : null,
  );
  add(clear(body), 
    section(
      'Targets',
      table(
        ['Target', 'Probe', 'Outcome', 'Records', 'Relationships', 'Time', 'Diagnostics'],
        run.targets.map((t) =>
          h(
            'tr',
            { dataset: { target: t.target, status: t.status } },
            h('td', null, t.target),
            h('td', null, t.probe || '—'),
            h('td', null, badge(t.status), t.error ? h('div', { class: 'error-text' }, `${t.error.code}: ${t.error.message}`) : null),
            h('td', { class: 'num' }, t.records),
            h('td', { class: 'num' }, t.relationships),
            h('td', { class: 'num' }, t.durationMs === null || t.durationMs === undefined ? '—' : `${(t.durationMs / 1000).toFixed(1)} s`),
            h('td', null, t.diagnostics.map((d) => h('div', { class: `diag ${d.level.toLowerCase()}` }, `${d.level.toLowerCase()}${d.code ? ` ${d.code}` : ''}: ${d.message}`))),
          ),
        ),
        { id: 'targets-table' },
      ),
      run.errors.length ? section('Errors', table(['Target', 'Probe', 'Code', 'Message'], run.errors.map((e) => h('tr', null, h('td', null, e.target), h('td', null, e.probe), h('td', null, e.code), h('td', null, e.message))))) : null,
    ),
  );
}
