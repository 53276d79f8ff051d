// How a service map becomes a drawing, as pure functions over the API's answer (unit-tested
// in test/graph.test.js, no DOM): which end of an edge is relied on, tiers from the service
// down, pools as groups, and the summary a map too big to draw node by node becomes.

/**
 * Above this many nodes (the API's cap on one map answer) a map is summarised: same-class
 * nodes of one tier become one node. A cut-off map is summarised at any size: drawing part
 * of it node by node would hide that it is a part.
 */
export const SUMMARY_THRESHOLD = 2000;
/** Fewer nodes of a class in a tier than this stay single even in a summary. */
export const MIN_CLUSTER = 8;

/**
 * `[dependent, dependency]` of an edge, from the API's `impactFlow` (the relationship type's
 * rule: a failure travels from the dependency to the dependent). `null` when no failure
 * travels along it (host-level evidence, learnt addresses): such edges do not order tiers.
 */
export function orient(edge) {
  switch (edge.impactFlow) {
    case 'FROM_TO_TO':
      return [edge.to, edge.from];
    case 'TO_TO_FROM':
      return [edge.from, edge.to];
    case 'BOTH':
      return [edge.from, edge.to];
    default:
      return null;
  }
}

/**
 * Tier of every node: hops from the service following what relies on what (service 0, its
 * entry point 1, the load balancer below, …). Nodes reached only against the flow or through
 * flowless edges get the tier below their nearest placed neighbour; isolated ones the last.
 */
export function tiers(nodes, edges, rootId) {
  const down = new Map();
  const any = new Map();
  const add = (m, a, b) => (m.get(a) || m.set(a, []).get(a)).push(b);
  for (const e of edges) {
    const o = orient(e);
    if (o) add(down, o[0], o[1]);
    add(any, e.from, e.to);
    add(any, e.to, e.from);
  }
  const tier = new Map();
  const ids = nodes.map((n) => n.id);
  const root = ids.includes(rootId) ? rootId : ids[0];
  if (root === undefined) return tier;
  tier.set(root, 0);
  let frontier = [root];
  while (frontier.length) {
    const next = [];
    for (const id of frontier) {
      for (const d of down.get(id) || []) {
        if (!tier.has(d)) {
          tier.set(d, tier.get(id) + 1);
          next.push(d);
        }
      }
    }
    frontier = next;
  }
  // What the flow did not reach: one below its nearest placed neighbour, repeatedly.
  let changed = true;
  while (changed) {
    changed = false;
    for (const id of ids) {
      if (tier.has(id)) continue;
      let best = Infinity;
      for (const n of any.get(id) || []) if (tier.has(n)) best = Math.min(best, tier.get(n) + 1);
      if (best !== Infinity) {
        tier.set(id, best);
        changed = true;
      }
    }
  }
  let last = 0;
  for (const t of tier.values()) last = Math.max(last, t);
  for (const id of ids) if (!tier.has(id)) tier.set(id, last + 1);
  return tier;
}

/** Pool or cluster id of every member (`member PART_OF pool`), for drawing pools as groups. */
export function poolOf(nodes, edges) {
  // Summary nodes (`members` set) are not pools, whatever class they summarise.
  const pools = new Set(nodes.filter((n) => !n.members && (n.role === 'POOL' || n.class === 'CLUSTER')).map((n) => n.id));
  const count = new Map();
  const parent = new Map();
  for (const e of edges) {
    if (e.type === 'PART_OF' && pools.has(e.to) && !pools.has(e.from)) {
      count.set(e.from, (count.get(e.from) || 0) + 1);
      parent.set(e.from, e.to);
    }
  }
  // A member of two pools is drawn beside both, inside neither.
  for (const [m, c] of count) if (c > 1) parent.delete(m);
  return parent;
}

/** `k of n` for a pool: `min_up` (what must stay up) of its member count. */
export function poolRule(node, members) {
  const v = node.ci && node.ci.minUp;
  const k = Number.isInteger(v) ? v : 1;
  return `${k} of ${members} needed`;
}

/**
 * The map a page draws. Small maps: every node. Big ones (more than `threshold` nodes, or
 * `force`d because the answer was cut):
 * nodes of one class in one tier, when there are at least `minCluster` of them, become one
 * summary node (`clusterOf` maps each member to it) and edges between the same pair of drawn
 * nodes become one, with a count. Nothing is dropped: each summary lists its members.
 */
