#!/usr/bin/env node
// The `hale` command. Hale is written in TypeScript and runs through tsx's loader.
import { register } from 'tsx/esm/api';

register();
const { run } = await import('../src/cli/hale.ts');
await run(process.argv.slice(2));
