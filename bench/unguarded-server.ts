/**
 * The benchmark's baseline: Hale with no sign-in, access control or audit (unguardedForBenchmark), so the
 * benchmark can measure what they cost on the same database in the same run. Never a way to run Hale.
 */
import { loadConfig } from '../src/config.ts';
import { startServer } from '../src/server.ts';

const server = await startServer({ ...loadConfig(), demo: false }, (line) => process.stdout.write(`${line}\n`), { unguardedForBenchmark: true });
process.once('SIGTERM', async () => {
  await server.close();
  process.exit(0);
});
