/**
 * Hale's formulary: drug classes, RxNorm ingredients (TTY IN) and clinical drugs (TTY SCD) shipped in
 * src/cds/knowledge (sources in SOURCES.md), merged with the administrator's extension file
 * (HALE_FORMULARY_FILE, default ./hale.formulary.json, same shape as drugs.json plus optional classes).
 * Everything is checked when loaded: an unknown class, ingredient or malformed entry is an error naming
 * the file and the entry. Lookups and search work from indexes built once; nothing here calls out.
 */

import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../config.ts';

export interface DoseRange {
  /** Usual adult daily dose, mg (oral unless the note says otherwise). */
  minDailyMg?: number;
  maxDailyMg?: number;
  /** Usual adult dose per week, mg, for drugs taken once a week (methotrexate); checked per week, never daily. */
  minWeeklyMg?: number;
  maxWeeklyMg?: number;
  note?: string;
}
export interface RenalRule {
  /** Applies when the latest eGFR (or CrCl) is below this, mL/min/1.73 m². */
  belowEgfr: number;
  action: 'avoid' | 'reduce';
  text: string;
}
export interface Caution {
  level: 'contraindicated' | 'avoid' | 'caution';
  text: string;
}
export interface Ingredient {
  /** RxNorm ingredient (TTY IN). */
  rxcui: string;
  /** RxNorm name, lower case as RxNorm has it. */
  name: string;
  brands: string[];
  /** Other names and abbreviations ("HCTZ", "paracetamol"), searched and recognised like brands. */
  also?: string[];
  /** Class ids from classes.json (parents are implied; see classesOf). */
  classes: string[];
  /** Other RxCUIs that mean this ingredient (precise ingredients, multi-ingredient concepts). */
  codes?: string[];
  dose?: DoseRange;
  /** Sorted by belowEgfr, lowest first: the first rule whose threshold is above the patient's eGFR applies. */
  renal?: RenalRule[];
  pregnancy?: Caution;
  lactation?: Caution;
  /** The code could not be confirmed against a published source; a reviewer should check it. */
  verify?: boolean;
}
export interface Product {
  /** RxNorm clinical drug (TTY SCD; a few generic packs, GPCK). */
  rxcui: string;
  /** RxNorm name. */
  display: string;
  /** Everyday name, e.g. "Amlodipine 5 mg tablet". */
  label: string;
  /** Ingredients with the amount per unit (tablet, capsule, puff, injection) where it is a mass. */
  ingredients: { rxcui: string; mg?: number }[];
  form: string;
  route: string;
  sig?: string;
  /** Units a day under the default sig (for the quantity); 0 when taken only as needed. */
  perDay?: number;
  days: number;
  refills: number;
  /** Other names typed to find it. */
  also?: string[];
  /** Other RxCUIs that denote this drug (branded drugs, component codes used by older records). */
  codes?: string[];
  verify?: boolean;
}
export interface DrugClass {
  id: string;
  name: string;
  parent?: string;
  /** Two different drugs of this class at once are duplicate therapy. */
  duplicate?: boolean;
}

export interface FormularyFile {
  classes?: DrugClass[];
  ingredients?: Ingredient[];
  products?: Product[];
}

/** A malformed knowledge or extension file: a configuration problem, reported by `hale start` without a stack. */
export class FormularyError extends ConfigError {}

interface Indexed {
  product: Product;
  order: number;
  /** Folded label and ingredient names: "starts with" matches. */
  heads: string[];
  /** Words of the label, ingredient names and RxNorm name. */
  words: string[];
  /** Words of brand names and synonyms. */
  brandWords: string[];
  /** Strength numbers in the label. */
  nums: string[];
  single: boolean;
  firstMg: number;
}

export interface Formulary {
  classes: Map<string, DrugClass>;
  ingredients: Map<string, Ingredient>;
  products: Map<string, Product>;
  /** Every code (product, ingredient, alias) to its ingredients. */
  codeIndex: Map<string, Ingredient[]>;
  /** Alias codes of products. */
  productAlias: Map<string, Product>;
  /** Folded ingredient names and brands (as word sequences) to ingredients. */
  names: Map<string, Ingredient[]>;
  longestName: number;
  search: Indexed[];
  /** Files merged, for messages. */
  files: string[];
}

const KNOWLEDGE = new URL('./knowledge/', import.meta.url);
const ID = /^[a-z0-9][a-z0-9-]*$/;
const CODE = /^\d+$/;
const LEVELS = new Set(['contraindicated', 'avoid', 'caution']);

