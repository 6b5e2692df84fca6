import { Client, Connection } from '@temporalio/client';
import { METADATA_ENCODING_KEY } from '@temporalio/common';
import { COMPRESSION_ENCODING } from '../../src/codec/compressionCodec';
import { dataConverter } from '../../src/codec/dataConverter';
import { startCodecServer, type CodecServer } from '../../src/codec/server';
import type { AppConfig } from '../../src/config/schema';
import { temporalConnectionOptions } from '../../src/config/temporalConnection';
import { testConfig, uniqueName } from '../helpers/env';
import { trackingEvents } from './fixtures';

const RPC_TIMEOUT_MS = 10_000;
const temporalConfigured = Boolean(process.env.STORMPROOF_CONFIG);
const describeWithTemporal = temporalConfigured ? describe : describe.skip;
if (!temporalConfigured) {
  console.warn(
    'codec end-to-end test skipped: STORMPROOF_CONFIG is not set (`npm test` starts a Temporal dev server and sets it)',
  );
}

describeWithTemporal('compression codec end to end on a Temporal dev server', () => {
  let config: AppConfig;
  let connection: Connection;
  let client: Client;
  let codecServer: CodecServer;
  const withTimeout = <T>(call: () => Promise<T>): Promise<T> =>
    connection.withDeadline(Date.now() + RPC_TIMEOUT_MS, call);

  beforeAll(async () => {
    config = testConfig();
    connection = await Connection.connect({
      ...temporalConnectionOptions(config.temporal),
      connectTimeout: RPC_TIMEOUT_MS,
    });
    client = new Client({ connection, namespace: config.temporal.namespace, dataConverter });
    codecServer = await startCodecServer({ port: 0, allowedOrigins: [], logLevel: 'silent' });
  });
  afterAll(async () => {
    // Unset when beforeAll failed part way.
    await codecServer?.close();
    await connection?.close();
  });

  it('stores a workflow input compressed in history; the codec server decodes it', async () => {
    const { namespace } = config.temporal;
    const input = { batchId: uniqueName('batch'), events: trackingEvents(1000) };
    // No worker polls this task queue: the workflow only has to be started for its input to be in history.
    const handle = await withTimeout(() =>
      client.workflow.start('codecEndToEndNoSuchWorkflow', {
        taskQueue: uniqueName('codec-e2e'),
        workflowId: uniqueName('codec-e2e'),
        args: [input],
      }),
    );
    try {
      const { history } = await withTimeout(() =>
        client.workflowService.getWorkflowExecutionHistory({
          namespace,
          execution: { workflowId: handle.workflowId, runId: handle.firstExecutionRunId },
        }),
      );
      const stored = history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
      const encoding = stored?.metadata?.[METADATA_ENCODING_KEY];
      expect(encoding && Buffer.from(encoding).toString()).toBe(COMPRESSION_ENCODING);
      const data = Buffer.from(stored!.data!);
      expect(data.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b])); // gzip magic
      expect(() => JSON.parse(data.toString()) as unknown).toThrow();
      expect(data.length).toBeLessThan(0.35 * JSON.stringify(input).length);

      const response = await fetch(`${codecServer.url}/${namespace}/decode`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          payloads: [
            {
              metadata: { [METADATA_ENCODING_KEY]: Buffer.from(encoding!).toString('base64') },
              data: data.toString('base64'),
            },
          ],
        }),
        signal: AbortSignal.timeout(RPC_TIMEOUT_MS),
      });
      expect(response.status).toBe(200);
      const { payloads } = (await response.json()) as { payloads: { data: string }[] };
      expect(JSON.parse(Buffer.from(payloads[0]!.data, 'base64').toString())).toEqual(input);
    } finally {
      await withTimeout(() => handle.terminate('codec end-to-end test finished'));
    }
  });
});
