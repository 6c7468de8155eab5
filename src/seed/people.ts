/**
 * Names and places for synthetic people. Deliberately international and full of accents, apostrophes
 * and non-Latin letters, so that search, sorting and display are exercised the way real clinics need.
 * Phone numbers use the 555-01xx range reserved for fiction; places are made up.
 */
export const GIVEN_FEMALE = [
  'Zoë',
  'Chloé',
  'Renée',
  'Siobhán',
  'Małgorzata',
  'Inés',
  'Dagný',
  'Aoife',
  'Mei',
  'Priya',
  'Fatima',
  'Olivia',
  'Emma',
  'Sofía',
  'Ingrid',
  'Léa',
  'Hana',
  'Nomvula',
  'Ana María',
  'Björg',
  'Thảo',
  'Yasmin',
  'Margaret',
  'Grace',
];

export const GIVEN_MALE = [
  'José',
  'François',
  'Jürgen',
  'Søren',
  'Łukasz',
  'Björn',
  'Andrés',
  'Zoltán',
  'Ömer',
  'Raúl',
  'Matías',
  'Kenji',
  'Liam',
  'Noah',
  'James',
  'Mohammed',
  'Oluwaseun',
  'Dmitri',
  'Ravi',
  'Seán',
  'Minh',
  'Thomas',
  'Robert',
  'Håkon',
];

export const FAMILY = [
  'Müller',
  'García',
  'Nguyễn',
  "O'Brien",
  'Dubois',
  'Kowalczyk',
  'Sørensen',
  'Çelik',
  'Núñez',
  'Ødegaard',
  'Smith',
  'Johnson',
  'Okafor',
  'Patel',
  'Kim',
  'Tanaka',
  'Hernández',
  'Schäfer',
  'Ferreira',
  'Lefèvre',
  'Åberg',
  'Dvořák',
  'Horváth',
  'Papadopoulos',
  'Brown',
  'Wilson',
  'Lindqvist',
  'Mac Giolla Phádraig',
  'Da Silva',
  'Żuławski',
];

export const STREETS = ['Maple Street', 'Harbor View Road', 'Elm Avenue', 'Chemin des Érables', 'Birch Lane', 'Orchard Way', 'Mill Road', 'Cedar Court'];

export const CITIES: { city: string; postalCode: string }[] = [
  { city: 'Haleford', postalCode: '01950' },
  { city: 'North Haleford', postalCode: '01951' },
  { city: 'Brookvale', postalCode: '01960' },
  { city: 'Millbridge', postalCode: '01970' },
  { city: 'Port Amsel', postalCode: '01980' },
];

export const STATE = 'MA';

/** Languages patients speak (BCP-47, the codes Patient.communication uses). */
export const LANGUAGES: { code: string; display: string }[] = [
  { code: 'en', display: 'English' },
  { code: 'es', display: 'Spanish' },
  { code: 'fr', display: 'French' },
  { code: 'vi', display: 'Vietnamese' },
  { code: 'pl', display: 'Polish' },
  { code: 'pt', display: 'Portuguese' },
];

export interface Clinician {
  given: string;
  family: string;
  gender: 'male' | 'female';
  /** What they do, as plain text (PractitionerRole would code it). */
  role: string;
}

export const CLINICIANS: Clinician[] = [
  { given: 'Ingrid', family: 'Søndergaard', gender: 'female', role: 'Family medicine' },
  { given: 'José', family: 'Álvarez', gender: 'male', role: 'Family medicine' },
  { given: 'Amara', family: 'Okafor', gender: 'female', role: 'Internal medicine' },
  { given: 'Wei', family: 'Chen', gender: 'male', role: 'Nephrology' },
  { given: 'Siobhán', family: 'Ní Bhriain', gender: 'female', role: 'Cardiology' },
  { given: 'Mehmet', family: 'Öztürk', gender: 'male', role: 'Nurse practitioner' },
];
