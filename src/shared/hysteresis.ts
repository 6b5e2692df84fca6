/** A region's health as the monitor sees it: flips only after several probes in a row say so. */
export interface RegionHealth {
  status: 'up' | 'down';
  /** Failed probes in a row (while up) or good probes in a row (while down). */
  streak: number;
  /** When the status last changed (or the monitor first saw the region), ISO-8601. */
  since: string;
  lastProblem?: string;
}

export interface HysteresisRule {
  /** Consecutive failed probes that declare an up region down. */
  downAfter: number;
  /** Consecutive good probes that declare a down region up again. */
  upAfter: number;
}

/**
 * One probe result applied to a region's health. A single failed probe never flips a region; `transition`
 * is set exactly when the status changes, so each outage yields one `down` and one `up`.
 */
export function observe(
  health: RegionHealth,
  probe: { ok: boolean; problem?: string },
  now: string,
  rule: HysteresisRule,
): { health: RegionHealth; transition?: 'down' | 'up' } {
  const againstStatus = health.status === 'up' ? !probe.ok : probe.ok;
  const streak = againstStatus ? health.streak + 1 : 0;
  const lastProblem = probe.ok ? health.lastProblem : probe.problem;
  const needed = health.status === 'up' ? rule.downAfter : rule.upAfter;
  if (streak < needed) return { health: { ...health, streak, lastProblem } };
  const status = health.status === 'up' ? 'down' : 'up';
  return { health: { status, streak: 0, since: now, lastProblem }, transition: status };
}
