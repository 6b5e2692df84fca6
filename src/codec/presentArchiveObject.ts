import { METADATA_ENCODING_KEY, type Payload } from '@temporalio/common';
import { readBatchLines } from '../archive/format';
import { DEFAULT_MAX_DECOMPRESSED_BYTES, isGzip } from './compressionCodec';

const BINARY = Buffer.from('binary/plain');
const JSON_PLAIN = Buffer.from('json/plain');

/**
 * A batch rides through history as its archive object (gzip NDJSON, a binary payload), which the Web UI would
 * show as base64. For people reading history through the codec server, such a payload is shown as the JSON
 * array of its events instead. Anything else, or an object that does not read as NDJSON, is left as it is.
 */
export async function presentArchiveObjects(payloads: Payload[]): Promise<Payload[]> {
  return Promise.all(payloads.map(present));
}

async function present(payload: Payload): Promise<Payload> {
  const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
  if (!encoding || !BINARY.equals(encoding) || !isGzip(payload.data)) return payload;
  try {
    const lines = await readBatchLines(payload.data!, DEFAULT_MAX_DECOMPRESSED_BYTES);
    const events = lines.map((l) => JSON.parse(l) as unknown);
    return { metadata: { [METADATA_ENCODING_KEY]: JSON_PLAIN }, data: Buffer.from(JSON.stringify(events)) };
  } catch {
    return payload; // not an archive object after all: show it as the bytes it is
  }
}
