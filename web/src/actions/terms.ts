/**
 * The small built-in pick-lists behind the quick actions: common primary-care problems (SNOMED CT),
 * allergy substances (RxNorm ingredients for drugs, SNOMED CT substances otherwise) and reactions, a short
 * formulary of RxNorm clinical drugs with a default sig, and common lab orders (LOINC). Enough for the
 * everyday case from the keyboard; anything else is entered as free text (problems, allergies) until a
 * terminology service is wired in.
 *
 * Where the codes come from (each list says which entries rest on which source):
 * - [C] ../shared/corpora/terminology/codes-used-in-synthea-sample.json (codes and displays used by the
 *   Synthea sample bundles) and src/seed/catalog.ts, which takes its codes from there;
 * - [S] Synthea's own modules (github.com/synthetichealth/synthea, src/main/resources/modules): the
 *   medications/{ace_arb,beta_blocker,statin}.json MedicationOrder states and allergies/*_incidence.json;
 * - [V] the FHIR R4 allergyintolerance-code expansion (../shared/corpora/terminology/snomed-allergyintolerance-code-3016.json);
 * - [K] well-known codes not in those files (SNOMED CT International, LOINC, RxNorm), cross-checked
 *   against several public FHIR projects; a reviewer with a terminology server should confirm these first.
 */

export const SNOMED = 'http://snomed.info/sct';
export const LOINC = 'http://loinc.org';
export const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
export const UCUM = 'http://unitsofmeasure.org';

export interface Term {
  code: string;
  /** The code system's display. */
  display: string;
  /** What the list shows and searches first (a clinician's everyday name). */
  label: string;
  /** Abbreviations and other names typed to find it. */
  also?: string[];
}

const t = (code: string, label: string, display = label, also?: string[]): Term => ({ code, label, display, ...(also ? { also } : {}) });

/** Vital signs: the codes of src/seed/catalog.ts VITALS (the FHIR vital-signs profile), plus respiratory rate. */
export const VITAL_CODES = {
  bp: { code: '85354-9', display: 'Blood pressure panel with all children optional' },
  systolic: { code: '8480-6', display: 'Systolic blood pressure', unit: 'mm[Hg]' },
  diastolic: { code: '8462-4', display: 'Diastolic blood pressure', unit: 'mm[Hg]' },
  heartRate: { code: '8867-4', display: 'Heart rate', unit: '/min' },
  respiratoryRate: { code: '9279-1', display: 'Respiratory rate', unit: '/min' },
  temperature: { code: '8310-5', display: 'Body temperature', unit: 'Cel' },
  spo2: { code: '59408-5', display: 'Oxygen saturation in Arterial blood by Pulse oximetry', unit: '%' },
  weight: { code: '29463-7', display: 'Body weight', unit: 'kg' },
  height: { code: '8302-2', display: 'Body height', unit: 'cm' },
  bmi: { code: '39156-5', display: 'Body mass index (BMI) [Ratio]', unit: 'kg/m2' },
} as const;

