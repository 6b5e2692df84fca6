import { workflowInfo } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { HOUR_MS } from '../shared/reconcile';

/** Temporal sets this on workflows a Schedule starts: a run that starts late still works on the right hour. */
const scheduledStartTime = defineSearchAttributeKey(
  'TemporalScheduledStartTime',
  SearchAttributeType.DATETIME,
);

/**
 * Start (ISO) of the last hour that had been closed for at least `lagMinutes` when this run was due: its
 * Schedule's action time, or its own start when no Schedule started it. A Schedule's action cannot compute
 * arguments, so scheduled workflows derive their hour here; both inputs are in history, so it replays.
 */
export function closedHourOfRun(lagMinutes: number): string {
  const info = workflowInfo();
  const started = info.typedSearchAttributes.get(scheduledStartTime) ?? info.runStartTime;
  const closed = started.getTime() - lagMinutes * 60_000;
  return new Date(closed - (closed % HOUR_MS) - HOUR_MS).toISOString();
}
