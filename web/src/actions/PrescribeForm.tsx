/**
 * Prescribe: find the drug as you type (brand or generic, from Hale's formulary: GET /api/formulary), then
 * strength, dose, route, frequency, days, quantity and refills — the usual directions and course come filled
 * in, so "amlo 5", Enter, Enter prescribes (Enter picks the first match, even before the search has answered;
 * the formulary lists a drug's strengths lowest first, the arrow keys move between them). The common directions are one key each (1–6, and 0 for the drug's
 * own usual directions when they are not one of those) while the choice has focus. The words of the sig are
 * written from the fields (and may be edited); the MedicationRequest is coded with the product's RxNorm
 * clinical drug and carries the directions as data (dose, timing, route, as needed) for the dose check.
 *
 * Checks while ordering (CDS Hooks): when a drug is picked, and again when the dose or frequency change, the
 * draft goes to order-select and the cards show below the form, quietly. On save it goes to order-sign: a
 * contraindicated card interrupts (OverrideDialog) — one click on a reason records the override and saves;
 * anything else never holds the order up, and neither does a check that fails or does not answer.
 *
 * A scribe's prescription is a draft for a physician to sign. Opened from the medication list (Change, or a
 * renewal that needs a look), the form is prefilled and saving ends the old prescription (med-actions.ts).
 */
import { useEffect, useMemo, useRef, useState } from 'react';
import { flushSync } from 'react-dom';
import { ApiError, fhir } from '../api.ts';
import { CardView, sortCards } from '../cds/Cards.tsx';
import {
  type Card,
  type CdsResult,
  callHook,
  formularyProduct,
  interrupts,
  type Product,
  quietStatus,
  reasonsOf,
  searchFormulary,
  sendFeedback,
  serviceOf,
} from '../cds/cds-api.ts';
import { PRESCRIBERS, pendingReplacing, type Replacing, saveReplacing } from '../cds/med-actions.ts';
import { OverrideDialog } from '../cds/OverrideDialog.tsx';
import {
  type Directions,
  directionsOf,
  dispenseUnit,
  dosageOf,
  doseUnit,
  FREQUENCIES,
  frequencyById,
  parseSig,
  presetsFor,
  quantityFor,
  ROUTES,
  routeOfProduct,
  sameDirections,
  sigText,
} from '../cds/sig.ts';
import type { Coding, Resource } from '../fhir.ts';
import {
  ActionForm,
  type Errors,
  FieldError,
  invalid,
  parseNumber,
  showErrors,
  TypeAhead,
  type TypeAheadOption,
  useAuthor,
  useSave,
  uuid,
} from './form-kit.tsx';
import type { ActionProps } from './registry.ts';
import { RXNORM, UCUM } from './terms.ts';

export interface PrescriptionDraft {
  product?: Product;
  dose: string;
  sig: string;
  quantity: string;
  refills: string;
  days: string;
}

/** What is wrong with the draft, field by field (empty when it may be sent). */
export function checkPrescription(d: PrescriptionDraft): Errors {
  const e: Errors = {};
  if (!d.product) e.drug = 'Choose a drug from the list (type a few letters of its name, then Enter).';
  const dose = parseNumber(d.dose);
  if (dose !== undefined && (Number.isNaN(dose) || dose <= 0 || dose > 1000)) e.dose = 'Dose: a number of units, e.g. 1, 2 or 0.5.';
  if (!d.sig.trim()) e.sig = 'Write the directions, or press 1–6 for a common one.';
  const q = parseNumber(d.quantity);
  if (q === undefined || Number.isNaN(q) || q <= 0 || q > 1000) e.quantity = 'Quantity: a number from 1 to 1000.';
  const r = parseNumber(d.refills);
  if (r === undefined || Number.isNaN(r) || !Number.isInteger(r) || r < 0 || r > 11) e.refills = 'Refills: a whole number from 0 to 11.';
  const days = parseNumber(d.days);
  if (days === undefined || Number.isNaN(days) || !Number.isInteger(days) || days < 1 || days > 365) e.days = 'Days supply: a whole number from 1 to 365.';
  return e;
}