/** Common primary-care problems, most common first. [C] where Synthea or the seed uses the code, else [K]. */
export const PROBLEMS: Term[] = [
  t('38341003', 'Hypertension', 'Hypertension', ['htn', 'high blood pressure', 'essential hypertension']), // C
  t('44054006', 'Type 2 diabetes mellitus', 'Diabetes mellitus type 2 (disorder)', ['t2dm', 'dm2', 'diabetes', 'niddm']), // C
  t('55822004', 'Hyperlipidemia', 'Hyperlipidemia', ['hld', 'dyslipidemia', 'high cholesterol', 'lipids']), // C
  t('15777000', 'Prediabetes', 'Prediabetes', ['impaired glucose']), // C
  t('414916001', 'Obesity', 'Obesity (disorder)', ['overweight', 'bmi']), // K
  t('162864005', 'Obesity (BMI 30+)', 'Body mass index 30+ - obesity (finding)', ['bmi 30']), // C
  t('195967001', 'Asthma', 'Asthma', ['reactive airway']), // C
  t('13645005', 'COPD', 'Chronic obstructive lung disease (disorder)', ['chronic obstructive pulmonary disease', 'emphysema']), // K
  t('185086009', 'Chronic obstructive bronchitis', 'Chronic obstructive bronchitis (disorder)', ['copd']), // C
  t('35489007', 'Depression', 'Depressive disorder (disorder)', ['depressive disorder', 'low mood']), // K
  t('370143000', 'Major depressive disorder', 'Major depressive disorder (disorder)', ['mdd', 'depression']), // K
  t('197480006', 'Anxiety disorder', 'Anxiety disorder (disorder)', ['anxiety']), // K
  t('21897009', 'Generalized anxiety disorder', 'Generalized anxiety disorder (disorder)', ['gad', 'anxiety']), // K
  t('709044004', 'Chronic kidney disease', 'Chronic kidney disease (disorder)', ['ckd', 'renal insufficiency']), // K
  t('431855005', 'Chronic kidney disease stage 1', 'Chronic kidney disease stage 1 (disorder)', ['ckd 1']), // C
  t('431856006', 'Chronic kidney disease stage 2', 'Chronic kidney disease stage 2 (disorder)', ['ckd 2']), // C
  t('49436004', 'Atrial fibrillation', 'Atrial fibrillation', ['af', 'afib', 'a fib']), // C
  t('84114007', 'Heart failure', 'Heart failure (disorder)', ['hf', 'chf', 'cardiac failure']), // K
  t('88805009', 'Chronic congestive heart failure', 'Chronic congestive heart failure (disorder)', ['chf', 'hf']), // C
  t('53741008', 'Coronary artery disease', 'Coronary Heart Disease', ['cad', 'chd', 'ischemic heart disease']), // C
  t('399211009', 'History of myocardial infarction', 'History of myocardial infarction (situation)', ['mi', 'heart attack']), // C
  t('230690007', 'Stroke', 'Stroke', ['cva', 'cerebrovascular accident']), // C
  t('40930008', 'Hypothyroidism', 'Hypothyroidism (disorder)', ['underactive thyroid', 'low thyroid']), // K
  t('34486009', 'Hyperthyroidism', 'Hyperthyroidism (disorder)', ['overactive thyroid']), // K
  t('235595009', 'Gastroesophageal reflux disease', 'Gastroesophageal reflux disease (disorder)', ['gerd', 'reflux', 'heartburn']), // K
  t('10743008', 'Irritable bowel syndrome', 'Irritable bowel syndrome (disorder)', ['ibs']), // K
  t('14760008', 'Constipation', 'Constipation (finding)'), // K
  t('396275006', 'Osteoarthritis', 'Osteoarthritis (disorder)', ['oa', 'degenerative joint disease']), // K
  t('239873007', 'Osteoarthritis of knee', 'Osteoarthritis of knee', ['oa knee']), // C
  t('239872002', 'Osteoarthritis of hip', 'Osteoarthritis of hip', ['oa hip']), // C
  t('69896004', 'Rheumatoid arthritis', 'Rheumatoid arthritis', ['ra']), // C
  t('90560007', 'Gout', 'Gout'), // C
  t('64859006', 'Osteoporosis', 'Osteoporosis (disorder)'), // C
  t('279039007', 'Low back pain', 'Low back pain (finding)', ['lbp', 'lumbago', 'back pain']), // K
  t('82423001', 'Chronic pain', 'Chronic pain'), // C
  t('37796009', 'Migraine', 'Migraine (disorder)', ['headache']), // K
  t('124171000119105', 'Chronic migraine without aura', 'Chronic intractable migraine without aura', ['migraine']), // C
  t('84757009', 'Epilepsy', 'Epilepsy', ['seizure disorder']), // C
  t('26929004', "Alzheimer's disease", "Alzheimer's disease (disorder)", ['dementia']), // C
  t('271737000', 'Anemia', 'Anemia (disorder)', ['anaemia']), // C
  t('446096008', 'Allergic rhinitis', 'Perennial allergic rhinitis', ['hay fever', 'rhinitis']), // C
  t('24079001', 'Atopic dermatitis', 'Atopic dermatitis', ['eczema']), // C
  t('9014002', 'Psoriasis', 'Psoriasis (disorder)'), // K
  t('193462001', 'Insomnia', 'Insomnia (disorder)', ['sleeplessness']), // K
  t('78275009', 'Obstructive sleep apnea', 'Obstructive sleep apnea syndrome (disorder)', ['osa', 'sleep apnoea']), // K
  t('47505003', 'Post-traumatic stress disorder', 'Posttraumatic stress disorder', ['ptsd']), // C
  t('13746004', 'Bipolar disorder', 'Bipolar disorder (disorder)', ['manic depression']), // K
  t('192127007', 'Attention deficit disorder', 'Child attention deficit disorder', ['adhd', 'add']), // C
  t('7200002', 'Alcoholism', 'Alcoholism', ['alcohol use disorder', 'alcohol dependence']), // C
  t('449868002', 'Smokes tobacco daily', 'Smokes tobacco daily', ['smoker', 'tobacco', 'nicotine']), // C
  t('5602001', 'Opioid abuse', 'Opioid abuse (disorder)', ['opioid use disorder']), // C
  t('266569009', 'Benign prostatic hyperplasia', 'Benign prostatic hyperplasia (disorder)', ['bph', 'enlarged prostate']), // K
  t('68566005', 'Urinary tract infection', 'Urinary tract infectious disease (disorder)', ['uti']), // K
  t('38822007', 'Cystitis', 'Cystitis'), // C
  t('36971009', 'Sinusitis', 'Sinusitis (disorder)'), // C
  t('444814009', 'Viral sinusitis', 'Viral sinusitis (disorder)', ['sinusitis']), // C
  t('195662009', 'Acute viral pharyngitis', 'Acute viral pharyngitis (disorder)', ['sore throat', 'pharyngitis']), // C
  t('43878008', 'Streptococcal sore throat', 'Streptococcal sore throat (disorder)', ['strep throat']), // C
  t('10509002', 'Acute bronchitis', 'Acute bronchitis (disorder)', ['bronchitis']), // C
  t('233604007', 'Pneumonia', 'Pneumonia'), // C
  t('65363002', 'Otitis media', 'Otitis media', ['ear infection']), // C
  t('44465007', 'Sprain of ankle', 'Sprain of ankle', ['ankle sprain']), // C
  t('72892002', 'Normal pregnancy', 'Normal pregnancy', ['pregnant']), // C
  t('237602007', 'Metabolic syndrome', 'Metabolic syndrome X (disorder)'), // C
  t('302870006', 'Hypertriglyceridemia', 'Hypertriglyceridemia (disorder)', ['triglycerides']), // C
  t('368581000119106', 'Neuropathy due to type 2 diabetes', 'Neuropathy due to type 2 diabetes mellitus (disorder)', ['diabetic neuropathy']), // C
  t('422034002', 'Diabetic retinopathy (type 2)', 'Diabetic retinopathy associated with type II diabetes mellitus (disorder)', ['retinopathy']), // C
  t('46635009', 'Type 1 diabetes mellitus', 'Diabetes mellitus type 1 (disorder)', ['t1dm', 'dm1', 'iddm']), // K
];

