import { CapsClient } from '../../src/client/caps';
import { DAILY_CAP } from '../caps/world';
import { uniqueName } from '../helpers/env';
import type { Scenario } from './scenarios';

const CAP = DAILY_CAP;

/** The cap registry through each kind of change, a refused one, and a continue-as-new carrying them. */
export const capScenarios: Scenario[] = [
  {
    name: 'capRegistry-changes-continued-as-new',
    on: 'stack',
    async record(stack) {
      const config = { ...stack.config, caps: { registryWorkflowId: uniqueName('cap-registry-record') } };
      const caps = new CapsClient(stack.client, config, 25);
      const handle = await caps.handle();
      const { runId } = await handle.describe();
      const created = await caps.create(CAP, 'recorder');
      await caps.create({ ...CAP, id: 'offer-2-lifetime', window: { kind: 'lifetime' } }, 'recorder');
      await caps.create({ ...CAP, id: 'offer-1-daily' }, 'recorder').catch(() => undefined); // refused: taken
      let revision = created.revision;
      for (let limit = 501; (await handle.describe()).runId === runId; limit++)
        revision = (await caps.update({ ...CAP, limit }, 'recorder', revision)).revision;
      await caps.delete('offer-2-lifetime', 'recorder');
      // The first run, whose history ends in continue-as-new; the registry itself keeps running.
      const history = await stack.client.workflow
        .getHandle(config.caps.registryWorkflowId, runId)
        .fetchHistory();
      await handle.terminate('recorded');
      return history;
    },
  },
];
