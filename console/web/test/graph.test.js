// node --test console/web/test: the drawing rules of src/graph.js.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { orient, tiers, poolOf, poolRule, summarise, onPaths } from '../src/graph.js';

const e = (from, type, to, impactFlow) => ({ from, type, to, impactFlow, confidence: 1, restsOnHostLevelEvidence: false });
// shop: svc ← lb (MEMBER_OF) ; lb DEPENDS_ON pool ; w1,w2 PART_OF pool ; w1 RUNS_ON h1 ; db listener
const nodes = [
  { id: 'svc', class: 'BUSINESS_SERVICE', role: 'SERVICE' },
  { id: 'lb', class: 'PROCESS', role: 'MEMBER' },
  { id: 'pool', class: 'CLUSTER', role: 'POOL', ci: { minUp: 2 } },
  { id: 'w1', class: 'PROCESS', role: 'DEPENDENCY' },
  { id: 'w2', class: 'PROCESS', role: 'DEPENDENCY' },
  { id: 'h1', class: 'HOST', role: 'DEPENDENCY' },
  { id: 'odd', class: 'HOST', role: 'DEPENDENCY' },
  { id: 'alone', class: 'HOST', role: 'DEPENDENCY' },
];
const edges = [
  e('lb', 'MEMBER_OF', 'svc', 'FROM_TO_TO'),
  e('lb', 'DEPENDS_ON', 'pool', 'TO_TO_FROM'),
  e('w1', 'PART_OF', 'pool', 'FROM_TO_TO'),
  e('w2', 'PART_OF', 'pool', 'FROM_TO_TO'),
  e('w1', 'RUNS_ON', 'h1', 'TO_TO_FROM'),
  e('h1', 'COMMUNICATES_WITH', 'odd', 'NONE'),
];

test('an edge is oriented from what relies to what is relied on', () => {
  assert.deepEqual(orient(edges[0]), ['svc', 'lb']);
  assert.deepEqual(orient(edges[1]), ['lb', 'pool']);
  assert.deepEqual(orient(edges[4]), ['w1', 'h1']);
  assert.equal(orient(edges[5]), null);
});

test('tiers run from the service down the flow; flowless and isolated nodes go below', () => {
  const t = tiers(nodes, edges, 'svc');
  assert.deepEqual(
    ['svc', 'lb', 'pool', 'w1', 'w2', 'h1', 'odd', 'alone'].map((id) => t.get(id)),
    [0, 1, 2, 3, 3, 4, 5, 6],
  );
});

test('pools group their members and say k of n', () => {
  const p = poolOf(nodes, edges);
  assert.equal(p.get('w1'), 'pool');
  assert.equal(p.get('w2'), 'pool');
  assert.equal(p.has('h1'), false);
  assert.equal(poolRule(nodes[2], 2), '2 of 2 needed');
  // A member of two pools belongs to neither drawing group.
  const two = poolOf([...nodes, { id: 'pool2', class: 'CLUSTER', role: 'POOL' }], [...edges, e('w1', 'PART_OF', 'pool2', 'FROM_TO_TO')]);
  assert.equal(two.has('w1'), false);
});

test('small maps are drawn whole', () => {
  const s = summarise(nodes, edges, tiers(nodes, edges, 'svc'));
  assert.equal(s.nodes.length, nodes.length);
  assert.equal(s.edges.length, edges.length);
  // A cut-off answer is summarised whatever its size (nothing here has 8 of a kind in a tier).
  assert.equal(summarise(nodes, edges, tiers(nodes, edges, 'svc'), { force: true, minCluster: 2 }).nodes.length, nodes.length - 1);
});

test('big maps summarise by tier and class, losing no member and merging edges', () => {
  const big = [{ id: 'svc', class: 'BUSINESS_SERVICE', role: 'SERVICE' }, { id: 'lb', class: 'PROCESS', role: 'MEMBER' }];
  const bigEdges = [e('lb', 'MEMBER_OF', 'svc', 'FROM_TO_TO')];
  for (let i = 0; i < 5000; i++) {
    big.push({ id: `h${i}`, class: 'HOST', role: 'DEPENDENCY', name: `h${String(i).padStart(4, '0')}` });
    bigEdges.push(e('lb', 'CONNECTS_TO', `h${i}`, 'TO_TO_FROM'));
  }
  const t = tiers(big, bigEdges, 'svc');
  const s = summarise(big, bigEdges, t);
  assert.equal(s.nodes.length, 3);
  const c = s.nodes.find((n) => n.role === 'CLUSTER');
  assert.equal(c.members.length, 5000);
  assert.equal(c.name, '5000 × HOST');
  const merged = s.edges.find((x) => x.type === 'CONNECTS_TO');
  assert.equal(merged.count, 5000);
  assert.equal(merged.to, c.id);
  const p = onPaths([['h7', 'lb', 'svc']], [{ from: 'lb', type: 'CONNECTS_TO', to: 'h7' }], s.clusterOf);
  assert.ok(p.nodes.has(c.id));
  assert.ok(p.edges.has(`lb|CONNECTS_TO|${c.id}`));
});

test('layered: tiers top-down, wide tiers wrapped, pools together, same answer every time', async () => {
  const { layered } = await import('../src/graph.js');
  const t = tiers(nodes, edges, 'svc');
  const p = poolOf(nodes, edges);
  const a = layered(nodes, edges, t, p);
  const b = layered([...nodes].reverse(), [...edges].reverse(), t, p);
  assert.deepEqual([...a].sort(), [...b].sort());
  assert.ok(a.get('svc').y < a.get('lb').y && a.get('lb').y < a.get('pool').y && a.get('pool').y < a.get('w1').y);
  const many = [{ id: 'r', class: 'BUSINESS_SERVICE' }];
  const manyEdges = [];
  for (let i = 0; i < 100; i++) {
    many.push({ id: `n${String(i).padStart(3, '0')}`, class: 'HOST' });
    manyEdges.push(e('r', 'DEPENDS_ON', `n${String(i).padStart(3, '0')}`, 'TO_TO_FROM'));
  }
  const m = layered(many, manyEdges, tiers(many, manyEdges, 'r'), new Map(), { maxRow: 40 });
  assert.equal(new Set([...m.values()].filter((_, i) => i > 0).map((q) => q.y)).size, 3, '100 nodes in rows of 40');
  const xs = [...m.values()].map((q) => q.x);
  assert.ok(Math.max(...xs) - Math.min(...xs) <= 39 * 64);
});

test('summary nodes are never pools; undrawn neighbours do not pull the layout', async () => {
  const { layered } = await import('../src/graph.js');
  const summary = { id: 'cluster:3|CLUSTER', class: 'CLUSTER', role: 'CLUSTER', members: [{ id: 'p1' }, { id: 'p2' }] };
  const p = poolOf([...nodes, summary], [...edges, e('w1', 'PART_OF', summary.id, 'FROM_TO_TO')]);
  assert.equal(p.get('w1'), 'pool', 'w1 stays in its real pool only');
  // The pool box is drawn around its members, so the layout gets the members but not the pool.
  const t = tiers(nodes, edges, 'svc');
  const pos = layered(nodes.filter((n) => n.id !== 'pool'), edges, t, poolOf(nodes, edges));
  for (const [, q] of pos) assert.ok(Number.isFinite(q.x) && Number.isFinite(q.y));
  const again = layered([...nodes].reverse().filter((n) => n.id !== 'pool'), [...edges].reverse(), t, poolOf(nodes, edges));
  assert.deepEqual(Object.fromEntries(pos), Object.fromEntries(again));
});
