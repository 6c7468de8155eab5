import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

export class DataDirLockedError extends Error {}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes an exclusive lock on an embedded data directory: two processes opening the same PGlite
 * directory corrupt it. The lock file names the holder; a lock left by a dead process is taken over.
 * Returns the function that releases it.
 */
/** Data directories this process holds (a lock file naming our own pid may be a stale one from a past run). */
const held = new Set<string>();

export function lockDataDir(dir: string): () => void {
  const file = join(dir, 'hale.lock');
  if (held.has(file)) throw new DataDirLockedError(`The data directory ${dir} is already open in this process; close it before opening it again.`);
  const me = JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, me);
      closeSync(fd);
      let released = false;
      held.add(file);
      const release = () => {
        if (released) return;
        released = true;
        held.delete(file);
        try {
          if (JSON.parse(readFileSync(file, 'utf8')).pid === process.pid) unlinkSync(file);
        } catch {
          // already gone
        }
      };
      process.once('exit', release);
      return release;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let holder: { pid?: number; host?: string; since?: string } = {};
      try {
        holder = JSON.parse(readFileSync(file, 'utf8'));
      } catch {
        // unreadable: treat as stale
      }
      const sameHost = !holder.host || holder.host === hostname();
      if (holder.pid && sameHost && holder.pid !== process.pid && alive(holder.pid)) {
        throw new DataDirLockedError(
          `The data directory ${dir} is in use by process ${holder.pid} (since ${holder.since}). ` +
            'Stop that Hale process first, or start with another --data-dir. Two processes must never open one embedded database.',
        );
      }
      if (holder.pid && !sameHost) {
        throw new DataDirLockedError(
          `The data directory ${dir} is locked by process ${holder.pid} on host ${holder.host}. ` + `If that process is gone, delete ${file} and start again.`,
        );
      }
      unlinkSync(file); // stale: its process is gone
    }
  }
  throw new DataDirLockedError(`Could not lock the data directory ${dir}.`);
}
