// Computes argon2id hashes off the main thread, so a sign-in (about 0.1-0.2 s of CPU, by design) does not
// hold up every other request. Plain JavaScript: a worker thread does not get the main thread's tsx loader.
import { parentPort } from 'node:worker_threads';
import { argon2id, argon2Verify } from 'hash-wasm';

parentPort.on('message', async (m) => {
  try {
    const result =
      m.op === 'hash'
        ? await argon2id({ password: m.password, salt: m.salt, ...m.params, outputType: 'encoded' })
        : await argon2Verify({ password: m.password, hash: m.hash });
    parentPort.postMessage({ id: m.id, result });
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: String(err?.message ?? err) });
  }
});
