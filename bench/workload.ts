/**
 * The seeded benchmark workload: synthetic Patients, vital-sign Observations (LOINC, UCUM units,
 * effective dates spread over ten years) and transaction bundles. Same seed, same resources.
 */
import type { Random } from './random.ts';

export const MRN_SYSTEM = 'urn:oid:2.16.840.1.113883.3.7418.1';
export const LOINC = 'http://loinc.org';

const FAMILY = [
  'Smith',
  'Johnson',
  'Williams',
  'Brown',
  'Jones',
  'Garcia',
  'Miller',
  'Davis',
  'Rodriguez',
  'Martinez',
  'Hernandez',
  'Lopez',
  'Gonzalez',
  'Wilson',
  'Anderson',
  'Thomas',
  'Taylor',
  'Moore',
  'Jackson',
  'Martin',
  'Lee',
  'Perez',
  'Thompson',
  'White',
  'Harris',
  'Sanchez',
  'Clark',
  'Ramirez',
  'Lewis',
  'Robinson',
  'Walker',
  'Young',
  'Allen',
  'King',
  'Wright',
  'Scott',
  'Torres',
  'Nguyen',
  'Hill',
  'Flores',
  'Green',
  'Adams',
  'Nelson',
  'Baker',
  'Hall',
  'Rivera',
  'Campbell',
  'Mitchell',
  'Carter',
  'Roberts',
  'Okafor',
  'Müller',
  'Schmidt',
  'Dubois',
  'Rossi',
  'Kowalski',
  'Novak',
  'Yamamoto',
  'Kim',
  'Singh',
  'Patel',
  'Cohen',
  'Larsen',
  'Jensen',
  'Nielsen',
  'Andersson',
  'Johansson',
  'Virtanen',
  'Silva',
  'Santos',
  'Costa',
  'Pereira',
  'Fernández',
  'González',
  'Ivanov',
  'Petrov',
  'Horvat',
  'Popescu',
  'Papadopoulos',
  'Yilmaz',
];
const GIVEN = [
  'James',
  'Mary',
  'Robert',
  'Patricia',
  'John',
  'Jennifer',
  'Michael',
  'Linda',
  'David',
  'Elizabeth',
  'William',
  'Barbara',
  'Richard',
  'Susan',
  'Joseph',
  'Jessica',
  'Thomas',
  'Sarah',
  'Charles',
  'Karen',
  'Amara',
  'Chen',
  'Fatima',
  'Hiroshi',
  'Ingrid',
  'José',
  'Kwame',
  'Lena',
  'Mateo',
  'Noor',
  'Olga',
  'Priya',
];
const CITIES = ['Springfield', 'Riverton', 'Lakeside', 'Fairview', 'Greenville', 'Madison', 'Georgetown', 'Salem'];

/** The vital signs a clinic records, with realistic ranges and UCUM units. */
export const VITALS = [
  { code: '8867-4', display: 'Heart rate', unit: '/min', min: 48, max: 120, decimals: 0 },
  { code: '9279-1', display: 'Respiratory rate', unit: '/min', min: 10, max: 26, decimals: 0 },
  { code: '8310-5', display: 'Body temperature', unit: 'Cel', min: 35.8, max: 39.5, decimals: 1 },
  { code: '8480-6', display: 'Systolic blood pressure', unit: 'mm[Hg]', min: 95, max: 180, decimals: 0 },
  { code: '8462-4', display: 'Diastolic blood pressure', unit: 'mm[Hg]', min: 55, max: 110, decimals: 0 },
  { code: '29463-7', display: 'Body weight', unit: 'kg', min: 3, max: 140, decimals: 1 },
  { code: '8302-2', display: 'Body height', unit: 'cm', min: 50, max: 200, decimals: 1 },
  { code: '59408-5', display: 'Oxygen saturation in Arterial blood by Pulse oximetry', unit: '%', min: 88, max: 100, decimals: 0 },
] as const;

const pad = (n: number, width: number) => String(n).padStart(width, '0');

export function mrn(n: number): string {
  return `MRN${pad(n, 7)}`;
}

export function familyNames(): readonly string[] {
  return FAMILY;
}

export function patient(rng: Random, n: number): Record<string, unknown> {
  const gender = rng.next() < 0.5 ? 'female' : 'male';
  const year = rng.int(1930, 2022);
  return {
    resourceType: 'Patient',
    identifier: [{ use: 'usual', system: MRN_SYSTEM, value: mrn(n) }],
    active: true,
    name: [{ use: 'official', family: rng.pick(FAMILY), given: [rng.pick(GIVEN), rng.pick(GIVEN)] }],
    telecom: [{ system: 'phone', value: `555-${pad(rng.int(0, 9999), 4)}`, use: 'home' }],
    gender,
    birthDate: `${year}-${pad(rng.int(1, 12), 2)}-${pad(rng.int(1, 28), 2)}`,
    address: [{ line: [`${rng.int(1, 999)} Main Street`], city: rng.pick(CITIES), postalCode: pad(rng.int(10000, 99999), 5), country: 'US' }],
  };
}

/** A date-time in 2015–2024, to the second, with a UTC offset. */
export function effective(rng: Random): string {
  const t = Date.UTC(2015, 0, 1) + Math.floor(rng.next() * (Date.UTC(2025, 0, 1) - Date.UTC(2015, 0, 1)));
  return new Date(Math.floor(t / 1000) * 1000).toISOString().replace('.000Z', '+00:00');
}

export function observation(rng: Random, subject: string): Record<string, unknown> {
  const v = rng.pick(VITALS);
  const value = Number((v.min + rng.next() * (v.max - v.min)).toFixed(v.decimals));
  return {
    resourceType: 'Observation',
    status: 'final',
    category: [
      {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs', display: 'Vital Signs' }],
      },
    ],
    code: { coding: [{ system: LOINC, code: v.code, display: v.display }], text: v.display },
    subject: { reference: subject },
    effectiveDateTime: effective(rng),
    valueQuantity: { value, unit: v.unit, system: 'http://unitsofmeasure.org', code: v.unit },
  };
}

/** A transaction: one new Patient and ten Observations referring to it by urn:uuid. */
export function transaction(rng: Random, n: number): Record<string, unknown> {
  const pid = `urn:uuid:${rng.uuid()}`;
  const entry: Record<string, unknown>[] = [{ fullUrl: pid, resource: patient(rng, n), request: { method: 'POST', url: 'Patient' } }];
  for (let i = 0; i < 10; i++) {
    entry.push({ fullUrl: `urn:uuid:${rng.uuid()}`, resource: observation(rng, pid), request: { method: 'POST', url: 'Observation' } });
  }
  return { resourceType: 'Bundle', type: 'transaction', entry };
}
