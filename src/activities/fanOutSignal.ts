import { setMaxListeners } from 'node:events';
import { Context } from '@temporalio/activity';

/**
 * The activity's cancellation signal, for `lanes` concurrent AWS SDK calls: each call listens on it while in
 * flight (a few listeners each), which is bounded by the lanes, not a leak, so Node's warning past 10
 * listeners is raised to fit.
 */
export function fanOutSignal(lanes: number): AbortSignal {
  const signal = Context.current().cancellationSignal;
  setMaxListeners(lanes * 4, signal);
  return signal;
}
