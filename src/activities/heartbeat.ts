import { Context } from '@temporalio/activity';

/**
 * Heartbeats on a timer while `work` runs, so a worker that dies mid-activity is noticed within the
 * activity's heartbeat timeout (seconds) instead of its start-to-close timeout (minutes).
 * Only for activities that keep no progress in their heartbeat details.
 */
export async function withHeartbeat<T>(work: () => Promise<T>, everyMs = 2000): Promise<T> {
  const ctx = Context.current();
  // A local activity has no heartbeat: its worker keeps the workflow task alive instead.
  if (ctx.info.isLocal) return work();
  const timer = setInterval(() => ctx.heartbeat(), everyMs);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}
