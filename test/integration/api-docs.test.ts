/** OpenAPI document and UI at /docs (API_DOCS=true only) and the route schemas behind them. */
import { afterEach, describe, expect, it } from 'vitest';
import { get, startGateway, type TestGateway } from '../helpers/gateway.js';
import { TestAgent } from '../helpers/agent.js';

let gw: TestGateway | undefined;
const open: TestAgent[] = [];
afterEach(async () => {
  for (const a of open.splice(0)) a.close();
  await gw?.close();
  gw = undefined;
});

describe('API docs', () => {
  it('with apiDocs=true serves an OpenAPI 3 document of the HTTP routes at /docs/json', async () => {
    gw = await startGateway({ apiDocs: true });
    const { status, body } = await get(gw, '/docs/json');
    expect(status).toBe(200);
    expect(body.openapi).toMatch(/^3\./);
    expect(Object.keys(body.paths)).toEqual(expect.arrayContaining(['/health', '/ready', '/agents', '/metrics', '/ws']));
    // The UI's own routes are not part of the document.
    expect(Object.keys(body.paths).filter((p) => p.startsWith('/docs'))).toEqual([]);

    const agents = body.paths['/agents'].get;
    expect(agents.parameters.map((p: { name: string; in: string }) => `${p.in}:${p.name}`).sort()).toEqual(['query:capability', 'query:cursor', 'query:limit']);
    expect(Object.keys(agents.responses).sort()).toEqual(['200', '400', '401', '429', '503']);
    expect(Object.keys(body.paths['/health'].get.responses).sort()).toEqual(['200', '503']);
    expect(body.paths['/metrics'].get.responses['200'].content).toHaveProperty(['text/plain']);
    expect(body.paths['/ws'].get.description).toContain('docs/asyncapi.yaml');

    const ui = await fetch(`${gw.httpUrl}/docs`);
    expect(ui.status).toBeLessThan(400);
    await ui.text();
    expect((await get(gw, '/docs/yaml')).status).toBe(200);
  });

  it('documents the bearer token on /agents when ADMIN_TOKEN is set', async () => {
    gw = await startGateway({ apiDocs: true, adminToken: 'a-very-secret-admin-token' });
    const { body } = await get(gw, '/docs/json');
    expect(body.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(body.paths['/agents'].get.security).toEqual([{ bearerAuth: [] }]);
    // The docs themselves are not behind the token (they hold no agent data).
    expect((await get(gw, '/agents')).status).toBe(401);
  });

  it('is not served with the default config', async () => {
    gw = await startGateway();
    expect(gw.config.apiDocs).toBe(false);
    expect((await get(gw, '/docs')).status).toBe(404);
    expect((await get(gw, '/docs/json')).status).toBe(404);
  });
});

describe('route schemas keep every field the routes send', () => {
  for (const apiDocs of [false, true]) {
    it(`/health, /ready, /agents and their errors (apiDocs=${apiDocs})`, async () => {
      gw = await startGateway({ apiDocs });
      const a = new TestAgent();
      await a.register(gw.wsUrl, { name: 'a', capabilities: ['vision'], extra: { nested: [1, 2] } });
      open.push(a);

      const health = await get(gw, '/health');
      expect(health.status).toBe(200);
      expect(Object.keys(health.body)).toEqual(['status', 'connected_agents', 'open_connections', 'timestamp', 'gateway_id', 'version', 'uptime_s', 'mode']);
      expect(health.body).toMatchObject({ status: 'healthy', connected_agents: 1, open_connections: 1, mode: 'single-node' });

      expect((await get(gw, '/ready')).body).toEqual({ ready: true, status: 'ready' });

      const agents = await get(gw, '/agents');
      expect(agents.body.count).toBe(1);
      expect(agents.body.agents[0].meta).toEqual({ name: 'a', capabilities: ['vision'], extra: { nested: [1, 2] } });
      expect(agents.body.next_cursor).toBeNull();

      // zod stays the query validator: no coercion, no stripping, same error body.
      for (const q of ['limit=0', 'limit=abc', 'unknown=1', 'limit=1&limit=2', 'capability=UPPER']) {
        const res = await get(gw, `/agents?${q}`);
        expect(res.status, q).toBe(400);
        expect(res.body.error, q).toBe('bad_request');
        expect(typeof res.body.message, q).toBe('string');
        expect(Object.keys(res.body).sort(), q).toEqual(['error', 'message']);
      }
      expect((await get(gw, '/agents?limit=1')).status).toBe(200);
    });
  }
});
