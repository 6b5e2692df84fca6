import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import type { AppConfig } from '../config/schema';
import { CompressionCodec } from './compressionCodec';
import { EncryptionCodec } from './encryptionCodec';
import { loadKeyring, type Keyring } from './keyring';

/**
 * The project's codec chain. Payloads are encoded in this order and decoded in reverse: compression first,
 * because encrypted bytes no longer compress, then encryption when a keyring is configured.
 */
export function payloadCodecs(keyring?: Keyring): PayloadCodec[] {
  return keyring ? [new CompressionCodec(), new EncryptionCodec(keyring)] : [new CompressionCodec()];
}

/** The chain for a configuration: reads the keyring's key files or variables once, here. */
export function codecsFor(config: Pick<AppConfig, 'encryption'>, env?: NodeJS.ProcessEnv): PayloadCodec[] {
  return payloadCodecs(config.encryption && loadKeyring(config.encryption, env));
}

/**
 * For `new Client({ dataConverter })` and `Worker.create({ dataConverter })`. Codecs run outside the workflow
 * sandbox, so `bundleWorkflowCode` needs nothing from here (it only takes a custom payload converter's path).
 */
export function dataConverterFor(
  config: Pick<AppConfig, 'encryption'>,
  env?: NodeJS.ProcessEnv,
): DataConverter {
  return { payloadCodecs: codecsFor(config, env) };
}

/** Runs a chain the way the SDK does: what the codec server serves to the Web UI and the CLI. */
export async function encodeWithChain(codecs: PayloadCodec[], payloads: Payload[]): Promise<Payload[]> {
  for (const codec of codecs) payloads = await codec.encode(payloads);
  return payloads;
}

export async function decodeWithChain(codecs: PayloadCodec[], payloads: Payload[]): Promise<Payload[]> {
  for (const codec of [...codecs].reverse()) payloads = await codec.decode(payloads);
  return payloads;
}
