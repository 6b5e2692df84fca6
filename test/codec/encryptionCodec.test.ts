import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultPayloadConverter, METADATA_ENCODING_KEY, type Payload } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { PayloadCodecError } from '../../src/codec/compressionCodec';
import { decodeWithChain, encodeWithChain, payloadCodecs } from '../../src/codec/dataConverter';
import { ENCRYPTION_ENCODING, EncryptionCodec, KEY_ID_METADATA } from '../../src/codec/encryptionCodec';
import { loadKeyring, type Keyring } from '../../src/codec/keyring';
import { trackingEvents } from './fixtures';

const ring = (currentKeyId: string, keys: Record<string, Buffer>): Keyring => ({
  currentKeyId,
  keys: new Map(Object.entries(keys)),
});
/** Protobuf wire form in base64: compares payloads whatever the Buffer/Uint8Array flavour of their fields. */
const wire = (payloads: Payload[]): string[] =>
  payloads.map((p) => Buffer.from(temporal.api.common.v1.Payload.encode(p).finish()).toString('base64'));
const meta = (p: Payload | undefined, key: string): string | undefined => {
  const v = p?.metadata?.[key];
  return v && Buffer.from(v).toString();
};

describe('EncryptionCodec', () => {
  const oldKey = randomBytes(32);
  const newKey = randomBytes(32);
  const batch = defaultPayloadConverter.toPayload({ batchId: 'b-1', events: trackingEvents(50) });

  it('encrypts with the current key, names it, and restores the payload exactly', async () => {
    const codec = new EncryptionCodec(ring('k-new', { 'k-old': oldKey, 'k-new': newKey }));
    const [encrypted] = await codec.encode([batch]);
    expect(meta(encrypted, METADATA_ENCODING_KEY)).toBe(ENCRYPTION_ENCODING);
    expect(meta(encrypted, KEY_ID_METADATA)).toBe('k-new');
    expect(Buffer.from(encrypted!.data!).toString('latin1')).not.toContain('b-1');
    expect(wire(await codec.decode([encrypted!]))).toEqual(wire([batch]));
    // A fresh nonce per payload: the same input never gives the same ciphertext.
    const [again] = await codec.encode([batch]);
    expect(Buffer.from(again!.data!).equals(Buffer.from(encrypted!.data!))).toBe(false);
  });

  it('keeps reading payloads of a retired key after rotation, and refuses once the key is dropped', async () => {
    const [underOld] = await new EncryptionCodec(ring('k-old', { 'k-old': oldKey })).encode([batch]);
    const rotated = new EncryptionCodec(ring('k-new', { 'k-old': oldKey, 'k-new': newKey }));
    expect(wire(await rotated.decode([underOld!]))).toEqual(wire([batch]));
    const dropped = new EncryptionCodec(ring('k-new', { 'k-new': newKey }));
    await expect(dropped.decode([underOld!])).rejects.toThrow(
      new PayloadCodecError(
        'cannot decrypt payload 0: it was encrypted with key "k-old", which is not in this keyring (known: k-new)',
      ),
    );
  });

  it('refuses tampered data and a payload relabelled with another key ID', async () => {
    const codec = new EncryptionCodec(ring('a', { a: oldKey, b: newKey }));
    const [good] = await codec.encode([batch]);
    const flipped = Buffer.from(good!.data!);
    flipped[20]! ^= 1;
    await expect(codec.decode([{ ...good, data: flipped }])).rejects.toThrow(
      /payload 0: key "a" does not authenticate it/,
    );
    const relabelled = { ...good, metadata: { ...good!.metadata, [KEY_ID_METADATA]: Buffer.from('b') } };
    await expect(codec.decode([relabelled])).rejects.toThrow(/payload 0: key "b" does not authenticate it/);
  });

  it('passes payloads of other encodings through decode (history from before encryption)', async () => {
    const plain = defaultPayloadConverter.toPayload({ any: 'json' });
    const codec = new EncryptionCodec(ring('a', { a: oldKey }));
    expect(await codec.decode([plain])).toEqual([plain]);
  });

  it('layers under compression in the chain: a big batch is compressed, then encrypted', async () => {
    const codecs = payloadCodecs(ring('a', { a: oldKey }));
    const big = defaultPayloadConverter.toPayload({ events: trackingEvents(1000) });
    const [encoded] = await encodeWithChain(codecs, [big]);
    expect(meta(encoded, METADATA_ENCODING_KEY)).toBe(ENCRYPTION_ENCODING);
    // Compressed before encryption: far smaller than the JSON, which ciphertext alone could not be.
    expect(encoded!.data!.length).toBeLessThan(0.4 * big.data!.length);
    expect(wire(await decodeWithChain(codecs, [encoded!]))).toEqual(wire([big]));
  });
});

describe('loadKeyring', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stormproof-keys-'));
  const file = (name: string, content: string): string => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };

  it('reads keys from files and environment variables', () => {
    const a = randomBytes(32);
    const b = randomBytes(32);
    const keyring = loadKeyring(
      {
        currentKeyId: 'b',
        keys: [
          { id: 'a', file: file('a', `${a.toString('base64')}\n`) },
          { id: 'b', env: 'KEY_B' },
        ],
      },
      { KEY_B: b.toString('base64') },
    );
    expect(keyring.currentKeyId).toBe('b');
    expect(keyring.keys.get('a')).toEqual(a);
    expect(keyring.keys.get('b')).toEqual(b);
  });

  it('names the key and what is wrong with it', () => {
    const load =
      (keys: { id: string; file?: string; env?: string }[], env = {}) =>
      () =>
        loadKeyring({ currentKeyId: keys[0]!.id, keys }, env);
    expect(load([{ id: 'short', file: file('short', randomBytes(16).toString('base64')) }])).toThrow(
      'encryption key short must be 32 bytes, base64-encoded',
    );
    expect(load([{ id: 'gone', file: join(dir, 'missing') }])).toThrow(
      /^secret gone: cannot read file .*missing/,
    );
    expect(load([{ id: 'unset', env: 'NO_SUCH_VAR' }])).toThrow(
      'secret unset: environment variable NO_SUCH_VAR is not set',
    );
  });
});
