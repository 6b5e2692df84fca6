import {
  continueAsNew,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { observe, type RegionHealth } from '../shared/hysteresis';
import { monitorStatusQuery } from '../shared/messages';
import type { MonitorEvent, MonitorInput, MonitorStatus } from '../shared/monitor';
import type { RegionTopology } from '../shared/regions';

// Probes are short and answer failures as results; a probe that cannot even run counts as a failed probe.
const probe = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 1 },
});
const act = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

const MAX_EVENTS = 50;
const ROUNDS_PER_RUN = 200;

/**
 * Probes every region's home bucket (canary write) and stats API each interval. A region is declared down
 * after `downAfter` failed probes in a row and up after `upAfter` good ones, so one bad probe never acts and
 * an outage acts once. Down: operators are notified and a failover is requested from region-control — to
 * run at once (`auto`) or to wait at its approval gate (`approve`); refused at preflight (the target not ready
 * right now), it is asked again each round while the region stays down. Up: operators are told failback is safe.
 * The captured backlog crossing its threshold is alerted once per crossing.
 */
export async function regionHealthMonitor(input: MonitorInput): Promise<void> {
  const { settings } = input;
  const health: Record<string, RegionHealth> = input.health ?? {};
  const events: MonitorEvent[] = input.events ?? [];
  let backlogAlerted = input.backlogAlerted ?? false;
  let probes = input.probes ?? 0;
  const refused: Record<string, string> = input.refused ?? {};
  let backlog = 0;
  const { workflowId } = workflowInfo();

  const status = (): MonitorStatus => ({ settings, health, probes, backlog, events, refused });
  setHandler(monitorStatusQuery, status);
  const record = (what: string, region?: string): void => {
    events.push({ at: new Date().toISOString(), region, what });
    if (events.length > MAX_EVENTS) events.splice(0, events.length - MAX_EVENTS);
  };

  for (let round = 0; round < ROUNDS_PER_RUN && !workflowInfo().continueAsNewSuggested; round++) {
    const regions = await probe.listRegions();
    const now = new Date().toISOString();
    const results = await Promise.all(regions.map(probeRegion));
    probes++;
    for (const [i, r] of regions.entries()) {
      const before = health[r.name] ?? { status: 'up', streak: 0, since: now };
      const { health: after, transition } = observe(before, results[i]!, now, {
        downAfter: settings.downAfter,
        upAfter: settings.upAfter,
      });
      health[r.name] = after;
      if (transition === 'down') await regionDown(r, after);
      else if (transition === 'up') await regionUp(r);
      else if (after.status === 'down' && refused[r.name] !== undefined) await askFailover(r, after);
    }
    backlog = await act.capturedBacklog();
    if (!backlogAlerted && backlog > settings.backlogThreshold) {
      backlogAlerted = true;
      record(`captured backlog ${backlog} passed ${settings.backlogThreshold}`);
      await act.notify({
        kind: 'backlog',
        key: `${workflowId}-backlog-${now}`,
        title: `${backlog} batches captured`,
        text: `The captured backlog passed ${settings.backlogThreshold}. See \`stormproof batches\`.`,
      });
    } else if (backlog <= settings.backlogThreshold) backlogAlerted = false;
    setCurrentDetails(details(status()));
    await sleep(settings.intervalMs);
  }
  await continueAsNew<typeof regionHealthMonitor>({
    settings,
    health,
    backlogAlerted,
    events,
    probes,
    refused,
  });

  async function probeRegion(r: RegionTopology): Promise<{ ok: boolean; problem?: string }> {
    const [s3, stats] = await Promise.all([
      probe.probeArchiveTarget(r.archive[0]!).catch((e: Error) => ({ writable: false, error: e.message })),
      probe.checkStatsHealth({ region: r.name }).catch((e: Error) => ({ healthy: false, detail: e.message })),
    ]);
    const problems = [
      s3.writable ? undefined : `S3 ${r.archive[0]!.bucket}: ${s3.error}`,
      stats.healthy ? undefined : `stats API: ${stats.detail}`,
    ].filter((p): p is string => p !== undefined);
    return { ok: problems.length === 0, problem: problems.join('; ') || undefined };
  }

  async function regionDown(r: RegionTopology, h: RegionHealth): Promise<void> {
    record(`down: ${h.lastProblem}`, r.name);
    await act.notify({
      kind: 'region-down',
      key: `${workflowId}-${r.name}-down-${h.since}`,
      title: `${r.name} is down`,
      text: `${settings.downAfter} probes in a row failed: ${h.lastProblem}`,
    });
    await askFailover(r, h);
  }

  async function askFailover(r: RegionTopology, h: RegionHealth): Promise<void> {
    const to = settings.failoverTo?.[r.name] ?? r.archive.find((t) => t.region !== r.name)?.region;
    if (!to) return record('no other region to fail over to', r.name);
    const ask = await act.requestFailover({
      kind: 'failover',
      region: r.name,
      to,
      reason: `regionHealthMonitor: ${h.lastProblem}`,
      operator: 'region-health-monitor',
      mode: 'full',
      approved: settings.policy === 'auto',
    });
    if (ask.retryable) {
      // Logged once per distinct reason, paged once per outage: both stay readable through a long outage.
      if (refused[r.name] !== ask.detail)
        record(`failover to ${to} refused, asking again: ${ask.detail}`, r.name);
      if (refused[r.name] === undefined)
        await act.notify({
          kind: 'failover-refused',
          key: `${workflowId}-${r.name}-refused-${h.since}`,
          title: `Failover of ${r.name} to ${to} refused at preflight`,
          text: `${ask.detail}\nThe monitor asks again every ${settings.intervalMs / 1000} s while ${r.name} is down. Another target: \`stormproof failover --from ${r.name} --to <region> --reason …\`.`,
        });
      refused[r.name] = ask.detail;
      return;
    }
    delete refused[r.name];
    record(`failover to ${to} requested: ${ask.detail}`, r.name);
    if (ask.started && settings.policy === 'approve') {
      await act.notify({
        kind: 'approval-needed',
        key: `${workflowId}-${ask.operationId}-approval`,
        title: `Approve the failover of ${r.name} to ${to}?`,
        text: `Operation ${ask.operationId} waits for approval: \`stormproof approve ${ask.operationId}\` (or \`stormproof abort ${ask.operationId}\`).`,
      });
    }
  }

  async function regionUp(r: RegionTopology): Promise<void> {
    delete refused[r.name];
    record('up again', r.name);
    await act.notify({
      kind: 'region-up',
      key: `${workflowId}-${r.name}-up-${health[r.name]!.since}`,
      title: `${r.name} is healthy again`,
      text: `${settings.upAfter} probes in a row passed. When ready: \`stormproof failback --region ${r.name}\`.`,
    });
  }
}

function details(s: MonitorStatus): string {
  const rows = Object.entries(s.health).map(
    ([name, h]) => `| ${name} | **${h.status}** since ${h.since} | ${h.streak} | ${h.lastProblem ?? ''} |`,
  );
  const refusals = Object.entries(s.refused).map(
    ([name, why]) => `- ${name}: failover refused at preflight, asking again each round: ${why}`,
  );
  const recent = s.events.slice(-5).map((e) => `- ${e.at} ${e.region ?? ''} ${e.what}`);
  return [
    `policy **${s.settings.policy}**, down after ${s.settings.downAfter} failed probes, up after ${s.settings.upAfter}; ${s.probes} probe rounds; captured backlog ${s.backlog}`,
    '',
    '| region | status | streak | last problem |',
    '| --- | --- | --- | --- |',
    ...rows,
    '',
    ...refusals,
    ...recent,
  ].join('\n');
}
