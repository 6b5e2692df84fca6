import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { payloadCodecs } from '../../src/codec/dataConverter';
import { workflowBundle } from '../helpers/temporal';
import { HISTORIES_DIR, historyFromFixture } from './fixtures';
const files = readdirSync(HISTORIES_DIR).filter((f) => f.endsWith('.json'));

/**
 * Replays every recorded history (test/replay/histories, recorded by record.ts) against the current workflow
 * code: a change that would break running workflows (a reordered activity, a removed timer, an unpatched
 * branch) fails here with a nondeterminism error instead of in production.
 */
describe('replay of recorded histories against the current workflow code', () => {
  it('has histories of every workflow path to replay', () => {
    expect(files.sort()).toEqual([
      'archiveBatch-captured.json',
      'archiveBatch-happy.json',
      'captureBatch-archive-captured.json',
      'captureBatch-delivery-claim-check.json',
      'captureBatch-quarantined-discarded.json',
      'captureBatch-quarantined-released.json',
      'probeRegions.json',
      'sealHour-already-sealed.json',
      'sealHour-empty.json',
      'sealHour-sealed.json',
    ]);
  });

  it.each(files)('%s replays without nondeterminism', async (file) => {
    const history = historyFromFixture(JSON.parse(readFileSync(join(HISTORIES_DIR, file), 'utf8')));
    await Worker.runReplayHistory(
      // Recorded compressed, unencrypted: the same chain decodes them (record.ts).
      { workflowBundle: await workflowBundle(), dataConverter: { payloadCodecs: payloadCodecs() } },
      history,
      file.replace(/\.json$/, ''),
    );
  });
});
