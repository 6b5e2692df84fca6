import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import {
  abortOperationUpdate,
  approveOperationUpdate,
  regionControlStateQuery,
  requestOperationUpdate,
} from '../shared/messages';
import {
  CAPS_HANDOVER_DEFAULTS,
  OPERATION_MODES,
  TRAFFIC_STRATEGIES,
  type AbortRequest,
  type ApproveRequest,
  type OperationRecord,
  type OperationRequest,
  type RegionControlInput,
  type RegionControlState,
} from '../shared/regionControl';
import { searchAttributes } from '../shared/searchAttributes';
import type { Activities } from '../activities';
import type { NotificationKind } from '../activities/notify/webhook';

const notifier = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 5, initialInterval: '1 second' },
});
import { approvalGate, preflight, reasonOf, refuse, runSaga } from './regionFailover';
import { stepTable } from './stepTable';

/** Past operations kept in the state (and carried over a continue-as-new). */
const HISTORY_LIMIT = 20;
/** Continue-as-new well before Temporal's own limits: each operation adds a few dozen events. */
const MAX_HISTORY_EVENTS = 5000;

/**
 * One per deployment (ID `region-control`): the regions, each region's ordered archive targets (which every
 * worker's archiving reads), the traffic weights, the operation in progress and the last operations. Failovers
 * and failbacks are requested with an Update and run here, one at a time, as a saga (./regionFailover.ts).
 */
