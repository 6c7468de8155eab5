/**
 * The chart at a glance, on one screen: the banner, then problems, medications and allergies; vital signs
 * with sparklines and recent labs (latest per test, abnormal values flagged); encounters, notes,
 * immunizations and the care team. Every panel says so when it has nothing ("No allergies recorded" — not
 * "no known allergies", which only a recorded statement says) or when it could not be loaded. A vital sign
 * or a lab test opens its trend over time (TrendPlot) by click or Enter.
 */
import { type ReactNode, useState } from 'react';
import { chartChanged } from '../actions/registry.ts';
import { ApiError } from '../api.ts';
import { callHook, interrupts } from '../cds/cds-api.ts';
import { DRAFTERS, PRESCRIBERS, prescribeReplacing, renewalOf, STOP_REASONS, saveReplacing, stopMedication } from '../cds/med-actions.ts';
import { conceptText, formatDate, formatTime, nameOf, type Resource } from '../fhir.ts';
import { useSession } from '../session.tsx';
import { activeAllergies, Banner, noAllergyStatement, reactionText, shortConcept, substanceOf } from './Banner.tsx';
import type { ChartData, PanelKey } from './chart-data.ts';
import { Sparkline } from './Sparkline.tsx';
import { describe, FlagMark, flagOf, type Point, pointsOf, rangeText, TrendPlot, type TrendSpec, unitText, valueText, whenOf } from './TrendPlot.tsx';
import './chart.css';

/** The vital signs shown, in order (LOINC, as the FHIR vital-signs profile codes them). Optional ones only when recorded. */
const VITALS: (TrendSpec & { short: string; optional?: boolean })[] = [
  {
    title: 'Blood pressure',
    short: 'BP',
    codes: ['85354-9', '55284-4'],
    components: [
      { code: '8480-6', label: 'Systolic' },
      { code: '8462-4', label: 'Diastolic' },
    ],
  },
  { title: 'Heart rate', short: 'Heart rate', codes: ['8867-4'] },
  { title: 'Temperature', short: 'Temp.', codes: ['8310-5', '8331-1'] },
  { title: 'Oxygen saturation (SpO₂)', short: 'SpO₂', codes: ['59408-5', '2708-6'] },
  { title: 'Respiratory rate', short: 'Resp. rate', codes: ['9279-1'], optional: true },
  { title: 'Weight', short: 'Weight', codes: ['29463-7'] },
  { title: 'Body mass index', short: 'BMI', codes: ['39156-5'] },
];

/** Everyday names of common lab tests (LOINC); others show their LOINC name up to the first bracket. */
const LAB_NAMES: Record<string, string> = {
  '4548-4': 'HbA1c',
  '2345-7': 'Glucose',
  '2339-0': 'Glucose',
  '2160-0': 'Creatinine',
  '33914-3': 'eGFR',
  '62238-1': 'eGFR',
  '2823-3': 'Potassium',
  '2951-2': 'Sodium',
  '2093-3': 'Cholesterol, total',
  '2085-9': 'HDL cholesterol',
  '18262-6': 'LDL cholesterol',
  '13457-7': 'LDL cholesterol',
  '2571-8': 'Triglycerides',
  '718-7': 'Hemoglobin',
  '4544-3': 'Hematocrit',
  '6690-2': 'White cells',
  '777-3': 'Platelets',
  '6301-6': 'INR',
  '3016-3': 'TSH',
};

const SPARK_POINTS = 20;

type Trend = { spec: TrendSpec; initial: Resource[] };

/** `aside`: shown under the banner (the decision-support suggestions, loaded after the chart). */
export function ChartPanels({ data, aside }: { data: ChartData; aside?: ReactNode }) {
  const [trend, setTrend] = useState<Trend>();
  return (
    <>
      <Banner patient={data.patient} allergies={data.allergies} flags={data.flags} />
      {aside}
      <div className="chart-panels">
        <div className="chart-col">
          <Problems data={data} />
          <Medications data={data} />
          <Allergies data={data} />
          <Immunizations data={data} />
        </div>
        <div className="chart-col">
          <Vitals data={data} open={setTrend} />
          <Labs data={data} open={setTrend} />
          <CareTeam data={data} />
        </div>
        <div className="chart-col">
          <Encounters data={data} />
          <Notes data={data} />
        </div>
      </div>
      {trend ? <TrendPlot patientId={data.patient.id ?? ''} spec={trend.spec} initial={trend.initial} onClose={() => setTrend(undefined)} /> : null}
    </>
  );
}

