/**
 * Note templates: the note's type (a LOINC document code) and the headings the note starts with. A template's
 * text may hold smart phrases (.vitals, .meds …); they are filled in with the chart's data when the template
 * is applied. The cursor goes where `|` stands (the marker is removed).
 */
import type { CodeableConcept } from '../fhir.ts';

export interface Template {
  id: string;
  label: string;
  /** The note's title when it starts from this template. */
  title: string;
  type: CodeableConcept;
  text: string;
}

const loinc = (code: string, display: string): CodeableConcept => ({ coding: [{ system: 'http://loinc.org', code, display }], text: display });

export const TEMPLATES: Template[] = [
  {
    id: 'soap',
    label: 'Progress note (SOAP)',
    title: 'Progress note',
    type: loinc('11506-3', 'Progress note'),
    text: 'Subjective:\n|\n\nObjective:\n\n\nAssessment:\n\n\nPlan:\n',
  },
  {
    id: 'acute',
    label: 'Acute visit',
    title: 'Acute visit',
    type: loinc('11506-3', 'Progress note'),
    text: 'Reason for visit: |\n\nHistory of present illness:\n\n\nExamination:\nVitals: .vitals\n\nAssessment:\n\n\nPlan:\n',
  },
  {
    id: 'chronic',
    label: 'Follow-up, chronic disease',
    title: 'Follow-up visit',
    type: loinc('11506-3', 'Progress note'),
    text: 'Follow-up of:\n.problems\n\nSince the last visit: |\n\nMedications:\n.meds\n\nVitals: .vitals\n\nRecent labs:\n.labs\n\nAssessment and plan:\n',
  },
  {
    id: 'phone',
    label: 'Telephone encounter',
    title: 'Telephone encounter',
    type: loinc('34748-4', 'Telephone encounter Note'),
    text: 'Caller: |\nReason for call:\n\nAdvice given:\n\nFollow-up:\n',
  },
  { id: 'free', label: 'Free text', title: 'Note', type: loinc('34109-9', 'Note'), text: '|' },
];

export const templateById = (id: string | undefined): Template => TEMPLATES.find((t) => t.id === id) ?? TEMPLATES[0];
