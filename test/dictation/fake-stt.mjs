// A stand-in speech-to-text engine for test/dictation: describes the WAV it was given instead of transcribing it.
//   node fake-stt.mjs FILE        → one JSON line, {"t": "heard N samples at R Hz in FILE"} (pocketsphinx 5's format)
//   node fake-stt.mjs             → the WAV from stdin; plain text "heard N samples at R Hz from stdin"
//   node fake-stt.mjs sleep FILE  → never answers (for the timeout)
//   node fake-stt.mjs fail FILE   → exits 3, after writing "patient secrets" to stderr (which must go nowhere)
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
if (args[0] === 'sleep') setTimeout(() => {}, 60_000);
else if (args[0] === 'fail') {
  process.stderr.write('patient secrets\n');
  process.exit(3);
} else {
  const wav = readFileSync(args[0] ?? 0);
  const heard = `heard ${wav.readUInt32LE(40) / 2} samples at ${wav.readUInt32LE(24)} Hz`;
  if (args[0]) process.stdout.write(`${JSON.stringify({ b: 0, d: 1, t: `${heard} in ${args[0]}` })}\n`);
  else process.stdout.write(`${heard} from stdin\n`);
}
