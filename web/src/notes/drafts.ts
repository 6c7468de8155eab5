/**
 * Notes as FHIR DocumentReferences, and nothing typed ever lost:
 * - a draft is a DocumentReference with docStatus "preliminary", authored by the user, its text a base64
 *   UTF-8 text/plain attachment, its title the description;
 * - every change is kept at once in this browser (localStorage, one draft per user and patient) and sent to
 *   the server every few seconds while typing, on every blur, before the session locks or ends, and when
 *   the tab is hidden or the editor closes. The first save is a PUT to an id chosen here (so a lost answer
 *   cannot make a second draft); later saves carry If-Match with the version last saved, so a change made
 *   in another window or device is a 412 to resolve, never silently overwritten;
 * - signing is ONE transaction: the note becomes "final" (If-Match the version the signer saw; the
 *   authenticator is the signer) and a Provenance records who signed when, with the SHA-256 of the text;
 * - a scribe cannot sign: "Send for co-signature" keeps the note preliminary, tags it
 *   workflow|awaiting-cosignature and names the physician asked to co-sign as its `authenticator` (a
 *   preliminary note's authenticator is who is to authenticate it; once final, who did). The co-signature
 *   queue (/cosign) lists the tagged notes; the physician's signature there removes the tag.
 */
import { ApiError, fhir, matches } from '../api.ts';
import type { Bundle, CodeableConcept, Coding, Reference, Resource } from '../fhir.ts';
import { TEMPLATES, templateById } from './templates.ts';

export const WORKFLOW = 'http://hale.example.org/fhir/CodeSystem/workflow';
export const AWAITING_COSIGNATURE: Coding = { system: WORKFLOW, code: 'awaiting-cosignature', display: 'Awaiting co-signature' };
const CLINICAL_NOTE: CodeableConcept = {
  coding: [{ system: 'http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category', code: 'clinical-note', display: 'Clinical Note' }],
};

export interface Draft {
  /** The DocumentReference's id (chosen when the draft starts). */
  id: string;
  /** The server version last saved or read; absent until the first save. */
  version?: string;
  template: string;
  title: string;
  text: string;
  /** Set for an addendum: its type (the original's) and the signed note it appends to. */
  type?: CodeableConcept;
  addendumTo?: Reference;
  encounter?: string;
  /** When the note was started (ISO instant). */
  created: string;
  /** When it was last changed on this device (ms since the epoch). */
  editedAt: number;
}

export interface Person {
  id: string;
  name: string;
  fhir?: string;
}

/** A reference to the user: their FHIR resource when the account has one, else their name only. */
export const personRef = (p: Person): Reference => (p.fhir ? { reference: p.fhir, display: p.name } : { display: p.name });

export const draftKey = (accountId: string, patientId: string) => `hale.note-draft:${accountId}:${patientId}`;

export function readLocal(key: string): Draft | undefined {
  try {
    const d = JSON.parse(localStorage.getItem(key) ?? 'null') as Draft | null;
    return d && typeof d.text === 'string' && typeof d.id === 'string' ? d : undefined;
  } catch {
    return undefined;
  }
}

function writeLocal(key: string, d: Draft) {
  try {
    localStorage.setItem(key, JSON.stringify(d));
  } catch {
    // Storage full or disabled: the server copy still follows.
  }
}

export function clearLocal(key: string) {
  localStorage.removeItem(key);
}