interface Preset {
  key: string;
  /** The fields it sets (absent: words the fields cannot say). */
  dir?: Directions;
  words: string;
}

interface Checks extends Partial<CdsResult> {
  loading?: boolean;
  failed?: string;
}

const EMPTY_DIR: Directions = { dose: '', route: 'oral', frequency: '', reason: '' };
const ingredientKey = (p: Product) =>
  p.ingredients
    .map((i) => i.rxcui)
    .sort()
    .join('+');
const cardKey = (c: Card) => c.extension?.hale?.rule ?? c.summary;
const messageOf = (err: unknown) => (err instanceof ApiError ? err.message : (err as Error).message);

export default function PrescribeForm({ patientId, onDone, onCancel }: ActionProps) {
  const { author, role } = useAuthor();
  const { busy, error, save } = useSave(onDone);
  const asScribe = !PRESCRIBERS.includes(role);
  const [orderId, setOrderId] = useState(uuid);
  const [replacing, setReplacing] = useState<Replacing | undefined>(() => pendingReplacing());
  const [text, setText] = useState('');
  const [found, setFound] = useState<{ q: string; products: Product[]; error?: string }>({ q: '', products: [] });
  const [product, setProduct] = useState<Product>();
  const [strengths, setStrengths] = useState<Product[]>([]);
  const [dir, setDir] = useState<Directions>(EMPTY_DIR);
  const [sig, setSig] = useState('');
  const [supply, setSupply] = useState({ quantity: '', refills: '', days: '' });
  const [quantityTyped, setQuantityTyped] = useState(false);
  const [errors, setErrors] = useState<Errors>({});
  const [checks, setChecks] = useState<Checks>();
  const [overridden, setOverridden] = useState<Record<string, string>>({});
  const [signing, setSigning] = useState(false);
  const [interrupt, setInterrupt] = useState<{ cards: Card[]; note: string; busy?: boolean; error?: string }>();
  const [prefillNote, setPrefillNote] = useState('');
  const presetsRef = useRef<HTMLFieldSetElement>(null);
  const drugRef = useRef<HTMLInputElement>(null);
  /** Enter pressed on the drug before its search answered: pick the first match (and a second Enter saves). */
  const pendingEnter = useRef(0);
  const checkSeq = useRef(0);

  const picked = product && product.label === text ? product : undefined;
  const form = picked?.form ?? 'tablet';
  const [unitOne, unitMany] = doseUnit(form);

  // ---- The drug: formulary search as you type -------------------------------------------------------
  const latestPick = useRef<(p: Product) => void>(() => undefined);
  useEffect(() => {
    const q = text.trim();
    if (!q || picked) return;
    let live = true;
    const t = setTimeout(async () => {
      let next: typeof found;
      try {
        next = { q: text, products: await searchFormulary(q, 20) };
      } catch (err) {
        next = { q: text, products: [], error: messageOf(err) };
      }
      if (!live) return;
      setFound(next);
      const n = pendingEnter.current;
      pendingEnter.current = 0;
      if (n && next.products[0]) {
        latestPick.current(next.products[0]);
        if (n > 1) drugRef.current?.form?.requestSubmit();
      }
    }, 100);
    return () => {
      live = false;
      clearTimeout(t);
    };
  }, [text, picked]);

  const options = useMemo<TypeAheadOption<Product>[]>(
    () =>
      picked || found.q !== text
        ? []
        : found.products.map((p) => ({
            key: p.rxcui,
            value: p,
            label: (
              <>
                <span>{p.label}</span>
                <span className="muted">RxNorm {p.rxcui}</span>
              </>
            ),
          })),
    [found, text, picked],
  );

  // ---- The directions -------------------------------------------------------------------------------
  const presets: Preset[] = useMemo(() => {
    if (!picked) return [];
    const route = routeOfProduct(picked.route, picked.form);
    const common = presetsFor(picked.form, route).map((d, i) => ({ key: String(i + 1), dir: d, words: sigText(d, picked.form) }));
    const usual = picked.sig?.trim();
    if (!usual || common.some((p) => p.words === usual)) return common;
    return [{ key: '0', dir: parseSig(usual, picked.form, route), words: usual }, ...common];
  }, [picked]);

  function usualOf(p: Product): { dir: Directions; words: string } {
    const route = routeOfProduct(p.route, p.form);
    const usual = p.sig?.trim();
    const parsed = usual ? parseSig(usual, p.form, route) : undefined;
    if (parsed) return { dir: parsed, words: usual ?? '' };
    if (usual) return { dir: { ...EMPTY_DIR, route }, words: usual };
    const first = presetsFor(p.form, route)[0];
    return { dir: first, words: sigText(first, p.form) };
  }

  /** Picks a product; `keep`: the directions and supply to keep (another strength, or a prescription being changed). */
  function pick(p: Product, keep?: { dir?: Directions; words?: string; quantity?: string; refills?: string; days?: string; focus?: boolean }) {
    const usual = usualOf(p);
    const d = keep?.dir ?? usual.dir;
    const words = keep?.words ?? (keep?.dir ? sigText(d, p.form) : usual.words);
    const days = keep?.days ?? String(p.days);
    flushSync(() => {
      setText(p.label);
      setProduct(p);
      setDir(d);
      setSig(words);
      setSupply({
        days,
        refills: keep?.refills ?? String(p.refills),
        quantity: keep?.quantity ?? String(quantityFor(d, p.form, Number(days) || p.days, p.perDay)),
      });
      setQuantityTyped(Boolean(keep?.quantity));
      setErrors({});
    });
    // Rendered at once, so that the directions have the focus before the next key arrives.
    if (keep?.focus === false) return;
    const radios = presetsRef.current?.querySelectorAll<HTMLInputElement>('input[type="radio"]');
    ((presetsRef.current?.querySelector('input:checked') as HTMLInputElement | null) ?? radios?.[0])?.focus();
  }
  latestPick.current = (p) => pick(p);

  /** New directions: the words follow, and the quantity unless it was typed. */
  function applyDirections(d: Directions, words = sigText(d, form)) {
    setDir(d);
    setSig(words);
    const days = parseNumber(supply.days);
    if (!quantityTyped && picked && days && !Number.isNaN(days)) setSupply((s) => ({ ...s, quantity: String(quantityFor(d, form, days, picked.perDay)) }));
    for (const k of ['dose', 'sig'] as const) if (errors[k]) setErrors((e) => ({ ...e, [k]: undefined }));
  }

  // Other strengths (and forms) of the same ingredient(s).
  useEffect(() => {
    if (!picked) return;
    let live = true;
    const name = picked.label.split(/\s+\d/)[0];
    searchFormulary(name, 50)
      .then((list) => {
        if (!live) return;
        const same = list.filter((p) => ingredientKey(p) === ingredientKey(picked));
        const all = same.some((p) => p.rxcui === picked.rxcui) ? same : [picked, ...same];
        setStrengths(all.sort((a, b) => (a.ingredients[0]?.mg ?? 0) - (b.ingredients[0]?.mg ?? 0) || a.form.localeCompare(b.form)));
      })
      .catch(() => live && setStrengths([picked]));
    return () => {
      live = false;
    };
  }, [picked]);

  // ---- Prefilled from the medication list ------------------------------------------------------------
  useEffect(() => {
    pendingReplacing(true);
    const onReplace = () => {
      const r = pendingReplacing(true);
      if (r) {
        setReplacing(r);
        setOrderId(uuid());
      }
    };
    window.addEventListener('hale:rx-replace', onReplace);
    return () => window.removeEventListener('hale:rx-replace', onReplace);
  }, []);

  const prefill = useRef<(r: Replacing) => Promise<void>>(async () => undefined);
  prefill.current = async (r: Replacing) => {
    const old = r.order;
    const coding = ((old.medicationCodeableConcept?.coding ?? []) as Coding[]).find((c) => c.system === RXNORM);
    const name = old.medicationCodeableConcept?.text ?? coding?.display ?? 'this drug';
    let p: Product | undefined;
    try {
      p = coding?.code ? await formularyProduct(coding.code) : undefined;
    } catch {
      p = undefined;
    }
    if (!p) {
      setText('');
      setProduct(undefined);
      setPrefillNote(`${name} is not in Hale’s formulary: choose the drug to prescribe instead.`);
      drugRef.current?.focus();
      return;
    }
    setPrefillNote('');
    const dosage = old.dosageInstruction?.[0];
    const route = routeOfProduct(p.route, p.form);
    const d = directionsOf(dosage, p.form, route);
    const supplyOf = old.dispenseRequest ?? {};
    pick(p, {
      dir: d ?? usualOf(p).dir,
      words: dosage?.text ?? (d ? sigText(d, p.form) : undefined),
      days: supplyOf.expectedSupplyDuration?.value !== undefined ? String(supplyOf.expectedSupplyDuration.value) : undefined,
      refills: supplyOf.numberOfRepeatsAllowed !== undefined ? String(supplyOf.numberOfRepeatsAllowed) : undefined,
      quantity: supplyOf.quantity?.value !== undefined ? String(supplyOf.quantity.value) : undefined,
    });
  };
  useEffect(() => {
    if (replacing) void prefill.current(replacing);
  }, [replacing]);

  // ---- The order, and its checks ----------------------------------------------------------------------
  function buildRequest(status: 'active' | 'draft'): Resource | undefined {
    if (!picked) return undefined;
    const quantity = parseNumber(supply.quantity);
    const refills = parseNumber(supply.refills);
    const days = parseNumber(supply.days);
    return {
      resourceType: 'MedicationRequest',
      id: orderId,
      status,
      intent: 'order',
      medicationCodeableConcept: { coding: [{ system: RXNORM, code: picked.rxcui, display: picked.display }], text: picked.display },
      subject: { reference: `Patient/${patientId}` },
      authoredOn: new Date().toISOString(),
      ...(author ? { requester: author } : {}),
      dosageInstruction: [dosageOf(dir, picked.form, sig.trim())],
      dispenseRequest: {
        ...(quantity !== undefined && !Number.isNaN(quantity) ? { quantity: { value: quantity, unit: dispenseUnit(picked.form) } } : {}),
        ...(refills !== undefined && !Number.isNaN(refills) ? { numberOfRepeatsAllowed: refills } : {}),
        ...(days !== undefined && !Number.isNaN(days) ? { expectedSupplyDuration: { value: days, unit: 'days', system: UCUM, code: 'd' } } : {}),
      },
      ...(replacing ? { priorPrescription: { reference: `MedicationRequest/${replacing.order.id}` } } : {}),
    };
  }
  const latestRequest = useRef(buildRequest);
  latestRequest.current = buildRequest;

  // order-select: at once when a drug is picked, then (debounced) when the dose, route or frequency change.
  const checkKey = picked ? JSON.stringify([picked.rxcui, dir.dose, dir.route, dir.frequency]) : '';
  const checkedDrug = useRef('');
  useEffect(() => {
    if (!checkKey) {
      checkedDrug.current = '';
      setChecks(undefined);
      return;
    }
    const n = ++checkSeq.current;
    const drug = checkKey.split('"')[1] ?? '';
    const delay = checkedDrug.current === drug ? 400 : 0;
    checkedDrug.current = drug;
    const t = setTimeout(async () => {
      const draft = latestRequest.current('draft');
      if (!draft) return;
      setChecks((c) => ({ ...c, loading: true }));
      try {
        const r = await callHook('order-select', patientId, [draft]);
        if (checkSeq.current === n) setChecks({ ...r, loading: false });
      } catch (err) {
        if (checkSeq.current === n) setChecks({ loading: false, failed: messageOf(err) });
      }
    }, delay);
    return () => clearTimeout(t);
  }, [checkKey, patientId]);

  function chooseAnother() {
    setInterrupt(undefined);
    flushSync(() => {
      setText('');
      setProduct(undefined);
      setChecks(undefined);
      setOverridden({});
    });
    drugRef.current?.focus();
  }

  function commit(request: Resource, note: string) {
    const label = picked?.label ?? '';
    void save(async () => {
      const prescriber = !asScribe;
      if (replacing) await saveReplacing(request, replacing.order, replacing.as, prescriber);
      else await fhir.update(request);
      const done = asScribe
        ? `Prescription drafted for a physician to sign: ${label}`
        : replacing?.as === 'change'
          ? `Changed: ${label} (the previous prescription is stopped)`
          : replacing?.as === 'renew'
            ? `Renewed: ${label}`
            : `Prescribed: ${label}`;
      return `${done}${note}`;
    });
  }

  async function submit(formEl: HTMLFormElement) {
    const errs = checkPrescription({ product: picked, dose: dir.dose, sig, ...supply });
    if (!showErrors(formEl, setErrors, errs) || !picked || signing) return;
    const request = buildRequest(asScribe ? 'draft' : 'active');
    const draft = buildRequest('draft');
    if (!request || !draft) return;
    setSigning(true);
    let result: CdsResult | undefined;
    let failure = '';
    try {
      result = await callHook('order-sign', patientId, [draft]);
    } catch (err) {
      failure = messageOf(err);
    }
    setSigning(false);
    if (failure) {
      setChecks((c) => ({ ...c, failed: failure }));
      return commit(request, ` (checks unavailable: ${failure})`);
    }
    const blocking = (result?.cards ?? []).filter(interrupts);
    if (blocking.length) {
      setChecks((c) => ({ ...c, ...result, loading: false }));
      setInterrupt({ cards: blocking, note: ' (override recorded)' });
      return;
    }
    commit(request, '');
  }

  async function overrideAndSave(reason: Coding, comment: string) {
    if (!interrupt) return;
    const request = buildRequest(asScribe ? 'draft' : 'active');
    if (!request) return;
    setInterrupt({ ...interrupt, busy: true, error: undefined });
    try {
      await Promise.all(
        interrupt.cards.map((c) => {
          // A card that does not offer this reason gets it in words.
          const offered = reasonsOf(c).some((r) => r.system === reason.system && r.code === reason.code);
          const overridden = offered ? { reason, comment } : { comment: [reason.display ?? reason.code, comment].filter(Boolean).join(' — ') };
          return sendFeedback(serviceOf(c, 'order-sign'), c, { overridden }, { patientId, order: `MedicationRequest/${orderId}` });
        }),
      );
    } catch (err) {
      setInterrupt({
        ...interrupt,
        busy: false,
        error: `The override could not be recorded, so nothing was saved: ${messageOf(err)} Try again, or choose another drug.`,
      });
      return;
    }
    setInterrupt(undefined);
    commit(request, interrupt.note);
  }

  // ---- The fields ----------------------------------------------------------------------------------
  const supplyField = (name: 'quantity' | 'refills' | 'days', label: string) => (
    <div className="field">
      <label htmlFor={`rx-${name}`}>{label}</label>
      <input
        {...invalid(name, errors, { id: `rx-${name}` })}
        inputMode="numeric"
        autoComplete="off"
        value={supply[name]}
        onChange={(e) => {
          const v = e.target.value;
          const next = { ...supply, [name]: v };
          if (name === 'quantity') setQuantityTyped(true);
          if (name === 'days' && picked && !quantityTyped) {
            const days = parseNumber(v);
            if (days && !Number.isNaN(days)) next.quantity = String(quantityFor(dir, form, days, picked.perDay));
          }
          setSupply(next);
          if (errors[name]) setErrors({ ...errors, [name]: undefined });
        }}
      />
      <FieldError name={name} id={`rx-${name}`} errors={errors} />
    </div>
  );

  const title = replacing
    ? `${replacing.as === 'change' ? 'Change' : 'Renew'} prescription${asScribe ? ' (draft for signature)' : ''}`
    : asScribe
      ? 'Prescribe (draft for signature)'
      : 'Prescribe';
  const frequency = frequencyById(dir.frequency);
  const cards = sortCards(checks?.cards ?? []);
  const quiet = quietStatus(checks?.services ?? []);

  return (
    <ActionForm
      title={title}
      submitLabel={asScribe ? 'Save draft' : replacing?.as === 'change' ? 'Change' : replacing?.as === 'renew' ? 'Renew' : 'Prescribe'}
      busy={busy || signing}
      error={error}
      onSubmit={(f) => void submit(f)}
      onCancel={onCancel}
    >
      {replacing ? (
        <p className="muted rx-replacing">
          Replaces {replacing.order.medicationCodeableConcept?.text ?? 'the current prescription'}
          {replacing.order.dosageInstruction?.[0]?.text ? ` · ${replacing.order.dosageInstruction[0].text}` : ''}
          {asScribe ? ' (a prescriber ends it when signing)' : ` (${replacing.as === 'change' ? 'stopped' : 'completed'} when this is saved)`}
        </p>
      ) : null}
      <TypeAhead
        id="drug"
        label="Drug"
        placeholder="brand or generic: amlodipine, norvasc, metformin…"
        inputRef={drugRef}
        text={text}
        onText={(s) => {
          setText(s);
          pendingEnter.current = 0;
          if (errors.drug) setErrors({ ...errors, drug: undefined });
        }}
        onKeyDown={(e) => {
          // The search has not answered yet: the Enter waits for it (a second one saves once the drug is picked).
          if (e.key !== 'Enter' || picked || !text.trim()) return;
          if (found.q !== text) {
            e.preventDefault();
            pendingEnter.current++;
          } else if (found.products[0]) {
            e.preventDefault();
            pick(found.products[0]);
          } // else nothing matches: the form says what to do
        }}
        options={options}
        onPick={(p) => pick(p)}
        empty={
          picked
            ? undefined
            : found.q !== text
              ? 'Searching…'
              : found.error
                ? `The drug search is unavailable: ${found.error}`
                : `No drug in the formulary matches “${text.trim()}”. Try the generic or brand name.`
        }
        errors={errors}
        hint={picked ? `RxNorm ${picked.rxcui} · ${picked.display}` : prefillNote || undefined}
      />
      {picked ? (
        <>
          {strengths.length > 1 ? (
            <div className="field">
              <label htmlFor="rx-strength">Strength</label>
              <select
                id="rx-strength"
                value={picked.rxcui}
                onChange={(e) => {
                  const p = strengths.find((x) => x.rxcui === e.target.value);
                  if (p) pick(p, { dir: dir.dose ? dir : undefined, days: supply.days, refills: supply.refills, focus: false });
                }}
              >
                {strengths.map((p) => (
                  <option key={p.rxcui} value={p.rxcui}>
                    {p.label}
                  </option>
                ))}
              </select>
            </div>
          ) : null}
          <fieldset
            className="sig-presets"
            ref={presetsRef}
            onKeyDown={(e) => {
              const i = presets.findIndex((p) => p.key === e.key);
              if ((e.target as HTMLElement).tagName === 'INPUT' && i >= 0 && !e.ctrlKey && !e.metaKey && !e.altKey) {
                e.preventDefault();
                const p = presets[i];
                applyDirections(p.dir ?? dir, p.words);
                (presetsRef.current?.querySelectorAll('input')[i] as HTMLInputElement | undefined)?.focus();
              }
            }}
          >
            <legend>Common directions (press the number)</legend>
            {presets.map((p) => (
              <label key={p.key}>
                <input
                  type="radio"
                  name="rx-sig-preset"
                  checked={sig === p.words && (!p.dir || sameDirections(p.dir, dir))}
                  onChange={() => applyDirections(p.dir ?? dir, p.words)}
                />
                <kbd>{p.key}</kbd> {p.key === '0' ? `Usual: ${p.words}` : p.words}
              </label>
            ))}
          </fieldset>
          <div className="form-grid">
            <div className="field">
              <label htmlFor="rx-dose">Dose ({unitMany})</label>
              <input
                {...invalid('dose', errors, { id: 'rx-dose' })}
                inputMode="decimal"
                autoComplete="off"
                value={dir.dose}
                onChange={(e) => applyDirections({ ...dir, dose: e.target.value })}
              />
              <FieldError name="dose" id="rx-dose" errors={errors} />
            </div>
            <div className="field">
              <label htmlFor="rx-route">Route</label>
              <select id="rx-route" value={dir.route} onChange={(e) => applyDirections({ ...dir, route: e.target.value })}>
                {ROUTES.map((r) => (
                  <option key={r.id} value={r.id}>
                    {r.label}
                  </option>
                ))}
              </select>
            </div>
            <div className="field">
              <label htmlFor="rx-frequency">Frequency</label>
              <select
                id="rx-frequency"
                value={dir.frequency}
                onChange={(e) => {
                  const f = frequencyById(e.target.value);
                  applyDirections({ ...dir, frequency: e.target.value, reason: f?.asNeeded ? dir.reason : '' });
                }}
              >
                {dir.frequency ? null : <option value="">as written in the directions</option>}
                {FREQUENCIES.map((f) => (
                  <option key={f.id} value={f.id}>
                    {f.label}
                  </option>
                ))}
              </select>
            </div>
            {frequency?.asNeeded ? (
              <div className="field">
                <label htmlFor="rx-prn">As needed for</label>
                <input
                  id="rx-prn"
                  autoComplete="off"
                  placeholder="pain"
                  value={dir.reason.replace(/^for /i, '')}
                  onChange={(e) => applyDirections({ ...dir, reason: e.target.value ? `for ${e.target.value.replace(/^for /i, '')}` : '' })}
                />
              </div>
            ) : null}
          </div>
          <div className="form-grid">
            {supplyField('days', 'Days supply')}
            {supplyField('quantity', `Quantity (${dispenseUnit(form)}s)`)}
            {supplyField('refills', 'Refills')}
          </div>
          <div className="field">
            <label htmlFor="rx-sig">Directions (sig)</label>
            <input
              {...invalid('sig', errors, { id: 'rx-sig' })}
              autoComplete="off"
              value={sig}
              onChange={(e) => {
                setSig(e.target.value);
                if (errors.sig) setErrors({ ...errors, sig: undefined });
              }}
            />
            <FieldError name="sig" id="rx-sig" errors={errors} />
            {dir.dose && Number(dir.dose) > 0 && frequency?.perDay ? (
              <span className="muted field-hint">
                {dir.dose} {Number(dir.dose) === 1 ? unitOne : unitMany} × {frequency.label}
              </span>
            ) : null}
          </div>
        </>
      ) : null}
      <section className="cds-checks" aria-label="Checks for this order">
        <div aria-live="polite">
          {checks?.loading && !checks.cards?.length ? <p className="muted cds-status">Checking…</p> : null}
          {checks?.failed ? <p className="cds-unavailable">Checks unavailable: {checks.failed}</p> : null}
          {cards.length ? (
            <ul className="cds-cards">
              {cards.map((c, i) => (
                <CardView
                  key={c.uuid ?? `${cardKey(c)}-${i}`}
                  card={c}
                  hook="order-select"
                  patientId={patientId}
                  order={`MedicationRequest/${orderId}`}
                  overridden={overridden[cardKey(c)]}
                  onOverridden={(card, reason) => setOverridden((o) => ({ ...o, [cardKey(card)]: reason.display ?? reason.code ?? '' }))}
                />
              ))}
            </ul>
          ) : picked && checks && !checks.loading && !checks.failed ? (
            <p className="muted cds-status">No alerts for this order.</p>
          ) : null}
          {quiet ? <p className="muted cds-status">{quiet}</p> : null}
        </div>
      </section>
      {interrupt && picked ? (
        <OverrideDialog
          drug={picked.label}
          cards={interrupt.cards}
          busy={Boolean(interrupt.busy || busy)}
          error={interrupt.error}
          onOverride={(r, c) => void overrideAndSave(r, c)}
          onChooseAnother={chooseAnother}
          onCancelOrder={onCancel}
          onBack={() => {
            setInterrupt(undefined);
            drugRef.current?.form?.querySelector<HTMLButtonElement>('button[type="submit"]')?.focus();
          }}
        />
      ) : null}
    </ActionForm>
  );
}
