/**
 * Serves the clinician web app (built from web/ into web/dist by scripts/build-web.mjs, which `npm start`
 * and `npm test` run first). The app's screens live at /, /patients/:id, /cosign and /admin/cds: each gets index.html
 * and the app shows the screen. Its scripts and styles under /app/ have content hashes in their names, so
 * they are cached for a year; index.html is never cached, so a new build shows at the next load.
 */
import { existsSync, readFileSync } from 'node:fs';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';

const DIST = fileURLToPath(new URL('../../web/dist/', import.meta.url));

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
};

const NOT_BUILT = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Hale</title></head>
<body style="font-family:system-ui;max-width:40rem;margin:3rem auto;line-height:1.5"><h1>Hale</h1>
<p>The web app is not built. Run <code>npm start</code> (it builds it), or <code>node scripts/build-web.mjs</code>.
The FHIR API is at <a href="/fhir/R4/metadata">/fhir/R4</a>.</p></body></html>`;

/** The app's screens (client-side routes): each is served index.html. */
export const APP_SCREENS = ['/', '/cosign', '/patients/:id', '/admin/cds'];

export async function webAppRoutes(app: FastifyInstance) {
  const cache = new Map<string, Buffer>();
  const read = (file: string) => {
    let body = cache.get(file);
    if (!body) {
      body = readFileSync(file);
      cache.set(file, body);
    }
    return body;
  };

  const index = (reply: FastifyReply) => {
    reply.header('Cache-Control', 'no-store');
    const file = join(DIST, 'index.html');
    if (!existsSync(file)) return reply.code(503).type('text/html; charset=utf-8').send(NOT_BUILT);
    // Re-read each time: a rebuild while the server runs shows at the next load.
    return reply.type('text/html; charset=utf-8').send(readFileSync(file));
  };
  for (const path of APP_SCREENS) app.get(path, async (_req, reply) => index(reply));

  app.get('/app/*', async (req, reply) => {
    const rel = normalize((req.params as { '*': string })['*']);
    const file = join(DIST, 'app', rel);
    if (rel.startsWith('..') || !file.startsWith(join(DIST, 'app')) || !existsSync(file)) {
      return reply.code(404).type('text/plain; charset=utf-8').send('Not found. Reload the page: the app may have been updated.');
    }
    reply.header('Cache-Control', 'public, max-age=31536000, immutable');
    return reply.type(TYPES[extname(file)] ?? 'application/octet-stream').send(read(file));
  });
}
