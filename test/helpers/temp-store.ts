/** A SQLite store in a temporary directory, closed and removed after the test. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';

export function tempStore(t: { after: (fn: () => void) => void }, prefix = 'posta-store-'): { store: SqliteStore; file: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const file = path.join(dir, 'posta.db');
  const store = new SqliteStore({ file });
  t.after(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { store, file };
}
