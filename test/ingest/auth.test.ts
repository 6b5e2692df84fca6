import { randomBytes } from 'node:crypto';
import { MAX_SIGNATURE_AGE_SECONDS, SIGNATURE_HEADER, signRequest } from '../../src/ingest/signature';
import type { TrackingEvent } from '../../src/shared/event';
import { waitUntil } from '../../src/util/waitUntil';
import { testConfig, uniqueName } from '../helpers/env';
import { makeEvents, ndjson, startPipeline, type Pipeline } from '../helpers/pipeline';
import { statsHour } from '../helpers/verify';

interface Answer {
  error?: string;
  message?: string;
  accepted?: number;
  batches?: { batchId: string; archived?: string }[];
}

/** Two tokens configured at once, as during a rotation: the retiring one and its successor. */
const OLD_VAR = `STORMPROOF_TEST_INGEST_TOKEN_OLD_${randomBytes(4).toString('hex')}`;
const NEW_VAR = `STORMPROOF_TEST_INGEST_TOKEN_NEW_${randomBytes(4).toString('hex')}`;
const oldToken = randomBytes(24).toString('base64url');
const newToken = randomBytes(24).toString('base64url');
const HMAC_VAR = `STORMPROOF_TEST_INGEST_HMAC_${randomBytes(4).toString('hex')}`;
const hmacKey = { id: 'signer-1', value: randomBytes(32).toString('base64') };

describe('ingest authentication (bearer tokens, rotation)', () => {
  let p: Pipeline;
  beforeAll(async () => {
    process.env[OLD_VAR] = oldToken;
    process.env[NEW_VAR] = newToken;
    process.env[HMAC_VAR] = hmacKey.value;
    const base = testConfig();
    p = await startPipeline({
      ...base,
      ingestAuth: {
        tokens: [
          { id: 'sender-2025', env: OLD_VAR },
          { id: 'sender-2026', env: NEW_VAR },
        ],
        hmacKeys: [{ id: hmacKey.id, env: HMAC_VAR }],
      },
    });
  });
  afterAll(async () => {
    await p?.stop();
    delete process.env[OLD_VAR];
    delete process.env[NEW_VAR];
    delete process.env[HMAC_VAR];
  });

  const post = async (
    body: string,
    authorization?: string,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: Answer }> => {
    const res = await fetch(`${p.ingestUrl}/v1/events`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-ndjson',
        ...(authorization ? { authorization } : {}),
        ...headers,
      },
      body,
      signal: AbortSignal.timeout(30_000),
    });
    return { status: res.status, body: (await res.json()) as Answer };
  };

  /** Waits until the stats API counts exactly these events in their hour (delivery follows the answer). */
  const counted = async (events: TrackingEvent[]): Promise<void> => {
    const { region, timestamp } = events[0]!;
    await waitUntil(
      async () => (await statsHour(p.config, region, timestamp))?.count === events.length,
      30_000,
    );
    expect(await statsHour(p.config, region, timestamp)).toMatchObject({ count: events.length });
  };

  it('refuses a request without or with a wrong credential with 401, and accepts nothing of it', async () => {
    const refused = makeEvents(5, 'us-east-1', uniqueName('refused'));
    for (const authorization of [
      undefined,
      'Bearer ',
      `Bearer ${oldToken}x`,
      `Bearer ${oldToken.slice(0, -1)}`,
      `Basic ${Buffer.from(`user:${newToken}`).toString('base64')}`,
      newToken, // the token without its scheme
    ]) {
      const answer = await post(ndjson(refused), authorization);
      expect(answer.status).toBe(401);
      expect(answer.body).toEqual({ error: 'Unauthorized', message: expect.stringMatching(/bearer token/) });
    }

    // A valid request after them, in another hour: once it is counted, nothing of the refused ones is.
    const accepted = makeEvents(5, 'us-east-1');
    const ok = await post(ndjson(accepted), `Bearer ${newToken}`);
    expect(ok.status).toBe(200);
    await counted(accepted);
    expect(await statsHour(p.config, 'us-east-1', refused[0]!.timestamp)).toBeUndefined();
  });

  it('accepts the old token and the new one while both are configured', async () => {
    for (const token of [oldToken, newToken]) {
      const events = makeEvents(3, 'us-west-2');
      const answer = await post(ndjson(events), `Bearer ${token}`);
      expect(answer.status).toBe(200);
      expect(answer.body.accepted).toBe(3);
      expect(answer.body.batches!.every((b) => b.archived)).toBe(true);
      await counted(events);
    }
  });

  it('accepts a request signed with an HMAC key, and refuses a bad signature with 401 and nothing accepted', async () => {
    const signedEvents = makeEvents(4, 'us-east-1');
    const signed = ndjson(signedEvents);
    const ok = await post(signed, undefined, { [SIGNATURE_HEADER]: signRequest(hmacKey, signed) });
    expect(ok.status).toBe(200);
    expect(ok.body.accepted).toBe(4);
    await counted(signedEvents);

    const refused = makeEvents(4, 'us-east-1', uniqueName('unsigned'));
    const body = ndjson(refused);
    const now = Math.floor(Date.now() / 1000);
    const stale = now - MAX_SIGNATURE_AGE_SECONDS - 10;
    for (const [header, reason] of [
      [signRequest(hmacKey, `${body} `), /signature does not match the body \(key signer-1\)/],
      [signRequest({ ...hmacKey, value: randomBytes(32).toString('base64') }, body), /does not match/],
      [signRequest({ ...hmacKey, id: 'signer-0' }, body), /signing key signer-0 is not accepted/],
      [signRequest(hmacKey, body, stale), /more than 300 s from the server's clock/],
      ['sig=abc', /must be keyId=<id>,t=<unix seconds>,sig=/],
    ] as const) {
      const answer = await post(body, undefined, { [SIGNATURE_HEADER]: header });
      expect(answer.status).toBe(401);
      expect(answer.body.error).toBe('Unauthorized');
      expect(answer.body.message).toMatch(reason);
    }
    expect(await statsHour(p.config, 'us-east-1', refused[0]!.timestamp)).toBeUndefined();
  });

  it('answers the health check without a token (load balancers carry none)', async () => {
    const res = await fetch(`${p.ingestUrl}/v1/health`, { signal: AbortSignal.timeout(5_000) });
    expect(res.status).toBe(200);
  });
});
