// Loads the terminal view on demand (scripts that never show it do not load React and Ink).
// Ink draws only its last frame when the environment says CI (its is-in-ci check, read once when
// Ink is first imported): the view is shown because a terminal asked for it, so Ink is imported
// with CI and CONTINUOUS_INTEGRATION unset, then they are put back.
import type { runCallView } from './call-view.ts';

const CI_VARIABLES = ['CI', 'CONTINUOUS_INTEGRATION'] as const;

export async function loadCallView(): Promise<typeof runCallView> {
  const saved = CI_VARIABLES.map((name) => [name, process.env[name]] as const);
  for (const name of CI_VARIABLES) delete process.env[name];
  try {
    return (await import('./call-view.ts')).runCallView;
  } finally {
    for (const [name, value] of saved) if (value !== undefined) process.env[name] = value;
  }
}
