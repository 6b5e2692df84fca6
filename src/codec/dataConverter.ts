import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import { CompressionCodec } from './compressionCodec';

/**
 * The project's codec chain. Payloads are encoded in this order and decoded in reverse, so compression comes
 * first (encrypted bytes no longer compress) and the encryption codec, when it arrives, is appended after it.
 */
export const payloadCodecs: PayloadCodec[] = [new CompressionCodec()];

/**
 * For `new Client({ dataConverter })` and `Worker.create({ dataConverter })`. Codecs run outside the workflow
 * sandbox, so `bundleWorkflowCode` needs nothing from here (it only takes a custom payload converter's path).
 */
export const dataConverter: DataConverter = { payloadCodecs };

/** Runs the whole chain the way the SDK does: what the codec server serves to the Web UI and the CLI. */
export async function encodeWithChain(payloads: Payload[]): Promise<Payload[]> {
  for (const codec of payloadCodecs) payloads = await codec.encode(payloads);
  return payloads;
}

export async function decodeWithChain(payloads: Payload[]): Promise<Payload[]> {
  for (const codec of [...payloadCodecs].reverse()) payloads = await codec.decode(payloads);
  return payloads;
}