export function summarise(nodes, edges, tierOf, { threshold = SUMMARY_THRESHOLD, minCluster = MIN_CLUSTER, force = false } = {}) {
  if (nodes.length <= threshold && !force) {
    return { nodes: nodes.map((n) => ({ ...n, members: null })), edges: edges.map((e) => ({ ...e, count: 1 })), clusterOf: new Map() };
  }
  const groups = new Map();
  for (const n of nodes) {
    if (n.role === 'SERVICE' || n.role === 'ENTRY_POINT') continue;
    const key = `${tierOf.get(n.id)}|${n.class}`;
    (groups.get(key) || groups.set(key, []).get(key)).push(n);
  }
  const clusterOf = new Map();
  const out = [];
  for (const [key, members] of [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (members.length < minCluster) continue;
    const [tier, cls] = key.split('|');
    const id = `cluster:${key}`;
    for (const m of members) clusterOf.set(m.id, id);
    out.push({
      id,
      class: cls,
      name: `${members.length} × ${cls}`,
      role: 'CLUSTER',
      tier: Number(tier),
      members: members.map((m) => ({ id: m.id, name: m.name })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    });
  }
  for (const n of nodes) if (!clusterOf.has(n.id)) out.push({ ...n, members: null });
  const drawn = (id) => clusterOf.get(id) || id;
  const merged = new Map();
  for (const e of edges) {
    const from = drawn(e.from);
    const to = drawn(e.to);
    if (from === to) continue;
    const key = `${from}|${e.type}|${to}`;
    const m = merged.get(key);
    if (m) {
      m.count += 1;
      m.confidence = Math.min(m.confidence, e.confidence);
      m.restsOnHostLevelEvidence = m.restsOnHostLevelEvidence && e.restsOnHostLevelEvidence;
    } else merged.set(key, { ...e, from, to, count: 1, evidence: e.evidence || [] });
  }
  return { nodes: out, edges: [...merged.values()], clusterOf };
}

/** Nodes and edges on the explaining chains of an impact answer (ids as the map draws them). */
export function onPaths(paths, pathEdges, clusterOf = new Map()) {
  const drawn = (id) => clusterOf.get(id) || id;
  const nodes = new Set();
  for (const p of paths || []) for (const id of p) nodes.add(drawn(id));
  const edges = new Set();
  for (const e of pathEdges || []) edges.add(`${drawn(e.from)}|${e.type}|${drawn(e.to)}`);
  return { nodes, edges };
}

/**
 * Positions for a drawing in tiers: each tier one band (wrapped into rows of at most
 * `maxRow` nodes, so a pool of 600 web servers does not become a line 40,000 px wide), the
 * service on top. Within a band, nodes are ordered by the barycenter of their neighbours in
 * the band above, then below, a few sweeps (the crossing-reduction step of a layered layout),
 * members of one pool kept together. Linear in nodes and edges per sweep, deterministic: the
 * same map gets the same picture on every visit.
 */
export function layered(nodes, edges, tierOf, parentOf = new Map(), { maxRow = 40, dx = 64, dy = 110, rowGap = 56, sweeps = 4 } = {}) {
  const byTier = new Map();
  const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  const sortKey = (n) => `${parentOf.get(n.id) || ''}|${n.class}|${n.name || ''}|${n.id}`;
  for (const n of nodes) {
    const t = tierOf.get(n.id) ?? 0;
    (byTier.get(t) || byTier.set(t, []).get(t)).push(n);
  }
  const tiersSorted = [...byTier.keys()].sort((a, b) => a - b);
  const order = new Map();
  for (const t of tiersSorted) order.set(t, byTier.get(t).sort((a, b) => cmp(sortKey(a), sortKey(b))).map((n) => n.id));
  const nbrs = new Map();
  const add = (a, b) => (nbrs.get(a) || nbrs.set(a, []).get(a)).push(b);
  for (const e of edges) {
    if (e.from === e.to) continue;
    add(e.from, e.to);
    add(e.to, e.from);
  }
  const pos = new Map(); // id → place in its band, 0..1
  const place = (t) => {
    const ids = order.get(t);
    ids.forEach((id, i) => pos.set(id, ids.length > 1 ? i / (ids.length - 1) : 0.5));
  };
  tiersSorted.forEach(place);
  const reorder = (t, from) => {
    const ids = order.get(t);
    const bary = new Map();
    for (const id of ids) {
      let sum = 0;
      let k = 0;
      for (const m of nbrs.get(id) || []) {
        // Neighbours not laid out (a pool is drawn around its members) do not pull.
        if (pos.has(m) && (tierOf.get(m) ?? 0) === from) {
          sum += pos.get(m);
          k += 1;
        }
      }
      bary.set(id, k ? sum / k : pos.get(id));
    }
    // A pool's members move as one: the group's mean, then each member's own.
    const group = new Map();
    for (const id of ids) {
      const g = parentOf.get(id) || id;
      const v = group.get(g) || { sum: 0, k: 0 };
      v.sum += bary.get(id);
      v.k += 1;
      group.set(g, v);
    }
    const gb = (id) => {
      const v = group.get(parentOf.get(id) || id);
      return v.sum / v.k;
    };
    const rank = new Map(ids.map((id, i) => [id, i]));
    ids.sort((a, b) => gb(a) - gb(b) || cmp(parentOf.get(a) || a, parentOf.get(b) || b) || bary.get(a) - bary.get(b) || rank.get(a) - rank.get(b));
    place(t);
  };
  for (let s = 0; s < sweeps; s++) {
    for (let i = 1; i < tiersSorted.length; i++) reorder(tiersSorted[i], tiersSorted[i - 1]);
    for (let i = tiersSorted.length - 2; i >= 0; i--) reorder(tiersSorted[i], tiersSorted[i + 1]);
  }
  const out = new Map();
  let y = 0;
  for (const t of tiersSorted) {
    const ids = order.get(t);
    const rows = Math.ceil(ids.length / maxRow);
    for (let r = 0; r < rows; r++) {
      const row = ids.slice(r * maxRow, (r + 1) * maxRow);
      row.forEach((id, i) => out.set(id, { x: Math.round((i - (row.length - 1) / 2) * dx), y }));
      if (r < rows - 1) y += rowGap;
    }
    y += dy;
  }
  return out;
}
