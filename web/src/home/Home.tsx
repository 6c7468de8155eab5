/**
 * Home: the signed-in user's day in one screen and one round trip (worklist.ts). Clinicians see today's
 * appointments (Enter on a row opens the chart; arrow keys move between rows), today's encounters, notes
 * waiting for co-signature, their own drafts, inbox counts and the patients they opened recently. The front
 * desk sees the day's schedule, billing the day's encounters; administrators and privacy officers are
 * pointed at their tools.
 */
import { type KeyboardEvent, type ReactNode, useCallback, useEffect, useState } from 'react';
import { ApiError, matches } from '../api.ts';
import { ageOf, type Bundle, conceptText, formatDate, formatTime, nameOf, type Reference, type Resource } from '../fhir.ts';
import { recentPatients } from '../recent.ts';
import { Link, navigate } from '../router.tsx';
import { type Account, useSession } from '../session.tsx';
import './home.css';
import { AWAITING_COSIGNATURE, isClinician, loadWorklist, type PanelKey, type PanelResult, WORKFLOW, type Worklist, worklistQueries } from './worklist.ts';

const dayFmt = new Intl.DateTimeFormat('en-GB', { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });

export function Home() {
  const { account } = useSession();
  const [list, setList] = useState<Worklist>();
  const [error, setError] = useState<string>();

  const load = useCallback(async () => {
    setError(undefined);
    try {
      setList(await loadWorklist(worklistQueries(account)));
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
  }, [account]);

  useEffect(() => {
    void load();
  }, [load]);

  return (
    <div className="home">
      <header className="home-head">
        <h1>Today, {dayFmt.format(new Date())}</h1>
        <button type="button" className="ghost" onClick={() => void load()}>
          Refresh
        </button>
      </header>
      {error ? (
        <p className="error" role="alert">
          {error}{' '}
          <button type="button" onClick={() => void load()}>
            Try again
          </button>
        </p>
      ) : !list ? (
        <p className="loading" role="status">
          Loading your worklist…
        </p>
      ) : (
        <Screen account={account} list={list} />
      )}
    </div>
  );
}

function Screen({ account, list }: { account: Account; list: Worklist }) {
  const role = account.role;
  if (role === 'admin' || role === 'privacy-officer') return <StaffPointer role={role} />;
  if (!isClinician(role) && role !== 'front-desk' && role !== 'billing')
    return (
      <section className="panel">
        <p>Hale's workspace is for the clinic's staff. Your role ({role}) has no worklist here.</p>
      </section>
    );
  return (
    <div className="home-grid">
      <div className="home-main">
        {isClinician(role) ? <Summary list={list} /> : null}
        {isClinician(role) && !account.fhir ? (
          <section className="panel">
            <p>
              Your account is not linked to a Practitioner, so Hale cannot tell which appointments and encounters are yours. Ask an administrator to link it.
            </p>
          </section>
        ) : null}
        {list.appointments ? (
          <Appointments result={list.appointments} encounters={matches(list.encounters?.bundle)} showPractitioner={role === 'front-desk'} />
        ) : null}
        {list.encounters ? <Encounters result={list.encounters} /> : null}
      </div>
      <aside className="home-side">
        {list.drafts ? <Drafts result={list.drafts} /> : null}
        <Recent accountId={account.id} />
      </aside>
    </div>
  );
}

const WHAT: Record<PanelKey, string> = {
  appointments: 'appointments',
  encounters: 'encounters',
  cosign: 'notes waiting for co-signature',
  draftPrescriptions: 'prescriptions waiting for signature',
  draftLabOrders: 'lab orders waiting for signature',
  drafts: 'draft notes',
  messages: 'messages',
  tasks: 'tasks',
};

/** A panel's error in words; a refusal by the role rules says what this role does not show. */
function problem(key: PanelKey, r: PanelResult): string | undefined {
  if (!r.error) return undefined;
  return r.status === 403 ? `Your role does not show ${WHAT[key]}.` : r.error;
}

function PanelError({ text }: { text: string }) {
  return <p className="muted">{text}</p>;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** Co-signature queue and inbox counts, one line. */
function Summary({ list }: { list: Worklist }) {
  const count = (k: PanelKey, one: string) => {
    const r = list[k];
    if (!r) return null;
    const p = problem(k, r);
    return p ?? plural(r.bundle?.total ?? 0, one);
  };
  const cosign = list.cosign;
  const waiting = cosign?.bundle?.total ?? 0;
  // Draft orders waiting for signature; shown beside the notes when there are any.
  const orders = (list.draftPrescriptions?.bundle?.total ?? 0) + (list.draftLabOrders?.bundle?.total ?? 0);
  return (
    <section className="panel home-summary" aria-label="Co-signature and inbox">
      {cosign ? (
        <span>
          Co-signature:{' '}
          {cosign.error ? (
            problem('cosign', cosign)
          ) : (
            <Link to="/cosign" className={waiting || orders ? 'home-count' : undefined}>
              {plural(waiting, 'note')}
              {orders ? `, ${plural(orders, 'order')}` : ''} waiting
            </Link>
          )}
        </span>
      ) : null}
      {list.messages || list.tasks ? (
        <span>
          Inbox: {[count('messages', 'message'), count('tasks', 'task')].filter(Boolean).join(list.messages?.error || list.tasks?.error ? ' ' : ', ')}
        </span>
      ) : null}
    </section>
  );
}

/** The patient a reference points to, from the included resources. */
function patientOf(ref: Reference | undefined, included: Map<string, Resource>): { id?: string; name: string; patient?: Resource } {
  const id = ref?.reference?.startsWith('Patient/') ? ref.reference.slice(8) : undefined;
  const patient = id ? included.get(`Patient/${id}`) : undefined;
  return { id, name: patient?.name ? nameOf(patient) : (ref?.display ?? 'Unknown patient'), patient };
}

function includedOf(b: Bundle | undefined): Map<string, Resource> {
  const m = new Map<string, Resource>();
  for (const e of b?.entry ?? []) if (e.search?.mode === 'include' && e.resource) m.set(`${e.resource.resourceType}/${e.resource.id}`, e.resource);
  return m;
}

const SEX: Record<string, string> = { female: 'F', male: 'M', other: 'other' };

function ageSex(p: Resource | undefined): string {
  if (!p) return '';
  return [ageOf(p.birthDate), SEX[p.gender] ?? ''].filter(Boolean).join(' · ');
}

const STATUS: Record<string, { label: string; tone?: string }> = {
  proposed: { label: 'proposed' },
  pending: { label: 'pending' },
  booked: { label: 'booked' },
  arrived: { label: 'arrived', tone: 'ok' },
  checkedin: { label: 'checked in', tone: 'ok' },
  fulfilled: { label: 'seen' },
  cancelled: { label: 'cancelled', tone: 'danger' },
  noshow: { label: 'no-show', tone: 'danger' },
  waitlist: { label: 'wait list' },
  'entered-in-error': { label: 'entered in error', tone: 'danger' },
  'in-progress': { label: 'in progress', tone: 'now' },
  planned: { label: 'planned' },
  onleave: { label: 'on leave' },
  finished: { label: 'finished' },
};

function Badge({ status }: { status: string | undefined }) {
  const s = STATUS[status ?? ''] ?? { label: status ?? 'unknown' };
  return <span className={`badge${s.tone ? ` ${s.tone}` : ''}`}>{s.label}</span>;
}

/** Rows that open a chart: focusable, Enter opens, arrow keys move to the next or previous row. */
function rowKeys(e: KeyboardEvent<HTMLTableRowElement>, to: string | undefined) {
  if (e.target !== e.currentTarget) return;
  if (e.key === 'Enter' && to) {
    e.preventDefault();
    navigate(to);
  } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
    e.preventDefault();
    const next = e.key === 'ArrowDown' ? e.currentTarget.nextElementSibling : e.currentTarget.previousElementSibling;
    (next as HTMLElement | null)?.focus();
  }
}

function ChartRow({ to, className, children }: { to?: string; className?: string; children: ReactNode }) {
  return (
    <tr
      tabIndex={to ? 0 : undefined}
      className={className}
      onKeyDown={(e) => rowKeys(e, to)}
      onClick={(e) => to && !(e.target as HTMLElement).closest('a') && navigate(to)}
    >
      {children}
    </tr>
  );
}

function PatientCell({ id, name }: { id?: string; name: string }) {
  return (
    <td className="home-patient">
      {id ? (
        <Link to={`/patients/${id}`} tabIndex={-1}>
          {name}
        </Link>
      ) : (
        name
      )}
    </td>
  );
}

function Appointments({ result, encounters, showPractitioner }: { result: PanelResult; encounters: Resource[]; showPractitioner: boolean }) {
  const p = problem('appointments', result);
  const rows = matches(result.bundle);
  const included = includedOf(result.bundle);
  return (
    <section className="panel" aria-labelledby="home-appointments">
      <h2 id="home-appointments">Appointments{rows.length ? <span className="muted"> · {rows.length}</span> : null}</h2>
      {p ? (
        <PanelError text={p} />
      ) : !rows.length ? (
        <p className="muted">No appointments today.</p>
      ) : (
        <table className="dense home-rows">
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Patient</th>
              <th scope="col">Age · sex</th>
              <th scope="col">Reason</th>
              {showPractitioner ? <th scope="col">With</th> : null}
              <th scope="col">Status</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((a) => {
              const actors = ((a.participant ?? []) as { actor?: Reference }[]).map((x) => x.actor);
              const who = patientOf(
                actors.find((r) => r?.reference?.startsWith('Patient/')),
                included,
              );
              const clinician = actors.find((r) => r?.reference?.startsWith('Practitioner/'));
              const reason = a.reasonCode?.length ? conceptText(a.reasonCode[0]) : (a.description ?? '');
              const inactive = ['cancelled', 'noshow', 'entered-in-error'].includes(a.status);
              // An arrived patient whose visit has begun: the encounter for this appointment is in progress.
              const visit = encounters.find((e) => (e.appointment as Reference[] | undefined)?.some((r) => r.reference === `Appointment/${a.id}`));
              return (
                <ChartRow key={a.id} to={who.id ? `/patients/${who.id}` : undefined} className={inactive ? 'home-inactive' : undefined}>
                  <td className="home-time">{formatTime(a.start)}</td>
                  <PatientCell id={who.id} name={who.name} />
                  <td>{ageSex(who.patient)}</td>
                  <td>{reason}</td>
                  {showPractitioner ? <td>{clinician?.display ?? ''}</td> : null}
                  <td>
                    <Badge status={visit?.status === 'in-progress' ? 'in-progress' : a.status} />
                  </td>
                </ChartRow>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

function Encounters({ result }: { result: PanelResult }) {
  const p = problem('encounters', result);
  const rows = matches(result.bundle);
  const included = includedOf(result.bundle);
  return (
    <section className="panel" aria-labelledby="home-encounters">
      <h2 id="home-encounters">Encounters{rows.length ? <span className="muted"> · {rows.length}</span> : null}</h2>
      {p ? (
        <PanelError text={p} />
      ) : !rows.length ? (
        <p className="muted">No encounters today.</p>
      ) : (
        <table className="dense home-rows">
          <thead>
            <tr>
              <th scope="col">Since</th>
              <th scope="col">Patient</th>
              <th scope="col">Type</th>
              <th scope="col">Status</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((e) => {
              const who = patientOf(e.subject, included);
              const start = e.period?.start as string | undefined;
              const startedToday = start && new Date(start).toDateString() === new Date().toDateString();
              return (
                <ChartRow key={e.id} to={who.id ? `/patients/${who.id}` : undefined}>
                  <td className="home-time">{startedToday ? formatTime(start) : formatDate(start)}</td>
                  <PatientCell id={who.id} name={who.name} />
                  <td>{e.type?.length ? conceptText(e.type[0]) : (e.class?.display ?? '')}</td>
                  <td>
                    <Badge status={e.status} />
                  </td>
                </ChartRow>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

function Drafts({ result }: { result: PanelResult }) {
  const p = problem('drafts', result);
  const included = includedOf(result.bundle);
  const drafts = matches(result.bundle).filter((d) => d.docStatus === 'preliminary');
  return (
    <section className="panel" aria-labelledby="home-drafts">
      <h2 id="home-drafts">My drafts</h2>
      {p ? (
        <PanelError text={p} />
      ) : !drafts.length ? (
        <p className="muted">No draft notes.</p>
      ) : (
        <ul>
          {drafts.map((d) => {
            const who = patientOf(d.subject, included);
            const what = d.description ?? (d.type ? conceptText(d.type) : 'Note');
            const awaiting = d.meta?.tag?.some((t) => t.system === WORKFLOW && t.code === AWAITING_COSIGNATURE);
            return (
              <li key={d.id}>
                {who.id ? <Link to={`/patients/${who.id}`}>{who.name}</Link> : who.name}{' '}
                <span className="muted">
                  · {what} · {formatDate(d.date)}
                </span>
                {awaiting ? <span className="badge warn">waiting for co-signature</span> : null}
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}

function Recent({ accountId }: { accountId: string }) {
  const recent = recentPatients(accountId);
  return (
    <section className="panel" aria-labelledby="home-recent">
      <h2 id="home-recent">Recent patients</h2>
      {!recent.length ? (
        <p className="muted">Patients you open appear here.</p>
      ) : (
        <ul>
          {recent.map((r) => (
            <li key={r.id}>
              <Link to={`/patients/${r.id}`}>{r.name}</Link>
              {r.detail ? <span className="muted"> · {r.detail}</span> : null}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function StaffPointer({ role }: { role: 'admin' | 'privacy-officer' }) {
  return (
    <section className="panel home-pointer">
      {role === 'admin' ? (
        <>
          <h2>Administration</h2>
          <p>
            Your role shows no clinical data. Invite users and manage passkeys on the <a href="/signin">sign-in page</a> (signed in as an administrator), or
            with <code>hale admin</code> on the server: <code>invite</code>, <code>recover</code>, <code>token</code>, <code>users</code>.
          </p>
          <p className="muted">Running Hale (TLS, database, backups, logs): docs/admin.md. Roles and access: docs/access.md. The API: docs/api.md.</p>
        </>
      ) : (
        <>
          <h2>Privacy and audit</h2>
          <p>
            Your role shows no clinical data. The audit log is in the FHIR API: <code>/fhir/R4/AuditEvent?patient=…&amp;agent=…&amp;date=…</code>; the
            break-the-glass report at <a href="/auth/admin/break-the-glass">/auth/admin/break-the-glass</a>. Check the audit chain with{' '}
            <code>hale audit verify</code>.
          </p>
          <p className="muted">Roles, restricted records and the audit: docs/access.md.</p>
        </>
      )}
    </section>
  );
}
