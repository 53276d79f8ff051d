// Draws a service map with Cytoscape.js: tiers from the service down (graph.js `layered`,
// ranked by what relies on what), pools as groups labelled with their k-of-n rule, evidence
// and confidence on hover, what-if highlights. Big maps are summarised (graph.js).
import cytoscape from 'cytoscape';
import { orient, tiers, poolOf, poolRule, summarise, onPaths, layered } from './graph.js';
import { add, h, clear, className } from './ui.js';

const MAP_QUERY = `query Map($id: ID!, $depth: Int) {
  serviceMap(serviceId: $id, maxDepth: $depth) {
    truncated nodeCount
    service { id name kind entryPoints mappedAt mapSize }
    nodes { id class name role ci { status placeholder minUp: attribute(key: "min_up") } }
    edges { from to type confidence impactFlow restsOnHostLevelEvidence
            evidence { source kind confidence observations lastSeen } }
  }
}`;
export { MAP_QUERY };

const COLORS = {
  BUSINESS_SERVICE: '#3b4cc0', HOST: '#2f7d5b', NETWORK_DEVICE: '#6b4c9a', PROCESS: '#c0752f',
  LISTENING_ENDPOINT: '#b8860b', CLUSTER: '#59636e', INTERFACE: '#5f7f8f', IP_ADDRESS: '#7f8f5f',
  APPLICATION: '#a0457a', CONTAINER: '#3f7fbf', SOFTWARE_PACKAGE: '#8f8f8f', SUBNET: '#8f6f5f',
};
const SHAPES = {
  BUSINESS_SERVICE: 'round-diamond', HOST: 'round-rectangle', NETWORK_DEVICE: 'hexagon', PROCESS: 'ellipse',
  LISTENING_ENDPOINT: 'round-triangle', INTERFACE: 'rectangle', IP_ADDRESS: 'tag',
};

const STYLE = [
  { selector: 'node', style: {
    'background-color': '#777', shape: 'ellipse',
    label: 'data(label)', 'font-size': 10, 'text-valign': 'bottom', 'text-margin-y': 3, color: '#1d2430',
    width: 26, height: 26, 'border-width': 0,
    // Labels too small to read at the current zoom are not drawn (a 2,000-node map fitted
    // to the screen would spend most of its drawing on them).
    'min-zoomed-font-size': 7,
  } },
  ...Object.entries(COLORS).map(([c, color]) => ({ selector: `node[class = "${c}"]`, style: { 'background-color': color, shape: SHAPES[c] || 'ellipse' } })),
  { selector: 'node[role = "SERVICE"]', style: { width: 40, height: 40, 'font-weight': 'bold', 'font-size': 12 } },
  { selector: 'node[role = "ENTRY_POINT"]', style: { 'border-width': 3, 'border-color': '#3b4cc0' } },
  { selector: 'node[role = "CLUSTER"]', style: { width: 44, height: 44, 'border-width': 2, 'border-style': 'double', 'border-color': '#333' } },
  { selector: 'node[?placeholder]', style: { opacity: 0.6 } },
  { selector: 'node.pool', style: {
    'background-color': '#eef1f5', 'background-opacity': 0.8, shape: 'round-rectangle', 'border-width': 1, 'border-style': 'dashed',
    'border-color': '#59636e', label: 'data(label)', 'text-valign': 'top', 'text-halign': 'center', 'text-margin-y': -4, 'font-weight': 'bold', padding: 12,
  } },
  { selector: 'edge', style: {
    width: 'mapData(confidence, 0, 1, 1, 3)', 'line-color': '#9aa4b1', 'target-arrow-color': '#9aa4b1',
    'target-arrow-shape': 'triangle', 'arrow-scale': 0.8, 'curve-style': 'straight', opacity: 0.85,
  } },
  { selector: 'edge[?hostLevel]', style: { 'line-style': 'dashed' } },
  { selector: 'edge[?flowless]', style: { 'line-style': 'dotted', 'target-arrow-shape': 'none' } },
  { selector: 'node.spof', style: { 'border-width': 4, 'border-color': '#c62828', 'border-style': 'double' } },
  { selector: 'node.sev-DEGRADED, node.sev-AT_RISK', style: { 'background-color': '#f0a202' } },
  { selector: 'node.sev-DOWN', style: { 'background-color': '#c62828' } },
  { selector: 'node.failing', style: { 'background-color': '#7f0000', 'border-width': 4, 'border-color': '#000' } },
  { selector: 'node.on-path', style: { 'border-width': 3, 'border-color': '#d84315' } },
  { selector: 'edge.on-path', style: { 'line-color': '#d84315', 'target-arrow-color': '#d84315', width: 4, opacity: 1, 'z-index': 10 } },
  { selector: 'node.selected-for-whatif', style: { 'overlay-color': '#c62828', 'overlay-opacity': 0.25, 'overlay-padding': 6 } },
  { selector: '.faded', style: { opacity: 0.25 } },
];

