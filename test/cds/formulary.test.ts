/**
 * Hale's formulary (src/cds/formulary.ts): the shipped data's integrity, search as the prescriber types
 * (generic, brand, strength), resolving a medication's ingredients from codes or free text, class
 * parents, and the administrator's extension file (merged, overriding, and rejected when malformed).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  classesOf,
  className,
  FormularyError,
  ingredientByRxcui,
  ingredientsFor,
  loadFormulary,
  productByRxcui,
  searchProducts,
} from '../../src/cds/formulary.ts';
import { ACUTE, CHRONIC, METOPROLOL, RXNORM, WARFARIN } from '../../src/seed/catalog.ts';
import { DRUGS, defaultSig } from '../../web/src/actions/terms.ts';

const knowledge = (name: string) => JSON.parse(readFileSync(new URL(`../../src/cds/knowledge/${name}`, import.meta.url), 'utf8'));
const names = (q: string, limit?: number) => searchProducts(q, limit).map((p) => p.label);
const ingredientNames = (c: Parameters<typeof ingredientsFor>[0]) => ingredientsFor(c).map((i) => i.name);

delete process.env.HALE_FORMULARY_FILE;

describe('formulary data', () => {
  const drugs = knowledge('drugs.json');
  const classes = knowledge('classes.json');

  test('loads and covers the commonly prescribed drugs', () => {
    const f = loadFormulary();
    assert.ok(f.ingredients.size >= 200, `${f.ingredients.size} ingredients`);
    assert.ok(f.products.size >= 300, `${f.products.size} products`);
    assert.ok(f.classes.size >= 40, `${f.classes.size} classes`);
  });

  test('every class id, parent and product ingredient is known; no RxCUI is used twice', () => {
    const ids = new Set(classes.map((c: { id: string }) => c.id));
    assert.equal(ids.size, classes.length, 'class ids are unique');
    for (const c of classes) {
      assert.match(c.id, /^[a-z0-9][a-z0-9-]*$/);
      if (c.parent) assert.ok(ids.has(c.parent), `parent of ${c.id}`);
    }
    const ingredients = new Set<string>();
    for (const i of drugs.ingredients) {
      for (const c of i.classes) assert.ok(ids.has(c), `${i.name}: class ${c}`);
      assert.ok(!ingredients.has(i.rxcui), `ingredient ${i.rxcui} twice`);
      ingredients.add(i.rxcui);
      if (i.dose?.minDailyMg !== undefined && i.dose.maxDailyMg !== undefined) assert.ok(i.dose.minDailyMg <= i.dose.maxDailyMg, i.name);
    }
    const codes = new Set<string>(ingredients);
    for (const p of drugs.products) {
      for (const c of [p.rxcui, ...(p.codes ?? [])]) {
        assert.ok(!codes.has(c), `RxCUI ${c} (${p.label}) used twice`);
        codes.add(c);
      }
      assert.ok(p.ingredients.length > 0, p.label);
      for (const i of p.ingredients) assert.ok(ingredients.has(i.rxcui), `${p.label}: ingredient ${i.rxcui}`);
      assert.ok(p.days > 0 && p.refills >= 0, p.label);
    }
  });

  test("each product's default sig stays within its ingredients' usual daily dose", () => {
    const byCode = new Map<string, any>(drugs.ingredients.map((i: any) => [i.rxcui, i]));
    const outside: string[] = [];
    for (const p of drugs.products) {
      if (!p.perDay) continue;
      for (const x of p.ingredients) {
        const dose = byCode.get(x.rxcui)?.dose;
        if (x.mg === undefined || !dose) continue;
        const daily = x.mg * p.perDay;
        if ((dose.maxDailyMg !== undefined && daily > dose.maxDailyMg + 1e-9) || (dose.minDailyMg !== undefined && daily < dose.minDailyMg - 1e-9))
          outside.push(p.label);
      }
    }
    // Simvastatin 80 mg: the label restricts it (myopathy), so ordering it should be questioned.
    assert.deepEqual(outside, ['Simvastatin 80 mg tablet']);
  });

  test('every drug of the quick-action formulary (web/src/actions/terms.ts) is there with its label and sig', () => {
    for (const d of DRUGS) {
      const p = productByRxcui(d.code);
      assert.ok(p, `${d.label} (${d.code})`);
      assert.equal(p.label, d.label);
      assert.equal(p.sig, defaultSig(d).text, d.label);
      assert.equal(p.days, d.days, d.label);
      assert.equal(p.refills, d.refills, d.label);
    }
  });

  test('every medication of the demo seed resolves to its ingredients', () => {
    const meds = [...CHRONIC.flatMap((c) => c.meds), ...ACUTE.flatMap((a) => (a.med ? [a.med] : [])), WARFARIN, METOPROLOL];
    for (const m of meds) {
      const found = ingredientsFor({ coding: [{ system: RXNORM, code: m.code, display: m.display }] });
      assert.ok(found.length > 0, `${m.display} (${m.code})`);
      assert.ok(productByRxcui(m.code), `product for ${m.display} (${m.code})`);
    }
    assert.deepEqual(ingredientNames({ coding: [{ system: RXNORM, code: WARFARIN.code }] }), ['warfarin']);
    assert.deepEqual(ingredientNames({ coding: [{ system: RXNORM, code: METOPROLOL.code }] }), ['metoprolol']);
  });
});

describe('searchProducts', () => {
  before(() => loadFormulary());

  test('generic name prefix, strength typed too', () => {
    assert.equal(names('amlo 10')[0], 'Amlodipine 10 mg tablet');
    assert.equal(searchProducts('amlo 10')[0].rxcui, '308135');
    const lisin = names('lisin');
    assert.ok(lisin.length >= 6);
    assert.ok(
      lisin.slice(0, 6).every((l) => /^Lisinopril \d/.test(l)),
      'single-ingredient lisinopril first',
    );
    assert.ok(
      lisin.some((l) => l.startsWith('Lisinopril-HCTZ')),
      'combinations follow',
    );
    assert.deepEqual(names('sert 50'), ['Sertraline 50 mg tablet']);
    assert.deepEqual(names('ATORVASTATIN 80'), ['Atorvastatin 80 mg tablet']);
  });

  test('brand names find the generic drug', () => {
    const norvasc = searchProducts('norvasc');
    assert.ok(norvasc.length >= 3);
    assert.ok(norvasc.every((p) => p.ingredients.some((i) => i.rxcui === '17767')));
    assert.equal(norvasc[0].label, 'Amlodipine 2.5 mg tablet');
    const coumadin = names('coumadin');
    assert.ok(coumadin.includes('Warfarin 5 mg tablet') && coumadin.every((l) => l.startsWith('Warfarin ')));
    assert.deepEqual(names('coumadin 5'), ['Warfarin 5 mg tablet']);
    assert.deepEqual(names('eliquis'), ['Apixaban 2.5 mg tablet', 'Apixaban 5 mg tablet']);
    assert.ok(names('augmentin').every((l) => l.startsWith('Amoxicillin-clavulanate')));
    assert.equal(names('zestril 20')[0], 'Lisinopril 20 mg tablet');
  });

  test('word prefixes anywhere in the name, abbreviations and RxNorm words', () => {
    const hctz = names('hctz');
    assert.ok(hctz.includes('Hydrochlorothiazide 25 mg tablet') && hctz.includes('Hydrochlorothiazide 12.5 mg tablet'));
    assert.ok(hctz.indexOf('Lisinopril-HCTZ 10/12.5 mg tablet') < hctz.indexOf('Hydrochlorothiazide 25 mg tablet'), 'a word of the name before a synonym');
    assert.ok(names('paracetamol').includes('Acetaminophen 325 mg tablet'));
    assert.ok(names('hctz lisin').every((l) => l.startsWith('Lisinopril-HCTZ')));
    const succ = searchProducts('metoprolol succ');
    assert.ok(succ.length >= 4);
    assert.ok(succ.every((p) => /succinate/.test(p.display)));
  });

  test('ranked: name prefix, then word prefix, then brand only', () => {
    const pro = names('pro', 50);
    const prop = pro.findIndex((l) => l.startsWith('Propranolol'));
    const prozac = pro.findIndex((l) => l.startsWith('Fluoxetine'));
    assert.ok(prop >= 0 && prozac >= 0, 'both a name and a brand (Prozac) match');
    assert.ok(prop < prozac, 'the name match ranks first');
  });

  test('nothing for nothing, limit respected, unknown words match nothing', () => {
    assert.deepEqual(searchProducts(''), []);
    assert.deepEqual(searchProducts('   '), []);
    assert.deepEqual(searchProducts('xyzzy'), []);
    assert.deepEqual(searchProducts('amlodipine 7'), []);
    assert.equal(searchProducts('a', 5).length, 5);
    assert.equal(searchProducts('a').length, 20);
  });
});

describe('ingredientsFor, classesOf', () => {
  before(() => loadFormulary());

  test('a product code gives its ingredients, an ingredient code itself', () => {
    assert.deepEqual(ingredientNames({ coding: [{ system: RXNORM, code: '314076' }] }), ['lisinopril']);
    assert.deepEqual(ingredientNames({ coding: [{ system: RXNORM, code: '197885' }] }).sort(), ['hydrochlorothiazide', 'lisinopril']);
    assert.deepEqual(ingredientNames({ coding: [{ system: RXNORM, code: '11289' }] }), ['warfarin']);
    assert.deepEqual(ingredientNames({ coding: [{ code: '83367' }] }), ['atorvastatin']);
    assert.deepEqual(ingredientNames({ coding: [{ system: RXNORM, code: '10831' }] }).sort(), ['sulfamethoxazole', 'trimethoprim']);
  });

  test('otherwise ingredient and brand names in the text or display, as words', () => {
    assert.deepEqual(ingredientNames({ text: 'Coumadin 5mg' }), ['warfarin']);
    assert.deepEqual(ingredientNames({ text: 'coumadin' }), ['warfarin']);
    assert.deepEqual(ingredientNames({ text: 'HCTZ 25 mg' }), ['hydrochlorothiazide']);
    assert.deepEqual(ingredientNames({ coding: [{ system: 'http://example.org/local', code: 'X1', display: 'Lipitor 20 mg daily' }] }), ['atorvastatin']);
    assert.deepEqual(ingredientNames({ text: 'Acetaminophen/HYDROcodone' }).sort(), ['acetaminophen', 'hydrocodone']);
    assert.deepEqual(ingredientNames({ coding: [{ system: RXNORM, code: '999999999', display: 'Naproxen sodium 220 MG' }] }), ['naproxen']);
    assert.deepEqual(ingredientsFor({ text: 'warfarinish vitamins' }), []);
    assert.deepEqual(ingredientsFor({ text: 'something else entirely' }), []);
    assert.deepEqual(ingredientsFor(undefined), []);
  });

  test('classes include their parents; class names', () => {
    const clarithromycin = ingredientByRxcui('21212')!;
    const cls = classesOf(clarithromycin);
    for (const c of ['macrolide', 'antibacterial', 'strong-cyp3a4-inhibitor', 'qt-prolonging']) assert.ok(cls.includes(c), c);
    assert.deepEqual(classesOf('723'), ['penicillin', 'beta-lactam', 'antibacterial']);
    assert.ok(classesOf('36437').includes('antidepressant'));
    assert.equal(className('ssri'), 'SSRIs (selective serotonin reuptake inhibitors)');
    assert.equal(className('no-such-class'), 'no-such-class');
  });
});

describe('administrator extension file', () => {
  let dir: string;
  const write = (name: string, data: unknown) => {
    const file = join(dir, name);
    writeFileSync(file, typeof data === 'string' ? data : JSON.stringify(data));
    return file;
  };
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'hale-formulary-'));
  });
  after(() => {
    delete process.env.HALE_FORMULARY_FILE;
    loadFormulary();
    rmSync(dir, { recursive: true, force: true });
  });

  test('adds classes, ingredients and products, and replaces shipped entries by RxCUI', () => {
    const file = write('hale.formulary.json', {
      classes: [{ id: 'local-trial-drug', name: 'Local trial drugs' }],
      ingredients: [
        { rxcui: '990001', name: 'zentrafil', brands: ['Zentra'], classes: ['local-trial-drug', 'nsaid'], dose: { minDailyMg: 10, maxDailyMg: 40 } },
      ],
      products: [
        {
          rxcui: '990002',
          display: 'zentrafil 10 MG Oral Tablet',
          label: 'Zentrafil 10 mg tablet',
          ingredients: [{ rxcui: '990001', mg: 10 }],
          form: 'tablet',
          route: 'oral',
          sig: '1 tablet by mouth once daily',
          perDay: 1,
          days: 30,
          refills: 2,
        },
        { ...productByRxcui('308135')!, label: 'Amlodipine 10 mg tablet (house brand)' },
      ],
    });
    process.env.HALE_FORMULARY_FILE = file;
    const f = loadFormulary();
    assert.ok(f.files.includes(file));
    assert.deepEqual(names('zentra'), ['Zentrafil 10 mg tablet']);
    assert.deepEqual(ingredientNames({ text: 'Zentra 10 mg' }), ['zentrafil']);
    assert.deepEqual(classesOf('990001'), ['local-trial-drug', 'nsaid']);
    assert.equal(productByRxcui('308135')!.label, 'Amlodipine 10 mg tablet (house brand)');
    assert.ok(productByRxcui('197361'), 'the rest of the shipped formulary stays');
  });

  test('loadFormulary(file) takes the file directly', () => {
    const file = write('direct.json', {
      products: [{ ...productByRxcui('314076')!, rxcui: '990003', label: 'Lisinopril 10 mg tablet (unit dose)', codes: undefined }],
    });
    loadFormulary(file);
    assert.deepEqual(names('lisinopril 10 unit'), ['Lisinopril 10 mg tablet (unit dose)']);
  });

  test('a malformed file is an error naming the file and the problem', () => {
    const cases: [unknown, RegExp][] = [
      ['{ not json', /not valid JSON/],
      [[], /expected an object/],
      [{ drugs: [] }, /unknown top-level key "drugs"/],
      [{ ingredients: [{ rxcui: '990010', name: 'x', brands: [], classes: ['no-such-class'] }] }, /unknown class "no-such-class"/],
      [
        { products: [{ rxcui: '990011', display: 'd', label: 'l', ingredients: [{ rxcui: '990012' }], form: 'tablet', route: 'oral', days: 1, refills: 0 }] },
        /product 990011 \(l\) refers to unknown ingredient 990012/,
      ],
      [
        { products: [{ rxcui: 'abc', display: 'd', label: 'l', ingredients: [{ rxcui: '161' }], form: 'tablet', route: 'oral', days: 1, refills: 0 }] },
        /rxcui must be an RxNorm code/,
      ],
      [
        { ingredients: [{ rxcui: '990013', name: 'y', brands: [], classes: [], dose: { minDailyMg: 50, maxDailyMg: 5 } }] },
        /minDailyMg 50 is above maxDailyMg 5/,
      ],
      [{ ingredients: [{ rxcui: '990014', name: 'z', brands: [], classes: [], pregnancy: { level: 'maybe', text: 't' } }] }, /pregnancy needs level/],
      [{ classes: [{ id: 'Bad Id', name: 'n' }] }, /lower-case letters/],
      [{ classes: [{ id: 'orphan', name: 'n', parent: 'nowhere' }] }, /unknown parent "nowhere"/],
      [{ products: [{ ...productByRxcui('314076')!, rxcui: '990015', codes: ['308135'] }] }, /RxCUI 308135 is used by both/],
    ];
    for (const [n, [data, message]] of cases.entries()) {
      const file = write(`bad-${n}.json`, data);
      process.env.HALE_FORMULARY_FILE = file;
      assert.throws(
        () => loadFormulary(),
        (e: Error) => e instanceof FormularyError && e.message.includes(file) && message.test(e.message),
        `case ${n}: ${message}`,
      );
    }
  });

  test('a named file that does not exist is an error; the default name is optional', () => {
    process.env.HALE_FORMULARY_FILE = join(dir, 'missing.json');
    assert.throws(() => loadFormulary(), /missing\.json: formulary extension file not found/);
    delete process.env.HALE_FORMULARY_FILE;
    const f = loadFormulary();
    assert.deepEqual(f.files, ['classes.json', 'drugs.json']);
  });
});
