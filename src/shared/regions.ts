/** Shapes exchanged between region-related workflows and activities (plain data, workflow-safe). */

export interface ArchiveTargetRef {
  bucket: string;
  /** AWS region the bucket lives in. */
  region: string;
}

export interface RegionTopology {
  name: string;
  /** Ordered: home bucket first, then failover buckets. */
  archive: ArchiveTargetRef[];
}

export interface TargetProbe extends ArchiveTargetRef {
  writable: boolean;
  latencyMs: number;
  /** Why the probe failed, when it did. */
  error?: string;
}
