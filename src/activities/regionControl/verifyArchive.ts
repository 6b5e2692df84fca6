import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { AwsClients } from '../../aws/clients';
import { waitUntil } from '../../util/waitUntil';
import type { ArchiveTargetSource } from '../../archive/targets';

/**
 * Proves a redirect took effect where it matters: the worker's own target source (what archiveEvents reads)
 * names the expected bucket first within `withinMs`, and that bucket takes a write now.
 */
export function createVerifyArchive(aws: AwsClients, targets: ArchiveTargetSource) {
  return async function verifyArchiveTarget(input: {
    region: string;
    bucket: string;
    withinMs: number;
  }): Promise<void> {
    const ctx = Context.current();
    let first: string | undefined;
    const redirected = await waitUntil(
      async () => {
        first = (await targets.targetsFor(input.region))[0]?.bucket;
        return first === input.bucket;
      },
      input.withinMs,
      200,
    );
    if (!redirected)
      throw ApplicationFailure.create({
        type: 'VerifyFailed',
        nonRetryable: true,
        message: `archive of ${input.region} still goes to ${first ?? 'nothing'}, expected ${input.bucket}`,
      });
    const target = (await targets.targetsFor(input.region))[0]!;
    const key = `_stormproof/verify/${ctx.info.workflowExecution?.workflowId ?? ctx.info.activityId}`;
    const s3 = aws.s3(target.region);
    const opts = { abortSignal: ctx.cancellationSignal };
    try {
      await s3.send(
        new PutObjectCommand({ Bucket: target.bucket, Key: key, Body: 'verify', ContentType: 'text/plain' }),
        opts,
      );
      await s3.send(new DeleteObjectCommand({ Bucket: target.bucket, Key: key }), opts);
    } catch (err) {
      throw ApplicationFailure.create({
        type: 'VerifyFailed',
        nonRetryable: true,
        message: `new archive target s3://${target.bucket} refused a write: ${(err as Error).name}: ${(err as Error).message}`,
      });
    }
  };
}