export async function regionControl(input: RegionControlInput): Promise<void> {
  const state: RegionControlState = {
    regions: input.regions,
    traffic: input.traffic,
    weights: input.weights,
    history: input.history ?? [],
  };
  /** Set from the moment a request passes validation, so a second one is refused while the first preflights. */
  let reserved = false;
  let approvedBy: string | undefined;
  let abortedBy: string | undefined;
  let stepScope: CancellationScope | undefined;
  let started: OperationRecord | undefined;

  let shownAttributes = '';
  const show = (): void => {
    const op = state.current;
    const phase = op?.steps.find((s) => s.state === 'running' || s.state === 'compensating')?.name ?? 'idle';
    // Each upsert is a history event: only when something an operator filters on changed.
    const attributes = `${phase} ${op?.request.region} ${op?.request.to}`;
    if (attributes !== shownAttributes) {
      shownAttributes = attributes;
      upsertSearchAttributes([
        { key: searchAttributes.phase, value: phase },
        { key: searchAttributes.region, value: op?.request.region ?? null },
        { key: searchAttributes.targetRegion, value: op?.request.to ?? null },
      ]);
    }
    setCurrentDetails(stepTable(state));
  };

  setHandler(regionControlStateQuery, () => state);

  setHandler(
    requestOperationUpdate,
    async (req) => {
      reserved = true;
      try {
        const now = new Date().toISOString();
        const op: OperationRecord = {
          id: `${req.kind}-${req.region}-${uuid4().slice(0, 8)}`,
          request: req,
          plan: {},
          requestedAt: now,
          outcome: req.dryRun ? 'dry-run' : 'running',
          steps: [{ name: 'preflight', state: 'running', startedAt: now }],
          ...(req.approved ? { approvedBy: req.operator } : {}),
        };
        try {
          op.plan = await preflight(state, req);
        } catch (err) {
          throw refuse(reasonOf(err));
        }
        op.steps[0] = { ...op.steps[0]!, state: 'done', finishedAt: new Date().toISOString() };
        if (req.dryRun) return op;
        approvedBy = req.approved ? req.operator : undefined;
        abortedBy = undefined;
        state.current = op;
        started = op;
        show();
        return op;
      } finally {
        reserved = false;
      }
    },
    { validator: (req: OperationRequest) => validate(state, req, reserved) },
  );

  setHandler(
    approveOperationUpdate,
    ({ operator }) => {
      approvedBy = operator;
      state.current!.approvedBy = operator;
      return state.current!;
    },
    {
      validator: ({ operationId, operator }: ApproveRequest) => {
        const op = currentOp(state, operationId);
        if (!operator) throw new Error('operator is required');
        if (op.steps.find((s) => s.name === 'approval')?.state !== 'running')
          throw new Error(`operation ${op.id} is not waiting for approval`);
      },
    },
  );

  setHandler(
    abortOperationUpdate,
    ({ operator }) => {
      abortedBy = operator;
      state.current!.abortedBy = operator;
      stepScope?.cancel();
      return state.current!;
    },
    {
      validator: ({ operationId, operator }: AbortRequest) => {
        const op = currentOp(state, operationId);
        if (!operator) throw new Error('operator is required');
        if (abortedBy) throw new Error(`operation ${op.id} is already being aborted by ${abortedBy}`);
        if (op.steps.some((s) => s.state === 'compensating'))
          throw new Error(`operation ${op.id} is already rolling back (${op.error ?? 'failed'})`);
        if (op.steps.some((s) => s.name === 'rehome' && s.state === 'running'))
          throw new Error(
            `operation ${op.id} is re-homing objects after a completed failback; nothing to abort`,
          );
      },
    },
  );

  show();
  for (;;) {
    // Continue-as-new only between operations with no Update in flight, so nothing is lost across runs.
    await condition(
      () => started !== undefined || (tooLong(input.maxHistoryEvents) && !reserved && allHandlersFinished()),
    );
    if (!started) {
      const { regions, traffic, weights, history } = state;
      return continueAsNew<typeof regionControl>({ ...input, regions, traffic, weights, history });
    }
    const op = started;
    started = undefined;
    await runOperation(op);
  }

  async function runOperation(op: OperationRecord): Promise<void> {
    const region = state.regions.find((r) => r.name === op.request.region)!;
    const timeout = op.request.approvalTimeoutMs ?? input.approvalTimeoutMs;
    const what = `${op.request.kind} of ${op.request.region} (${op.request.mode}, to ${op.request.to})`;
    await tell(
      op,
      'failover-started',
      `${what} started`,
      `Requested by ${op.request.operator}: ${op.request.reason}`,
    );
    try {
      stepScope = new CancellationScope();
      await stepScope.run(() =>
        runSaga(state, op, {
          show,
          now: () => new Date().toISOString(),
          verifyWithinMs: input.verifyWithinMs,
          capsHandover: input.capsHandover ?? CAPS_HANDOVER_DEFAULTS,
          awaitApproval: () => approvalGate(() => approvedBy !== undefined, timeout),
        }),
      );
      op.outcome = 'succeeded';
      if (op.request.kind === 'failback') delete region.failedOver;
      else
        region.failedOver = {
          operationId: op.id,
          to: op.request.to,
          since: op.requestedAt,
          previousWeights: op.plan.traffic?.from ?? state.weights ?? [],
          trafficStrategy: op.request.trafficStrategy ?? 'weights',
        };
    } catch (err) {
      const timedOut = err instanceof ApplicationFailure && err.type === 'ApprovalTimeout';
      op.outcome = abortedBy || timedOut || isCancellation(err) ? 'aborted' : 'rolled-back';
      op.error = abortedBy ? `aborted by ${abortedBy}` : (op.error ?? reasonOf(err));
      // Before this patch the outcome was also told here, so operators heard of it twice.
      if (!patched(ONE_NOTIFICATION_PER_OUTCOME))
        await tell(op, 'failover-rolled-back', `${what} ${op.outcome}`, outcomeText(op));
    } finally {
      stepScope = undefined;
      op.finishedAt = new Date().toISOString();
      state.history = [op, ...state.history].slice(0, HISTORY_LIMIT);
      delete state.current;
      approvedBy = abortedBy = undefined;
      show();
    }
    // Told once the operation is history, so a caller who sees it finished can start the next one at once.
    if (op.outcome === 'succeeded') {
      await tell(op, 'failover-completed', `${what} completed`, `Operation ${op.id} succeeded.`);
    } else {
      await tell(op, 'failover-rolled-back', `${what} ${op.outcome}`, outcomeText(op));
    }
  }
}

/** Patch: a rolled-back or aborted operation is told once, after it is history (see runOperation). */
const ONE_NOTIFICATION_PER_OUTCOME = 'one-notification-per-outcome';

