/** The few FHIR shapes the app reads, and how it shows them to people. */

export interface Coding {
  system?: string;
  code?: string;
  display?: string;
}
export interface CodeableConcept {
  coding?: Coding[];
  text?: string;
}
export interface Reference {
  reference?: string;
  display?: string;
}
export interface Quantity {
  value?: number;
  unit?: string;
  code?: string;
  system?: string;
}
export interface HumanName {
  use?: string;
  text?: string;
  family?: string;
  given?: string[];
  prefix?: string[];
}
export interface Resource {
  resourceType: string;
  id?: string;
  meta?: { versionId?: string; lastUpdated?: string; security?: Coding[]; tag?: Coding[] };
  // FHIR resources are open-ended; panels read the elements they show.
  [key: string]: any;
}
export interface Bundle extends Resource {
  type?: string;
  total?: number;
  link?: { relation: string; url: string }[];
  entry?: {
    fullUrl?: string;
    resource?: Resource;
    search?: { mode?: string };
    request?: { method: string; url: string; ifMatch?: string };
    response?: { status: string; location?: string; etag?: string; outcome?: Resource };
  }[];
}

/** "Given Family" of the official (or first) name. */
export function nameOf(p: Resource | undefined): string {
  const names = p?.name as HumanName[] | undefined;
  const n = names?.find((x) => x.use === 'official') ?? names?.[0];
  if (!n) return 'Unnamed';
  return n.text ?? [...(n.given ?? []), n.family].filter(Boolean).join(' ');
}

/** What a CodeableConcept says, for a person. */
export function conceptText(c: CodeableConcept | undefined): string {
  return c?.text ?? c?.coding?.find((x) => x.display)?.display ?? c?.coding?.[0]?.code ?? '—';
}

/** Age in whole years (or months under 2) on `at`. */
export function ageOf(birthDate: string | undefined, at = new Date()): string {
  if (!birthDate) return '';
  const b = new Date(`${birthDate.length === 4 ? `${birthDate}-01-01` : birthDate.length === 7 ? `${birthDate}-01` : birthDate}T00:00:00`);
  let months = (at.getFullYear() - b.getFullYear()) * 12 + at.getMonth() - b.getMonth();
  if (at.getDate() < b.getDate()) months--;
  return months < 24 ? `${months} mo` : `${Math.floor(months / 12)} y`;
}

const dateFmt = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', year: 'numeric' });
const timeFmt = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit' });

/** 3 Mar 2026 (a date-only value stays that date, whatever the time zone). */
export function formatDate(v: string | undefined): string {
  if (!v) return '';
  if (/^\d{4}-\d{2}-\d{2}$/.test(v)) return dateFmt.format(new Date(`${v}T12:00:00`));
  if (/^\d{4}(-\d{2})?$/.test(v)) return v;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? v : dateFmt.format(d);
}

export function formatTime(v: string | undefined): string {
  if (!v) return '';
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? '' : timeFmt.format(d);
}

/** A quantity as "120 mm[Hg]" → "120 mmHg" (UCUM brackets dropped for display). */
export function formatQuantity(q: Quantity | undefined): string {
  if (q?.value === undefined) return '';
  const unit = (q.unit ?? q.code ?? '').replace(/[[\]]/g, '');
  return unit ? `${q.value} ${unit}` : String(q.value);
}

/** The MRN of a patient (the identifier typed MR, or the first). */
export function mrnOf(p: Resource | undefined): string | undefined {
  const ids = (p?.identifier ?? []) as { system?: string; value?: string; type?: CodeableConcept }[];
  return (ids.find((i) => i.type?.coding?.some((c) => c.code === 'MR')) ?? ids.find((i) => i.system?.includes('mrn')) ?? ids[0])?.value;
}

export const refTo = (r: Resource): Reference => ({ reference: `${r.resourceType}/${r.id}` });
