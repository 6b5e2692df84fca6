import { Command, InvalidArgumentError, Option } from 'commander';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { RegionControlClient } from '../client/regionControl';
import {
  OPERATION_MODES,
  TRAFFIC_STRATEGIES,
  type TrafficStrategy,
  type OperationKind,
  type OperationMode,
  type OperationRecord,
} from '../shared/regionControl';
import { withTemporal } from './withTemporal';

/** Exit codes by outcome, so scripts can tell a rollback from a refusal. */
export const EXIT = {
  succeeded: 0,
  'dry-run': 0,
  'rolled-back': 2,
  aborted: 3,
  refused: 4,
  running: 5,
} as const;

const operator = (): string => process.env.USER ?? 'unknown';

const withControl = <T>(fn: (c: RegionControlClient) => Promise<T>): Promise<T> =>
  withTemporal((client, config) => fn(new RegionControlClient(client, config)));

/** A refused Update's reason (validator or preflight), or undefined for any other error. */
function refusalOf(err: unknown): string | undefined {
  if (!(err instanceof WorkflowUpdateFailedError)) return undefined;
  return err.cause?.message ?? err.message;
}

function printStep(op: OperationRecord, name: string): void {
  const s = op.steps.find((x) => x.name === name)!;
  const took =
    s.startedAt && s.finishedAt ? ` in ${Date.parse(s.finishedAt) - Date.parse(s.startedAt)} ms` : '';
  console.log(`  ${s.name.padEnd(17)} ${s.state}${took}${s.detail ? `: ${s.detail}` : ''}`);
}

export function describeOperation(op: OperationRecord): string {
  const r = op.request;
  const lines = [
    `${op.id}: ${r.kind} of ${r.region} → ${r.to} (${r.mode}) ${op.outcome}`,
    `  requested by ${r.operator} at ${op.requestedAt}: ${r.reason}`,
    ...(op.approvedBy ? [`  approved by ${op.approvedBy}`] : []),
    ...(op.abortedBy ? [`  aborted by ${op.abortedBy}`] : []),
    ...(op.recoveryMs !== undefined
      ? [`  recovery time ${op.recoveryMs} ms (request → traffic shifted and archive redirected)`]
      : []),
    ...(op.error ? [`  error: ${op.error}`] : []),
  ];
  if (op.plan.archive)
    lines.push(
      `  archive of ${op.plan.archive.region}: ${op.plan.archive.from.map((t) => t.bucket).join(', ')} → ${op.plan.archive.to.map((t) => t.bucket).join(', ')}`,
    );
  if (op.plan.traffic)
    lines.push(
      `  ${op.plan.traffic.record} weights: ${op.plan.traffic.from.map((w) => `${w.setIdentifier}=${w.weight}`).join(' ')} → ${op.plan.traffic.to.map((w) => `${w.setIdentifier}=${w.weight}`).join(' ')}`,
    );
  if (op.plan.drain)
    lines.push(
      `  routing health of ${op.plan.drain.region}: ${op.plan.drain.from ? 'draining' : 'serving'} → ${op.plan.drain.to ? 'draining' : 'serving'}`,
    );
  if (op.plan.rehome)
    lines.push(
      `  re-home ${op.plan.rehome.region} objects written since ${op.plan.rehome.since} from ${op.plan.rehome.from.map((t) => t.bucket).join(', ')} to ${op.plan.rehome.home.bucket}`,
    );
  return lines.join('\n');
}

/** Prints each step as its state changes until the operation ends; answers the finished record. */
async function follow(c: RegionControlClient, id: string, json: boolean): Promise<OperationRecord> {
  const shown = new Map<string, string>();
  for (;;) {
    const op = await c.operation(id);
    if (!op) throw new Error(`operation ${id} is neither running nor in the history`);
    if (!json)
      for (const s of op.steps) {
        if (shown.get(s.name) !== s.state && s.state !== 'pending') {
          shown.set(s.name, s.state);
          printStep(op, s.name);
        }
      }
    if (op.outcome !== 'running') return op;
    await new Promise((r) => setTimeout(r, 250));
  }
}

function finish(op: OperationRecord, json: boolean): void {
  console.log(json ? JSON.stringify(op, null, 2) : describeOperation(op));
  process.exitCode = EXIT[op.outcome];
}

