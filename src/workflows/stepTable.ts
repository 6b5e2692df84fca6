import type { RegionControlState } from '../shared/regionControl';

/** The Temporal UI's current details of regionControl: the running (or last) operation as a markdown step table. */
export function stepTable(state: RegionControlState): string {
  const op = state.current ?? state.history[0];
  const regions = state.regions
    .map(
      (r) =>
        `- **${r.name}** archives to ${r.archive.map((t) => t.bucket).join(' → ')}${r.failedOver ? ` (failed over to ${r.failedOver.to})` : ''}`,
    )
    .join('\n');
  if (!op) return `## Regions\n${regions}\n\nNo operation yet.`;
  const rows = op.steps
    .map(
      (s) =>
        `| ${s.name} | ${s.state} | ${s.startedAt ?? ''} | ${s.finishedAt ?? ''} | ${(s.detail ?? '').replace(/\|/g, '\\|')} |`,
    )
    .join('\n');
  const r = op.request;
  return [
    `## ${state.current ? 'Running' : 'Last'} operation ${op.id}: ${op.outcome}`,
    `${r.kind} of **${r.region}** → **${r.to}** (${r.mode}), requested by ${r.operator}: ${r.reason}`,
    op.approvedBy ? `Approved by ${op.approvedBy}.` : '',
    op.abortedBy ? `Aborted by ${op.abortedBy}.` : '',
    op.recoveryMs !== undefined ? `Recovery time: ${op.recoveryMs} ms.` : '',
    op.error ? `Error: ${op.error}` : '',
    '',
    '| step | state | started | finished | detail |',
    '| --- | --- | --- | --- | --- |',
    rows,
    '',
    '## Regions',
    regions,
  ]
    .filter((l, i, all) => l !== '' || all[i - 1] !== '')
    .join('\n');
}
