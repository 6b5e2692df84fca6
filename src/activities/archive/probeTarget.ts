import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Context } from '@temporalio/activity';
import type { AwsClients } from '../../aws/clients';
import type { ArchiveTargetRef, TargetProbe } from '../../shared/regions';

/**
 * Writes, reads back and deletes a canary object: a bucket is only a usable archive target when all three
 * work. A failed probe is a result, not an activity failure, so one dead bucket never hides the others.
 * Idempotent: the canary key is fixed per workflow, so a retry overwrites the same object.
 */
export function createProbeTarget(aws: AwsClients) {
  return async function probeArchiveTarget(target: ArchiveTargetRef): Promise<TargetProbe> {
    const ctx = Context.current();
    const key = `_stormproof/canary/${ctx.info.workflowExecution?.workflowId ?? ctx.info.activityId}`;
    const body = `canary ${ctx.info.activityId} ${new Date().toISOString()}`;
    const s3 = aws.s3(target.region);
    const opts = { abortSignal: ctx.cancellationSignal };
    const started = Date.now();
    try {
      await s3.send(
        new PutObjectCommand({ Bucket: target.bucket, Key: key, Body: body, ContentType: 'text/plain' }),
        opts,
      );
      const got = await s3.send(new GetObjectCommand({ Bucket: target.bucket, Key: key }), opts);
      const read = await got.Body?.transformToString();
      if (read !== body)
        throw new Error(`canary read back ${JSON.stringify(read)}, wrote ${JSON.stringify(body)}`);
      await s3.send(new DeleteObjectCommand({ Bucket: target.bucket, Key: key }), opts);
      return { ...target, writable: true, latencyMs: Date.now() - started };
    } catch (err) {
      if (ctx.cancellationSignal.aborted) throw err;
      const e = err as Error;
      return {
        ...target,
        writable: false,
        latencyMs: Date.now() - started,
        error: `${e.name}: ${e.message}`,
      };
    }
  };
}