function Panel({
  id,
  title,
  data,
  empty,
  extra,
  status,
  children,
}: {
  id: PanelKey;
  title: string;
  data: ChartData;
  empty?: string;
  extra?: ReactNode;
  /** Shown whatever the content: the outcome of an action, even one that emptied the list. */
  status?: ReactNode;
  children?: ReactNode;
}) {
  const failed = data.failed?.[id];
  return (
    <section className={`panel chart-panel panel-${id}`} aria-labelledby={`panel-${id}`}>
      <h2 id={`panel-${id}`}>
        {title}
        {extra}
      </h2>
      {failed ? <p className="error">Not loaded: {failed}</p> : empty ? <p className="muted empty-state">{empty}</p> : children}
      {status}
    </section>
  );
}

/** SNOMED CT semantic tags dropped from titles written from displays: "Hypertension (disorder)" → "Hypertension". */
const untag = (s: string) => s.replace(/ \((disorder|finding|procedure|situation)\)/g, '');

const notErroneous = (r: Resource) => {
  const v = r.verificationStatus?.coding?.[0]?.code;
  return v !== 'refuted' && v !== 'entered-in-error' && r.status !== 'entered-in-error';
};

// ---- Problems, medications, allergies ------------------------------------------------------------

function onsetOf(c: Resource): string {
  if (c.onsetDateTime) return formatDate(c.onsetDateTime);
  if (c.onsetPeriod?.start) return formatDate(c.onsetPeriod.start);
  if (c.onsetAge?.value !== undefined) return `at ${c.onsetAge.value} ${c.onsetAge.unit ?? 'y'}`;
  return c.onsetString ?? '';
}

const isProblemListItem = (c: Resource) => (c.category ?? []).some((x: Resource) => x.coding?.some((k: { code?: string }) => k.code === 'problem-list-item'));

function Problems({ data }: { data: ChartData }) {
  const list = data.problems.filter(notErroneous).sort((a, b) => Number(isProblemListItem(b)) - Number(isProblemListItem(a)));
  return (
    <Panel id="problems" title="Problems" data={data} empty={list.length ? undefined : 'No active problems recorded'}>
      <ul className="rows">
        {list.map((c) => (
          <li key={c.id}>
            <span>{shortConcept(c.code)}</span>
            <span className="muted when">{onsetOf(c) ? `since ${onsetOf(c)}` : ''}</span>
          </li>
        ))}
      </ul>
    </Panel>
  );
}

const STATUS_BADGE: Record<string, string> = { 'on-hold': 'on hold', draft: 'draft', preliminary: 'draft' };

function Medications({ data }: { data: ChartData }) {
  const { account } = useSession();
  const list = data.medications.filter(notErroneous);
  const [status, setStatus] = useState<{ text: string; error?: boolean }>();
  const prescriber = PRESCRIBERS.includes(account.role);
  const acts = prescriber || DRAFTERS.includes(account.role);
  return (
    <Panel
      id="medications"
      title="Medications"
      data={data}
      empty={list.length ? undefined : 'No active medications recorded'}
      status={
        <p role="status" className={status?.error ? 'error med-status' : 'med-status'}>
          {status?.text}
        </p>
      }
    >
      <ul className="rows stacked">
        {list.map((m) => (
          <MedicationRow key={m.id} m={m} acts={acts && m.status === 'active'} prescriber={prescriber} onStatus={setStatus} />
        ))}
      </ul>
    </Panel>
  );
}

