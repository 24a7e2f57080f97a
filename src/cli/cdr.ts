// `trapezoid cdr`: the call detail records the server wrote, as a table, JSON or CSV.
import type { Command } from 'commander';
import { openRecords } from '../store/open-stores.ts';
import { storeUrls } from '../server/config.ts';
import { cdrCsv } from '../server/console-model.ts';
import { resolveConfig } from './serve.ts';

const iso = (ms?: number) => (ms === undefined ? '' : new Date(ms).toISOString());

export function register(program: Command): void {
  program
    .command('cdr')
    .description('list call detail records, newest first')
    .option('-c, --config <file>', 'configuration whose database to read')
    .option('--db <path>', 'SQLite database file (default ./trapezoid.db)')
    .option('-n, --limit <n>', 'how many', '100')
    .option('--json', 'JSON array')
    .option('--csv', 'CSV with a header line, as the console exports it (times in ISO 8601 UTC)')
    .action(
      async (opts: {
        config?: string;
        db?: string;
        limit: string;
        json?: boolean;
        csv?: boolean;
      }) => {
        const limit = Number(opts.limit);
        if (!Number.isInteger(limit) || limit < 1) {
          process.stderr.write(
            `trapezoid cdr: --limit wants a positive whole number, not "${opts.limit}"\n`,
          );
          process.exit(2);
        }
        const { config } = resolveConfig(opts);
        const records = await openRecords(storeUrls(config), { node: config.cluster.node });
        const cdrs = await records.cdrs.listCdrs({ limit }).finally(() => records.close());
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(cdrs, null, 2)}\n`);
        } else if (opts.csv) {
          process.stdout.write(cdrCsv(cdrs));
        } else {
          for (const c of cdrs) {
            process.stdout.write(
              `${iso(c.start)}  ${c.caller} -> ${c.dialled} (${c.callee})  ${c.finalStatus} ${c.finalReason ?? ''}` +
                `  ${c.duration === undefined ? 'end unknown' : `${c.duration.toFixed(1)} s`}  ${c.cause}${c.hungUpBy ? `  hung up by ${c.hungUpBy}` : ''}${c.trunk ? `  trunk ${c.trunk}` : ''}` +
                `${c.packets !== undefined ? `  media ${c.packets} pkts, ${c.lost ?? 0} lost, jitter ${(c.jitterMs ?? 0).toFixed(1)} ms${c.mos !== undefined ? `, MOS ${c.mos.toFixed(2)}` : ''}${c.dropped ? `, ${c.dropped} injected dropped` : ''}` : ''}\n`,
            );
          }
          if (cdrs.length === 0) process.stdout.write('no call detail records yet\n');
        }
      },
    );
}
