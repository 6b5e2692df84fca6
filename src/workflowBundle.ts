import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';

/**
 * The worker's workflow bundle, made in a short-lived child process: webpack needs a few hundred MiB while it
 * bundles, and a worker that bundled in-process keeps that peak as its resident size for good.
 */
export function bundleInChildProcess(): WorkflowBundle {
  const dir = mkdtempSync(join(tmpdir(), 'stormproof-bundle-'));
  const out = join(dir, 'workflows.js');
  try {
    // Quiet: the worker's output is JSON log lines only; a failure throws with the child's stderr.
    execFileSync(process.execPath, ['--import', 'tsx', __filename, out], { stdio: 'pipe' });
    return { code: readFileSync(out, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const out = process.argv[2];
  if (!out) throw new Error('usage: workflowBundle.ts <output file>');
  const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error };
  void bundleWorkflowCode({ workflowsPath: require.resolve('./workflows'), logger: quiet }).then(({ code }) =>
    writeFileSync(out, code),
  );
}
