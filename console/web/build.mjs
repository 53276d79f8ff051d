// Bundles the console and GraphiQL with esbuild into the directory given as the argument
// (console/build.rs passes $OUT_DIR/dist). Deterministic: the same sources and lock give the
// same bytes, so the embedded ETags only change when something did.
import * as esbuild from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const out = process.argv[2];
if (!out) {
  console.error('usage: node build.mjs OUT_DIR');
  process.exit(2);
}
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const common = {
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  legalComments: 'linked',
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
};

await Promise.all([
  esbuild.build({ ...common, entryPoints: { console: 'src/main.js' }, outdir: out }),
  esbuild.build({
    ...common,
    entryPoints: { graphiql: 'src/graphiql.jsx' },
    outdir: out,
    jsx: 'automatic',
    loader: { '.woff2': 'dataurl', '.woff': 'dataurl', '.ttf': 'dataurl', '.svg': 'dataurl' },
  }),
]);
for (const page of ['index.html', 'graphiql.html']) copyFileSync(join('src', page), join(out, page));
