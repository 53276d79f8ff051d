// Prints (JSON lines, docs/import-format.md) a business service whose map has about N nodes:
// a load balancer in front of a pool of web servers (endpoint, process and host each) that
// all use one database. `node big-service.mjs 2000 [name]` — used by tests/tests/console.rs
// (a 5,000-node map must stay usable) and bench.mjs (time to an interactive map).
const n = Number(process.argv[2] || 200);
const name = process.argv[3] || `Big ${n}`;
const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-');
const out = [];
const ci = (o) => out.push(JSON.stringify({ kind: 'ci', ...o }));
const rel = (type, from, to, confidence = 0.9) => out.push(JSON.stringify({ kind: 'relationship', type, from, to, evidence: 'socket', confidence }));
ci({ key: 'svc', class: 'BusinessService', name, identifiers: { name }, attributes: { criticality: 2, owner: 'bench-team' } });
ci({ key: 'lbh', class: 'Host', name: `${slug}-lb`, identifiers: { hostname: `${slug}-lb` } });
ci({ key: 'lb', class: 'Process', name: `haproxy@${slug}-lb`, parent: 'lbh', identifiers: { executable: '/usr/sbin/haproxy', command_line: `haproxy -f /etc/haproxy/${slug}.cfg` } });
ci({ key: 'pool', class: 'Cluster', name: `${slug}-web-pool`, identifiers: { name: `${slug}-web-pool` }, attributes: { min_up: 2 } });
ci({ key: 'dbh', class: 'Host', name: `${slug}-db`, identifiers: { hostname: `${slug}-db` } });
ci({ key: 'db', class: 'Process', name: `postgres@${slug}-db`, parent: 'dbh', identifiers: { executable: 'postgres', command_line: 'postgres -D /var/lib/postgresql' } });
ci({ key: 'dbep', class: 'ListeningEndpoint', name: `${slug}-db:tcp/5432`, parent: 'dbh', identifiers: { protocol: 'tcp', port: 5432 } });
rel('MEMBER_OF', 'lb', 'svc', 1);
rel('DEPENDS_ON', 'lb', 'pool', 1);
rel('LISTENS_ON', 'db', 'dbep');
const web = Math.max(1, Math.floor((n - 8) / 3));
for (let i = 0; i < web; i++) {
  const h = `${slug}-web${String(i).padStart(4, '0')}`;
  ci({ key: `h${i}`, class: 'Host', name: h, identifiers: { hostname: h } });
  ci({ key: `p${i}`, class: 'Process', name: `nginx@${h}`, parent: `h${i}`, identifiers: { executable: 'nginx', command_line: 'nginx: master process' } });
  ci({ key: `e${i}`, class: 'ListeningEndpoint', name: `${h}:tcp/443`, parent: `h${i}`, identifiers: { protocol: 'tcp', port: 443 } });
  rel('LISTENS_ON', `p${i}`, `e${i}`);
  rel('PART_OF', `e${i}`, 'pool', 1);
  rel('CONNECTS_TO', 'lb', `e${i}`);
  rel('CONNECTS_TO', `p${i}`, 'dbep');
}
process.stdout.write(out.join('\n') + '\n');