/** Bump when the layout changes: positions saved by an older one are not reused. */
const LAYOUT_VERSION = 2;
/** Maps whose dragged positions are kept (least recently drawn forgotten first). */
const KEPT_MAPS = 20;
const POS_PREFIX = 'cmdb.map.';

/** Saved positions belong to one map: service, depth and the exact set of drawn nodes. */
function positionsKey(serviceId, depth, ids) {
  let hash = 2166136261;
  for (const id of [...ids].sort()) {
    for (let i = 0; i < id.length; i++) hash = Math.imul(hash ^ id.charCodeAt(i), 16777619) >>> 0;
    hash = Math.imul(hash ^ 10, 16777619) >>> 0;
  }
  return `${POS_PREFIX}v${LAYOUT_VERSION}.${serviceId}.${depth}.${hash.toString(16)}`;
}

/** Forget every saved map layout (on sign-out: they name CIs). */
export function forgetPositions() {
  for (const k of Object.keys(localStorage)) if (k.startsWith(POS_PREFIX)) localStorage.removeItem(k);
}

/**
 * Fetch-free drawing: `map` is `serviceMap`'s answer. Returns a controller with the Cytoscape
 * instance and what-if/SPOF highlighting. `onNode(node)` is called on a click.
 */
export function drawMap(container, map, { depth = 8, onNode, onCluster } = {}) {
  clear(container);
  const t0 = performance.now();
  const tierOf = tiers(map.nodes, map.edges, map.service.id);
  const s = summarise(map.nodes, map.edges, tierOf, { force: map.truncated });
  const pools = poolOf(s.nodes, s.edges);
  // Members of each pool, counted through its PART_OF edges (a summary node stands for many).
  const memberCount = new Map();
  for (const e of s.edges) {
    if (e.type === 'PART_OF' && pools.get(e.from) === e.to) memberCount.set(e.to, (memberCount.get(e.to) || 0) + (e.count || 1));
  }
  const drawnIds = new Set(s.nodes.map((n) => n.id));
  const els = [];
  const sorted = [...s.nodes].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const n of sorted) {
    const isPool = memberCount.has(n.id);
    els.push({
      group: 'nodes',
      classes: isPool ? 'pool' : '',
      data: {
        id: n.id, class: n.class, role: n.role, name: n.name,
        label: isPool ? `${short(n.name)} · ${poolRule(n, memberCount.get(n.id))}` : n.members ? `${n.members.length} × ${className(n.class)}` : short(n.name),
        status: n.ci && n.ci.status, placeholder: !!(n.ci && n.ci.placeholder),
        parent: pools.has(n.id) && drawnIds.has(pools.get(n.id)) ? pools.get(n.id) : undefined,
        tier: tierOf.get(n.id) ?? n.tier, members: n.members,
      },
    });
  }
  const sortedEdges = [...s.edges].sort((a, b) => (`${a.from}|${a.type}|${a.to}` < `${b.from}|${b.type}|${b.to}` ? -1 : 1));
  for (const e of sortedEdges) {
    // Members sit inside their pool: the PART_OF edge is the grouping itself.
    if (e.type === 'PART_OF' && pools.get(e.from) === e.to) continue;
    const o = orient(e);
    const [source, target] = o || [e.from, e.to];
    els.push({
      group: 'edges',
      data: {
        id: `${e.from}|${e.type}|${e.to}`, source, target, type: e.type, from: e.from, to: e.to,
        confidence: e.confidence, evidence: e.evidence, count: e.count, flowless: !o,
        hostLevel: e.restsOnHostLevelEvidence,
      },
    });
  }
  const key = positionsKey(map.service.id, depth, s.nodes.map((n) => n.id));
  const saved = loadPositions(key);
  const cy = cytoscape({
    container,
    elements: els,
    style: STYLE,
    wheelSensitivity: 0.3,
    minZoom: 0.05,
    maxZoom: 3,
    textureOnViewport: s.nodes.length > 400,
    hideEdgesOnViewport: s.nodes.length > 400,
  });
  const complete = saved && cy.nodes().filter((n) => !n.isParent()).every((n) => saved[n.id()]);
  const positions = complete
    ? new Map(Object.entries(saved))
    : layered(s.nodes.filter((n) => !memberCount.has(n.id) || !drawnIds.has(n.id)), s.edges, new Map(s.nodes.map((n) => [n.id, tierOf.get(n.id) ?? n.tier])), pools);
  cy.batch(() => {
    cy.nodes().forEach((n) => {
      const p = positions.get(n.id());
      if (p && !n.isParent()) n.position(p);
    });
  });
  cy.fit(undefined, 30);

  // Drawn: the first frame is on screen (`ready` resolves then).
  // (A hidden container never renders: give up waiting after 10 s rather than hang.)
  const ready = new Promise((resolve) => {
    cy.one('render', () => resolve(performance.now() - t0));
    setTimeout(() => resolve(performance.now() - t0), 10000);
  });
  // Only a user's own arrangement is kept: the computed layout is the same every time anyway.
  cy.on('dragfree', 'node', () => savePositions(cy, key));
  const tip = h('div', { class: 'map-tip', hidden: true });
  add(container, tip);
  cy.on('mouseover', 'edge', (ev) => showTip(tip, ev, edgeTip(ev.target.data())));
  cy.on('mouseover', 'node', (ev) => showTip(tip, ev, nodeTip(ev.target.data())));
  cy.on('mouseout', () => { tip.hidden = true; });
  cy.on('tap', 'node', (ev) => {
    const d = ev.target.data();
    if (d.members && onCluster) onCluster(d);
    else if (onNode && !ev.target.isParent()) onNode(d);
    else if (onNode && ev.target.isParent()) onNode(d);
  });
  const ctl = {
    cy,
    clusterOf: s.clusterOf,
    summarised: s.clusterOf.size > 0,
    drawnNodes: s.nodes.length,
    layoutMs: performance.now() - t0,
    ready,
    /** Highlight a what-if answer: failing CIs, affected severities, explaining chains. */
    highlight({ failing = [], affected = [], paths = [], pathEdges = [] } = {}) {
      cy.batch(() => {
        cy.elements().removeClass('failing on-path sev-DOWN sev-DEGRADED sev-AT_RISK faded');
        const drawn = (id) => s.clusterOf.get(id) || id;
        for (const a of affected) cy.getElementById(drawn(a.id)).addClass(`sev-${a.severity}`);
        for (const id of failing) cy.getElementById(drawn(id)).addClass('failing');
        const p = onPaths(paths, pathEdges, s.clusterOf);
        cy.nodes().forEach((n) => { if (p.nodes.has(n.id())) n.addClass('on-path'); });
        cy.edges().forEach((e) => {
          const d = e.data();
          if (p.edges.has(`${d.from}|${d.type}|${d.to}`)) e.addClass('on-path');
        });
      });
      return { pathNodes: cy.nodes('.on-path').length, pathEdges: cy.edges('.on-path').length };
    },
    markSpof(ids) {
      cy.batch(() => {
        cy.nodes().removeClass('spof');
        for (const id of ids) cy.getElementById(s.clusterOf.get(id) || id).addClass('spof');
      });
      return cy.nodes('.spof').length;
    },
    setSelected(ids) {
      cy.nodes().removeClass('selected-for-whatif');
      for (const id of ids) cy.getElementById(id).addClass('selected-for-whatif');
    },
  };
  window.__cmdbMap = ctl; // for the browser tests and the curious
  return ctl;
}

