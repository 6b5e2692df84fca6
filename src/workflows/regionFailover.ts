import {
  ActivityCancellationType,
  ActivityFailure,
  type ActivityOptions,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  patched,
  proxyActivities,
  sleep,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  CAPS_HANDOVER,
  CAPS_HANDOVER_BEST_EFFORT,
  handOverCaps,
  restoreCaps,
  revokeCaps,
} from './capsHandover';
import {
  PREFLIGHT_FAILED,
  REHOME_LOOKBACK_MS,
  redirectedTargets,
  shiftedWeights,
  type CapsHandoverSettings,
  type OperationPlan,
  type OperationRecord,
  type OperationRequest,
  type RegionControlState,
  type StepName,
  type StepRecord,
  type WeightedRecord,
} from '../shared/regionControl';

// Forward steps: a few paced retries (the SDK already retried throttling inside each attempt), then roll back.
const FORWARD = {
  startToCloseTimeout: '30 seconds',
  retry: {
    maximumAttempts: 5,
    initialInterval: '500 milliseconds',
    backoffCoefficient: 2,
    // Route 53 refusing the batch itself will refuse it again: roll back at once.
    nonRetryableErrorTypes: ['InvalidChangeBatch', 'InvalidInput', 'NoSuchHostedZone', 'AccessDenied'],
  },
} satisfies ActivityOptions;
const forward = proxyActivities<Activities>(FORWARD);
// A forward step that changes Route 53, cancelled by an abort: the rollback waits until the activity has
// stopped. It heartbeats, so it learns of the cancellation within seconds, and hands its cancellation signal
// to the AWS SDK, which drops the request; a rollback started at once could land before a forward change
// still in flight, leaving traffic shifted under an operation that says "aborted".
const forwardChange = proxyActivities<Activities>({
  ...FORWARD,
  heartbeatTimeout: '5 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
});
/**
 * Patch of the saga (deployed onto running regionControl workflows): forward Route 53 changes stop before their
 * rollback starts, and every rollback reads back what it restored until it equals the state before the step.
 * Histories recorded before it replay the old command sequence.
 */
const STEPS_STOP_BEFORE_UNDO = 'steps-stop-before-undo';
/** Backoff between rollback attempts whose read-back differed from the state recorded before the step. */
const UNDO_BACKOFF_MS = { initial: 500, max: 30_000 };
// GetChange polls while the change is PENDING, backing off up to 5 s between polls.
const { waitInsync } = proxyActivities<Activities>({
  startToCloseTimeout: '15 seconds',
  retry: { maximumAttempts: 60, initialInterval: '250 milliseconds', maximumInterval: '5 seconds' },
});
// Compensations are retried until they succeed: leaving a half-done operation is the one outcome not allowed.
const undo = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '500 milliseconds', maximumInterval: '10 seconds' },
});
// Re-homing copies many objects: heartbeats tell a dead worker apart from a long copy.
const { rehomeObjects } = proxyActivities<Activities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

/** A failed preflight: the request was valid, the target not ready now (a caller may ask again later). */
export const refuse = (message: string): ApplicationFailure =>
  ApplicationFailure.create({ type: PREFLIGHT_FAILED, nonRetryable: true, message });

/** An activity failure's own message (the ApplicationFailure inside the ActivityFailure). */
export const reasonOf = (err: unknown): string => {
  const e = err as Error & { cause?: Error & { type?: string } };
  return e.cause ? `${e.cause.message} (${e.cause.type ?? e.cause.name})` : e.message;
};

const sameRecords = (a: WeightedRecord[], b: WeightedRecord[]): boolean =>
  JSON.stringify([...a].sort(bySet)) === JSON.stringify([...b].sort(bySet));
const bySet = (x: WeightedRecord, y: WeightedRecord): number =>
  x.setIdentifier.localeCompare(y.setIdentifier);

/**
 * Preflight: every check reads, none writes anything that stays (the canary is deleted). Answers the plan, with
 * every change the operation would make, or throws the reason it must not start.
 */