/** One prescription, with Renew, Change and Stop for those who prescribe (a scribe drafts renewals and changes). */
function MedicationRow({
  m,
  acts,
  prescriber,
  onStatus,
}: {
  m: Resource;
  acts: boolean;
  prescriber: boolean;
  onStatus: (s: { text: string; error?: boolean }) => void;
}) {
  const { account } = useSession();
  const [stopping, setStopping] = useState(false);
  const [other, setOther] = useState('');
  const [busy, setBusy] = useState(false);
  const name = m.medicationCodeableConcept ? conceptText(m.medicationCodeableConcept) : (m.medicationReference?.display ?? 'Medication');
  const author = account.fhir ? { reference: account.fhir } : undefined;

  async function run(what: () => Promise<string>) {
    setBusy(true);
    try {
      onStatus({ text: await what() });
      chartChanged();
    } catch (err) {
      if (err instanceof ApiError && err.status === 412) {
        onStatus({
          text: `${name} was changed by someone else since the chart was opened; nothing was saved. The chart now shows it as it is: try again.`,
          error: true,
        });
        chartChanged();
      } else onStatus({ text: `${name}: ${(err as Error).message}`, error: true });
    } finally {
      setBusy(false);
    }
  }

  const renew = () =>
    run(async () => {
      const next = renewalOf(m, author, prescriber ? 'active' : 'draft');
      // The renewal is an order like any other: a contraindication found now opens the form to decide.
      const sign = await callHook('order-sign', m.subject?.reference?.split('/')[1] ?? '', [{ ...next, status: 'draft' }]).catch(() => undefined);
      if (sign?.cards.some(interrupts)) {
        prescribeReplacing({ order: m, as: 'renew' });
        return `${name}: a check found a contraindication; review the renewal in the prescribing form.`;
      }
      await saveReplacing(next, m, 'renew', prescriber);
      return prescriber ? `Renewed: ${name}` : `Renewal drafted for a physician to sign: ${name}`;
    });

  const stop = (reason?: string) =>
    run(async () => {
      await stopMedication(m, reason);
      setStopping(false);
      return `Stopped: ${name}${reason ? ` (${reason})` : ''}`;
    });

  return (
    <li>
      <div>
        <span className="drug">{name}</span>
        {STATUS_BADGE[m.status] ? <span className="badge warn">{STATUS_BADGE[m.status]}</span> : null}
        <span className="muted sig">{m.dosageInstruction?.[0]?.text ?? 'No dosage instructions'}</span>
        {acts ? (
          <span className="med-actions">
            <button type="button" className="link" disabled={busy} onClick={() => void renew()} aria-label={`Renew ${name}`}>
              Renew
            </button>
            <button type="button" className="link" disabled={busy} onClick={() => prescribeReplacing({ order: m, as: 'change' })} aria-label={`Change ${name}`}>
              Change
            </button>
            {prescriber ? (
              <button
                type="button"
                className="link"
                disabled={busy}
                aria-expanded={stopping}
                onClick={() => setStopping(!stopping)}
                aria-label={`Stop ${name}`}
              >
                Stop
              </button>
            ) : null}
          </span>
        ) : null}
        {stopping ? (
          <fieldset className="med-stop">
            <legend className="muted">Stop {name} because:</legend>
            {STOP_REASONS.map((r) => (
              <button key={r} type="button" disabled={busy} onClick={() => void stop(r)}>
                {r}
              </button>
            ))}
            <input aria-label="Other reason (optional)" placeholder="other reason (optional)" value={other} onChange={(e) => setOther(e.target.value)} />
            <button type="button" className="danger" disabled={busy} onClick={() => void stop(other.trim() || undefined)}>
              Stop now
            </button>
            <button type="button" className="ghost" onClick={() => setStopping(false)}>
              Keep
            </button>
          </fieldset>
        ) : null}
      </div>
      <span className="muted when">{m.authoredOn ? `since ${formatDate(m.authoredOn)}` : ''}</span>
    </li>
  );
}