export function newId(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** UTF-8 text as base64 (btoa alone takes only Latin-1). */
export function toBase64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

export function fromBase64(b64: string): string {
  return new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
}

/** The plain text of a note (its first text attachment). */
export function noteText(doc: Resource): string {
  const a = (doc.content as { attachment?: { data?: string } }[] | undefined)?.[0]?.attachment;
  return a?.data ? fromBase64(a.data) : '';
}

export const noteTitle = (doc: Resource): string => doc.description ?? doc.content?.[0]?.attachment?.title ?? conceptOf(doc.type) ?? 'Note';
const conceptOf = (c: CodeableConcept | undefined) => c?.text ?? c?.coding?.[0]?.display;

/** The meta a client sends back: only tags and security labels (the server sets the rest), or none. */
function metaOf(tag: Coding[] | undefined, security: Coding[] | undefined): Resource['meta'] {
  if (!tag?.length && !security?.length) return undefined;
  return { ...(tag?.length ? { tag } : {}), ...(security?.length ? { security } : {}) };
}

export const isAwaiting = (doc: Resource) => !!doc.meta?.tag?.some((t) => t.system === WORKFLOW && t.code === AWAITING_COSIGNATURE.code);

/** The DocumentReference of a draft, over the server's copy when there is one (so what others added stays). */
export function draftResource(d: Draft, patientId: string, author: Reference, base?: Resource): Resource {
  const type = d.type ?? templateById(d.template).type;
  const doc: Resource = {
    ...(base ?? {}),
    resourceType: 'DocumentReference',
    id: d.id,
    status: 'current',
    docStatus: 'preliminary',
    type,
    category: [CLINICAL_NOTE],
    subject: { reference: `Patient/${patientId}` },
    date: d.created,
    author: base?.author ?? [author],
    description: d.title.trim() || templateById(d.template).title,
    content: [{ attachment: { contentType: 'text/plain', language: 'en', data: toBase64(d.text), title: d.title.trim() || undefined, creation: d.created } }],
  };
  if (d.addendumTo) doc.relatesTo = [{ code: 'appends', target: d.addendumTo }];
  if (d.encounter) doc.context = { ...(base?.context ?? {}), encounter: [{ reference: d.encounter }] };
  doc.meta = metaOf(doc.meta?.tag, doc.meta?.security);
  if (!doc.meta) delete doc.meta;
  return doc;
}

/** A draft read back from the server's DocumentReference. */
export function draftFrom(doc: Resource): Draft {
  const code = doc.type?.coding?.[0]?.code;
  const addendumTo = (doc.relatesTo as { code: string; target: Reference }[] | undefined)?.find((r) => r.code === 'appends')?.target;
  return {
    id: doc.id as string,
    version: doc.meta?.versionId,
    template: TEMPLATES.find((t) => t.type.coding?.[0]?.code === code)?.id ?? 'free',
    title: doc.description ?? '',
    text: noteText(doc),
    type: addendumTo ? doc.type : undefined,
    addendumTo,
    encounter: doc.context?.encounter?.[0]?.reference,
    created: doc.date ?? doc.meta?.lastUpdated ?? new Date().toISOString(),
    editedAt: Date.parse(doc.meta?.lastUpdated ?? '') || 0,
  };
}

const mine = (doc: Resource, me: Person) =>
  ((doc.author ?? []) as Reference[]).some((a) => (me.fhir ? a.reference === me.fhir : !a.reference && a.display === me.name));

/** This user's open draft for the patient on the server (not one already sent for co-signature). */
export async function findServerDraft(patientId: string, me: Person): Promise<Resource | undefined> {
  // R4 has no search parameter for docStatus: the user's newest current notes, then filtered here.
  const params: Record<string, string> = { patient: patientId, status: 'current', _sort: '-_lastUpdated', _count: '20' };
  if (me.fhir) params.author = me.fhir;
  const docs = matches(await fhir.search('DocumentReference', params));
  return docs.find((d) => d.docStatus === 'preliminary' && !isAwaiting(d) && mine(d, me));
}

/**
 * The draft to open for this user and patient: the copy on this device or the server's, whichever is newer
 * (a local copy whose note was signed or sent elsewhere meanwhile is dropped, with a notice).
 */
export async function openDraft(
  key: string,
  patientId: string,
  me: Person,
): Promise<{ draft?: Draft; server?: Resource; fromDevice?: boolean; notice?: string }> {
  let local = readLocal(key);
  let server: Resource | undefined;
  try {
    server = await findServerDraft(patientId, me);
    if (local?.version && server?.id !== local.id) {
      const doc = await fhir.read('DocumentReference', local.id).catch((err) => {
        if (err instanceof ApiError && (err.status === 404 || err.status === 410)) return undefined;
        throw err;
      });
      if (doc && (doc.docStatus !== 'preliminary' || isAwaiting(doc) || doc.status !== 'current')) {
        clearLocal(key);
        local = undefined;
        return { server, draft: server && draftFrom(server), notice: 'The draft kept on this device was signed, sent or discarded elsewhere meanwhile.' };
      }
      if (!doc) local = { ...local, version: undefined }; // deleted on the server: saved again as new
    }
  } catch (err) {
    if (local) return { draft: local, fromDevice: true }; // the server cannot be reached: this device's copy
    throw err;
  }
  if (!local) return { server, draft: server && draftFrom(server) };
  if (!server) return { draft: local, fromDevice: true };
  const serverAt = Date.parse(server.meta?.lastUpdated ?? '') || 0;
  // Saving the device's copy again costs nothing when the server has it already (an unchanged PUT is no new version).
  if (local.id === server.id && local.version === server.meta?.versionId) return { draft: local, server, fromDevice: true };
  // The server's copy changed since this device last saved (another window or device): the newer one wins.
  if (local.editedAt > serverAt) return { draft: { ...local, id: server.id as string, version: server.meta?.versionId }, server, fromDevice: true };
  return { draft: draftFrom(server), server };
}

export type SaveState =
  | { kind: 'new' }
  | { kind: 'saving' }
  | { kind: 'saved'; at: Date }
  | { kind: 'local'; message: string }
  | { kind: 'conflict'; message: string }
  | { kind: 'error'; message: string };

const AUTOSAVE_MS = 3000;
const RETRY_MS = 10_000;

/** Keeps one draft: on this device at every change, on the server a few seconds later (one save at a time). */
export class DraftSync {
  draft?: Draft;
  /** The server's copy as last saved or read. */
  saved?: Resource;
  private dirty = false;
  private timer?: ReturnType<typeof setTimeout>;
  private running?: Promise<boolean>;
  private closed = false;

  constructor(
    private readonly key: string,
    private readonly build: (d: Draft, base?: Resource) => Resource,
    private readonly onState: (s: SaveState) => void,
  ) {}

  /** Starts from an opened draft; `unsaved`: it has changes the server has not seen yet. */
  load(d: Draft, server: Resource | undefined, unsaved: boolean) {
    this.draft = d;
    this.saved = server;
    if (unsaved) {
      this.change({});
      void this.flush();
    } else this.onState(d.version ? { kind: 'saved', at: new Date(d.editedAt) } : { kind: 'new' });
  }

  /** The user changed the draft: kept here at once, saved to the server within a few seconds. */
  change(patch: Partial<Draft>) {
    if (this.closed || !this.draft) return;
    this.draft = { ...this.draft, ...patch, editedAt: Date.now() };
    writeLocal(this.key, this.draft);
    this.dirty = true;
    this.timer ??= setTimeout(() => void this.flush(), AUTOSAVE_MS);
  }

  /** Saves now if anything changed; true when the server has everything. */
  async flush(): Promise<boolean> {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.running) await this.running;
    if (this.closed || !this.draft) return false;
    if (!this.dirty) return !!this.draft.version;
    this.running = this.push().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async push(): Promise<boolean> {
    const d = this.draft as Draft;
    this.dirty = false;
    this.onState({ kind: 'saving' });
    try {
      const res = await fhir.update(this.build(d, this.saved), d.version);
      this.saved = res;
      if (this.closed) return true;
      this.draft = { ...(this.draft as Draft), version: res.meta?.versionId };
      writeLocal(this.key, this.draft);
      this.onState({ kind: 'saved', at: new Date() });
      return true;
    } catch (err) {
      if (this.closed) return false;
      this.dirty = true;
      const e = err instanceof ApiError ? err : new ApiError(0, String(err));
      if (e.status === 412) this.onState({ kind: 'conflict', message: 'This draft was changed in another window or on another device.' });
      else if (e.status === 0 || e.status >= 500 || e.status === 401) {
        const why = e.status === 401 ? 'the session is locked or has ended' : 'server unreachable';
        this.onState({ kind: 'local', message: `Saved on this device only — ${why}` });
        this.timer ??= setTimeout(() => void this.flush(), RETRY_MS);
      } else this.onState({ kind: 'error', message: `Not saved on the server: ${e.message} (kept on this device).` });
      return false;
    }
  }

  /** After a 412: keep this device's text over the other change. */
  async keepMine(): Promise<boolean> {
    if (!this.draft) return false;
    const cur = await fhir.read('DocumentReference', this.draft.id);
    this.saved = cur;
    this.draft = { ...this.draft, version: cur.meta?.versionId };
    this.dirty = true;
    return this.flush();
  }

  /** After a 412: take the server's copy instead (undefined when it was signed, sent or discarded meanwhile). */
  async takeTheirs(): Promise<Draft | undefined> {
    if (!this.draft) return undefined;
    const cur = await fhir.read('DocumentReference', this.draft.id);
    if (cur.docStatus !== 'preliminary' || cur.status !== 'current' || isAwaiting(cur)) {
      this.close();
      return undefined;
    }
    this.saved = cur;
    this.draft = draftFrom(cur);
    this.dirty = false;
    writeLocal(this.key, this.draft);
    this.onState({ kind: 'saved', at: new Date() });
    return this.draft;
  }

  /** The note was signed, sent or discarded: forget the draft here and stop saving. */
  close() {
    this.closed = true;
    clearTimeout(this.timer);
    clearLocal(this.key);
  }

  /** The editor closes: stop the timer after one last save. */
  async dispose() {
    await this.flush();
    this.closed = true;
    clearTimeout(this.timer);
  }
}

// ---- Signing ---------------------------------------------------------------------------------------

const SIGNATURE_TYPE = 'urn:iso-astm:E1762-95:2013';
const AUTHOR_SIGNATURE: Coding = { system: SIGNATURE_TYPE, code: '1.2.840.10065.1.12.1.1', display: "Author's Signature" };
export const VERIFICATION_SIGNATURE: Coding = { system: SIGNATURE_TYPE, code: '1.2.840.10065.1.12.1.5', display: 'Verification Signature' };
const PARTICIPANT = 'http://terminology.hl7.org/CodeSystem/provenance-participant-type';
export const participant = (code: string, display: string): CodeableConcept => ({ coding: [{ system: PARTICIPANT, code, display }] });

/** base64 of the SHA-256 of the text's UTF-8 bytes. */
export async function sha256Base64(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
  return btoa(String.fromCharCode(...digest));
}

/**
 * Signs a note in one transaction: the DocumentReference (as the signer saw it: If-Match its version)
 * becomes final with the signer as authenticator and without the awaiting tag, and a Provenance targets
 * its new version: the signer as author (own note) or as verifier beside the author (co-signature), and a
 * signature whose data is the SHA-256 of the note's text — what was signed, checkable later.
 */
export async function signNote(doc: Resource, signer: Reference, opts: { cosign?: boolean } = {}): Promise<Bundle> {
  const version = doc.meta?.versionId;
  if (!doc.id || !version) throw new ApiError(409, 'Save the note before signing it.');
  const now = new Date().toISOString();
  const { meta, ...rest } = doc;
  const tags = meta?.tag?.filter((t) => !(t.system === WORKFLOW && t.code === AWAITING_COSIGNATURE.code));
  const final: Resource = { ...rest, docStatus: 'final', authenticator: signer };
  const m = metaOf(tags, meta?.security);
  if (m) final.meta = m;
  const author = (doc.author as Reference[] | undefined)?.[0];
  const agent = opts.cosign
    ? [...(author ? [{ type: participant('author', 'Author'), who: author }] : []), { type: participant('verifier', 'Verifier'), who: signer }]
    : [{ type: participant('author', 'Author'), who: signer }];
  const provenance: Resource = {
    resourceType: 'Provenance',
    target: [{ reference: `DocumentReference/${doc.id}/_history/${Number(version) + 1}` }],
    recorded: now,
    activity: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-DocumentCompletion', code: 'LA', display: 'legally authenticated' }] },
    agent,
    signature: [
      {
        type: [opts.cosign ? VERIFICATION_SIGNATURE : AUTHOR_SIGNATURE],
        when: now,
        who: signer,
        targetFormat: 'text/plain',
        data: await sha256Base64(noteText(doc)),
      },
    ],
  };
  return fhir.bundle('transaction', [
    { resource: final, request: { method: 'PUT', url: `DocumentReference/${doc.id}`, ifMatch: `W/"${version}"` } },
    { fullUrl: `urn:uuid:${newId()}`, resource: provenance, request: { method: 'POST', url: 'Provenance' } },
  ]);
}

/** A scribe's draft goes to a physician: still preliminary, tagged as waiting, the physician as authenticator-to-be. */
export function sendForCosignature(doc: Resource, cosigner: Reference): Promise<Resource> {
  const { meta, ...rest } = doc;
  const tags = [...(meta?.tag ?? []).filter((t) => t.code !== AWAITING_COSIGNATURE.code), AWAITING_COSIGNATURE];
  return fhir.update({ ...rest, meta: metaOf(tags, meta?.security), authenticator: cosigner }, meta?.versionId);
}

/** A draft given up: marked entered-in-error (kept, as every record is; scribes cannot delete). */
export function discardDraft(doc: Resource): Promise<Resource> {
  const { meta, ...rest } = doc;
  const m = metaOf(meta?.tag, meta?.security);
  return fhir.update({ ...rest, status: 'entered-in-error', ...(m ? { meta: m } : {}) }, meta?.versionId);
}