export async function preflight(state: RegionControlState, req: OperationRequest): Promise<OperationPlan> {
  const region = state.regions.find((r) => r.name === req.region)!;
  const to = state.regions.find((r) => r.name === req.to)!;
  const moveArchive = req.mode !== 'traffic-only';
  const moveTraffic = req.mode !== 'archive-only';
  const plan: OperationPlan = {};

  const healthy = req.kind === 'failover' ? to : region;
  try {
    await forward.requireStatsHealthy(healthy.statsUrl);
  } catch (err) {
    throw refuse(`preflight: ${reasonOf(err)}`);
  }

  if (moveArchive) {
    const next =
      req.kind === 'failover' ? redirectedTargets(region.archive, req.region, req.to) : region.homeArchive;
    if (next.length === 0)
      throw refuse(`preflight: ${req.region} has no archive target outside ${req.region} to redirect to`);
    const probe = await forward.probeArchiveTarget(next[0]!);
    if (!probe.writable)
      throw refuse(`preflight: bucket ${probe.bucket} (${probe.region}) is not writable: ${probe.error}`);
    plan.archive = { region: req.region, from: region.archive, to: next };
    if (req.kind === 'failback')
      plan.rehome = {
        region: req.region,
        from: region.homeArchive.slice(1),
        home: region.homeArchive[0]!,
        since: new Date(
          req.rehomeSince !== undefined
            ? Date.parse(req.rehomeSince)
            : Date.parse(region.failedOver?.since ?? new Date().toISOString()) - REHOME_LOOKBACK_MS,
        ).toISOString(),
      };
  }

  const strategy =
    req.kind === 'failover'
      ? (req.trafficStrategy ?? 'weights')
      : (region.failedOver?.trafficStrategy ?? 'weights');
  if (moveTraffic && strategy === 'health-check') {
    // The region taking over must be serving, or draining this one leaves the traffic nowhere to go.
    if (req.kind === 'failover' && to.routingHealthUrl)
      try {
        await forward.routingHealthIs({ url: to.routingHealthUrl, draining: false, withinMs: 0 });
      } catch (err) {
        throw refuse(`preflight: ${reasonOf(err)}`);
      }
    plan.drain = { region: req.region, from: region.drained === true, to: req.kind === 'failover' };
  } else if (moveTraffic) {
    let current: WeightedRecord[];
    try {
      current = await forward.readWeights(state.traffic);
    } catch (err) {
      throw refuse(`preflight: Route 53 unreachable: ${reasonOf(err)}`);
    }
    for (const name of [req.region, req.to])
      if (!current.some((r) => r.setIdentifier === name))
        throw refuse(`preflight: no weighted record for ${name} at ${state.traffic.recordName}`);
    const target =
      req.kind === 'failover'
        ? shiftedWeights(current, req.region, req.to)
        : (region.failedOver?.previousWeights ?? current);
    plan.traffic = {
      zone: state.traffic.hostedZoneName,
      record: state.traffic.recordName,
      from: current,
      to: target,
    };
  }
  return plan;
}

export interface SagaHooks {
  /** Called whenever a step changes, so the UI and queries show it at once. */
  show(): void;
  /** Wait at the approval gate; resolves once approved, throws on timeout. */
  awaitApproval(): Promise<void>;
  now(): string;
  verifyWithinMs: number;
  capsHandover: CapsHandoverSettings;
}

/**
 * The failover/failback saga after a successful preflight. Each step that changes something first registers
 * its compensation, so a failure, cancellation (abort) or a worker restart in the middle of a step is undone
 * too; compensations write absolute previous values, so undoing a change that never landed is harmless. A
 * cancelled Route 53 change has stopped before its compensation starts, and every compensation reads back
 * what it restored until it equals the state recorded before the step (STEPS_STOP_BEFORE_UNDO).
 */