export type AllergyCategory = 'medication' | 'food' | 'environment' | 'biologic';
export interface Substance extends Term {
  system: string;
  category: AllergyCategory;
}

const drug = (code: string, label: string, also?: string[]): Substance => ({
  code,
  label,
  display: label,
  system: RXNORM,
  category: 'medication',
  ...(also ? { also } : {}),
});
const sct = (code: string, label: string, display: string, category: AllergyCategory, also?: string[]): Substance => ({
  code,
  label,
  display,
  system: SNOMED,
  category,
  ...(also ? { also } : {}),
});

/**
 * Allergy substances: drugs as RxNorm ingredients [S: drug_allergy_incidence.json] unless marked [K];
 * foods and environment as SNOMED CT substances [S: food_allergy_incidence.json] unless marked.
 */
export const SUBSTANCES: Substance[] = [
  sct('6369005', 'Penicillins (class)', 'Penicillin -class of antibiotic-', 'medication', ['penicillin', 'pcn']), // V
  sct('59255006', 'Sulfonamides (class)', 'Sulfonamide', 'medication', ['sulfa', 'sulphonamide']), // V
  drug('7980', 'Penicillin G', ['penicillin', 'pcn']), // K
  drug('7984', 'Penicillin V', ['penicillin', 'pcn']),
  drug('723', 'Amoxicillin', ['penicillin']), // K
  drug('2231', 'Cephalexin', ['cephalosporin', 'keflex']),
  drug('2193', 'Ceftriaxone', ['cephalosporin']),
  drug('10831', 'Sulfamethoxazole / Trimethoprim', ['sulfa', 'bactrim', 'septra', 'co-trimoxazole']),
  drug('10180', 'Sulfamethoxazole', ['sulfa']), // K
  drug('1191', 'Aspirin', ['asa', 'nsaid']),
  drug('5640', 'Ibuprofen', ['nsaid', 'advil', 'motrin']),
  drug('7258', 'Naproxen', ['nsaid']), // K
  drug('2670', 'Codeine', ['opioid']), // K
  drug('7052', 'Morphine', ['opioid']), // K
  drug('7804', 'Oxycodone', ['opioid']), // K
  drug('29046', 'Lisinopril', ['ace inhibitor', 'acei']),
  drug('1998', 'Captopril', ['ace inhibitor']),
  drug('3827', 'Enalapril', ['ace inhibitor']),
  drug('18631', 'Azithromycin', ['macrolide']), // K
  drug('4053', 'Erythromycin', ['macrolide']), // K
  drug('2551', 'Ciprofloxacin', ['quinolone', 'fluoroquinolone']), // K
  drug('3640', 'Doxycycline', ['tetracycline']), // K
  drug('2582', 'Clindamycin'), // K
  drug('161', 'Acetaminophen', ['paracetamol', 'tylenol']), // K
  sct('762952008', 'Peanut', 'Peanut (substance)', 'food', ['nuts']),
  sct('442571000124108', 'Tree nut', 'Tree nut (substance)', 'food', ['nuts', 'walnut', 'cashew', 'almond']),
  sct('735029006', 'Shellfish', 'Shellfish (substance)', 'food', ['shrimp', 'crab', 'lobster', 'seafood']),
  sct('735971005', 'Fish', 'Fish (substance)', 'food', ['seafood']),
  sct('102263004', 'Egg', 'Eggs (edible) (substance)', 'food', ['eggs']),
  sct('3718001', "Cow's milk", "Cow's milk (substance)", 'food', ['milk', 'dairy']), // V
  sct('412071004', 'Wheat', 'Wheat (substance)', 'food', ['gluten']),
  sct('256355007', 'Soy', 'Glycine max (substance)', 'food', ['soya', 'soybean']),
  sct('111088007', 'Latex', 'Latex (substance)', 'environment', ['rubber']), // K
  sct('288328004', 'Bee venom', 'Bee venom (substance)', 'environment', ['bee sting', 'insect']), // K
];

