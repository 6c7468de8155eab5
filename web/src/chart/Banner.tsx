/**
 * The patient banner: who this is (name, age, sex, birth date, MRN) and what nobody may miss — allergies
 * with their criticality (high in red, and said in words), a restricted (confidential) record, active flags
 * such as code status, and a recorded death.
 */
import { ageOf, type CodeableConcept, conceptText, formatDate, mrnOf, nameOf, type Resource } from '../fhir.ts';

const CONFIDENTIALITY = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';

/** SNOMED CT codes that record the absence of allergies (a statement, unlike an empty list). */
const NO_ALLERGY: Record<string, string> = {
  '716186003': 'No known allergies',
  '409137002': 'No known drug allergies',
  '429625007': 'No known food allergies',
  '428607008': 'No known environmental allergies',
};

/** Allergies still in force: not resolved, inactive, refuted or entered in error. */
export function activeAllergies(all: Resource[]): Resource[] {
  return all.filter((a) => {
    const clinical = a.clinicalStatus?.coding?.[0]?.code;
    const verification = a.verificationStatus?.coding?.[0]?.code;
    return (!clinical || clinical === 'active') && verification !== 'refuted' && verification !== 'entered-in-error';
  });
}

/** The statement "no known allergies" when that is what the record says, else undefined. */
export function noAllergyStatement(a: Resource): string | undefined {
  const code = (a.code?.coding ?? []).map((c: { code?: string }) => c.code).find((c: string) => NO_ALLERGY[c]);
  return code ? NO_ALLERGY[code] : undefined;
}

/** The reactions of an allergy in words: "anaphylaxis (severe), hives". */
export function reactionText(a: Resource): string {
  return ((a.reaction ?? []) as Resource[])
    .map((r) => {
      const what = ((r.manifestation ?? []) as Resource[]).map((m) => shortConcept(m).toLowerCase()).join(', ');
      return r.severity ? `${what} (${r.severity})` : what;
    })
    .filter(Boolean)
    .join('; ');
}

/** A SNOMED CT display without its semantic tag: "Anaphylaxis (disorder)" → "Anaphylaxis". */
export function shortConcept(c: CodeableConcept | Resource | undefined): string {
  return conceptText(c as CodeableConcept | undefined).replace(/\s+\((disorder|finding|procedure|substance|situation|morphologic abnormality)\)$/, '');
}

/** The substance an allergy is to: "Allergy to peanuts" → "Peanuts", "Penicillin allergy" → "Penicillin". */
export function substanceOf(a: Resource): string {
  const s = shortConcept(a.code)
    .replace(/^allergy to /i, '')
    .replace(/ allergy$/i, '');
  return `${s[0]?.toUpperCase() ?? ''}${s.slice(1)}`;
}

const sortByCriticality = (a: Resource, b: Resource) => Number(b.criticality === 'high') - Number(a.criticality === 'high');

function isActiveFlag(f: Resource): boolean {
  const end = f.period?.end ? Date.parse(f.period.end) : Number.NaN;
  return f.status === 'active' && !(end < Date.now());
}

export function Banner({ patient, allergies, flags }: { patient: Resource; allergies: Resource[]; flags: Resource[] }) {
  const security = ((patient.meta?.security ?? []) as { system?: string; code?: string }[]).filter((s) => s.system === CONFIDENTIALITY);
  const restricted = security.some((s) => s.code === 'V') ? 'Very restricted record' : security.some((s) => s.code === 'R') ? 'Restricted record' : '';
  const active = activeAllergies(allergies);
  const statements = active.map(noAllergyStatement).filter(Boolean);
  const real = active.filter((a) => !noAllergyStatement(a)).sort(sortByCriticality);
  const deceased = patient.deceasedDateTime ?? (patient.deceasedBoolean ? 'yes' : undefined);
  const sex = patient.gender ? `${patient.gender[0].toUpperCase()}${patient.gender.slice(1)}` : 'Sex not recorded';
  const age = deceased && deceased !== 'yes' ? ageOf(patient.birthDate, new Date(deceased)) : ageOf(patient.birthDate);
  const activeFlags = flags.filter(isActiveFlag);
  return (
    <section className="banner" aria-label="Patient">
      <div className="banner-who">
        <h1>{nameOf(patient)}</h1>
        <span className="banner-facts">
          {age ? <span>{age}</span> : null}
          <span>{sex}</span>
          <span>Born {patient.birthDate ? formatDate(patient.birthDate) : 'date not recorded'}</span>
          <span>
            MRN <strong className="mrn">{mrnOf(patient) ?? '—'}</strong>
          </span>
        </span>
        {restricted ? (
          <span className="badge danger" title="Confidential: staff need to break the glass to open it; every access is audited">
            🔒 {restricted} (confidential)
          </span>
        ) : null}
        {deceased ? <span className="badge danger">Deceased{deceased !== 'yes' ? ` ${formatDate(deceased)}` : ''}</span> : null}
        {activeFlags.map((f) => (
          <span key={f.id} className="badge warn flag-badge" title={conceptText(f.category?.[0])}>
            ⚑ {conceptText(f.code)}
          </span>
        ))}
      </div>
      <div className="banner-allergies">
        <span className="banner-label">Allergies</span>
        {real.length ? (
          <ul>
            {real.map((a) => (
              <li key={a.id} className={a.criticality === 'high' ? 'allergy high' : 'allergy'}>
                {a.criticality === 'high' ? <span aria-hidden="true">⚠ </span> : null}
                <strong>{substanceOf(a)}</strong>
                <span className="allergy-detail">
                  {[reactionText(a), a.criticality === 'high' ? 'high criticality' : a.criticality === 'low' ? 'low criticality' : '']
                    .filter(Boolean)
                    .join(' · ')}
                </span>
              </li>
            ))}
          </ul>
        ) : (
          <span className={statements.length ? 'allergy none' : 'muted'}>{statements.length ? statements.join('; ') : 'No allergies recorded'}</span>
        )}
      </div>
    </section>
  );
}
