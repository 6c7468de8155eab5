#!/usr/bin/env node
// Builds the clinician web app (web/ → web/dist) when it is missing or older than its sources.
// `npm start` and `npm test` run this first; `node scripts/build-web.mjs --force` always builds.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = fileURLToPath(new URL('../web/', import.meta.url));
const built = join(web, 'dist', 'index.html');

function newest(path) {
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newest(join(path, name))));
}

export async function buildWeb({ force = false, quiet = false } = {}) {
  const sources = Math.max(newest(join(web, 'src')), newest(join(web, 'index.html')), newest(join(web, 'vite.config.ts')));
  if (!force && existsSync(built) && statSync(built).mtimeMs >= sources) return false;
  const t0 = performance.now();
  const { build } = await import('vite');
  await build({ configFile: join(web, 'vite.config.ts'), logLevel: quiet ? 'error' : 'warn' });
  if (!quiet) console.log(`Built the web app (web/dist) in ${((performance.now() - t0) / 1000).toFixed(1)} s.`);
  return true;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await buildWeb({ force: process.argv.includes('--force') });
}
