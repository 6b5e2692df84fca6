import { ScheduleAlreadyRunning, type Client, type ScheduleOptions } from '@temporalio/client';

/**
 * Creates a Schedule, or updates the existing one to `options`: what every `*-schedule` command does, so it
 * is safe to run on every deploy.
 */
export async function upsertSchedule(
  client: Client,
  options: ScheduleOptions,
): Promise<'created' | 'updated'> {
  try {
    await client.schedule.create(options);
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    const { scheduleId: _id, ...update } = options;
    await client.schedule.getHandle(options.scheduleId).update((prev) => ({ ...prev, ...update }));
    return 'updated';
  }
}
