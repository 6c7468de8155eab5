/**
 * The clinical codes the synthetic clinic uses: LOINC (vitals, labs, notes), SNOMED CT (conditions,
 * allergies, encounters, reactions), RxNorm (medications) and CVX (vaccines): real codes with their
 * usual displays, most of them the ones Synthea uses (../shared/corpora/terminology lists them), the
 * vital signs those of the FHIR vital-signs profile.
 */
export const LOINC = 'http://loinc.org';
export const SNOMED = 'http://snomed.info/sct';
export const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
export const CVX = 'http://hl7.org/fhir/sid/cvx';
export const UCUM = 'http://unitsofmeasure.org';
export const OBS_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
export const INTERPRETATION = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';

export interface Code {
  code: string;
  display: string;
}

/** A measured quantity: its LOINC code, UCUM unit and (for labs) reference range. */
export interface Measure extends Code {
  unit: string;
  /** Decimal places reported. */
  decimals: number;
  low?: number;
  high?: number;
}

export const VITALS = {
  bp: { code: '85354-9', display: 'Blood pressure panel with all children optional' },
  systolic: { code: '8480-6', display: 'Systolic blood pressure', unit: 'mm[Hg]', decimals: 0 },
  diastolic: { code: '8462-4', display: 'Diastolic blood pressure', unit: 'mm[Hg]', decimals: 0 },
  heartRate: { code: '8867-4', display: 'Heart rate', unit: '/min', decimals: 0 },
  weight: { code: '29463-7', display: 'Body weight', unit: 'kg', decimals: 1 },
  height: { code: '8302-2', display: 'Body height', unit: 'cm', decimals: 1 },
  bmi: { code: '39156-5', display: 'Body mass index (BMI) [Ratio]', unit: 'kg/m2', decimals: 1 },
  temperature: { code: '8310-5', display: 'Body temperature', unit: 'Cel', decimals: 1 },
  spo2: { code: '59408-5', display: 'Oxygen saturation in Arterial blood by Pulse oximetry', unit: '%', decimals: 0 },
} as const;

export const LABS = {
  hba1c: { code: '4548-4', display: 'Hemoglobin A1c/Hemoglobin.total in Blood', unit: '%', decimals: 1, low: 4.0, high: 5.6 },
  glucose: { code: '2345-7', display: 'Glucose [Mass/volume] in Serum or Plasma', unit: 'mg/dL', decimals: 0, low: 70, high: 99 },
  creatinine: { code: '2160-0', display: 'Creatinine [Mass/volume] in Serum or Plasma', unit: 'mg/dL', decimals: 2, low: 0.6, high: 1.3 },
  egfr: {
    code: '33914-3',
    display: 'Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum or Plasma by Creatinine-based formula (MDRD)',
    unit: 'mL/min/{1.73_m2}',
    decimals: 0,
    low: 60,
  },
  potassium: { code: '2823-3', display: 'Potassium [Moles/volume] in Serum or Plasma', unit: 'mmol/L', decimals: 1, low: 3.5, high: 5.1 },
  sodium: { code: '2951-2', display: 'Sodium [Moles/volume] in Serum or Plasma', unit: 'mmol/L', decimals: 0, low: 136, high: 145 },
  cholesterol: { code: '2093-3', display: 'Cholesterol [Mass/volume] in Serum or Plasma', unit: 'mg/dL', decimals: 0, high: 200 },
  hdl: { code: '2085-9', display: 'Cholesterol in HDL [Mass/volume] in Serum or Plasma', unit: 'mg/dL', decimals: 0, low: 40 },
  ldl: { code: '18262-6', display: 'Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay', unit: 'mg/dL', decimals: 0, high: 130 },
  triglycerides: { code: '2571-8', display: 'Triglyceride [Mass/volume] in Serum or Plasma', unit: 'mg/dL', decimals: 0, high: 150 },
  hemoglobin: { code: '718-7', display: 'Hemoglobin [Mass/volume] in Blood', unit: 'g/dL', decimals: 1, low: 12.0, high: 17.5 },
  hematocrit: { code: '4544-3', display: 'Hematocrit [Volume Fraction] of Blood by Automated count', unit: '%', decimals: 1, low: 36, high: 50 },
  wbc: { code: '6690-2', display: 'Leukocytes [#/volume] in Blood by Automated count', unit: '10*3/uL', decimals: 1, low: 4.5, high: 11.0 },
  platelets: { code: '777-3', display: 'Platelets [#/volume] in Blood by Automated count', unit: '10*3/uL', decimals: 0, low: 150, high: 400 },
  inr: { code: '6301-6', display: 'INR in Platelet poor plasma by Coagulation assay', unit: '{INR}', decimals: 1, low: 2.0, high: 3.0 },
} satisfies Record<string, Measure>;

