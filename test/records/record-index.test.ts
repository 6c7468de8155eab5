/**
 * Record search without a database: folding and terms, what is read from each resource (attachments,
 * narrative, values), the in-memory index (AND, prefix, ranking, removal) and snippets with their marks.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseQuery, RecordIndex, snippet } from '../../src/records/record-index.ts';
import { attachmentText, extract, fold, narrative, terms } from '../../src/records/text.ts';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
let rid = 0;
function row(resource: Record<string, unknown>, stamp = '1') {
  const id = String(++rid);
  return { rid: id, type: String(resource.resourceType), id: `x${id}`, stamp, content: JSON.stringify({ id: `x${id}`, ...resource }) };
}

describe('folding and terms', () => {
  test('accents, case and letters NFD leaves alone', () => {
    assert.equal(fold('Zoë MÜLLER Ærøskøbing Straße Łódź'), 'zoe muller aeroskobing strasse lodz');
    assert.deepEqual(terms('HbA1c 7.2 %; BP 140/90, naïve (café)'), ['hba1c', '7.2', 'bp', '140', '90', 'naive', 'cafe']);
    // Combining marks typed separately fold the same as precomposed letters.
    assert.deepEqual(terms('cafe\u0301 nai\u0308ve'), ['cafe', 'naive']);
  });

  test('a query: words without repeats, the last one apart (a prefix)', () => {
    assert.deepEqual(parseQuery('Chest  chest PAIN ra'), { words: ['chest', 'pain'], last: 'ra' });
    assert.deepEqual(parseQuery('pain pain'), { words: [], last: 'pain' });
    assert.equal(parseQuery(' ?! '), undefined);
  });
});

describe('what is read from a resource', () => {
  test('a note: title from its description, body from its text/plain, text/html attachments', () => {
    const x = extract({
      resourceType: 'DocumentReference',
      status: 'current',
      description: 'Cardiology consult',
      date: '2024-01-10',
      content: [
        { attachment: { contentType: 'text/plain; charset=utf-8', data: b64('Holter\nmonitor   ordered.') } },
        { attachment: { contentType: 'text/html', data: b64('<p>Echo &amp; <b>stress</b> test</p>') } },
        { attachment: { contentType: 'application/pdf', data: b64('%PDF secret words') } },
      ],
    });
    assert.equal(x?.title, 'Cardiology consult');
    assert.equal(x?.date, '2024-01-10');
    assert.match(x?.body ?? '', /Holter monitor ordered\. · Echo & stress test/);
    assert.doesNotMatch(x?.body ?? '', /PDF|secret/);
  });

  test('narrative: tags out, entities decoded', () => {
    assert.equal(narrative('<div><p>a&lt;b &#233;t&#xE9;&nbsp;x</p><br/>y</div>').replace(/\s+/g, ' ').trim(), 'a<b été x y');
    assert.equal(attachmentText({ contentType: 'text/plain', data: b64('ok') }), 'ok');
    assert.equal(attachmentText({ contentType: 'text/plain', url: 'Binary/1' }), '');
  });

  test('an observation: title its code, body its value, components and interpretation; entered in error left out', () => {
    const bp = extract({
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ display: 'Blood pressure panel' }] },
      component: [
        { code: { text: 'Systolic' }, valueQuantity: { value: 150, unit: 'mm[Hg]' } },
        { code: { text: 'Diastolic' }, valueQuantity: { value: 95, unit: 'mm[Hg]' } },
      ],
      interpretation: [{ coding: [{ code: 'H', display: 'High' }] }],
      effectiveDateTime: '2024-02-02T10:00:00Z',
    });
    assert.equal(bp?.title, 'Blood pressure panel');
    assert.equal(bp?.body, 'Systolic · 150 mm[Hg] · Diastolic · 95 mm[Hg] · High');
    assert.equal(extract({ resourceType: 'Observation', status: 'entered-in-error', code: { text: 'x' } }), undefined);
    assert.equal(extract({ resourceType: 'Condition', code: { text: 'y' }, verificationStatus: { coding: [{ code: 'entered-in-error' }] } }), undefined);
    // SNOMED's semantic tags are left out of titles.
    assert.equal(extract({ resourceType: 'Condition', code: { coding: [{ display: 'Hypertension (disorder)' }] } })?.title, 'Hypertension');
  });
});

describe('the index', () => {
  const index = new RecordIndex();
  const a = row({
    resourceType: 'DocumentReference',
    description: 'Chest pain review',
    date: '2024-01-01',
    content: [{ attachment: { contentType: 'text/plain', data: b64('Radiating pain to the left arm.') } }],
  });
  const b = row({
    resourceType: 'DocumentReference',
    description: 'Follow-up',
    date: '2024-06-01',
    content: [{ attachment: { contentType: 'text/plain', data: b64('Chest pain gone. Radiology normal.') } }],
  });
  const c = row({ resourceType: 'Condition', code: { text: 'Chest wall pain' }, onsetDateTime: '2020-01-01' });
  for (const r of [a, b, c]) index.add(r);
  const find = (q: string) => index.search(parseQuery(q) as NonNullable<ReturnType<typeof parseQuery>>, 10, () => true);
  const refs = (q: string) => find(q).found.map((f) => f.doc.rid);

  test('AND over every word; the last as a prefix', () => {
    assert.deepEqual(refs('pain radi').sort(), [a.rid, b.rid].sort());
    assert.deepEqual(refs('wall pa'), [c.rid]);
    assert.deepEqual(refs('radi wall'), []);
    assert.deepEqual(refs('nothing'), []);
  });

  test('ranked: more words in the title, then the last word whole, then recent first', () => {
    // "chest pain": all in the title of a and c, body of b: c and a (c older) — title first whatever the date.
    assert.deepEqual(refs('chest pain'), [a.rid, c.rid, b.rid]);
    // "radi": a prefix in both notes' bodies: the most recent first.
    assert.deepEqual(refs('radi'), [b.rid, a.rid]);
    assert.equal(find('chest').total, 3);
  });

  test('an item removed or changed is found no more under its old words', () => {
    const i2 = new RecordIndex();
    const x = row({ resourceType: 'Condition', code: { text: 'Gout' } });
    i2.add(x);
    assert.equal(i2.search(parseQuery('gout') as never, 5, () => true).total, 1);
    i2.add({ ...x, stamp: '2', content: JSON.stringify({ resourceType: 'Condition', id: x.id, code: { text: 'Bursitis' } }) });
    assert.equal(i2.search(parseQuery('gout') as never, 5, () => true).total, 0);
    assert.equal(i2.search(parseQuery('burs') as never, 5, () => true).total, 1);
    i2.remove(x.rid);
    assert.equal(i2.search(parseQuery('burs') as never, 5, () => true).total, 0);
    assert.equal(i2.size, 0);
  });

  test('common abbreviations find long LOINC names, as a title would', () => {
    const i3 = new RecordIndex();
    const a1c = row({
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '4548-4', display: 'Hemoglobin A1c/Hemoglobin.total in Blood' }] },
      valueQuantity: { value: 7.1, unit: '%' },
    });
    const note = row({
      resourceType: 'DocumentReference',
      description: 'Diabetes review',
      content: [{ attachment: { contentType: 'text/plain', data: b64('HbA1c better.') } }],
    });
    i3.add(note);
    i3.add(a1c);
    const found = i3.search(parseQuery('hba1c') as never, 5, () => true).found;
    assert.deepEqual(
      found.map((f) => f.doc.rid),
      [a1c.rid, note.rid],
    );
    assert.equal(found[0].doc.title, 'Hemoglobin A1c/Hemoglobin.total in Blood');
  });

  test('visibility is asked per item', () => {
    assert.deepEqual(
      index.search(parseQuery('chest') as never, 10, (d) => d.rid !== a.rid).found.map((f) => f.doc.rid),
      [c.rid, b.rid],
    );
  });

  test('snippets: around the words, cut at words, marks on the words', () => {
    const body = `${'Lorem ipsum dolor sit amet. '.repeat(10)}The patient reports crushing chest pain at rest. ${'Consectetur adipiscing elit. '.repeat(10)}`;
    const s = snippet(body, parseQuery('chest cru') as never);
    assert.ok(s.text.startsWith('…') && s.text.endsWith('…'), s.text);
    assert.ok(s.text.length <= 162, String(s.text.length));
    const marked = s.marks.map(([x, y]) => s.text.slice(x, y));
    assert.deepEqual(marked, ['crushing', 'chest']);
    const short = snippet('Pain.', parseQuery('pain') as never);
    assert.deepEqual(short, { text: 'Pain.', marks: [[0, 4]] });
    // Accented text: marks point at the original letters.
    const accented = snippet('Revue: œdème du pied', parseQuery('oedeme') as never);
    assert.deepEqual(
      accented.marks.map(([x, y]) => accented.text.slice(x, y)),
      ['œdème'],
    );
  });
});