function Allergies({ data }: { data: ChartData }) {
  const active = activeAllergies(data.allergies);
  const statements = active.map(noAllergyStatement).filter(Boolean);
  const list = active.filter((a) => !noAllergyStatement(a));
  const empty = list.length ? undefined : statements.length ? statements.join('; ') : 'No allergies recorded';
  return (
    <Panel id="allergies" title="Allergies" data={data} empty={empty}>
      <table className="dense">
        <thead>
          <tr>
            <th scope="col">Substance</th>
            <th scope="col">Reaction</th>
            <th scope="col">Criticality</th>
          </tr>
        </thead>
        <tbody>
          {list.map((a) => (
            <tr key={a.id} className={a.criticality === 'high' ? 'allergy high' : 'allergy'}>
              <td>
                {substanceOf(a)}
                {a.category?.length ? <span className="muted"> · {a.category.join(', ')}</span> : null}
              </td>
              <td>{reactionText(a) || <span className="muted">not recorded</span>}</td>
              <td>
                {a.criticality === 'high' ? (
                  <span className="badge danger">⚠ high</span>
                ) : a.criticality === 'low' ? (
                  'low'
                ) : a.criticality === 'unable-to-assess' ? (
                  <span className="muted">unable to assess</span>
                ) : (
                  <span className="muted">not recorded</span>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Panel>
  );
}

// ---- Vital signs and labs ------------------------------------------------------------------------

function Vitals({ data, open }: { data: ChartData; open: (t: Trend) => void }) {
  const rows = VITALS.map((spec) => ({ spec, points: pointsOf(data.vitals, spec) })).filter((r) => !r.spec.optional || r.points.length);
  const none = rows.every((r) => !r.points.length);
  return (
    <Panel id="vitals" title="Vital signs" data={data} empty={none ? 'No vital signs recorded' : undefined}>
      <ul className="vitals">
        {rows.map(({ spec, points }) => (
          <li key={spec.title}>
            <VitalRow spec={spec} points={points} onOpen={() => open({ spec, initial: data.vitals })} />
          </li>
        ))}
      </ul>
    </Panel>
  );
}

function VitalRow({ spec, points, onOpen }: { spec: (typeof VITALS)[number]; points: Point[]; onOpen: () => void }) {
  const last = points[points.length - 1];
  const recent = points.slice(-SPARK_POINTS);
  const flag = last ? flagOf(last.obs) : undefined;
  return (
    <button type="button" className="vital" onClick={onOpen} aria-haspopup="dialog" title={`Show the ${spec.title.toLowerCase()} trend`}>
      <span className="vital-name">{spec.short}</span>
      {last ? (
        <>
          <span className={`vital-value${flag ? ' abnormal' : ''}`}>
            {valueText(last.values)}
            {last.unit ? <small> {last.unit}</small> : null} <FlagMark flag={flag} />
          </span>
          <Sparkline series={(spec.components ?? [0]).map((_, k) => recent.map((p) => p.values[k]))} label={describe(recent, `${spec.title}, recent`)} />
          <span className="muted when">{formatDate(whenOf(last.obs))}</span>
        </>
      ) : (
        <span className="muted vital-none">none recent</span>
      )}
    </button>
  );
}

function labCode(o: Resource): string {
  const codings = (o.code?.coding ?? []) as { system?: string; code?: string }[];
  return (codings.find((c) => c.system === 'http://loinc.org') ?? codings[0])?.code ?? conceptText(o.code);
}

function labName(o: Resource): string {
  return LAB_NAMES[labCode(o)] ?? conceptText(o.code).split(' [')[0];
}

function resultText(o: Resource): { value: string; unit: string } {
  if (o.valueQuantity?.value !== undefined)
    return { value: `${o.valueQuantity.comparator ?? ''}${o.valueQuantity.value}`, unit: unitText(o.valueQuantity.unit ?? o.valueQuantity.code) };
  if (o.valueString !== undefined) return { value: String(o.valueString), unit: '' };
  if (o.valueCodeableConcept) return { value: conceptText(o.valueCodeableConcept), unit: '' };
  if (o.dataAbsentReason) return { value: `no result (${conceptText(o.dataAbsentReason).toLowerCase()})`, unit: '' };
  return { value: '—', unit: '' };
}

function Labs({ data, open }: { data: ChartData; open: (t: Trend) => void }) {
  const latest = new Map<string, Resource>();
  for (const o of data.labs) if (notErroneous(o) && !latest.has(labCode(o))) latest.set(labCode(o), o);
  const rows = [...latest.values()];
  return (
    <Panel
      id="labs"
      title="Recent labs"
      data={data}
      empty={rows.length ? undefined : 'No lab results recorded'}
      extra={rows.length ? <span className="panel-note">latest per test</span> : null}
    >
      <table className="dense labs">
        <thead>
          <tr>
            <th scope="col">Test</th>
            <th scope="col">Result</th>
            <th scope="col" className="lab-range">
              Range
            </th>
            <th scope="col">Date</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((o) => {
            const flag = flagOf(o);
            const { value, unit } = resultText(o);
            const code = labCode(o);
            const numeric = o.valueQuantity?.value !== undefined;
            return (
              <tr key={o.id} data-code={code}>
                <td className="lab-name" title={conceptText(o.code)}>
                  {numeric ? (
                    <button
                      type="button"
                      className="link"
                      aria-haspopup="dialog"
                      onClick={() => open({ spec: { title: labName(o), codes: [code] }, initial: data.labs })}
                    >
                      {labName(o)}
                    </button>
                  ) : (
                    labName(o)
                  )}
                  {rangeText(o) ? <span className="lab-range-inline muted">ref. {rangeText(o)}</span> : null}
                </td>
                <td className={`lab-result${flag ? ' abnormal' : ''}`}>
                  {value}
                  {unit ? <small> {unit}</small> : null} <FlagMark flag={flag} />
                </td>
                <td className="muted lab-range">{rangeText(o)}</td>
                <td className="muted when">{formatDate(whenOf(o))}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </Panel>
  );
}

// ---- Encounters, notes, immunizations, care team -------------------------------------------------

function Encounters({ data }: { data: ChartData }) {
  const list = data.encounters.filter(notErroneous);
  const total = data.encounterTotal ?? list.length;
  return (
    <Panel
      id="encounters"
      title="Encounters"
      data={data}
      empty={list.length ? undefined : 'No encounters recorded'}
      extra={
        list.length ? (
          <span className="panel-note encounter-total">
            {total} encounter{total === 1 ? '' : 's'}
            {total > list.length ? `, ${list.length} most recent shown` : ''}
          </span>
        ) : null
      }
    >
      <ul className="rows">
        {list.map((e) => {
          const reasons = [
            ...((e.reasonCode ?? []) as Resource[]).map(shortConcept),
            ...((e.reasonReference ?? []) as { display?: string }[]).map((r) => r.display ?? ''),
          ].filter(Boolean);
          return (
            <li key={e.id}>
              <span className="clip" title={reasons.join(', ')}>
                {e.type?.[0] ? shortConcept(e.type[0]) : (e.class?.display ?? 'Encounter')}
                {e.status === 'in-progress' ? <span className="badge ok">in progress</span> : null}
                {reasons.length ? <span className="muted"> · {reasons.join(', ')}</span> : null}
              </span>
              <span className="muted when">{formatDate(e.period?.start)}</span>
            </li>
          );
        })}
      </ul>
    </Panel>
  );
}

const DOC_STATUS: Record<string, string> = { preliminary: 'draft', final: 'final', amended: 'amended' };

function Notes({ data }: { data: ChartData }) {
  const list = data.notes.filter(notErroneous);
  return (
    <Panel id="notes" title="Recent notes" data={data} empty={list.length ? undefined : 'No notes yet'}>
      <ul className="rows stacked">
        {list.map((n) => {
          const status = DOC_STATUS[n.docStatus] ?? n.docStatus ?? 'final';
          const title = untag(n.description ?? n.content?.[0]?.attachment?.title ?? conceptText(n.type));
          return (
            <li key={n.id}>
              <span className="clip-block">
                <span className="clip" title={title}>
                  {title}
                </span>
                <span className="muted sig">
                  {((n.author ?? []) as { display?: string }[]).map((a) => a.display ?? 'Unknown author').join(', ') || 'No author recorded'}
                  <span className={`badge ${status === 'draft' ? 'warn' : status === 'final' ? 'ok' : ''}`}>{status}</span>
                </span>
              </span>
              <span className="muted when">
                {formatDate(n.date)}
                <span className="sig">{formatTime(n.date)}</span>
              </span>
            </li>
          );
        })}
      </ul>
    </Panel>
  );
}

function Immunizations({ data }: { data: ChartData }) {
  const list = data.immunizations.filter(notErroneous);
  return (
    <Panel id="immunizations" title="Immunizations" data={data} empty={list.length ? undefined : 'No immunizations recorded'}>
      <ul className="rows">
        {list.map((i) => (
          <li key={i.id}>
            <span className="clip" title={conceptText(i.vaccineCode)}>
              {conceptText(i.vaccineCode)}
              {i.status === 'not-done' ? <span className="badge warn">not given</span> : null}
            </span>
            <span className="muted when">{i.occurrenceDateTime ? formatDate(i.occurrenceDateTime) : (i.occurrenceString ?? '')}</span>
          </li>
        ))}
      </ul>
    </Panel>
  );
}

function personName(r: Resource): string {
  if (r.resourceType === 'Organization') return r.name ?? 'Organization';
  const prefix = r.name?.[0]?.prefix?.[0];
  return prefix ? `${prefix} ${nameOf(r)}` : nameOf(r);
}

function CareTeam({ data }: { data: ChartData }) {
  const gps = data.generalPractitioners.length
    ? data.generalPractitioners.map((r) => ({ key: `${r.resourceType}/${r.id}`, name: personName(r) }))
    : ((data.patient.generalPractitioner ?? []) as { reference?: string; display?: string }[]).map((r) => ({
        key: r.reference ?? r.display ?? '',
        name: r.display ?? r.reference ?? '',
      }));
  const members = data.careTeams.flatMap((t) =>
    ((t.participant ?? []) as Resource[]).map((p, i) => ({
      key: `${t.id}-${i}`,
      name: p.member?.display ?? p.member?.reference ?? 'Unnamed member',
      role: p.role?.[0] ? conceptText(p.role[0]) : (t.name ?? ''),
    })),
  );
  const empty = gps.length || members.length ? undefined : 'No care team or general practitioner recorded';
  return (
    <Panel id="careTeams" title="Care team" data={data} empty={empty}>
      <ul className="rows">
        {gps.map((g) => (
          <li key={g.key}>
            <span>{g.name}</span>
            <span className="muted">General practitioner</span>
          </li>
        ))}
        {members.map((m) => (
          <li key={m.key}>
            <span>{m.name}</span>
            <span className="muted">{m.role}</span>
          </li>
        ))}
      </ul>
    </Panel>
  );
}