export const PANELS = {
  bmp: { code: '51990-0', display: 'Basic metabolic panel - Blood' },
  lipid: { code: '57698-3', display: 'Lipid panel with direct LDL - Serum or Plasma' },
  cbc: { code: '58410-2', display: 'CBC panel - Blood by Automated count' },
} as const;

export const NOTE_TYPE = { code: '11506-3', display: 'Progress note' };

export const ENCOUNTER_TYPES = {
  checkup: { code: '185349003', display: 'Encounter for check up (procedure)' },
  followUp: { code: '390906007', display: 'Follow-up encounter (procedure)' },
  symptom: { code: '185345009', display: 'Encounter for symptom (procedure)' },
  dialysis: { code: '265764009', display: 'Renal dialysis (procedure)' },
} as const;

/** Chronic conditions, with the medications that treat them. */
export interface Chronic extends Code {
  key: string;
  meds: Code[];
  /** Probability of having it, by age. */
  prevalence: (age: number) => number;
}

export const CHRONIC: Chronic[] = [
  {
    key: 'hypertension',
    code: '38341003',
    display: 'Hypertension',
    meds: [
      { code: '314076', display: 'lisinopril 10 MG Oral Tablet' },
      { code: '197361', display: 'Amlodipine 5 MG Oral Tablet' },
      { code: '316049', display: 'Hydrochlorothiazide 25 MG' },
    ],
    prevalence: (a) => (a < 30 ? 0.05 : a < 50 ? 0.25 : a < 65 ? 0.45 : 0.65),
  },
  {
    key: 'diabetes',
    code: '44054006',
    display: 'Diabetes mellitus type 2 (disorder)',
    meds: [{ code: '860975', display: '24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet' }],
    prevalence: (a) => (a < 30 ? 0.02 : a < 50 ? 0.1 : 0.22),
  },
  {
    key: 'hyperlipidemia',
    code: '55822004',
    display: 'Hyperlipidemia',
    meds: [
      { code: '312961', display: 'Simvastatin 20 MG Oral Tablet' },
      { code: '259255', display: 'Atorvastatin 80 MG Oral Tablet' },
    ],
    prevalence: (a) => (a < 35 ? 0.05 : a < 55 ? 0.25 : 0.45),
  },
  {
    key: 'asthma',
    code: '195967001',
    display: 'Asthma',
    meds: [
      { code: '745679', display: '200 ACTUAT Albuterol 0.09 MG/ACTUAT Metered Dose Inhaler' },
      { code: '895994', display: '120 ACTUAT Fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler' },
    ],
    prevalence: () => 0.09,
  },
  {
    key: 'obesity',
    code: '162864005',
    display: 'Body mass index 30+ - obesity (finding)',
    meds: [],
    prevalence: (a) => (a < 30 ? 0.2 : 0.33),
  },
  {
    key: 'osteoarthritis',
    code: '239873007',
    display: 'Osteoarthritis of knee',
    meds: [{ code: '198014', display: 'Naproxen 500 MG Oral Tablet' }],
    prevalence: (a) => (a < 50 ? 0.03 : a < 65 ? 0.15 : 0.3),
  },
  {
    key: 'copd',
    code: '185086009',
    display: 'Chronic obstructive bronchitis (disorder)',
    meds: [{ code: '896209', display: '60 ACTUAT Fluticasone propionate 0.25 MG/ACTUAT / salmeterol 0.05 MG/ACTUAT Dry Powder Inhaler' }],
    prevalence: (a) => (a < 45 ? 0.01 : 0.08),
  },
];