/** "No known allergy" (SNOMED CT situation 716186003) [K]: recorded as an AllergyIntolerance of its own. */
export const NO_KNOWN_ALLERGY = { code: '716186003', display: 'No known allergy (situation)' };

/** Reaction manifestations [S: the reactions of Synthea's allergy modules; the seed uses the same codes]. */
export const REACTIONS: Term[] = [
  t('247472004', 'Hives', 'Wheal (finding)', ['urticaria', 'wheal']),
  t('271807003', 'Rash', 'Eruption of skin (disorder)', ['eruption']),
  t('418290006', 'Itching', 'Itching (finding)', ['pruritus']),
  t('39579001', 'Anaphylaxis', 'Anaphylaxis (disorder)'),
  t('402387002', 'Angioedema', 'Allergic angioedema (disorder)', ['swelling']),
  t('56018004', 'Wheezing', 'Wheezing (finding)', ['wheeze', 'bronchospasm']),
  t('267036007', 'Shortness of breath', 'Dyspnea (finding)', ['dyspnea']),
  t('49727002', 'Cough', 'Cough (finding)'),
  t('422587007', 'Nausea', 'Nausea (finding)'),
  t('300359004', 'Vomiting', 'Finding of vomiting (finding)'),
  t('62315008', 'Diarrhea', 'Diarrhea (finding)'),
  t('21522001', 'Abdominal pain', 'Abdominal pain (finding)'),
  t('404640003', 'Dizziness', 'Dizziness (finding)'),
  t('878820003', 'Rhinoconjunctivitis', 'Rhinoconjunctivitis (disorder)', ['sneezing', 'runny nose']),
  t('271811009', 'Flushing', 'Face goes red (finding)', ['red face']),
];

