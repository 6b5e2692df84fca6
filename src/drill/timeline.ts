/** One sample of the drill's timeline: rates over the preceding interval, levels at its end. */
export interface TimelineSample {
  /** Seconds since the drill started. */
  t: number;
  acceptedPerSecond: number;
  archivedPerSecond: number;
  deliveredPerSecond: number;
  /** Requests the ingest refused (503) or that failed, per second. */
  errorsPerSecond: number;
  /** Captured batches at the end of the interval. */
  backlog: number;
}

/** A stretch of the drill: an outage, the failover, the failback, reconciliation… */
export interface DrillPhase {
  name: string;
  /** Seconds since the drill started. */
  start: number;
  end?: number;
}

/** The drill's verdict numbers, printed as text and shown at the top of the HTML report. */
export type DrillSummary = Record<string, string | number | boolean>;

export interface DrillReport {
  title: string;
  startedAt: string;
  passed: boolean;
  summary: DrillSummary;
  samples: TimelineSample[];
  phases: DrillPhase[];
}
