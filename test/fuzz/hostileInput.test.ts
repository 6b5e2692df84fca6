import { codecsFor } from '../../src/codec/dataConverter';
import { startCodecServer, type CodecServer } from '../../src/codec/server';
import { readSecrets } from '../../src/config/secrets';
import { testConfig } from '../helpers/env';
import { makeEvents, ndjson, startPipeline, type Pipeline } from '../helpers/pipeline';

/** mulberry32: seeded, so a failing case is the same bytes on every run. */
function seededBytes(seed: number, length: number): Buffer {
  let a = seed >>> 0;
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (t ^ (t >>> 14)) & 0xff;
  }
  return out;
}

const BODY_LIMIT = 256 * 1024;
const deepArray = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);
const deepObject = (depth: number): string => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
/** Bytes that are not UTF-8: a lone continuation byte, an overlong encoding, a truncated sequence. */
const invalidUtf8 = Buffer.concat([
  Buffer.from('{"id":"'),
  Buffer.from([0x80, 0xc0, 0xaf, 0xe2, 0x82]),
  Buffer.from('"}\n'),
]);

interface HostileCase {
  name: string;
  contentType?: string;
  body?: string | Buffer;
  method?: string;
  path?: string;
  /** Default: the valid token. */
  authorization?: string | null;
}

/** What both servers get: each must answer 4xx with a JSON error naming the problem, and stay up. */
function hostileCases(valid: string): HostileCase[] {
  const cases: HostileCase[] = [
    {
      name: 'a body over the limit',
      contentType: 'application/json',
      body: `[${'"x",'.repeat(BODY_LIMIT / 2)}"x"]`,
    },
    { name: 'JSON nested 100,000 arrays deep', contentType: 'application/json', body: deepArray(100_000) },
    { name: 'JSON nested 40,000 objects deep', contentType: 'application/json', body: deepObject(40_000) },
    { name: 'invalid UTF-8', contentType: 'application/json', body: invalidUtf8 },
    {
      name: 'truncated JSON',
      contentType: 'application/json',
      body: valid.slice(0, Math.floor(valid.length / 2)),
    },
    {
      name: 'a prototype-pollution key',
      contentType: 'application/json',
      body: '{"__proto__":{"polluted":true}}',
    },
    { name: 'JSON that is a bare string', contentType: 'application/json', body: '"just a string"' },
    { name: 'JSON null', contentType: 'application/json', body: 'null' },
    { name: 'an empty JSON body', contentType: 'application/json', body: '' },
    { name: 'text/plain', contentType: 'text/plain', body: valid },
    { name: 'application/xml', contentType: 'application/xml', body: '<events><event/></events>' },
    {
      name: 'multipart/form-data',
      contentType: 'multipart/form-data; boundary=x',
      body: '--x\r\n\r\nhi\r\n--x--',
    },
    { name: 'no content type', body: valid },
    { name: 'a bogus content type', contentType: '%%%/;;;', body: valid },
    { name: 'a wrong method', method: 'PUT', contentType: 'application/json', body: valid },
    { name: 'a huge authorization header', authorization: `Bearer ${'A'.repeat(12_000)}` },
    { name: 'no authorization', authorization: null, contentType: 'application/json', body: valid },
  ];
  for (let seed = 1; seed <= 12; seed++) {
    const bytes = seededBytes(seed, 64 + seed * 997);
    cases.push({ name: `random bytes #${seed} as JSON`, contentType: 'application/json', body: bytes });
  }
  return cases;
}

