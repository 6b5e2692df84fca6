import { proxyActivities, setCurrentDetails, sleep, upsertSearchAttributes } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { HOUR_MS } from '../shared/reconcile';
import type { RetireRawHourInput, RetireResult } from '../shared/seal';
import { searchAttributes } from '../shared/searchAttributes';

// Deletes and conditional PUTs that a retry finds done; S3 outages are waited out. A verification mismatch is
// non-retryable: the raw objects stay and the workflow fails, visibly.
const { retireRaw } = proxyActivities<Activities>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute', backoffCoefficient: 2 },
});

/**
 * Deletes a sealed hour's raw objects once `retainRawHours` have passed since the hour closed (ID
 * `retire-<region>-<YYYYMMDDHH>`, started by sealHour after it wrote a version). Waits on a durable timer, then
 * retires whatever version is latest then (see retireRaw): never an object no verified manifest lists, never
 * while captured batches of the hour are pending (each of those re-seals the hour, which starts this again).
 */
export async function retireRawHour(input: RetireRawHourInput): Promise<RetireResult> {
  const { region, hour, retainRawHours } = input;
  const show = (phase: string, lines: string[]): void => {
    upsertSearchAttributes([
      { key: searchAttributes.phase, value: phase },
      { key: searchAttributes.region, value: region },
    ]);
    setCurrentDetails([`**${phase}** — raw objects of ${region} ${hour}`, '', ...lines].join('\n'));
  };
  const due = Date.parse(hour) + HOUR_MS + retainRawHours * HOUR_MS;
  if (Date.now() < due) {
    show('waiting', [`kept until ${new Date(due).toISOString()} (seal.retainRawHours = ${retainRawHours})`]);
    await sleep(due - Date.now());
  }
  show('retiring', ['reading the latest version back, then deleting the raw objects it lists']);
  const r = await retireRaw({ region, hour, at: new Date().toISOString() });
  show(r.outcome, linesOf(r));
  return r;
}

function linesOf(r: RetireResult): string[] {
  const s = r.summary;
  switch (r.outcome) {
    case 'not-sealed':
      return ['no seal of this hour: nothing deleted'];
    case 'pending-captures':
      return [
        `${r.pending!.count} captured batch(es) of the hour still pending: nothing deleted; each re-seals the hour when it lands, which retires it again`,
        ...r.pending!.workflowIds.map((id) => `- ${id}`),
      ];
    default:
      return [
        `${r.deleted} raw object(s) deleted`,
        ...(s ? [`manifest s3://${s.bucket}/${s.manifestKey} (version ${s.version})`] : []),
        ...(s?.retired
          ? [
              `retired ${s.retired.objects} at ${s.retired.at}, verified against version ${s.retired.verifiedVersion}`,
            ]
          : []),
      ];
  }
}