/** How a drug is taken, so that the common directions fit it. */
export type DoseForm = 'tablet' | 'capsule' | 'inhaler' | 'spray';

export interface Sig {
  text: string;
  /** Doses a day (for the quantity); 0 when taken as needed without a daily count. */
  perDay: number;
  /** Structured timing where it is simple: times per day. */
  frequency?: number;
  asNeeded?: boolean;
}

/** The common directions, one key each (1–6), worded for the dose form. */
export function sigsFor(form: DoseForm): Sig[] {
  if (form === 'inhaler')
    return [
      { text: '2 puffs inhaled every 4 to 6 hours as needed', perDay: 0, asNeeded: true },
      { text: '2 puffs inhaled twice daily', perDay: 4, frequency: 2 },
      { text: '1 puff inhaled twice daily', perDay: 2, frequency: 2 },
      { text: '1 puff inhaled once daily', perDay: 1, frequency: 1 },
      { text: '2 puffs inhaled 4 times daily', perDay: 8, frequency: 4 },
      { text: '2 puffs inhaled before exercise as needed', perDay: 0, asNeeded: true },
    ];
  if (form === 'spray') return [{ text: '1 spray under the tongue every 5 minutes as needed for chest pain, up to 3 doses', perDay: 0, asNeeded: true }];
  const u = form;
  return [
    { text: `1 ${u} by mouth once daily`, perDay: 1, frequency: 1 },
    { text: `1 ${u} by mouth twice daily`, perDay: 2, frequency: 2 },
    { text: `1 ${u} by mouth three times daily`, perDay: 3, frequency: 3 },
    { text: `1 ${u} by mouth four times daily`, perDay: 4, frequency: 4 },
    { text: `1 ${u} by mouth at bedtime`, perDay: 1, frequency: 1 },
    { text: `1 ${u} by mouth every 6 hours as needed for pain`, perDay: 4, asNeeded: true },
  ];
}

export interface Drug extends Term {
  form: DoseForm;
  /** Which of sigsFor(form) is the usual one (0-based), or the usual directions in words. */
  sig: number | Sig;
  /** Usual course in days (a month's supply for long-term drugs). */
  days: number;
  refills: number;
}

const rx = (code: string, display: string, label: string, form: DoseForm, sig: number | Sig, days = 30, refills = 5, also?: string[]): Drug => ({
  code,
  display,
  label,
  form,
  sig,
  days,
  refills,
  ...(also ? { also } : {}),
});

/**
 * A starter formulary of RxNorm clinical drugs (SCD), code and display as RxNorm has them: [C] from the
 * Synthea sample bundles, [S] from Synthea's medication modules, [K] otherwise. Issue 5 replaces this
 * with the full prescribing module and its safety checks.
 */