async function expectClientError(
  base: string,
  path: string,
  token: string,
  c: HostileCase,
  healthPath: string,
): Promise<void> {
  const headers: Record<string, string> = {};
  if (c.contentType !== undefined) headers['content-type'] = c.contentType;
  if (c.authorization !== null) headers.authorization = c.authorization ?? `Bearer ${token}`;
  const res = await fetch(`${base}${c.path ?? path}`, {
    method: c.method ?? 'POST',
    headers,
    body: c.body,
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  if (process.env.FUZZ_VERBOSE) console.log(`${c.name} -> ${res.status} ${text.slice(0, 160)}`);
  // A clear 4xx: a JSON body with an error code and a message, never a 5xx or a dropped connection.
  expect(`${c.name}: ${res.status} ${text.slice(0, 200)}`).toMatch(/^[^:]*: 4\d\d /);
  if (c.name.includes('content type') || c.name.startsWith('text/') || c.name.includes('xml')) {
    expect(`${c.name}: ${res.status}`).toMatch(/: 415$/);
  }
  const body = JSON.parse(text) as { error?: unknown; message?: unknown };
  expect(typeof body.error === 'string' && typeof body.message === 'string').toBe(true);
  const health = await fetch(`${base}${healthPath}`, { signal: AbortSignal.timeout(5_000) });
  expect({ case: c.name, health: health.status }).toEqual({ case: c.name, health: 200 });
}

describe('hostile input: each gets a clear 4xx and the server keeps serving', () => {
  let p: Pipeline;
  let codec: CodecServer;
  let ingestToken: string;
  let codecToken: string;
  beforeAll(async () => {
    const base = testConfig();
    p = await startPipeline({ ...base, ingest: { ...base.ingest, bodyLimitBytes: BODY_LIMIT } });
    ingestToken = p.ingestHeaders.authorization.slice('Bearer '.length);
    const tokens = readSecrets(base.codecServer!.tokens);
    codecToken = tokens[0]!.value;
    codec = await startCodecServer({
      codecs: codecsFor(base),
      tokens,
      port: 0,
      allowedOrigins: [],
      bodyLimitBytes: BODY_LIMIT,
      logLevel: 'silent',
    });
  });
  afterAll(async () => {
    await codec?.close();
    await p?.stop();
  });

  const validEvents = ndjson(makeEvents(3));
  const named = (cases: HostileCase[]): [string, HostileCase][] => cases.map((c) => [c.name, c]);
  it.each(named(hostileCases(JSON.stringify(makeEvents(3)))))('ingest: %s', (_name, c) =>
    expectClientError(p.ingestUrl, '/v1/events', ingestToken, c, '/v1/health'),
  );

  it('ingest: NDJSON with invalid UTF-8, deep lines and random lines names each bad record', async () => {
    const body = Buffer.concat([
      invalidUtf8,
      Buffer.from(`${deepArray(20_000)}\n${deepObject(20_000)}\n`),
      seededBytes(99, 4000),
      Buffer.from('\n'),
    ]);
    await expectClientError(
      p.ingestUrl,
      '/v1/events',
      ingestToken,
      {
        name: 'hostile NDJSON',
        contentType: 'application/x-ndjson',
        body,
      },
      '/v1/health',
    );
    // And a valid request right after is still accepted.
    const ok = await fetch(`${p.ingestUrl}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson', ...p.ingestHeaders },
      body: validEvents,
      signal: AbortSignal.timeout(15_000),
    });
    expect(ok.status).toBe(200);
  });

  const validCodecRequest = JSON.stringify({
    payloads: [{ metadata: { encoding: 'anNvbi9wbGFpbg==' }, data: 'MQ==' }],
  });
  const codecCases: HostileCase[] = [
    ...hostileCases(validCodecRequest),
    { name: 'payloads not an array', contentType: 'application/json', body: '{"payloads":{"0":{}}}' },
    { name: 'data not base64', contentType: 'application/json', body: '{"payloads":[{"data":"%%%"}]}' },
    {
      name: 'garbage claiming to be encrypted',
      contentType: 'application/json',
      body: JSON.stringify({
        payloads: [
          {
            metadata: {
              encoding: Buffer.from('binary/encrypted').toString('base64'),
              'encryption-key-id': Buffer.from('local-1').toString('base64'),
            },
            data: seededBytes(7, 300).toString('base64'),
          },
        ],
      }),
    },
    {
      name: 'garbage claiming to be gzip',
      contentType: 'application/json',
      body: JSON.stringify({
        payloads: [
          {
            metadata: { encoding: Buffer.from('binary/gzip').toString('base64') },
            data: seededBytes(8, 300).toString('base64'),
          },
        ],
      }),
    },
  ];
  it.each(named(codecCases))('codec server: %s', (_name, c) =>
    expectClientError(codec.url, '/default/decode', codecToken, c, '/health'),
  );
});
