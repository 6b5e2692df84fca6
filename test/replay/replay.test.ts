import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { payloadCodecs } from '../../src/codec/dataConverter';
import * as workflows from '../../src/workflows';
import { workflowBundle } from '../helpers/temporal';
import { HISTORIES_DIR, historyFromFixture } from './fixtures';
import { scenarios } from './scenarios';

/** Histories recorded by the workflow code before a patch, kept as they were: the patch must replay them. */
const PRE_PATCH_DIR = join(HISTORIES_DIR, 'pre-patch');
const jsonIn = (dir: string): string[] =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort();
const recorded = jsonIn(HISTORIES_DIR);
const files = [
  ...recorded.map((f) => join(HISTORIES_DIR, f)),
  ...jsonIn(PRE_PATCH_DIR).map((f) => join(PRE_PATCH_DIR, f)),
];

/**
 * Replays every recorded history (test/replay/histories, recorded by `npm run record-histories` from the
 * scenarios in scenarios.ts, and the frozen pre-patch ones) against the current workflow code: a change that
 * would break running workflows (a reordered activity, a removed timer, an unpatched branch) fails here with
 * a nondeterminism error instead of in production.
 */
describe('replay of recorded histories against the current workflow code', () => {
  it('has one recorded history per scenario, and every workflow type has one', () => {
    expect(recorded).toEqual(scenarios.map((s) => `${s.name}.json`).sort());
    const types = new Set(recorded.map((f) => f.split('-')[0]));
    expect([...types].sort()).toEqual(Object.keys(workflows).sort());
  });

  it.each(files.map((f) => [f.slice(HISTORIES_DIR.length + 1), f]))(
    '%s replays without nondeterminism',
    async (name, file) => {
      const history = historyFromFixture(JSON.parse(readFileSync(file, 'utf8')));
      await Worker.runReplayHistory(
        // Recorded compressed, unencrypted: the same chain decodes them (record.ts).
        { workflowBundle: await workflowBundle(), dataConverter: { payloadCodecs: payloadCodecs() } },
        history,
        name.replace(/\.json$/, ''),
      );
    },
  );
});