export const DRUGS: Drug[] = [
  rx('197361', 'Amlodipine 5 MG Oral Tablet', 'Amlodipine 5 mg tablet', 'tablet', 0, 30, 5, ['norvasc', 'ccb']), // C
  rx('314076', 'lisinopril 10 MG Oral Tablet', 'Lisinopril 10 mg tablet', 'tablet', 0, 30, 5, ['zestril', 'ace']), // S
  rx('314077', 'lisinopril 20 MG Oral Tablet', 'Lisinopril 20 mg tablet', 'tablet', 0, 30, 5, ['zestril', 'ace']), // S
  rx('979492', 'losartan potassium 50 MG Oral Tablet', 'Losartan 50 mg tablet', 'tablet', 0, 30, 5, ['cozaar', 'arb']), // S
  rx('310798', 'Hydrochlorothiazide 25 MG Oral Tablet', 'Hydrochlorothiazide 25 mg tablet', 'tablet', 0, 30, 5, ['hctz', 'thiazide']), // K
  rx('866924', 'metoprolol tartrate 25 MG Oral Tablet', 'Metoprolol tartrate 25 mg tablet', 'tablet', 1, 30, 5, ['lopressor', 'beta blocker']), // S
  rx('860975', '24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet', 'Metformin ER 500 mg tablet', 'tablet', 0, 30, 5, ['glucophage']), // C
  rx('617310', 'atorvastatin 20 MG Oral Tablet', 'Atorvastatin 20 mg tablet', 'tablet', 0, 30, 5, ['lipitor', 'statin']), // S
  rx('617311', 'atorvastatin 40 MG Oral Tablet', 'Atorvastatin 40 mg tablet', 'tablet', 0, 30, 5, ['lipitor', 'statin']), // S
  rx('312961', 'Simvastatin 20 MG Oral Tablet', 'Simvastatin 20 mg tablet', 'tablet', 4, 30, 5, ['zocor', 'statin']), // C
  rx('966221', 'levothyroxine sodium 0.05 MG Oral Tablet', 'Levothyroxine 50 mcg tablet', 'tablet', 0, 30, 5, ['synthroid', 'thyroxine']), // K
  rx('309362', 'Clopidogrel 75 MG Oral Tablet', 'Clopidogrel 75 mg tablet', 'tablet', 0, 30, 5, ['plavix']), // C
  rx('855332', 'Warfarin Sodium 5 MG Oral Tablet', 'Warfarin 5 mg tablet', 'tablet', 0, 30, 2, ['coumadin']), // C
  rx('197604', 'Digoxin 0.125 MG Oral Tablet', 'Digoxin 0.125 mg tablet', 'tablet', 0, 30, 5, ['lanoxin']), // C
  rx('313988', 'Furosemide 40 MG Oral Tablet', 'Furosemide 40 mg tablet', 'tablet', 0, 30, 5, ['lasix', 'diuretic']), // K
  rx('197319', 'Allopurinol 100 MG Oral Tablet', 'Allopurinol 100 mg tablet', 'tablet', 0, 30, 5, ['zyloprim', 'gout']), // C
  rx(
    '313782',
    'Acetaminophen 325 MG Oral Tablet',
    'Acetaminophen 325 mg tablet',
    'tablet',
    { text: '2 tablets by mouth every 6 hours as needed for pain', perDay: 8, asNeeded: true },
    7,
    0,
    ['paracetamol', 'tylenol'],
  ), // C
  rx(
    '310965',
    'Ibuprofen 200 MG Oral Tablet',
    'Ibuprofen 200 mg tablet',
    'tablet',
    { text: '2 tablets by mouth every 8 hours as needed for pain', perDay: 6, asNeeded: true },
    7,
    0,
    ['advil', 'motrin', 'nsaid'],
  ), // C
  rx('198014', 'Naproxen 500 MG Oral Tablet', 'Naproxen 500 mg tablet', 'tablet', 1, 14, 0, ['naprosyn', 'nsaid']), // C
  rx('308192', 'Amoxicillin 500 MG Oral Tablet', 'Amoxicillin 500 mg tablet', 'tablet', 2, 10, 0, ['antibiotic']), // C
  rx('308182', 'Amoxicillin 250 MG Oral Capsule', 'Amoxicillin 250 mg capsule', 'capsule', 2, 10, 0, ['antibiotic']), // C
  rx('562251', 'Amoxicillin 250 MG / Clavulanate 125 MG Oral Tablet', 'Amoxicillin-clavulanate 250/125 mg tablet', 'tablet', 2, 10, 0, [
    'augmentin',
    'antibiotic',
  ]), // C
  rx('834102', 'Penicillin V Potassium 500 MG Oral Tablet', 'Penicillin V 500 mg tablet', 'tablet', 3, 10, 0, ['pen vk', 'antibiotic']), // C
  rx('311995', 'NITROFURANTOIN, MACROCRYSTALS 50 MG Oral Capsule', 'Nitrofurantoin 50 mg capsule', 'capsule', 3, 7, 0, ['macrodantin', 'uti']), // C
  rx('312617', 'predniSONE 5 MG Oral Tablet', 'Prednisone 5 mg tablet', 'tablet', 0, 5, 0, ['steroid']), // C
  rx('745679', '200 ACTUAT Albuterol 0.09 MG/ACTUAT Metered Dose Inhaler', 'Albuterol inhaler 90 mcg/puff', 'inhaler', 0, 30, 2, [
    'salbutamol',
    'ventolin',
    'proair',
  ]), // C
  rx('895994', '120 ACTUAT Fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler', 'Fluticasone inhaler 44 mcg/puff', 'inhaler', 1, 30, 5, [
    'flovent',
    'steroid',
  ]), // C
  rx('1014676', 'cetirizine hydrochloride 5 MG Oral Tablet', 'Cetirizine 5 mg tablet', 'tablet', 0, 30, 2, ['zyrtec', 'antihistamine']), // C
  rx('1049630', 'diphenhydrAMINE Hydrochloride 25 MG Oral Tablet', 'Diphenhydramine 25 mg tablet', 'tablet', 4, 14, 0, ['benadryl', 'antihistamine']), // C
  rx('310325', 'ferrous sulfate 325 MG Oral Tablet', 'Ferrous sulfate 325 mg tablet', 'tablet', 0, 30, 5, ['iron']), // C
  rx('997223', 'Donepezil hydrochloride 10 MG Oral Tablet', 'Donepezil 10 mg tablet', 'tablet', 4, 30, 5, ['aricept']), // C
  rx('705129', 'Nitroglycerin 0.4 MG/ACTUAT Mucosal Spray', 'Nitroglycerin spray 0.4 mg/spray', 'spray', 0, 30, 2, ['ntg', 'gtn']), // C
];