export const fold = (s: string): string =>
  s
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase();
const wordsOf = (s: string): string[] =>
  fold(s)
    .split(/[^a-z0-9.]+/)
    .map((w) => w.replace(/^\.+|\.+$/g, ''))
    .filter(Boolean);
const phrase = (s: string): string => wordsOf(s).join(' ');

function readJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new FormularyError(`${file}: cannot be read (${(e as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FormularyError(`${file}: not valid JSON (${(e as Error).message})`);
  }
}

function shape(file: string, data: unknown): FormularyFile {
  if (!data || typeof data !== 'object' || Array.isArray(data)) throw new FormularyError(`${file}: expected an object with "ingredients" and/or "products"`);
  const o = data as Record<string, unknown>;
  for (const key of Object.keys(o))
    if (!['classes', 'ingredients', 'products', '$comment'].includes(key)) throw new FormularyError(`${file}: unknown top-level key "${key}"`);
  for (const key of ['classes', 'ingredients', 'products'])
    if (o[key] !== undefined && !Array.isArray(o[key])) throw new FormularyError(`${file}: "${key}" must be an array`);
  return o as FormularyFile;
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isStr = (v: unknown): v is string => typeof v === 'string' && v.trim() !== '';
const strList = (v: unknown): boolean => Array.isArray(v) && v.every(isStr);

function checkClass(c: DrugClass): string | undefined {
  if (!c || typeof c !== 'object') return 'not an object';
  if (!isStr(c.id) || !ID.test(c.id)) return 'id must be lower-case letters, digits and hyphens';
  if (!isStr(c.name)) return 'name is required';
  if (c.parent !== undefined && !isStr(c.parent)) return 'parent must be a class id';
  return undefined;
}

function checkIngredient(i: Ingredient): string | undefined {
  if (!i || typeof i !== 'object') return 'not an object';
  if (!isStr(i.rxcui) || !CODE.test(i.rxcui)) return 'rxcui must be an RxNorm code (digits)';
  if (!isStr(i.name)) return 'name is required';
  if (!strList(i.brands ?? [])) return 'brands must be a list of names';
  if (i.also !== undefined && !strList(i.also)) return 'also must be a list of names';
  if (!strList(i.classes ?? [])) return 'classes must be a list of class ids';
  if (i.codes !== undefined && !(strList(i.codes) && i.codes.every((c) => CODE.test(c)))) return 'codes must be a list of RxNorm codes';
  if (i.dose !== undefined) {
    const { minDailyMg: lo, maxDailyMg: hi } = i.dose;
    if ((lo !== undefined && !(isNum(lo) && lo >= 0)) || (hi !== undefined && !(isNum(hi) && hi > 0))) return 'dose limits must be numbers (mg)';
    if (lo !== undefined && hi !== undefined && lo > hi) return `dose: minDailyMg ${lo} is above maxDailyMg ${hi}`;
    const { minWeeklyMg: wlo, maxWeeklyMg: whi } = i.dose;
    if ((wlo !== undefined && !(isNum(wlo) && wlo >= 0)) || (whi !== undefined && !(isNum(whi) && whi > 0))) return 'weekly dose limits must be numbers (mg)';
    if (wlo !== undefined && whi !== undefined && wlo > whi) return `dose: minWeeklyMg ${wlo} is above maxWeeklyMg ${whi}`;
  }
  for (const r of i.renal ?? [])
    if (!r || !isNum(r.belowEgfr) || r.belowEgfr <= 0 || !['avoid', 'reduce'].includes(r.action) || !isStr(r.text))
      return 'each renal rule needs belowEgfr (number), action ("avoid" or "reduce") and text';
  for (const k of ['pregnancy', 'lactation'] as const) {
    const c = i[k];
    if (c !== undefined && (!c || !LEVELS.has(c.level) || !isStr(c.text))) return `${k} needs level (contraindicated, avoid or caution) and text`;
  }
  return undefined;
}

function checkProduct(p: Product): string | undefined {
  if (!p || typeof p !== 'object') return 'not an object';
  if (!isStr(p.rxcui) || !CODE.test(p.rxcui)) return 'rxcui must be an RxNorm code (digits)';
  if (!isStr(p.display)) return 'display (the RxNorm name) is required';
  if (!isStr(p.label)) return 'label is required';
  if (!Array.isArray(p.ingredients) || !p.ingredients.length) return 'ingredients must list at least one ingredient';
  for (const i of p.ingredients)
    if (!i || !isStr(i.rxcui) || (i.mg !== undefined && !(isNum(i.mg) && i.mg > 0))) return 'each ingredient needs rxcui and, optionally, mg > 0';
  if (!isStr(p.form) || !isStr(p.route)) return 'form and route are required';
  if (p.sig !== undefined && !isStr(p.sig)) return 'sig must be text';
  if (p.perDay !== undefined && !(isNum(p.perDay) && p.perDay >= 0)) return 'perDay must be a number ≥ 0';
  if (!(Number.isInteger(p.days) && p.days > 0)) return 'days must be a whole number > 0';
  if (!(Number.isInteger(p.refills) && p.refills >= 0)) return 'refills must be a whole number ≥ 0';
  if (p.also !== undefined && !strList(p.also)) return 'also must be a list of names';
  if (p.codes !== undefined && !(strList(p.codes) && p.codes.every((c) => CODE.test(c)))) return 'codes must be a list of RxNorm codes';
  return undefined;
}

/** Adds one file's entries; later files replace earlier entries with the same id or RxCUI. */
function merge(
  file: string,
  data: FormularyFile,
  into: { classes: Map<string, DrugClass>; ingredients: Map<string, Ingredient>; products: Map<string, Product> },
) {
  const label = (kind: string, n: number, id?: string) => `${file}: ${kind}[${n}]${id ? ` (${id})` : ''}`;
  const once = new Set<string>();
  (data.classes ?? []).forEach((c, n) => {
    const bad = checkClass(c);
    if (bad) throw new FormularyError(`${label('classes', n, c?.id)}: ${bad}`);
    if (once.has(`c:${c.id}`)) throw new FormularyError(`${label('classes', n, c.id)}: duplicate class id`);
    once.add(`c:${c.id}`);
    into.classes.set(c.id, c);
  });
  (data.ingredients ?? []).forEach((i, n) => {
    const bad = checkIngredient(i);
    if (bad) throw new FormularyError(`${label('ingredients', n, i?.rxcui)}: ${bad}`);
    if (once.has(i.rxcui)) throw new FormularyError(`${label('ingredients', n, i.rxcui)}: RxCUI ${i.rxcui} appears twice in this file`);
    once.add(i.rxcui);
    into.ingredients.set(i.rxcui, { ...i, brands: i.brands ?? [], classes: i.classes ?? [] });
  });
  (data.products ?? []).forEach((p, n) => {
    const bad = checkProduct(p);
    if (bad) throw new FormularyError(`${label('products', n, p?.rxcui)}: ${bad}`);
    if (once.has(p.rxcui)) throw new FormularyError(`${label('products', n, p.rxcui)}: RxCUI ${p.rxcui} appears twice in this file`);
    once.add(p.rxcui);
    into.products.set(p.rxcui, p);
  });
}

/** Cross-checks the merged data: class parents, class ids, product ingredients, codes used once. */
function validate(f: Pick<Formulary, 'classes' | 'ingredients' | 'products' | 'files'>) {
  const where = f.files.join(' + ');
  for (const c of f.classes.values()) {
    if (c.parent && !f.classes.has(c.parent)) throw new FormularyError(`${where}: class "${c.id}" has unknown parent "${c.parent}"`);
    const seen = new Set<string>();
    for (let p: DrugClass | undefined = c; p; p = p.parent ? f.classes.get(p.parent) : undefined) {
      if (seen.has(p.id)) throw new FormularyError(`${where}: class "${c.id}" has a cycle in its parents`);
      seen.add(p.id);
    }
  }
  const owner = new Map<string, string>();
  const claim = (code: string, by: string) => {
    const had = owner.get(code);
    if (had) throw new FormularyError(`${where}: RxCUI ${code} is used by both ${had} and ${by}`);
    owner.set(code, by);
  };
  for (const i of f.ingredients.values()) {
    for (const c of i.classes) if (!f.classes.has(c)) throw new FormularyError(`${where}: ingredient ${i.rxcui} (${i.name}) has unknown class "${c}"`);
    claim(i.rxcui, `ingredient ${i.name}`);
  }
  for (const p of f.products.values()) {
    for (const i of p.ingredients)
      if (!f.ingredients.has(i.rxcui)) throw new FormularyError(`${where}: product ${p.rxcui} (${p.label}) refers to unknown ingredient ${i.rxcui}`);
    claim(p.rxcui, `product ${p.label}`);
    for (const c of p.codes ?? []) claim(c, `product ${p.label}`);
  }
  // An ingredient's other codes may be shared (a multi-ingredient concept such as co-trimoxazole) but not
  // be another ingredient's or a product's code.
  for (const i of f.ingredients.values())
    for (const c of i.codes ?? []) if (owner.has(c)) throw new FormularyError(`${where}: RxCUI ${c} is used by both ${owner.get(c)} and ingredient ${i.name}`);
}

function build(f: Pick<Formulary, 'classes' | 'ingredients' | 'products' | 'files'>): Formulary {
  const codeIndex = new Map<string, Ingredient[]>();
  const productAlias = new Map<string, Product>();
  const add = (code: string, list: Ingredient[]) => {
    const had = codeIndex.get(code) ?? [];
    codeIndex.set(code, [...had, ...list.filter((i) => !had.includes(i))]);
  };
  for (const i of f.ingredients.values()) {
    add(i.rxcui, [i]);
    for (const c of i.codes ?? []) add(c, [i]);
  }
  for (const p of f.products.values()) {
    const ings = p.ingredients.map((x) => f.ingredients.get(x.rxcui)!);
    add(p.rxcui, ings);
    for (const c of p.codes ?? []) {
      add(c, ings);
      productAlias.set(c, p);
    }
  }
  const names = new Map<string, Ingredient[]>();
  let longestName = 1;
  for (const i of f.ingredients.values())
    for (const n of [i.name, ...i.brands, ...(i.also ?? [])]) {
      const key = phrase(n);
      if (!key) continue;
      names.set(key, [...(names.get(key) ?? []).filter((x) => x !== i), i]);
      longestName = Math.max(longestName, key.split(' ').length);
    }
  const search: Indexed[] = [];
  let order = 0;
  for (const p of f.products.values()) {
    const ings = p.ingredients.map((x) => f.ingredients.get(x.rxcui)!);
    const label = fold(p.label);
    search.push({
      product: p,
      order: order++,
      heads: [label, ...ings.map((i) => fold(i.name))],
      words: [...new Set([...wordsOf(p.label), ...ings.flatMap((i) => wordsOf(i.name)), ...wordsOf(p.display)])],
      brandWords: [...new Set([...ings.flatMap((i) => [...i.brands, ...(i.also ?? [])].flatMap(wordsOf)), ...(p.also ?? []).flatMap(wordsOf)])],
      nums: label.match(/\d+(?:\.\d+)?/g) ?? [],
      single: p.ingredients.length === 1,
      firstMg: p.ingredients[0]?.mg ?? 0,
    });
  }
  return { ...f, codeIndex, productAlias, names, longestName, search };
}

let current: Formulary | undefined;

/**
 * Loads the shipped formulary and merges the extension file (argument, else HALE_FORMULARY_FILE, else
 * ./hale.formulary.json when it exists). The result becomes the one every lookup uses. Throws
 * FormularyError naming the file and entry when anything is malformed.
 */
export function loadFormulary(file?: string): Formulary {
  const classesFile = fileURLToPath(new URL('classes.json', KNOWLEDGE));
  const drugsFile = fileURLToPath(new URL('drugs.json', KNOWLEDGE));
  const into = { classes: new Map<string, DrugClass>(), ingredients: new Map<string, Ingredient>(), products: new Map<string, Product>() };
  const classes = readJson(classesFile);
  if (!Array.isArray(classes)) throw new FormularyError(`${classesFile}: expected an array of classes`);
  merge('classes.json', { classes: classes as DrugClass[] }, into);
  merge('drugs.json', shape('drugs.json', readJson(drugsFile)), into);
  const files = ['classes.json', 'drugs.json'];
  const explicit = file ?? process.env.HALE_FORMULARY_FILE;
  const extension = resolve(explicit || 'hale.formulary.json');
  if (explicit || existsSync(extension)) {
    if (!existsSync(extension)) throw new FormularyError(`${extension}: formulary extension file not found (HALE_FORMULARY_FILE)`);
    merge(extension, shape(extension, readJson(extension)), into);
    files.push(extension);
  }
  const f = { ...into, files };
  validate(f);
  current = build(f);
  return current;
}

/** The formulary in use, loaded on first call (the server calls it at start, so a bad extension file stops the start). */
export function formulary(): Formulary {
  return current ?? loadFormulary();
}

export function productByRxcui(rxcui: string): Product | undefined {
  const f = formulary();
  return f.products.get(rxcui) ?? f.productAlias.get(rxcui);
}

export function ingredientByRxcui(rxcui: string): Ingredient | undefined {
  return formulary().ingredients.get(rxcui);
}

export function allProducts(): Product[] {
  return [...formulary().products.values()];
}

export function allIngredients(): Ingredient[] {
  return [...formulary().ingredients.values()];
}

export function allClasses(): DrugClass[] {
  return [...formulary().classes.values()];
}

export function classById(id: string): DrugClass | undefined {
  return formulary().classes.get(id);
}

export function className(id: string): string {
  return formulary().classes.get(id)?.name ?? id;
}

/** The ingredient's classes and all their parents, most specific first, without repeats. */
export function classesOf(ingredient: Ingredient | string): string[] {
  const f = formulary();
  const ing = typeof ingredient === 'string' ? f.ingredients.get(ingredient) : ingredient;
  const out: string[] = [];
  for (const id of ing?.classes ?? [])
    for (let c = f.classes.get(id); c && !out.includes(c.id); c = c.parent ? f.classes.get(c.parent) : undefined) out.push(c.id);
  return out;
}

/** Ingredients in a class (directly or through a child class). */
export function ingredientsInClass(id: string): Ingredient[] {
  return allIngredients().filter((i) => classesOf(i).includes(id));
}

const RXNORM = /rxnorm/i;

/**
 * The ingredients a coded or free-text medication concept contains: a product RxCUI gives its
 * ingredients, an ingredient RxCUI itself; otherwise ingredient names and brand names appearing as
 * words in the codings' displays and the text (case-insensitive), e.g. "Coumadin 5mg" → warfarin.
 */
export function ingredientsFor(concept: { coding?: { system?: string; code?: string; display?: string }[]; text?: string } | undefined): Ingredient[] {
  if (!concept) return [];
  const f = formulary();
  const found: Ingredient[] = [];
  const push = (list: Ingredient[]) => {
    for (const i of list) if (!found.includes(i)) found.push(i);
  };
  for (const c of concept.coding ?? []) if (c?.code && (!c.system || RXNORM.test(c.system))) push(f.codeIndex.get(c.code) ?? []);
  if (found.length) return found;
  const texts = [concept.text, ...(concept.coding ?? []).map((c) => c?.display)].filter(isStr);
  for (const t of texts) {
    const w = wordsOf(t).map((x) => x.replace(/^(\d+(?:\.\d+)?)[a-z]+$/, '$1'));
    for (let a = 0; a < w.length; a++)
      for (let n = Math.min(f.longestName, w.length - a); n >= 1; n--) {
        const hit = f.names.get(w.slice(a, a + n).join(' '));
        if (hit) {
          push(hit);
          break;
        }
      }
  }
  return found;
}

/**
 * Products matching what was typed: brand or generic names, strengths too ("amlo 10", "norvasc",
 * "lisin"). Every typed word must start a word of the product (numbers match strengths). Ranked: label
 * or ingredient name starting with the first word, then a word starting with it, then brand names and
 * synonyms only; within a rank single-ingredient drugs first, then by name and strength.
 */
export function searchProducts(q: string, limit = 20): Product[] {
  const words = wordsOf(q.trim());
  if (!words.length || limit <= 0) return [];
  const [first] = words;
  const numeric = (w: string) => /^\d+(?:\.\d+)?$/.test(w);
  const scored: { e: Indexed; rank: number; exact: number }[] = [];
  for (const e of formulary().search) {
    let brandOnly = false;
    let exact = 0;
    let ok = true;
    for (const w of words) {
      if (numeric(w)) {
        if (e.nums.includes(w)) exact++;
        else if (!e.nums.some((n) => n.startsWith(w))) {
          ok = false;
          break;
        }
        continue;
      }
      if (e.words.some((x) => x.startsWith(w))) continue;
      if (e.brandWords.some((x) => x.startsWith(w))) {
        brandOnly = true;
        continue;
      }
      ok = false;
      break;
    }
    if (!ok) continue;
    const rank = numeric(first) ? 1 : e.heads.some((h) => h.startsWith(first)) ? 0 : brandOnly || !e.words.some((x) => x.startsWith(first)) ? 2 : 1;
    scored.push({ e, rank, exact });
  }
  scored.sort(
    (a, b) =>
      a.rank - b.rank ||
      b.exact - a.exact ||
      Number(b.e.single) - Number(a.e.single) ||
      a.e.heads[0].split(' ')[0].localeCompare(b.e.heads[0].split(' ')[0]) ||
      a.e.firstMg - b.e.firstMg ||
      a.e.order - b.e.order,
  );
  return scored.slice(0, limit).map((s) => s.e.product);
}
