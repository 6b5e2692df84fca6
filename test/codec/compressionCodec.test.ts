import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { defaultPayloadConverter, METADATA_ENCODING_KEY, type Payload } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import {
  COMPRESSION_ENCODING,
  CompressionCodec,
  DEFAULT_MAX_DECOMPRESSED_BYTES,
  PayloadCodecError,
} from '../../src/codec/compressionCodec';
import { trackingEvents } from './fixtures';

const ProtoPayload = temporal.api.common.v1.Payload;
const wireBytes = (p: Payload): Buffer => Buffer.from(ProtoPayload.encode(p).finish());
const encodingOf = (p: Payload | undefined): string | undefined => {
  const encoding = p?.metadata?.[METADATA_ENCODING_KEY];
  return encoding && Buffer.from(encoding).toString();
};
/** A payload that claims to be ours, with the given bytes as its data. */
const compressedPayload = (data: Uint8Array): Payload => ({
  metadata: { [METADATA_ENCODING_KEY]: Buffer.from(COMPRESSION_ENCODING) },
  data,
});

describe('CompressionCodec', () => {
  const codec = new CompressionCodec();

  it('compresses a batch of 1,000 events to a fraction of its size and restores it byte for byte', async () => {
    const batch = defaultPayloadConverter.toPayload({ batchId: 'batch-1', events: trackingEvents(1000) });
    const [encoded] = await codec.encode([batch]);
    expect(encodingOf(encoded)).toBe(COMPRESSION_ENCODING);
    const ratio = wireBytes(encoded!).length / wireBytes(batch).length;
    expect(ratio).toBeLessThan(0.35);

    const [decoded] = await codec.decode([encoded!]);
    expect(wireBytes(decoded!).equals(wireBytes(batch))).toBe(true);
    expect(defaultPayloadConverter.fromPayload(decoded!)).toEqual({
      batchId: 'batch-1',
      events: trackingEvents(1000),
    });
  });

  it('keeps the order of many payloads and compresses only those worth it', async () => {
    const payloads = [
      defaultPayloadConverter.toPayload('small'),
      defaultPayloadConverter.toPayload({ events: trackingEvents(5) }),
      defaultPayloadConverter.toPayload(undefined),
    ];
    const encoded = await codec.encode(payloads);
    expect(encoded.map(encodingOf)).toEqual(['json/plain', COMPRESSION_ENCODING, 'binary/null']);
    const decoded = await codec.decode(encoded);
    expect(decoded.map((p) => wireBytes(p).toString('base64'))).toEqual(
      payloads.map((p) => wireBytes(p).toString('base64')),
    );
  });

  it('leaves payloads at or below the threshold untouched', async () => {
    const small = defaultPayloadConverter.toPayload({ id: 'evt-1', type: 'click' });
    expect(wireBytes(small).length).toBeLessThanOrEqual(256);
    const [encoded] = await codec.encode([small]);
    expect(encoded).toBe(small);
  });

  it('leaves a payload untouched when compression does not make it smaller', async () => {
    const incompressible = defaultPayloadConverter.toPayload(new Uint8Array(randomBytes(2_000)));
    const [encoded] = await codec.encode([incompressible]);
    expect(encoded).toBe(incompressible);
  });

  it('passes payloads of other encodings through decode', async () => {
    const foreign: Payload = {
      metadata: { [METADATA_ENCODING_KEY]: Buffer.from('binary/encrypted') },
      data: Buffer.from('not ours to touch'),
    };
    const plain = defaultPayloadConverter.toPayload({ any: 'json' });
    const bare: Payload = { data: Buffer.from('no metadata at all') };
    const decoded = await codec.decode([foreign, plain, bare]);
    expect(decoded[0]).toBe(foreign);
    expect(decoded[1]).toBe(plain);
    expect(decoded[2]).toBe(bare);
  });

  it('fails on corrupt data with an error naming the encoding and the payload', async () => {
    const [good] = await codec.encode([defaultPayloadConverter.toPayload({ events: trackingEvents(5) })]);
    const flipped = Buffer.from(good!.data!);
    flipped[flipped.length - 6]! ^= 0xff; // inside the CRC-32 trailer: only the checksum can notice
    const truncated = good!.data!.subarray(0, 40);
    const garbage = Buffer.from('this was never gzip');

    for (const [payload, reason] of [
      [compressedPayload(flipped), /incorrect data check/],
      [compressedPayload(truncated), /unexpected end of file/],
      [compressedPayload(garbage), /incorrect header check/],
    ] as const) {
      const error = await codec
        .decode([defaultPayloadConverter.toPayload(1), payload])
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PayloadCodecError);
      expect((error as Error).message).toMatch(
        `cannot decode ${COMPRESSION_ENCODING} payload 1: corrupt gzip data`,
      );
      expect((error as Error).message).toMatch(reason);
    }
  });

  it('fails when the decompressed bytes are not a Payload, or there is no data', async () => {
    await expect(
      codec.decode([compressedPayload(gzipSync(Buffer.from([0xff, 0xff, 0xff])))]),
    ).rejects.toThrow(/binary\/gzip payload 0: decompressed data is not a Payload protobuf/);
    await expect(codec.decode([compressedPayload(new Uint8Array())])).rejects.toThrow(
      /binary\/gzip payload 0: it has no data/,
    );
  });

  it('refuses a decompression bomb instead of inflating it', async () => {
    // 16 MiB of zeros gzip to ~16 KB: within any payload limit, four times the codec's ceiling once inflated.
    const bomb = gzipSync(Buffer.alloc(4 * DEFAULT_MAX_DECOMPRESSED_BYTES));
    expect(bomb.length).toBeLessThan(64 * 1024);
    await expect(codec.decode([compressedPayload(bomb)])).rejects.toThrow(
      `cannot decode ${COMPRESSION_ENCODING} payload 0: it decompresses to more than ${DEFAULT_MAX_DECOMPRESSED_BYTES} bytes (refused)`,
    );
  });

  it('refuses to encode what its decode would refuse', async () => {
    const strict = new CompressionCodec({ maxDecompressedBytes: 1024 });
    const big = defaultPayloadConverter.toPayload({ events: trackingEvents(5) });
    await expect(strict.encode([big])).rejects.toThrow(/payload 0 is \d+ bytes, more than the 1024 bytes/);
  });
});