/** The usual directions of a drug. */
export function defaultSig(d: Drug): Sig {
  return typeof d.sig === 'number' ? sigsFor(d.form)[d.sig] : d.sig;
}

/**
 * Common laboratory orders (LOINC): [C] the seed's catalog and the Synthea sample's codes, [K] otherwise.
 * A panel is ordered by its panel code; the lab reports the members.
 */
export const LAB_TESTS: Term[] = [
  t('58410-2', 'CBC', 'CBC panel - Blood by Automated count', ['complete blood count', 'hemogram', 'fbc']), // C
  t('51990-0', 'Basic metabolic panel', 'Basic metabolic panel - Blood', ['bmp', 'chem 7', 'electrolytes', 'u&e']), // C
  t('24323-8', 'Comprehensive metabolic panel', 'Comprehensive metabolic 2000 panel - Serum or Plasma', ['cmp', 'chem 14']), // C
  t('57698-3', 'Lipid panel', 'Lipid panel with direct LDL - Serum or Plasma', ['cholesterol', 'lipids', 'ldl']), // C
  t('4548-4', 'Hemoglobin A1c', 'Hemoglobin A1c/Hemoglobin.total in Blood', ['hba1c', 'a1c', 'glycated']), // C
  t('3016-3', 'TSH', 'Thyrotropin [Units/volume] in Serum or Plasma', ['thyroid stimulating hormone', 'thyroid']), // K
  t('3024-7', 'Free T4', 'Thyroxine (T4) free [Mass/volume] in Serum or Plasma', ['ft4', 'thyroxine', 'thyroid']), // K
  t('24356-8', 'Urinalysis', 'Urinalysis complete panel - Urine', ['ua', 'urine']), // K
  t('24357-6', 'Urinalysis dipstick', 'Urinalysis macro (dipstick) panel - Urine', ['ua', 'urine dipstick']), // C
  t('14959-1', 'Urine albumin/creatinine ratio', 'Microalbumin/Creatinine [Mass Ratio] in Urine', ['uacr', 'acr', 'microalbumin']), // C
  t('2160-0', 'Creatinine', 'Creatinine [Mass/volume] in Serum or Plasma', ['renal function', 'kidney']), // C
  t('33914-3', 'eGFR', 'Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum or Plasma by Creatinine-based formula (MDRD)', [
    'gfr',
    'kidney',
  ]), // C
  t('2345-7', 'Glucose', 'Glucose [Mass/volume] in Serum or Plasma', ['blood sugar', 'fasting glucose']), // C
  t('2823-3', 'Potassium', 'Potassium [Moles/volume] in Serum or Plasma', ['k']), // C
  t('6301-6', 'INR', 'INR in Platelet poor plasma by Coagulation assay', ['pt', 'prothrombin', 'warfarin']), // C
  t('24325-3', 'Hepatic function panel', 'Hepatic function 2000 panel - Serum or Plasma', ['lft', 'liver function', 'liver panel']), // K
  t('1742-6', 'ALT', 'Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma', ['sgpt', 'liver']), // C
  t('2857-1', 'PSA', 'Prostate specific Ag [Mass/volume] in Serum or Plasma', ['prostate specific antigen']), // C
  t('1989-3', 'Vitamin D (25-hydroxy)', '25-Hydroxyvitamin D3+25-Hydroxyvitamin D2 [Mass/volume] in Serum or Plasma', ['vit d', '25-oh']), // K
  t('2132-9', 'Vitamin B12', 'Cobalamin (Vitamin B12) [Mass/volume] in Serum or Plasma', ['b12', 'cobalamin']), // K
  t('2276-4', 'Ferritin', 'Ferritin [Mass/volume] in Serum or Plasma', ['iron stores']), // K
  t('718-7', 'Hemoglobin', 'Hemoglobin [Mass/volume] in Blood', ['hb', 'hgb']), // C
  t('1988-5', 'C-reactive protein', 'C reactive protein [Mass/volume] in Serum or Plasma', ['crp']), // K
  t('4537-7', 'ESR', 'Erythrocyte sedimentation rate by Westergren method', ['sed rate']), // K
  t('33762-6', 'NT-proBNP', 'Natriuretic peptide.B prohormone N-Terminal [Mass/volume] in Serum or Plasma', ['bnp', 'heart failure']), // C
  t('57905-2', 'Fecal immunochemical test', 'Hemoglobin.gastrointestinal [Presence] in Stool by Immunologic method', ['fit', 'fobt', 'occult blood']), // C
];

const fold = (s: string) =>
  s
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase();

/**
 * The entries matching what was typed: every typed word must start a word of the label, a synonym or
 * the display. Entries whose label (or a synonym) starts with the whole text come first; otherwise the
 * list's own order (most common first) decides.
 */
export function searchTerms<T extends Term>(list: T[], typed: string, limit = 8): T[] {
  const q = fold(typed.trim());
  if (!q) return [];
  const words = q.split(/[\s,/-]+/).filter(Boolean);
  const scored: { term: T; rank: number; i: number }[] = [];
  list.forEach((term, i) => {
    const names = [term.label, ...(term.also ?? [])].map(fold);
    const hay = [...names, fold(term.display)]
      .join(' ')
      .split(/[\s,/()-]+/)
      .filter(Boolean);
    if (!words.every((w) => hay.some((h) => h.startsWith(w)))) return;
    const rank = names.some((n) => n === q) ? 0 : names.some((n) => n.startsWith(q)) ? 1 : 2;
    scored.push({ term, rank, i });
  });
  scored.sort((a, b) => a.rank - b.rank || a.i - b.i);
  return scored.slice(0, limit).map((s) => s.term);
}
