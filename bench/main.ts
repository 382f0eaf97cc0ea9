/**
 * `npm run bench -- <scenario...> [--quick]`: runs benchmark scenarios (not part of the test suite). Each scenario
 * lives in `bench/scenarios/<name>.ts` and exports `run(options)`, measuring itself against a baseline in the same
 * run so the ratios hold on a shared, noisy machine. Results go to `bench/results/<timestamp>.json`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Options every scenario receives. */
export interface BenchOptions {
  quick: boolean;
  args: string[];
  log: (line: string) => void;
}

/** What a scenario returns: named figures plus the goal check. */
export interface ScenarioResult {
  scenario: string;
  figures: Record<string, number | string>;
  /** Human-readable goal, e.g. "ours/baseline >= 0.6". */
  goal?: string;
  goalMet?: boolean;
}

const SCENARIOS = ['reserve', 'api', 'realtime', 'floor', 'spread', 'hot'] as const;

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const names = argv.filter((arg) => !arg.startsWith('--'));
  const selected = names.length > 0 ? names : [...SCENARIOS];
  const log = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };
  const results: ScenarioResult[] = [];
  for (const name of selected) {
    if (!(SCENARIOS as readonly string[]).includes(name)) {
      throw new Error(`unknown scenario "${name}" (known: ${SCENARIOS.join(', ')})`);
    }
    let mod: { run: (options: BenchOptions) => Promise<ScenarioResult> };
    try {
      mod = (await import(`./scenarios/${name}`)) as typeof mod;
    } catch (error) {
      log(`scenario ${name}: not available yet (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`);
      continue;
    }
    log(`== ${name}`);
    const result = await mod.run({ quick, args: argv, log });
    results.push(result);
    for (const [key, value] of Object.entries(result.figures)) log(`   ${key.padEnd(32)} ${String(value)}`);
    if (result.goal !== undefined) log(`   goal ${result.goal}: ${result.goalMet === true ? 'met' : 'NOT met'}`);
  }
  const dir = path.join(__dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify({ quick, results }, null, 2)}\n`);
  log(`results written to ${path.relative(process.cwd(), file)}`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
