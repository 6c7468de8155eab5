/**
 * One patient's record as an in-memory inverted index: term → the items holding it, and where (title or
 * body). A query is every word required (AND), the last one as a prefix (the user is still typing it);
 * ranked by words found in the title, then an exact last word, then the most recent item.
 */
import { type Extracted, extract, termSpans, terms } from './text.ts';

export interface Doc {
  rid: string;
  ref: string;
  type: string;
  title: string;
  body: string;
  date?: string;
  /** Sort time (ms): the clinical date, else when the item was last written. */
  t: number;
  live: boolean;
}

export interface Row {
  rid: string;
  type: string;
  id: string;
  /** Changes at every write of the row (see search.ts: the xmin of its index rows). */
  stamp: string;
  content: string;
}

export interface Query {
  /** Words that must match whole (folded, without repeats). */
  words: string[];
  /** The last word, matched as a prefix. */
  last: string;
}

/** The query's terms, or undefined when it has none (only punctuation). */
export function parseQuery(q: string): Query | undefined {
  const all = terms(q);
  if (!all.length) return undefined;
  const last = all[all.length - 1];
  return { words: [...new Set(all.slice(0, -1))].filter((w) => w !== last), last };
}

export interface Found {
  doc: Doc;
  /** Where the query's words are in the title, [start, end) pairs. */
  titleMarks: [number, number][];
  snippet: string;
  snippetMarks: [number, number][];
}

/** A patient's id after "Patient/" anywhere (references, absolute or relative, and any other mention). */
const PATIENT_REF = /Patient\/([A-Za-z0-9\-.]{1,64})/g;
const TITLE = 2;
const BODY = 1;
const EXACT = 4;
const SNIPPET_CHARS = 160;

function dateMs(date: string | undefined, fallback: string | undefined): number {
  const t = Date.parse(date ?? fallback ?? '');
  return Number.isFinite(t) ? t : 0;
}

export class RecordIndex {
  private docs: Doc[] = [];
  /** rid → position in docs, for the items indexed. */
  private byRid = new Map<string, number>();
  /** rid → stamp of every row loaded (items left out included), to tell what changed. */
  readonly stamps = new Map<string, string>();
  /** term → (position × 8 | where) of the items holding it, positions ascending. */
  private postings = new Map<string, number[]>();
  /** The terms, sorted (for prefixes); rebuilt when terms were added. */
  private sorted: string[] | undefined;
  private dead = 0;
  /** The history's largest hid when this index last matched the database (see search.ts). */
  hid = '0';
  /** Whether no other transaction was writing then: writes since are exactly those with a larger hid. */
  exact = false;
  /** Rough memory held, in bytes (for the cache's budget). */
  bytes = 0;
  builtMs = 0;
  /**
   * rids of the items that name another patient or carry security labels: the only ones a user who may see
   * this patient can be refused (see search.ts). Found in the JSON text, so a superset of what the store indexes.
   */
  readonly suspects = new Set<string>();

  /** `patientId`: whose record this is. */
  constructor(readonly patientId = '') {}

  get size(): number {
    return this.docs.length - this.dead;
  }

  /** Share of positions taken by removed items (the cache rebuilds beyond a point). */
  get waste(): number {
    return this.docs.length ? this.dead / this.docs.length : 0;
  }

  add(row: Row) {
    if (this.stamps.has(row.rid)) this.remove(row.rid);
    this.stamps.set(row.rid, row.stamp);
    let resource: Record<string, any>;
    try {
      resource = JSON.parse(row.content);
    } catch {
      return;
    }
    const x: Extracted | undefined = extract(resource);
    if (!x) return;
    const pos = this.docs.length;
    const doc: Doc = {
      rid: row.rid,
      ref: `${row.type}/${row.id}`,
      type: row.type,
      title: x.title,
      body: x.body,
      date: x.date,
      t: dateMs(x.date, resource.meta?.lastUpdated),
      live: true,
    };
    this.docs.push(doc);
    this.byRid.set(row.rid, pos);
    if (row.content.includes('"security"') || [...row.content.matchAll(PATIENT_REF)].some((m) => m[1] !== this.patientId)) this.suspects.add(row.rid);
    const where = new Map<string, number>();
    for (const t of terms(`${x.title} ${x.aliases}`)) where.set(t, TITLE);
    for (const t of terms(`${x.body} ${x.words}`)) where.set(t, (where.get(t) ?? 0) | BODY);
    for (const [term, w] of where) {
      let list = this.postings.get(term);
      if (!list) {
        list = [];
        this.postings.set(term, list);
        this.sorted = undefined;
        this.bytes += term.length * 2 + 64;
      }
      list.push(pos * 8 + w);
    }
    this.bytes += (x.title.length + x.body.length) * 2 + where.size * 8 + 160;
  }

  /** Drops an item (its postings stay and are skipped until the index is rebuilt). */
  remove(rid: string) {
    this.stamps.delete(rid);
    const pos = this.byRid.get(rid);
    if (pos === undefined) return;
    this.byRid.delete(rid);
    this.suspects.delete(rid);
    const doc = this.docs[pos];
    if (doc.live) {
      doc.live = false;
      this.dead++;
    }
  }

