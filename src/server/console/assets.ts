import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { FastifyInstance } from 'fastify';
import { CONSOLE_JS } from './assets/script.js';
import { CONSOLE_CSS } from './assets/style.js';

/** asciinema-player's own bundle, served from the installed package: the console needs no internet. */
const PLAYER_FILES: Record<string, { file: string; type: string }> = {
  'asciinema-player.min.js': { file: 'asciinema-player/dist/bundle/asciinema-player.min.js', type: 'text/javascript; charset=utf-8' },
  'asciinema-player.css': { file: 'asciinema-player/dist/bundle/asciinema-player.css', type: 'text/css; charset=utf-8' },
};

export function assetRoutes(app: FastifyInstance): void {
  const require = createRequire(import.meta.url);
  const cache = new Map<string, Buffer>();
  const cacheHeader = 'public, max-age=3600';
  app.get('/ui/assets/console.css', async (_req, reply) => reply.type('text/css; charset=utf-8').header('cache-control', cacheHeader).send(CONSOLE_CSS));
  app.get('/ui/assets/console.js', async (_req, reply) => reply.type('text/javascript; charset=utf-8').header('cache-control', cacheHeader).send(CONSOLE_JS));
  app.get<{ Params: { name: string } }>('/ui/assets/player/:name', async (request, reply) => {
    const entry = PLAYER_FILES[request.params.name];
    if (!entry) return reply.status(404).type('text/plain').send('No such asset.');
    let body = cache.get(entry.file);
    if (!body) {
      body = await readFile(require.resolve(entry.file));
      cache.set(entry.file, body);
    }
    return reply.type(entry.type).header('cache-control', cacheHeader).send(body);
  });
}
