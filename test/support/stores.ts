// The embedded stores of an in-process call server in a test: SQLite in `path`, live state local.
import { openStores, type Stores } from '../../src/store/open-stores.ts';

export function sqliteStores(path: string, node = 'local'): Promise<Stores> {
  return openStores({ records: `sqlite:${path}`, live: 'local' }, { node });
}
