import type { FastifyInstance } from 'fastify';
import { CapsClient } from '../../src/client/caps';
import { EventSender } from '../../src/client/eventSender';
import { readSecrets } from '../../src/config/secrets';
import { readIngestCredentials } from '../../src/ingest/auth';
import { registerCapsRoutes } from '../../src/ingest/capsRoutes';
import { buildIngestServer } from '../../src/ingest/server';
import { startCapsWorld, type CapsWorld } from './world';

jest.setTimeout(120_000);

const CAP = {
  scope: { offerId: 'offer-1' },
  metric: 'conversions',
  window: { kind: 'month', timeZone: 'UTC' },
  limit: 1000,
  mode: 'hard',
};

/** The cap definitions over the ingest's HTTP API, against a real registry workflow on the dev server. */
describe('caps HTTP API', () => {
  let world: CapsWorld;
  let sender: EventSender;
  let app: FastifyInstance;
  let url: string;
  let capsToken: string;
  let ingestToken: string;

  beforeAll(async () => {
    world = await startCapsWorld();
    const { config, client } = world;
    if (!config.capsApi || !config.ingestAuth)
      throw new Error('the test stack configures capsApi and ingestAuth');
    capsToken = readSecrets(config.capsApi.tokens)[0]!.value;
    sender = new EventSender(client, config);
    const credentials = readIngestCredentials(config.ingestAuth);
    ingestToken = credentials.tokens[0]!.value;
    app = buildIngestServer({ sender, credentials, bodyLimitBytes: 1_000_000, logLevel: 'warn' });
    registerCapsRoutes(app, new CapsClient(client, config), readSecrets(config.capsApi.tokens));
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await app?.close();
    await sender?.close();
    await world?.stop();
  });

  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${capsToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    return {
      status: res.status,
      etag: res.headers.get('etag'),
      body: (await res.json()) as Record<string, unknown>,
    };
  };

  it('needs a caps API token: none, and a sender’s token, are 401', async () => {
    expect((await call('GET', '/v1/caps', undefined, { authorization: '' })).status).toBe(401);
    const asSender = await call('GET', '/v1/caps', undefined, { authorization: `Bearer ${ingestToken}` });
    expect(asSender.status).toBe(401);
    expect(asSender.body.message).toMatch(/caps API token/);
  });

  it('creates with PUT, names every bad field, updates at a revision, lists, deletes', async () => {
    const bad = await call('PUT', '/v1/caps/offer-1-monthly', { ...CAP, limit: -5, mode: 'soft' });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({
      error: 'InvalidCap',
      fields: expect.arrayContaining([
        expect.objectContaining({ field: 'limit' }),
        { field: 'overdraftPerRegion', reason: 'a soft cap needs the overdraft each region may take' },
      ]) as unknown,
    });

    const created = await call('PUT', '/v1/caps/offer-1-monthly', CAP);
    expect(created).toMatchObject({ status: 201, etag: '"1"', body: { id: 'offer-1-monthly', revision: 1 } });
    expect(created.body.updatedBy).toMatch(/^api:/);

    const updated = await call(
      'PUT',
      '/v1/caps/offer-1-monthly',
      { ...CAP, limit: 1200 },
      { 'if-match': '"1"' },
    );
    expect(updated).toMatchObject({ status: 200, etag: '"2"', body: { limit: 1200, revision: 2 } });
    const stale = await call('PUT', '/v1/caps/offer-1-monthly', { ...CAP, limit: 1 }, { 'if-match': '"1"' });
    expect(stale.status).toBe(409);
    expect(stale.body.message).toContain('is at revision 2, not 1');
    expect((await call('PUT', '/v1/caps/never-made', CAP, { 'if-match': '"1"' })).status).toBe(404);

    expect((await call('GET', '/v1/caps')).body.caps).toEqual([
      expect.objectContaining({ id: 'offer-1-monthly', limit: 1200 }),
    ]);
    expect((await call('GET', '/v1/caps/offer-1-monthly')).body).toMatchObject({ revision: 2 });

    expect((await call('DELETE', '/v1/caps/offer-1-monthly')).body).toMatchObject({ id: 'offer-1-monthly' });
    expect((await call('GET', '/v1/caps/offer-1-monthly')).status).toBe(404);
    expect((await call('DELETE', '/v1/caps/offer-1-monthly')).status).toBe(404);
  });
});