/** What happened to an operation that did not succeed: why, where it stopped, and which steps were undone. */
function outcomeText(op: OperationRecord): string {
  // Steps run in order: the last one that left `pending` is the one the operation stopped in.
  const stopped = op.steps.filter((s) => s.state !== 'pending').at(-1);
  const undone = op.steps.filter((s) => s.state === 'compensated').map((s) => s.name);
  return [
    `${op.error ?? op.outcome}.`,
    stopped ? `Stopped at ${stopped.name}.` : '',
    undone.length > 0
      ? `Undone: ${undone.join(', ')}.`
      : 'No step had changed anything, so nothing was undone.',
  ]
    .filter(Boolean)
    .join(' ');
}

/** Tells operators (webhook) about an operation; a notification that cannot be sent never stops the saga. */
async function tell(op: OperationRecord, kind: NotificationKind, title: string, text: string): Promise<void> {
  await notifier.notify({ kind, key: `${op.id}-${kind}`, title, text }).catch(() => undefined);
}

function tooLong(maxEvents = MAX_HISTORY_EVENTS): boolean {
  const info = workflowInfo();
  return info.continueAsNewSuggested || info.historyLength > maxEvents;
}

function currentOp(state: RegionControlState, operationId: string): OperationRecord {
  const op = state.current;
  if (!op) throw new Error('no operation is running');
  if (op.id !== operationId) throw new Error(`operation ${operationId} is not running (running: ${op.id})`);
  return op;
}

/** Synchronous checks of a request against the state; a throw here refuses the Update before anything runs. */
function validate(state: RegionControlState, req: OperationRequest, reserved: boolean): void {
  const known = state.regions.map((r) => r.name);
  if (req.kind !== 'failover' && req.kind !== 'failback')
    throw new Error(`kind must be failover or failback`);
  if (!known.includes(req.region))
    throw new Error(`unknown region ${req.region} (known: ${known.join(', ')})`);
  if (!known.includes(req.to)) throw new Error(`unknown region ${req.to} (known: ${known.join(', ')})`);
  if (req.region === req.to) throw new Error(`from and to are the same region (${req.region})`);
  if (!OPERATION_MODES.includes(req.mode))
    throw new Error(`mode must be one of ${OPERATION_MODES.join(', ')}`);
  if (req.trafficStrategy !== undefined && !TRAFFIC_STRATEGIES.includes(req.trafficStrategy))
    throw new Error(`trafficStrategy must be one of ${TRAFFIC_STRATEGIES.join(', ')}`);
  if (!req.reason?.trim()) throw new Error('reason is required');
  if (!req.operator?.trim()) throw new Error('operator is required');
  if (req.rehomeSince !== undefined) {
    if (req.kind !== 'failback') throw new Error('rehomeSince: only a failback re-homes objects');
    if (Number.isNaN(Date.parse(req.rehomeSince)))
      throw new Error(`rehomeSince: ${JSON.stringify(req.rehomeSince)} is not an ISO-8601 time`);
  }
  if (state.current)
    throw new Error(
      `operation ${state.current.id} (${state.current.request.kind} of ${state.current.request.region}, requested by ${state.current.request.operator}) is already running`,
    );
  if (reserved) throw new Error('another operation is being requested right now');
  const failedOver = state.regions.find((r) => r.name === req.region)!.failedOver;
  if (req.kind === 'failover' && failedOver)
    throw new Error(`${req.region} is already failed over to ${failedOver.to} (${failedOver.operationId})`);
  if (req.kind === 'failback' && !failedOver) throw new Error(`${req.region} is not failed over`);
  const targetAway = state.regions.find((r) => r.name === req.to)!.failedOver;
  if (req.kind === 'failover' && targetAway)
    throw new Error(`${req.to} is itself failed over to ${targetAway.to}: fail it back first`);
  if (req.kind === 'failback' && failedOver && failedOver.to !== req.to)
    throw new Error(`${req.region} is failed over to ${failedOver.to}, not ${req.to}`);
}
