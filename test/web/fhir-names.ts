/** How the app shows a patient's name and MRN, for the browser suites to find them on screen. */
import type { Resource } from '../../src/store/store.ts';

export function nameOf(p: Resource): string {
  const names = (p.name ?? []) as { use?: string; given?: string[]; family?: string; text?: string }[];
  const n = names.find((x) => x.use === 'official') ?? names[0];
  return n?.text ?? [...(n?.given ?? []), n?.family].filter(Boolean).join(' ');
}

export function mrnOf(p: Resource): string | undefined {
  const ids = (p.identifier ?? []) as { system?: string; value?: string; type?: { coding?: { code?: string }[] } }[];
  return (ids.find((i) => i.type?.coding?.some((c) => c.code === 'MR')) ?? ids.find((i) => i.system?.includes('mrn')) ?? ids[0])?.value;
}
