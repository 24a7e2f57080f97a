// Real peers (SIPp, tshark, Kamailio, baresip, sipvicious, chromium) are Debian packages that
// .ci/run installs. On a developer's machine a test that needs a missing one is skipped with the
// reason; under CI=true a missing peer is a failure, never a silent skip.
import { execFileSync } from 'node:child_process';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const found = new Map<string, string | undefined>();

/** Absolute path of an executable on PATH, or undefined. */
export function which(tool: string): string | undefined {
  if (!found.has(tool)) {
    let path: string | undefined;
    try {
      path = execFileSync('sh', ['-c', `command -v ${JSON.stringify(tool)}`], {
        encoding: 'utf8',
      }).trim();
    } catch {
      path = undefined;
    }
    found.set(tool, path || undefined);
  }
  return found.get(tool);
}

export const inCI = process.env.CI === 'true';

/**
 * Returns the tool's path, or skips the test (developer machine) / fails it (CI=true) with a
 * clear reason. Use as: `const sipp = needTool(t, 'sipp', 'sip-tester'); if (!sipp) return;`
 */
export function needTool(t: TestContext, tool: string, debianPackage = tool): string | undefined {
  const path = which(tool);
  if (path) return path;
  const reason = `${tool} not found: install the Debian package ${debianPackage} (apt-get install -y ${debianPackage})`;
  if (inCI) throw new Error(`CI=true and a required peer is missing: ${reason}`);
  t.skip(reason);
  return undefined;
}

/** The repository root and ../shared beside it. */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const sharedDir = process.env.TRAPEZOID_SHARED ?? join(repoRoot, '..', 'shared');
