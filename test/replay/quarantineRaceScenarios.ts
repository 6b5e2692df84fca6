import { ApplicationFailure } from '@temporalio/common';
import { batchIdOf, prepareBatch } from '../../src/archive/format';
import { hourOf, type CaptureInput } from '../../src/shared/batch';
import { resolveQuarantineUpdate } from '../../src/shared/messages';
import { captureBatch } from '../../src/workflows';
import { uniqueName } from '../helpers/env';
import { makeEvents } from '../helpers/pipeline';
import { onStubs, type Scenario } from './scenarios';

/**
 * A quarantine discarded while its alert is still being sent (patch `discard-during-alert`): on stubs, so the
 * alert can be held until the decision is in.
 */
export const quarantineRaceScenarios: Scenario[] = [
  {
    name: 'captureBatch-discarded-during-alert',
    on: 'stub',
    async record(env) {
      const events = makeEvents(10, 'us-east-1');
      const hour = hourOf(events[0]!.timestamp);
      const { manifest, body } = await prepareBatch({
        batchId: batchIdOf(hour, events),
        region: 'us-east-1',
        hour,
        events,
      });
      const input: CaptureInput = {
        manifest,
        capture: { initialMs: 5_000, maxMs: 300_000 },
        reason: 'recorded',
      };
      let alertSent!: () => void;
      const alerting = new Promise<void>((r) => (alertSent = r));
      let answerAlert!: () => void;
      const answered = new Promise<void>((r) => (answerAlert = r));
      return onStubs(
        env,
        {
          archiveEvents: () => {
            throw ApplicationFailure.create({
              nonRetryable: true,
              type: 'ArchiveConflict',
              message: 'the key holds another object',
            });
          },
          deliverArchiveObject: () => Promise.resolve({ accepted: 10, duplicates: 0 }),
          notify: async () => {
            alertSent();
            await answered;
            return { delivered: true, detail: 'recorded' };
          },
        },
        async (taskQueue) => {
          const handle = await env.client.workflow.start(captureBatch, {
            taskQueue,
            workflowId: uniqueName('capture-discarded-during-alert'),
            args: [input, body],
          });
          await alerting;
          await handle.executeUpdate(resolveQuarantineUpdate, {
            args: [{ action: 'discard', by: 'recorder', why: 'discarded while the alert was in flight' }],
          });
          answerAlert();
          await handle.result().catch(() => undefined);
          return handle;
        },
      );
    },
  },
];
