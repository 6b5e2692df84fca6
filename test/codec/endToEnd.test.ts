import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { METADATA_ENCODING_KEY } from '@temporalio/common';
import { dataConverterFor } from '../../src/codec/dataConverter';
import { ENCRYPTION_ENCODING, KEY_ID_METADATA } from '../../src/codec/encryptionCodec';
import type { AppConfig } from '../../src/config/schema';
import { readSecret } from '../../src/config/secrets';
import { temporalConnectionOptions } from '../../src/config/temporalConnection';
import { readState } from '../../src/stack/stack';
import { toolPaths } from '../../src/stack/tools';
import { testConfig, uniqueName } from '../helpers/env';
import { trackingEvents } from './fixtures';

const RPC_TIMEOUT_MS = 10_000;
const run = promisify(execFile);

interface JsonPayload {
  metadata: Record<string, string>;
  data: string;
}
const text = (b64: string | undefined): string => Buffer.from(b64 ?? '', 'base64').toString();

/**
 * The must-show, against the running test stack: a workflow input sits in the dev server's history as
 * AES-GCM ciphertext (read with the Temporal CLI, no codec), and the stack's own codec server process decodes
 * it for a caller with its token, and only for one.
 */
describe('encrypted payloads end to end on the test stack', () => {
  let config: AppConfig;
  let connection: Connection;
  let client: Client;
  let codecUrl: string;
  let codecToken: string;
  const input = { batchId: uniqueName('batch'), events: trackingEvents(200) };
  let workflowId: string;
  const withTimeout = <T>(call: () => Promise<T>): Promise<T> =>
    connection.withDeadline(Date.now() + RPC_TIMEOUT_MS, call);

  /** `temporal workflow show -o json`: the history as the server stores it, or decoded through a codec server. */
  async function cliHistory(codecArgs: string[] = []): Promise<{ events: Record<string, unknown>[] }> {
    const { stdout } = await run(
      toolPaths().temporal,
      [
        'workflow',
        'show',
        '--address',
        config.temporal.address,
        '--namespace',
        config.temporal.namespace,
        '--workflow-id',
        workflowId,
        '--output',
        'json',
        ...codecArgs,
      ],
      { timeout: 30_000, maxBuffer: 64 * 1024 * 1024 },
    );
    return JSON.parse(stdout) as { events: Record<string, unknown>[] };
  }
  const startedInput = (history: { events: Record<string, unknown>[] }): JsonPayload => {
    const attrs = history.events[0]!.workflowExecutionStartedEventAttributes as {
      input: { payloads: JsonPayload[] };
    };
    return attrs.input.payloads[0]!;
  };
  const decode = (body: unknown, authorization?: string): Promise<Response> =>
    fetch(`${codecUrl}/${config.temporal.namespace}/decode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(RPC_TIMEOUT_MS),
    });

  beforeAll(async () => {
    config = testConfig();
    const state = readState(process.env.STORMPROOF_STACK_PROFILE ?? 'test');
    codecUrl = state!.endpoints['codec server']!;
    codecToken = readSecret(config.codecServer!.tokens[0]!).value;
    connection = await Connection.connect({
      ...temporalConnectionOptions(config.temporal),
      connectTimeout: RPC_TIMEOUT_MS,
    });
    client = new Client({
      connection,
      namespace: config.temporal.namespace,
      dataConverter: dataConverterFor(config),
    });
    workflowId = uniqueName('codec-e2e');
    // No worker polls this task queue: the workflow only has to be started for its input to be in history.
    await withTimeout(() =>
      client.workflow.start('codecEndToEndNoSuchWorkflow', {
        taskQueue: uniqueName('codec-e2e'),
        workflowId,
        args: [input],
      }),
    );
  });
  afterAll(async () => {
    if (workflowId) await withTimeout(() => client.workflow.getHandle(workflowId).terminate('test finished'));
    await connection?.close();
  });

  it('stores the input as ciphertext under the current key ID, as the CLI without a codec shows', async () => {
    const stored = startedInput(await cliHistory());
    expect(text(stored.metadata[METADATA_ENCODING_KEY])).toBe(ENCRYPTION_ENCODING);
    expect(text(stored.metadata[KEY_ID_METADATA])).toBe(config.encryption!.currentKeyId);
    const data = Buffer.from(stored.data, 'base64');
    // Neither JSON nor gzip (the compressed inner payload is encrypted), and no event field in the clear.
    expect(data.subarray(0, 2)).not.toEqual(Buffer.from([0x1f, 0x8b]));
    const raw = data.toString('latin1');
    for (const needle of [
      input.batchId,
      input.events[0]!.id,
      String(input.events[0]!.attributes.ip),
      'offer-',
    ]) {
      expect(raw).not.toContain(needle);
    }
  });

  it('decodes through the stack codec server with its token: by HTTP and by the CLI', async () => {
    const stored = startedInput(await cliHistory());
    const response = await decode({ payloads: [stored] }, `Bearer ${codecToken}`);
    expect(response.status).toBe(200);
    const { payloads } = (await response.json()) as { payloads: JsonPayload[] };
    expect(JSON.parse(text(payloads[0]!.data))).toEqual(input);

    const decoded = startedInput(
      await cliHistory(['--codec-endpoint', codecUrl, '--codec-auth', `Bearer ${codecToken}`]),
    );
    expect(JSON.parse(text(decoded.data))).toEqual(input);
  });

  it('answers 401 without a token and with a wrong one, and decodes nothing', async () => {
    const stored = startedInput(await cliHistory());
    for (const authorization of [undefined, 'Bearer not-the-token-0123456789', `Basic ${codecToken}`]) {
      const response = await decode({ payloads: [stored] }, authorization);
      expect(response.status).toBe(401);
      const body = (await response.json()) as { error: string; payloads?: unknown };
      expect(body).toEqual({ error: 'Unauthorized', message: expect.stringMatching(/bearer token/) });
    }
  });

  it('fails with a clear error naming the key ID of a payload encrypted with a key it does not hold', async () => {
    const stored = startedInput(await cliHistory());
    const relabelled = {
      ...stored,
      metadata: { ...stored.metadata, [KEY_ID_METADATA]: Buffer.from('retired-2019').toString('base64') },
    };
    const response = await decode({ payloads: [relabelled] }, `Bearer ${codecToken}`);
    expect(response.status).toBe(400);
    const { message } = (await response.json()) as { message: string };
    expect(message).toBe(
      `cannot decrypt payload 0: it was encrypted with key "retired-2019", which is not in this keyring (known: ${config.encryption!.currentKeyId})`,
    );
  });
});
