import type { RegionHealth } from './hysteresis';

/** Plain data of regionHealthMonitor, shared by the workflow, its activities and its callers. */

export interface MonitorSettings {
  policy: 'approve' | 'auto';
  downAfter: number;
  upAfter: number;
  intervalMs: number;
  /** Captured batches above which operators are alerted (once per crossing). */
  backlogThreshold: number;
  /** Where a failing region's traffic and archive go, by region; default: its failover bucket's region. */
  failoverTo?: Record<string, string>;
}

/** What the monitor did, newest last, bounded: the answer to "what happened at 3 a.m.?". */
export interface MonitorEvent {
  at: string;
  region?: string;
  what: string;
}

export interface MonitorInput {
  settings: MonitorSettings;
  /** Carried over continue-as-new. */
  health?: Record<string, RegionHealth>;
  backlogAlerted?: boolean;
  events?: MonitorEvent[];
  probes?: number;
  /** Regions down whose failover was refused at preflight, with the last refusal: asked again each round. */
  refused?: Record<string, string>;
}

export interface MonitorStatus {
  settings: MonitorSettings;
  health: Record<string, RegionHealth>;
  /** Probe rounds since the monitor started (over every run). */
  probes: number;
  backlog: number;
  events: MonitorEvent[];
  refused: Record<string, string>;
}

/** The outcome of asking region-control for a failover: started (maybe waiting for approval) or refused. */
export interface FailoverAsk {
  started: boolean;
  /** Refused at preflight (the target not ready right now): ask again while the region stays down. */
  retryable?: boolean;
  operationId?: string;
  detail: string;
}