export const ESRD = { code: '46177005', display: 'End-stage renal disease (disorder)' };
export const ATRIAL_FIBRILLATION = { code: '49436004', display: 'Atrial fibrillation' };
export const WARFARIN = { code: '855332', display: 'Warfarin Sodium 5 MG Oral Tablet' };
export const METOPROLOL = { code: '866414', display: '24 HR metoprolol succinate 100 MG Extended Release Oral Tablet [Toprol]' };

/** Short illnesses: what brings a patient in, and what they may go home with. */
export const ACUTE: (Code & { med?: Code; fever: boolean; days: number })[] = [
  { code: '444814009', display: 'Viral sinusitis (disorder)', fever: true, days: 10 },
  { code: '195662009', display: 'Acute viral pharyngitis (disorder)', fever: true, days: 7 },
  { code: '10509002', display: 'Acute bronchitis (disorder)', fever: true, days: 14, med: { code: '313782', display: 'Acetaminophen 325 MG Oral Tablet' } },
  {
    code: '43878008',
    display: 'Streptococcal sore throat (disorder)',
    fever: true,
    days: 10,
    med: { code: '834061', display: 'Penicillin V Potassium 250 MG Oral Tablet' },
  },
  { code: '38822007', display: 'Cystitis', fever: false, days: 7, med: { code: '311995', display: 'NITROFURANTOIN, MACROCRYSTALS 50 MG Oral Capsule' } },
  { code: '44465007', display: 'Sprain of ankle', fever: false, days: 21, med: { code: '310965', display: 'Ibuprofen 200 MG Oral Tablet' } },
  {
    code: '75498004',
    display: 'Acute bacterial sinusitis (disorder)',
    fever: true,
    days: 14,
    med: { code: '308182', display: 'Amoxicillin 250 MG Oral Capsule' },
  },
];

export interface Allergen extends Code {
  category: 'food' | 'medication' | 'environment';
  reactions: Code[];
}

const ANAPHYLAXIS = { code: '39579001', display: 'Anaphylaxis (disorder)' };
const HIVES = { code: '247472004', display: 'Wheal (finding)' };
const RASH = { code: '271807003', display: 'Eruption of skin (disorder)' };
const SNEEZING = { code: '76067001', display: 'Sneezing (finding)' };
const DYSPNEA = { code: '267036007', display: 'Dyspnea (finding)' };

export const ALLERGENS: Allergen[] = [
  { code: '91936005', display: 'Penicillin allergy', category: 'medication', reactions: [HIVES, RASH, ANAPHYLAXIS] },
  { code: '91935009', display: 'Allergy to peanuts', category: 'food', reactions: [HIVES, ANAPHYLAXIS] },
  { code: '300913006', display: 'Shellfish allergy', category: 'food', reactions: [HIVES, DYSPNEA] },
  { code: '424213003', display: 'Allergy to bee venom', category: 'environment', reactions: [HIVES, ANAPHYLAXIS] },
  { code: '232350006', display: 'House dust mite allergy', category: 'environment', reactions: [SNEEZING] },
  { code: '418689008', display: 'Allergy to grass pollen', category: 'environment', reactions: [SNEEZING] },
  { code: '232347008', display: 'Dander (animal) allergy', category: 'environment', reactions: [SNEEZING, DYSPNEA] },
  { code: '300916003', display: 'Latex allergy', category: 'environment', reactions: [RASH, HIVES] },
];

export const VACCINES = {
  flu: { code: '140', display: 'Influenza, seasonal, injectable, preservative free' },
  tdap: { code: '115', display: 'Tdap' },
  pcv13: { code: '133', display: 'Pneumococcal conjugate PCV 13' },
  ppsv23: { code: '33', display: 'pneumococcal polysaccharide vaccine, 23 valent' },
  zoster: { code: '121', display: 'zoster' },
  hepB: { code: '43', display: 'Hep B, adult' },
  hpv: { code: '62', display: 'HPV, quadrivalent' },
  covid: { code: '208', display: 'SARS-COV-2 (COVID-19) vaccine, mRNA, spike protein, LNP, preservative free, 30 mcg/0.3mL dose' },
} as const;
