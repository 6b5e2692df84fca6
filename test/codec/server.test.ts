import { defaultPayloadConverter, METADATA_ENCODING_KEY } from '@temporalio/common';
import { encodeBatch } from '../../src/archive/format';
import { COMPRESSION_ENCODING } from '../../src/codec/compressionCodec';
import { encodeWithChain, payloadCodecs } from '../../src/codec/dataConverter';
import { CORS_ALLOW_HEADERS, startCodecServer, type CodecServer } from '../../src/codec/server';
import { trackingEvents } from './fixtures';

const UI_ORIGIN = 'http://127.0.0.1:8233';
const BODY_LIMIT_BYTES = 1024 * 1024;
const REQUEST_TIMEOUT_MS = 5_000;
const TOKEN = 'codec-server-test-token-0123456789';
/** Compression only: these tests check the protocol; encryption has tests of its own. */
const codecs = payloadCodecs();

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const b64 = (text: string): string => Buffer.from(text).toString('base64');
const unb64 = (text: string | undefined): string => Buffer.from(text ?? '', 'base64').toString();

describe('codec server over HTTP', () => {
  let server: CodecServer;
  beforeAll(async () => {
    server = await startCodecServer({
      codecs,
      tokens: [{ id: 'test', value: TOKEN }],
      port: 0,
      allowedOrigins: [UI_ORIGIN, 'http://localhost:8233'],
      bodyLimitBytes: BODY_LIMIT_BYTES,
      logLevel: 'silent',
    });
  });
  afterAll(() => server.close());

  function request(path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(`${server.url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${TOKEN}`, ...(init.headers as Record<string, string>) },
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  }
  function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
    return request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  }
  async function expectBadRequest(response: Response, message: string | RegExp): Promise<void> {
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: string; message: string };
    expect(body.error).toBe('BadRequest');
    expect(body.message).toMatch(message);
  }

  it('answers GET /health', async () => {
    const response = await request('/health');
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('decodes a payload the codec encoded back to the original JSON (namespace in the path)', async () => {
    const batch = { batchId: 'batch-7', events: trackingEvents(200) };
    const [encoded] = await encodeWithChain(codecs, [defaultPayloadConverter.toPayload(batch)]);
    const wire: JsonPayload = {
      metadata: { [METADATA_ENCODING_KEY]: b64(COMPRESSION_ENCODING) },
      data: Buffer.from(encoded!.data!).toString('base64'),
    };

    const response = await post('/default/decode', { payloads: [wire] });
    expect(response.status).toBe(200);
    const { payloads } = (await response.json()) as { payloads: JsonPayload[] };
    expect(payloads).toHaveLength(1);
    expect(unb64(payloads[0]!.metadata![METADATA_ENCODING_KEY])).toBe('json/plain');
    expect(JSON.parse(unb64(payloads[0]!.data))).toEqual(batch);
  });

  it("shows a batch's archive object (binary gzip NDJSON in history) as its events, and other binary as is", async () => {
    const events = trackingEvents(50);
    const object = await encodeBatch(events);
    const [riding] = await encodeWithChain(codecs, [defaultPayloadConverter.toPayload(object.body)]);
    // The codec leaves the already compressed object alone: it rides as binary/plain.
    expect(Buffer.from(riding!.metadata![METADATA_ENCODING_KEY]!).toString()).toBe('binary/plain');
    const toWire = (data: Uint8Array): JsonPayload => ({
      metadata: { [METADATA_ENCODING_KEY]: b64('binary/plain') },
      data: Buffer.from(data).toString('base64'),
    });
    const notAnObject = Buffer.from([0x1f, 0x8b, 1, 2, 3, 4]);

    const response = await post('/default/decode', {
      payloads: [toWire(riding!.data!), toWire(notAnObject)],
    });
    expect(response.status).toBe(200);
    const { payloads } = (await response.json()) as { payloads: JsonPayload[] };
    expect(unb64(payloads[0]!.metadata![METADATA_ENCODING_KEY])).toBe('json/plain');
    expect(JSON.parse(unb64(payloads[0]!.data))).toEqual(events);
    expect(payloads[1]).toEqual(toWire(notAnObject));
  });

  it('encodes and decodes with the X-Namespace header, passing small and foreign payloads through', async () => {
    const large = {
      metadata: { encoding: b64('json/plain') },
      data: b64(JSON.stringify(trackingEvents(20))),
    };
    const small = { metadata: { encoding: b64('json/plain') }, data: b64('"hi"') };
    // A field other than metadata and data must survive too, not be dropped on the way through.
    const foreign = {
      metadata: { encoding: b64('binary/encrypted') },
      data: b64('opaque'),
      externalPayloads: [{ sizeBytes: '123' }],
    };
    const headers = { 'x-namespace': 'default' };

    const encodedResponse = await post('/encode', { payloads: [large, small, foreign] }, headers);
    expect(encodedResponse.status).toBe(200);
    const encoded = ((await encodedResponse.json()) as { payloads: JsonPayload[] }).payloads;
    expect(encoded.map((p) => unb64(p.metadata?.[METADATA_ENCODING_KEY]))).toEqual([
      COMPRESSION_ENCODING,
      'json/plain',
      'binary/encrypted',
    ]);

    const decodedResponse = await post('/decode', { payloads: encoded }, headers);
    expect(decodedResponse.status).toBe(200);
    expect(await decodedResponse.json()).toEqual({ payloads: [large, small, foreign] });
  });

  it('refuses encode and decode without a valid token, whatever the origin', async () => {
    for (const authorization of ['', 'Bearer wrong-token-0123456789', `Bearer ${TOKEN} extra`]) {
      const response = await fetch(`${server.url}/default/decode`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization, origin: UI_ORIGIN },
        body: JSON.stringify({ payloads: [] }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      expect(response.status).toBe(401);
      // Readable by the UI (CORS headers on the 401), so it can tell the user why payloads stay encoded.
      expect(response.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
      expect(((await response.json()) as { error: string }).error).toBe('Unauthorized');
    }
  });

  it("signs a browser in at /login; the cookie then authorizes the UI origin's decode calls", async () => {
    const raw = (path: string, init: RequestInit): Promise<Response> =>
      fetch(`${server.url}${path}`, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    const signIn = (token: string): Promise<Response> =>
      raw('/login', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: server.url },
        body: new URLSearchParams({ token }).toString(),
      });
    const decodeWithCookie = (cookie: string): Promise<Response> =>
      raw('/default/decode', {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: UI_ORIGIN, cookie },
        body: JSON.stringify({ payloads: [] }),
      });

    const form = await raw('/login', { method: 'GET' });
    expect(form.status).toBe(200);
    expect(await form.text()).toContain('<form method="post" action="/login">');

    const refused = await signIn('not-the-token-0123456789');
    expect(refused.status).toBe(401);
    expect(refused.headers.get('set-cookie')).toBeNull();

    const signedIn = await signIn(TOKEN);
    expect(signedIn.status).toBe(200);
    const cookie = signedIn.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^stormproof_codec_token=[^;]+; HttpOnly; SameSite=Lax; Path=\/; Max-Age=\d+$/);

    const decoded = await decodeWithCookie(cookie.split(';')[0]!);
    expect(decoded.status).toBe(200);
    expect(decoded.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
    expect(decoded.headers.get('access-control-allow-credentials')).toBe('true');
    expect((await decodeWithCookie('stormproof_codec_token=forged-0123456789')).status).toBe(401);
  });

  it('answers a CORS preflight from an allowed origin and refuses any other origin', async () => {
    const preflight = (origin: string) =>
      request('/default/decode', {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type,x-namespace',
        },
      });

    const allowed = await preflight(UI_ORIGIN);
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
    expect(allowed.headers.get('access-control-allow-headers')).toBe(CORS_ALLOW_HEADERS);
    expect(allowed.headers.get('access-control-allow-methods')).toContain('POST');
    expect(allowed.headers.get('vary')).toBe('Origin');

    const refused = await preflight('http://evil.example');
    expect(refused.status).toBe(403);
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();

    const fromUi = await post('/decode', { payloads: [] }, { origin: UI_ORIGIN, 'x-namespace': 'default' });
    expect(fromUi.status).toBe(200);
    expect(fromUi.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
    const fromElsewhere = await post('/decode', { payloads: [] }, { origin: 'http://localhost:9999' });
    expect(fromElsewhere.status).toBe(403);
  });

  it('answers malformed requests with 400 naming the field or payload', async () => {
    await expectBadRequest(await post('/default/decode', '{"payloads": ['), /JSON/);
    await expectBadRequest(await post('/default/decode', {}), 'payloads: Invalid input: expected array');
    await expectBadRequest(
      await post('/default/decode', { payloads: {} }),
      /^invalid codec request: payloads:/,
    );
    await expectBadRequest(
      await post('/default/decode', { payloads: [{ data: b64('ok') }, { data: 'not base64!' }] }),
      'payloads[1].data: must be base64',
    );
    await expectBadRequest(
      await post('/default/encode', { payloads: [{ metadata: { encoding: 42 } }] }),
      'payloads[0].metadata.encoding: Invalid input: expected string, received number',
    );
    await expectBadRequest(
      await post('/default/decode', {
        payloads: [{}, { metadata: { encoding: b64(COMPRESSION_ENCODING) }, data: b64('x') }],
      }),
      `cannot decode ${COMPRESSION_ENCODING} payload 1: corrupt gzip data`,
    );
    await expectBadRequest(await post('/decode', { payloads: [] }), /namespace missing/);
  });

  it('refuses bodies over the limit, other media types and unknown routes', async () => {
    const tooBig = await post('/default/decode', { payloads: [{ data: 'A'.repeat(BODY_LIMIT_BYTES) }] });
    expect(tooBig.status).toBe(413);
    expect(((await tooBig.json()) as { error: string }).error).toBe('PayloadTooLarge');
    const text = await request('/default/decode', {
      method: 'POST',
      headers: { 'content-type': 'text/plain', 'x-namespace': 'default' },
      body: 'hello',
    });
    expect(text.status).toBe(415);
    expect((await request('/nope')).status).toBe(404);
  });
});
