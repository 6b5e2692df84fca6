import type { ChildProcess } from 'node:child_process';
import { createAwsClients } from '../../src/aws/clients';
import { stopProcess } from '../../src/stack/nodeProcess';
import { waitUntil } from '../../src/util/waitUntil';
import { testConfig } from '../helpers/env';
import { capturedIds, makeEvents, ndjson, postEvents, settled, startPipeline } from '../helpers/pipeline';
import { startWorkerProcess, workerConfigFile } from '../helpers/workerProcess';
import { privateFaults } from '../helpers/privateFaults';
import { expectEachEventOnce } from '../helpers/verify';

jest.setTimeout(150_000);

describe('a worker killed with SIGKILL during a capture', () => {
  it('after a restart every captured batch completes, each event archived and counted exactly once', async () => {
    const faults = await privateFaults(testConfig());
    // The ingest runs in this process; the worker is a real process we can kill.
    const p = await startPipeline(faults.config, { worker: false });
    const reader = createAwsClients(testConfig());
    const configPath = workerConfigFile(p.config);
    const workers: ChildProcess[] = [];
    try {
      // Every bucket refuses: the fast path captures every batch (with its object) in Temporal.
      await faults.proxy.setFault('s3-us-east-1', { mode: 'error', status: 503, format: 's3' });
      await faults.proxy.setFault('s3-us-west-2', { mode: 'error', status: 503, format: 's3' });
      const events = makeEvents(5000);
      const { status, body } = await postEvents(p, ndjson(events));
      expect(status).toBe(200);
      const ids = capturedIds(body);
      expect(ids.length).toBe(body.batches!.length);
      expect(ids.length).toBeGreaterThanOrEqual(5);

      // S3 is back but slow (still within the client's timeout): archive activities are in flight at the kill.
      await faults.proxy.clearAll();
      await faults.proxy.setFault('s3-us-east-1', { mode: 'latency', latencyMs: 1500, methods: ['PUT'] });
      const first = await startWorkerProcess(configPath);
      workers.push(first.child);
      const putsSeen = async () => (await faults.proxy.list()).find((l) => l.name === 's3-us-east-1')!;
      expect(await waitUntil(async () => (await putsSeen()).counters.requests > 0, 30_000)).toBe(true);

      first.child.kill('SIGKILL');
      await stopProcess(first.child);
      expect(first.child.signalCode).toBe('SIGKILL');
      const running = await Promise.all(ids.map((id) => p.client.workflow.getHandle(id).describe()));
      // The kill really interrupted work: some batch was not finished yet.
      expect(running.some((d) => d.status.name === 'RUNNING')).toBe(true);

      await faults.proxy.clearAll();
      workers.push((await startWorkerProcess(configPath)).child);
      const results = await settled(p.client, body);
      expect(results.every((r) => r.state === 'done')).toBe(true);
      const byKey = await expectEachEventOnce(reader, p.config, events);
      expect(byKey.size).toBe(body.batches!.length);
    } finally {
      await Promise.all(workers.map((w) => stopProcess(w)));
      reader.destroy();
      await p.stop();
      await faults.close();
    }
  });
});