function operationCommand(kind: OperationKind): Command {
  const from = kind === 'failover' ? 'the failing region' : 'the region coming home';
  const to = kind === 'failover' ? 'the region taking over' : 'the region that carried its load';
  const command = new Command(kind);
  if (kind === 'failback')
    command.option(
      '--rehome-since <time>',
      'copy home the objects written to the stand-in buckets since this ISO-8601 time (default: an hour before the failover)',
      (v: string) => {
        if (Number.isNaN(Date.parse(v))) throw new InvalidArgumentError('must be an ISO-8601 time');
        return new Date(v).toISOString();
      },
    );
  return command
    .description(
      kind === 'failover'
        ? "move a region's archive and traffic to another region (saga: preflight, approval, redirect, shift, verify)"
        : 'bring a failed-over region home: restore its records and archive order, copy its objects home',
    )
    .requiredOption('--from <region>', from)
    .requiredOption('--to <region>', to)
    .requiredOption('--reason <text>', 'why: recorded in the operation history')
    .addOption(
      new Option('--mode <mode>', 'what moves')
        .choices(OPERATION_MODES)
        .default('full' satisfies OperationMode),
    )
    .addOption(
      new Option(
        '--traffic-strategy <strategy>',
        'weights: Route 53 weighted records; health-check: drain the routing-health endpoint (failover only)',
      ).choices(TRAFFIC_STRATEGIES),
    )
    .option('--dry-run', 'print the plan with every change; change nothing')
    .option('--approve', 'pre-approve: skip the approval gate')
    .option('--approval-timeout <seconds>', 'abort if not approved within', (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n <= 0)
        throw new InvalidArgumentError('must be a positive whole number of seconds');
      return n * 1000;
    })
    .option('--operator <name>', 'who asks (default $USER)', operator())
    .option('--no-wait', 'return once the operation started')
    .option('--json', 'machine-readable output')
    .action(
      async (o: {
        from: string;
        to: string;
        reason: string;
        mode: OperationMode;
        trafficStrategy?: TrafficStrategy;
        dryRun?: boolean;
        approve?: boolean;
        approvalTimeout?: number;
        rehomeSince?: string;
        operator: string;
        wait: boolean;
        json?: boolean;
      }) =>
        withControl(async (c) => {
          let op: OperationRecord;
          try {
            op = await c.request({
              kind,
              region: o.from,
              to: o.to,
              reason: o.reason,
              operator: o.operator,
              mode: o.mode,
              trafficStrategy: o.trafficStrategy,
              dryRun: o.dryRun,
              approved: o.approve,
              approvalTimeoutMs: o.approvalTimeout,
              rehomeSince: o.rehomeSince,
            });
          } catch (err) {
            const why = refusalOf(err);
            if (why === undefined) throw err;
            console.error(o.json ? JSON.stringify({ refused: why }) : `refused: ${why}`);
            process.exitCode = EXIT.refused;
            return;
          }
          if (op.outcome === 'dry-run' || !o.wait) return finish(op, !!o.json);
          if (!o.json) {
            console.log(`${op.id} started; following its steps (Ctrl-C stops following, not the operation)`);
            if (!o.approve)
              console.log(
                `  waiting for approval: stormproof approve ${op.id}   (or: stormproof abort ${op.id})`,
              );
          }
          finish(await follow(c, op.id, !!o.json), !!o.json);
        }),
    );
}

function decisionCommand(name: 'approve' | 'abort'): Command {
  return new Command(name)
    .description(
      name === 'approve'
        ? 'pass the approval gate of the operation waiting at it'
        : 'abort the running operation: nothing changes before approval, completed steps are undone after',
    )
    .argument('<operationId>')
    .option('--operator <name>', 'who decides (default $USER)', operator())
    .option('--json', 'machine-readable output')
    .action(async (id: string, o: { operator: string; json?: boolean }) =>
      withControl(async (c) => {
        try {
          await (name === 'approve' ? c.approve(id, o.operator) : c.abort(id, o.operator));
        } catch (err) {
          const why = refusalOf(err);
          if (why === undefined) throw err;
          console.error(`refused: ${why}`);
          process.exitCode = EXIT.refused;
          return;
        }
        finish(await follow(c, id, !!o.json), !!o.json);
      }),
    );
}

const statusCommand = new Command('status')
  .description(
    'regions, archive order, weights, the running operation and the last ones (with recovery time)',
  )
  .option('--json', 'machine-readable output')
  .action(async (o: { json?: boolean }) =>
    withControl(async (c) => {
      const s = await c.state();
      if (o.json) return console.log(JSON.stringify(s, null, 2));
      for (const r of s.regions)
        console.log(
          `${r.name}: archives to ${r.archive.map((t) => t.bucket).join(' → ')}${r.failedOver ? ` (failed over to ${r.failedOver.to} since ${r.failedOver.since})` : ''}`,
        );
      if (s.weights)
        console.log(`weights: ${s.weights.map((w) => `${w.setIdentifier}=${w.weight}`).join(' ')}`);
      console.log(s.current ? `running:\n${describeOperation(s.current)}` : 'no operation running');
      const last = s.history[0];
      if (last) {
        console.log(`last:\n${describeOperation(last)}`);
        for (const step of last.steps) printStep(last, step.name);
      }
    }),
  );

/** failover, failback, approve, abort, status: the operator's interface to regionControl. */
export function regionCommands(): Command[] {
  return [
    operationCommand('failover'),
    operationCommand('failback'),
    decisionCommand('approve'),
    decisionCommand('abort'),
    statusCommand,
  ];
}