export async function runSaga(
  state: RegionControlState,
  op: OperationRecord,
  hooks: SagaHooks,
): Promise<void> {
  const { plan, request: req } = op;
  const region = state.regions.find((r) => r.name === req.region)!;
  const compensations: { step: StepRecord; run: () => Promise<void> }[] = [];
  const stopBeforeUndo = patched(STEPS_STOP_BEFORE_UNDO);
  // Caps follow traffic: a region still taking traffic (archive-only) keeps its allowance.
  const capsStep =
    (plan.traffic || plan.drain) && patched(CAPS_HANDOVER)
      ? req.kind === 'failover'
        ? 'hand-over-caps'
        : 'restore-caps'
      : undefined;

  /**
   * Restores, then reads back, until what it reads equals the state recorded before the step: a rollback that
   * failed or was overtaken by another change is tried again (paced by a durable timer), never left half-done.
   */
  const untilReadBack = async (
    s: StepRecord,
    restore: () => Promise<void>,
    readsBack: () => Promise<string | undefined>,
  ): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      let differs: string | undefined;
      try {
        await restore();
        differs = await readsBack();
      } catch (err) {
        differs = reasonOf(err);
      }
      if (differs === undefined) {
        if (attempt > 1) s.detail = `rolled back; read back as before at attempt ${attempt}`;
        return;
      }
      s.detail = `rollback attempt ${attempt} did not read back the previous state: ${differs}`;
      hooks.show();
      await sleep(Math.min(UNDO_BACKOFF_MS.initial * 2 ** (attempt - 1), UNDO_BACKOFF_MS.max));
    }
  };

  const step = (name: StepName): StepRecord => {
    let s = op.steps.find((x) => x.name === name);
    if (!s) op.steps.push((s = { name, state: 'pending' }));
    return s;
  };
  const run = async (name: StepName, body: () => Promise<string | void>): Promise<void> => {
    const s = step(name);
    s.state = 'running';
    s.startedAt = hooks.now();
    hooks.show();
    try {
      s.detail = (await body()) ?? undefined;
      s.state = 'done';
    } catch (err) {
      s.state = 'failed';
      s.detail = reasonOf(err);
      throw err;
    } finally {
      s.finishedAt = hooks.now();
      hooks.show();
    }
  };

  // Every planned step shows as pending from the start, so the table tells what is still to come.
  step('approval');
  if (plan.archive) step('redirect-archive');
  if (plan.traffic || plan.drain) step('shift-traffic');
  step('verify');
  if (capsStep) step(capsStep);
  if (plan.rehome) step('rehome');
  hooks.show();

  try {
    if (req.approved) step('approval').state = 'skipped';
    else await run('approval', () => hooks.awaitApproval());

    if (plan.archive) {
      const archive = plan.archive;
      await run('redirect-archive', async () => {
        compensations.push({
          step: step('redirect-archive'),
          run: () => Promise.resolve(void (region.archive = archive.from)),
        });
        region.archive = archive.to;
        return Promise.resolve(`archive of ${region.name} → ${archive.to.map((t) => t.bucket).join(', ')}`);
      });
    }
    if (plan.traffic) {
      const traffic = plan.traffic;
      await run('shift-traffic', async () => {
        const restore = async (): Promise<void> => {
          const id = await undo.applyWeights({
            traffic: state.traffic,
            records: traffic.from,
            comment: `stormproof ${op.id}: roll back`,
          });
          await undo.waitInsync(id);
        };
        compensations.push({
          step: step('shift-traffic'),
          run: stopBeforeUndo
            ? () =>
                untilReadBack(step('shift-traffic'), restore, async () => {
                  const now = await undo.readWeights(state.traffic);
                  return sameRecords(now, traffic.from) ? undefined : `records are ${JSON.stringify(now)}`;
                })
            : restore,
        });
        const id = await (stopBeforeUndo ? forwardChange : forward).applyWeights({
          traffic: state.traffic,
          records: traffic.to,
          comment: `stormproof ${op.id}: ${req.kind} ${req.region} → ${req.to}: ${req.reason}`,
        });
        await waitInsync(id);
        return `${id} INSYNC`;
      });
    }
    if (plan.drain) {
      const drain = plan.drain;
      await run('shift-traffic', async () => {
        const restore = (): Promise<void> => Promise.resolve(void (region.drained = drain.from));
        const url = region.routingHealthUrl;
        compensations.push({
          step: step('shift-traffic'),
          // The ingest reads the drain flag from this workflow: its routing health shows when it took effect.
          run:
            stopBeforeUndo && url
              ? () =>
                  untilReadBack(step('shift-traffic'), restore, async () => {
                    await undo.routingHealthIs({
                      url,
                      draining: drain.from,
                      withinMs: hooks.verifyWithinMs,
                    });
                    return undefined;
                  })
              : restore,
        });
        region.drained = drain.to;
        return Promise.resolve(`routing health of ${region.name} ${drain.to ? 'draining' : 'serving'}`);
      });
    }
    op.recoveryMs = Date.parse(hooks.now()) - Date.parse(op.requestedAt);

    await run('verify', async () => {
      if (plan.traffic) {
        const now = await forward.readWeights(state.traffic);
        if (!sameRecords(now, plan.traffic.to))
          throw ApplicationFailure.create({
            type: 'VerifyFailed',
            message: `records are ${JSON.stringify(now)}, planned ${JSON.stringify(plan.traffic.to)}`,
          });
      }
      if (plan.drain && region.routingHealthUrl)
        await forward.routingHealthIs({
          url: region.routingHealthUrl,
          draining: plan.drain.to,
          withinMs: hooks.verifyWithinMs,
        });
      if (plan.archive)
        await forward.verifyArchiveTarget({
          region: req.region,
          bucket: plan.archive.to[0]!.bucket,
          withinMs: hooks.verifyWithinMs,
        });
      return 'traffic and archive as planned';
    });

    // After verify: the region takes no traffic any more, so revoking its allowance costs no event.
    if (capsStep === 'hand-over-caps') {
      const revocation = { region: req.region, operationId: op.id };
      await run('hand-over-caps', async () => {
        const s = step('hand-over-caps');
        compensations.push({ step: s, run: async () => void (await restoreCaps(revocation, true)) });
        const handOver = handOverCaps(revocation, hooks.capsHandover, (detail) => {
          s.detail = detail;
          hooks.show();
        });
        if (!patched(CAPS_HANDOVER_BEST_EFFORT)) return handOver;
        try {
          return await handOver;
        } catch (err) {
          // Only the ledgers' failure: an abort (cancellation) still rolls back.
          if (isCancellation(err) || !(err instanceof ActivityFailure)) throw err;
          // Traffic has moved and the region takes no events: undoing that for its cap allowance would put
          // traffic back on a failing region. What the region holds comes back without the hand-over: its
          // holders give back when they read the registry's revocation (or, recorded nowhere, when idle), and a
          // dead holder's grant is reclaimed after its session's lease. The caps of a region still taking events
          // stay enforced by the ledgers either way.
          return `not handed over (${reasonOf(err)}): traffic stays moved; the region's holders give back when idle or lose their grants when their leases end`;
        }
      });
    }
    if (capsStep === 'restore-caps') {
      // The failover's revocation, lifted; a rolled-back failback revokes it again (the region stays away).
      const revocation = { region: req.region, operationId: region.failedOver?.operationId ?? op.id };
      await run('restore-caps', async () => {
        compensations.push({
          step: step('restore-caps'),
          run: async () => void (await revokeCaps(revocation, true)),
        });
        const lifted = await restoreCaps(revocation, false);
        return `${req.region} may be granted again: revocation lifted on ${lifted} ledger(s)`;
      });
    }
    if (plan.traffic) state.weights = plan.traffic.to;

    if (plan.rehome) {
      const rehome = plan.rehome;
      await run('rehome', async () => {
        op.rehomed = await rehomeObjects({
          region: rehome.region,
          sources: rehome.from,
          home: rehome.home,
          since: rehome.since,
        });
        return `${op.rehomed.copied} copied, ${op.rehomed.alreadyPresent} already home`;
      });
    }
  } catch (err) {
    op.error = reasonOf(err);
    await CancellationScope.nonCancellable(async () => {
      for (const c of compensations.reverse()) {
        c.step.state = 'compensating';
        hooks.show();
        await c.run();
        c.step.state = 'compensated';
        c.step.finishedAt = hooks.now();
        hooks.show();
      }
    });
    throw err;
  }
}

/** Waits for approval or abort (abort cancels the scope the gate runs in), for at most `timeoutMs`. */
export async function approvalGate(approved: () => boolean, timeoutMs: number): Promise<void> {
  if (!(await condition(approved, timeoutMs)))
    throw ApplicationFailure.create({
      type: 'ApprovalTimeout',
      message: `not approved within ${timeoutMs} ms`,
    });
}