/** Labels are cut here rather than by the renderer (measuring text to ellipsise is slow). */
function short(name) {
  const s = String(name ?? '');
  return s.length > 28 ? `${s.slice(0, 27)}…` : s;
}

function showTip(tip, ev, lines) {
  clear(tip);
  add(tip, ...lines.map((l) => h('div', null, l)));
  const p = ev.renderedPosition || { x: 0, y: 0 };
  tip.style.left = `${p.x + 12}px`;
  tip.style.top = `${p.y + 12}px`;
  tip.hidden = false;
}

function edgeTip(d) {
  const lines = [`${d.type}${d.count > 1 ? ` ×${d.count}` : ''}`, `confidence ${(d.confidence ?? 0).toFixed(2)}`];
  if (d.hostLevel) lines.push('host-level evidence only (a guess)');
  if (d.flowless) lines.push('carries no failure');
  for (const ev of d.evidence || []) lines.push(`${ev.source}/${ev.kind.toLowerCase()} ${ev.confidence.toFixed(2)} ×${ev.observations}`);
  return lines;
}

function nodeTip(d) {
  if (d.members) return [d.name, `${d.members.length} CIs summarised — click to list them`];
  return [d.name, `${className(d.class)} · ${d.role.toLowerCase().replace('_', ' ')}${d.status ? ` · ${d.status}` : ''}`];
}

function loadPositions(key) {
  try {
    const v = JSON.parse(localStorage.getItem(key) || 'null');
    if (v) localStorage.setItem(key, JSON.stringify({ ...v, at: Date.now() }));
    return v && v.pos;
  } catch (_) {
    return null;
  }
}

function savePositions(cy, key) {
  const pos = {};
  cy.nodes().forEach((n) => { if (!n.isParent()) { const p = n.position(); pos[n.id()] = { x: Math.round(p.x), y: Math.round(p.y) }; } });
  try {
    const kept = Object.keys(localStorage)
      .filter((k) => k.startsWith(POS_PREFIX) && k !== key)
      .map((k) => { try { return [k, JSON.parse(localStorage.getItem(k)).at || 0]; } catch (_) { return [k, 0]; } })
      .sort((a, b) => b[1] - a[1]);
    for (const [k] of kept.slice(KEPT_MAPS - 1)) localStorage.removeItem(k);
    localStorage.setItem(key, JSON.stringify({ at: Date.now(), pos }));
  } catch (_) { /* storage full or off: the computed layout is deterministic anyway */ }
}
