import { Context } from '@temporalio/activity';
import { pendingCaptures } from '../../client/batchQuery';
import type { PendingCaptures } from '../../shared/seal';

/**
 * The hour's captured batches still pending, asked through the worker's own Temporal client (one visibility
 * query, owned by pendingCaptures): the seal records them so a reader knows the hour may get a new version.
 */
export async function pendingCapturesOf(input: { region: string; hour: string }): Promise<PendingCaptures> {
  return pendingCaptures(Context.current().client, input.region, input.hour);
}
