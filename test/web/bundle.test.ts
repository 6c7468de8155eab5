/**
 * The web app's first load stays small: the JavaScript index.html loads up front (its module script and the
 * modules it preloads) is under 300 KB gzipped (issue 4), and the chart, the note editor and the quick-action
 * forms are separate files loaded when first used.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const DIST = fileURLToPath(new URL('../../web/dist/', import.meta.url));
const BUDGET = 300 * 1024;

export function initialScripts(html: string): string[] {
  const srcs = [...html.matchAll(/<script[^>]+src="([^"]+)"/g), ...html.matchAll(/<link[^>]+rel="modulepreload"[^>]+href="([^"]+)"/g)].map((m) => m[1]);
  return [...new Set(srcs)];
}

test('initial JavaScript under 300 KB gzipped; screens load on demand', () => {
  const html = readFileSync(join(DIST, 'index.html'), 'utf8');
  const scripts = initialScripts(html);
  assert.ok(scripts.length >= 1, 'index.html loads the app');
  const gz = scripts.reduce((sum, src) => sum + gzipSync(readFileSync(join(DIST, src))).length, 0);
  console.log(`initial JavaScript: ${scripts.length} file(s), ${(gz / 1024).toFixed(1)} KB gzipped (budget ${BUDGET / 1024} KB)`);
  assert.ok(gz < BUDGET, `initial JS is ${(gz / 1024).toFixed(1)} KB gzipped`);
  const files = readdirSync(join(DIST, 'app'));
  for (const lazy of ['Chart', 'NoteEditor', 'VitalsForm', 'PrescribeForm', 'CosignQueue']) {
    const chunk = files.find((f) => f.startsWith(`${lazy}-`) && f.endsWith('.js'));
    assert.ok(chunk, `${lazy} is its own file`);
    assert.ok(!scripts.some((s) => s.endsWith(chunk)), `${lazy} is not loaded up front`);
  }
});
