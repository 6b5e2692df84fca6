import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { METADATA_ENCODING_KEY, ValueError, type Payload, type PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';

/** `metadata.encoding` of a compressed payload; its data is the gzipped protobuf encoding of the original. */
export const COMPRESSION_ENCODING = 'binary/gzip';
/** Payloads whose protobuf encoding is this small or smaller stay as they are: gzip's fixed cost eats the gain. */
export const DEFAULT_COMPRESSION_THRESHOLD_BYTES = 256;
/**
 * Largest original payload the codec accepts and restores: several times a full batch (~0.6 MB of JSON), yet
 * small enough that a decompression bomb cannot exhaust a worker's memory.
 */
export const DEFAULT_MAX_DECOMPRESSED_BYTES = 4 * 1024 * 1024;

/** True for data that starts with gzip's magic bytes. */
export const isGzip = (data: Uint8Array | null | undefined): boolean =>
  !!data && data.length > 2 && data[0] === 0x1f && data[1] === 0x8b;

export interface CompressionCodecOptions {
  thresholdBytes?: number;
  maxDecompressedBytes?: number;
}

/** A payload the codec cannot encode or decode; the codec server answers it with 400, not 500. */
export class PayloadCodecError extends ValueError {}

const ProtoPayload = temporal.api.common.v1.Payload;
// The async variants run in libuv's thread pool, so a 1 MB batch does not stall the worker's event loop.
const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);
const encodingBytes = Buffer.from(COMPRESSION_ENCODING);

/**
 * Compresses each payload above a size threshold with gzip. The whole payload (metadata included) is
 * protobuf-encoded before compression, so decode restores it exactly. The encoding is the plain one that
 * Temporal's Go and Python sample codecs use; the TypeScript sample's length prefix adds nothing inside gzip.
 * gzip rather than raw deflate: its CRC-32 catches corruption, and standard tools (`gunzip`) open a payload
 * an operator pulled out of history by hand.
 */
export class CompressionCodec implements PayloadCodec {
  private readonly thresholdBytes: number;
  private readonly maxDecompressedBytes: number;

  constructor(options: CompressionCodecOptions = {}) {
    this.thresholdBytes = options.thresholdBytes ?? DEFAULT_COMPRESSION_THRESHOLD_BYTES;
    this.maxDecompressedBytes = options.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES;
  }

  encode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.all(payloads.map((p, i) => this.encodeOne(p, i)));
  }

  decode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.all(payloads.map((p, i) => this.decodeOne(p, i)));
  }

  private async encodeOne(payload: Payload, index: number): Promise<Payload> {
    // Already gzip (a batch's archive object rides as binary data): compressing again only costs CPU.
    if (isGzip(payload.data)) return payload;
    const original = ProtoPayload.encode(payload).finish();
    if (original.length <= this.thresholdBytes) return payload;
    // Refused here rather than let decode refuse it later, where it would fail every workflow task forever.
    if (original.length > this.maxDecompressedBytes) {
      throw new PayloadCodecError(
        `payload ${index} is ${original.length} bytes, more than the ${this.maxDecompressedBytes} bytes ` +
          `${COMPRESSION_ENCODING} payloads may decompress to`,
      );
    }
    const compressed = await gzipAsync(original);
    const encoded: Payload = { metadata: { [METADATA_ENCODING_KEY]: encodingBytes }, data: compressed };
    return ProtoPayload.encode(encoded).finish().length < original.length ? encoded : payload;
  }

  private async decodeOne(payload: Payload, index: number): Promise<Payload> {
    const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
    if (!encoding || !encodingBytes.equals(encoding)) return payload;
    const fail = (reason: string, cause?: unknown): PayloadCodecError =>
      new PayloadCodecError(`cannot decode ${COMPRESSION_ENCODING} payload ${index}: ${reason}`, cause);
    if (!payload.data?.length) throw fail('it has no data');
    let original: Buffer;
    try {
      original = await gunzipAsync(payload.data, { maxOutputLength: this.maxDecompressedBytes });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        throw fail(`it decompresses to more than ${this.maxDecompressedBytes} bytes (refused)`, err);
      }
      throw fail(`corrupt gzip data (${(err as Error).message})`, err);
    }
    try {
      return ProtoPayload.decode(original);
    } catch (err) {
      throw fail(`decompressed data is not a Payload protobuf (${(err as Error).message})`, err);
    }
  }
}
