import { Connection } from '@temporalio/client';
import { waitUntil } from '../util/waitUntil';
import type { StartedProcess } from './processes';
import { isRunning } from './processes';

/** Waits until `check` passes, failing early (with the log's name) if the process it depends on has died. */
export async function waitReady(
  what: string,
  proc: StartedProcess,
  check: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  let died = false;
  const ok = await waitUntil(
    async () => {
      if (!isRunning(proc)) return (died = true);
      return check();
    },
    timeoutMs,
    200,
  );
  if (died) throw new Error(`${what} exited during start-up; see ${proc.log}`);
  if (!ok) throw new Error(`${what} did not become ready within ${timeoutMs / 1000} s; see ${proc.log}`);
}

/** Any HTTP answer (whatever the status, when `okOnly` is false) means the server is up. */
export function httpAnswers(url: string, okOnly = false): () => Promise<boolean> {
  return async () => {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.body?.cancel();
      return okOnly ? res.ok : true;
    } catch {
      return false;
    }
  };
}

/** The frontend answers and the namespace exists (the dev server creates it a moment after listening). */
export function temporalServes(address: string, namespace: string): () => Promise<boolean> {
  return async () => {
    let connection: Connection | undefined;
    try {
      connection = await Connection.connect({ address, connectTimeout: 1000 });
      await connection.workflowService.describeNamespace({ namespace });
      return true;
    } catch {
      return false;
    } finally {
      await connection?.close();
    }
  };
}
