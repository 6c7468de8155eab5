import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DataDirLockedError, lockDataDir } from '../../src/db/lock.ts';
import { tmp } from '../helpers.ts';

test('a data directory opens once per process; a dead process’s lock is taken over', () => {
  const dir = tmp('hale-lock-');
  const release = lockDataDir(dir);
  assert.throws(
    () => lockDataDir(dir),
    (e: unknown) => e instanceof DataDirLockedError && /already open in this process/.test((e as Error).message),
  );
  release();
  lockDataDir(dir)();

  // A lock left by a process that no longer exists (pid far beyond pid_max) is stale.
  writeFileSync(join(dir, 'hale.lock'), JSON.stringify({ pid: 2 ** 30, host: hostname(), since: '2020-01-01T00:00:00Z' }));
  const again = lockDataDir(dir);
  assert.equal(JSON.parse(readFileSync(join(dir, 'hale.lock'), 'utf8')).pid, process.pid);
  again();
});
