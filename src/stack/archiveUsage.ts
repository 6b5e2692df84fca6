import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** versitygw's own bookkeeping in its directory (upload scratch space, conditional-PUT locks): not objects. */
const INTERNAL = new Set(['.sgwtmp', '.vgwlocks']);

export interface ArchiveUsage {
  buckets: number;
  objects: number;
  bytes: number;
}

/**
 * What the S3 server's directory holds: each top-level directory is a bucket and each file below it an object
 * (versitygw stores an object as a file at its key's path, its metadata in extended attributes).
 */
export function archiveUsage(dataDir: string): ArchiveUsage {
  const usage: ArchiveUsage = { buckets: 0, objects: 0, bytes: 0 };
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (INTERNAL.has(entry.name)) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) {
        // an object deleted while we look is simply not counted
        const stat = statSync(path, { throwIfNoEntry: false });
        if (!stat) continue;
        usage.objects++;
        usage.bytes += stat.size;
      }
    }
  };
  for (const entry of readdirSync(dataDir, { withFileTypes: true })) {
    if (!entry.isDirectory() || INTERNAL.has(entry.name)) continue;
    usage.buckets++;
    walk(join(dataDir, entry.name));
  }
  return usage;
}

export function describeUsage({ buckets, objects, bytes }: ArchiveUsage): string {
  const size =
    bytes < 1024
      ? `${bytes} B`
      : bytes < 1024 * 1024
        ? `${(bytes / 1024).toFixed(1)} KiB`
        : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  return `${objects} object(s), ${size} in ${buckets} bucket(s)`;
}
