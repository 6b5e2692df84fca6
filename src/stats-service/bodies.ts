import { createGunzip } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { parseNdjson } from '../ingest/parseBody';
import { HttpError } from './errors';

/** The media type of an archive object's lines: one JSON event per line (openapi.yaml, POST /v1/events). */
export const NDJSON = 'application/x-ndjson';

/**
 * Request bodies beyond plain JSON:
 * - `Content-Encoding: gzip` is decoded before parsing, so a sender can post an archive object's bytes as
 *   they are; `bodyLimit` applies to the decoded body (a small gzip cannot expand without bound). Any other
 *   encoding is refused with 415, which tells a sender to fall back to plain JSON.
 * - `application/x-ndjson` bodies become `{ events: [...] }`, so the route's schema, limits and per-record
 *   errors are those of a JSON body; a record's index is its position among the non-blank lines.
 */
export function installRequestBodies(app: FastifyInstance): void {
  app.addHook('preParsing', async (request, _reply, payload) => {
    const encoding = request.headers['content-encoding']?.trim().toLowerCase();
    if (encoding === undefined || encoding === '' || encoding === 'identity') return payload;
    if (encoding !== 'gzip') {
      throw new HttpError(
        415,
        'UnsupportedMediaType',
        `Content-Encoding ${JSON.stringify(encoding)} is not supported (gzip or identity)`,
      );
    }
    const gunzip = createGunzip();
    // fastify compares Content-Length with the bytes read from the wire, and bodyLimit with what we output.
    Object.defineProperty(gunzip, 'receivedEncodedLength', { get: () => gunzip.bytesWritten });
    gunzip.on('error', (err: Error & { statusCode?: number }) => {
      err.statusCode = 400;
      err.message = `the gzip body cannot be decoded: ${err.message}`;
    });
    payload.on('error', (err) => gunzip.destroy(err));
    return payload.pipe(gunzip);
  });

  app.addContentTypeParser(NDJSON, { parseAs: 'string' }, (_request, body, done) => {
    // The ingest's reading of NDJSON (blank lines skipped, records numbered from 0), so both name a bad
    // record by the same index.
    const { records, malformed } = parseNdjson(body as string);
    if (malformed.length === 0) return done(null, { events: records });
    done(
      new HttpError(
        400,
        'ValidationFailed',
        `${malformed.length} line(s) of the body are not JSON`,
        malformed.map((m) => ({ index: m.index, field: '(event)', reason: `is not JSON (${m.reason})` })),
      ),
      undefined,
    );
  });
}