  private terms(): string[] {
    this.sorted ??= [...this.postings.keys()].sort();
    return this.sorted;
  }

  /** Terms starting with `prefix`. */
  private withPrefix(prefix: string): string[] {
    const all = this.terms();
    let lo = 0;
    let hi = all.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (all[mid] < prefix) lo = mid + 1;
      else hi = mid;
    }
    const out: string[] = [];
    for (let i = lo; i < all.length && all[i].startsWith(prefix); i++) out.push(all[i]);
    return out;
  }

  /**
   * The items matching `q` among those `visible` admits, best first: `total` of them, and the first `limit`
   * with their title marks and a snippet of the body around the words found.
   */
  search(q: Query, limit: number, visible: (d: Doc) => boolean): { total: number; found: Found[] } {
    const n = this.docs.length;
    // matched[p]: how many of the query's words item p holds so far; title[p]: how many of them in its title.
    const matched = new Uint8Array(n);
    const inTitle = new Uint8Array(n);
    const exact = new Uint8Array(n);
    const lists: { word: string; terms: string[] }[] = [
      ...q.words.map((w) => ({ word: w, terms: this.postings.has(w) ? [w] : [] })),
      { word: q.last, terms: this.withPrefix(q.last) },
    ];
    // Rarest word first: after it, only its items can still match.
    lists.sort((a, b) => count(this.postings, a.terms) - count(this.postings, b.terms));
    const where = new Uint8Array(n);
    for (const [i, { word, terms }] of lists.entries()) {
      if (!terms.length) return { total: 0, found: [] };
      const touched: number[] = [];
      for (const term of terms) {
        const flag = word === q.last && term === q.last ? EXACT : 0;
        for (const v of this.postings.get(term) as number[]) {
          const p = Math.floor(v / 8);
          if (matched[p] !== i) continue;
          if (!where[p]) touched.push(p);
          where[p] |= (v & 7) | flag;
        }
      }
      for (const p of touched) {
        matched[p] = i + 1;
        if (where[p] & TITLE) inTitle[p]++;
        if (where[p] & EXACT) exact[p] = 1;
        where[p] = 0;
      }
    }
    const words = lists.length;
    const hits: number[] = [];
    for (let p = 0; p < n; p++) if (matched[p] === words && this.docs[p].live && visible(this.docs[p])) hits.push(p);
    hits.sort((a, b) => inTitle[b] - inTitle[a] || exact[b] - exact[a] || this.docs[b].t - this.docs[a].t || b - a);
    const found = hits.slice(0, limit).map((p) => {
      const doc = this.docs[p];
      const s = snippet(doc.body, q);
      return { doc, titleMarks: marks(doc.title, q), snippet: s.text, snippetMarks: s.marks };
    });
    return { total: hits.length, found };
  }
}

function count(postings: Map<string, number[]>, terms: string[]): number {
  let c = 0;
  for (const t of terms) c += postings.get(t)?.length ?? 0;
  return c;
}

/** Which of the query's words a folded term matches: its index in words, words.length for the last, -1 none. */
function matchOf(term: string, q: Query): number {
  if (term.startsWith(q.last)) return q.words.length;
  return q.words.indexOf(term);
}

function marks(text: string, q: Query): [number, number][] {
  const out: [number, number][] = [];
  for (const [s, e, t] of termSpans(text)) if (matchOf(t, q) >= 0) out.push([s, e]);
  return out;
}

/** Up to SNIPPET_CHARS of `body` around the query's words (the stretch holding most of them), and their marks. */
export function snippet(body: string, q: Query): { text: string; marks: [number, number][] } {
  const spans: [number, number, number][] = [];
  for (const [s, e, t] of termSpans(body)) {
    const m = matchOf(t, q);
    if (m >= 0) spans.push([s, e, m]);
    if (spans.length >= 200) break;
  }
  let start = 0;
  if (spans.length) {
    let best = -1;
    for (let i = 0; i < spans.length; i++) {
      const seen = new Set<number>();
      for (let j = i; j < spans.length && spans[j][1] <= spans[i][0] + SNIPPET_CHARS - 20; j++) seen.add(spans[j][2]);
      if (seen.size > best) {
        best = seen.size;
        start = spans[i][0];
      }
    }
    // Some words before the first match, starting at a word.
    if (start > 30) {
      const from = start - 30;
      const space = body.indexOf(' ', from);
      start = space >= 0 && space < start ? space + 1 : from;
    } else start = 0;
  }
  let end = Math.min(body.length, start + SNIPPET_CHARS);
  if (end < body.length) {
    const space = body.lastIndexOf(' ', end);
    if (space > start + SNIPPET_CHARS / 2) end = space;
  }
  const lead = start > 0 ? '…' : '';
  const text = `${lead}${body.slice(start, end)}${end < body.length ? '…' : ''}`;
  const shift = lead.length - start;
  const out: [number, number][] = spans.filter(([s, e]) => s >= start && e <= end).map(([s, e]) => [s + shift, e + shift]);
  return { text, marks: out };
}
