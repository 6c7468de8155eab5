/**
 * The quick actions a clinician takes from a chart without leaving it. Each opens as a panel beside the
 * chart (loaded on first use), reachable by its single-key shortcut on the chart (when not typing) and from
 * the command palette (Ctrl/Cmd-K). An action's component gets the patient and reports when it is done;
 * the chart then reloads what changed.
 */
import type { ComponentType } from 'react';

export interface ActionProps {
  patientId: string;
  /** The action saved: `message` is shown as confirmation and the chart refreshes. */
  onDone: (message: string) => void;
  onCancel: () => void;
}

export interface QuickAction {
  id: string;
  label: string;
  /** Single key on the chart (when focus is not in a text field). */
  key: string;
  /** Roles that may take this action (the server enforces it too). */
  roles: string[];
  load: () => Promise<{ default: ComponentType<ActionProps> }>;
}

const CLINICAL = ['physician', 'nurse', 'scribe'];

export const QUICK_ACTIONS: QuickAction[] = [
  { id: 'note', label: 'Write a note', key: 'n', roles: CLINICAL, load: () => import('../notes/NoteEditor.tsx') },
  { id: 'vitals', label: 'Record vitals', key: 'v', roles: CLINICAL, load: () => import('./VitalsForm.tsx') },
  { id: 'problem', label: 'Add a problem', key: 'p', roles: ['physician', 'nurse', 'scribe'], load: () => import('./ProblemForm.tsx') },
  { id: 'allergy', label: 'Add an allergy', key: 'a', roles: CLINICAL, load: () => import('./AllergyForm.tsx') },
  { id: 'prescribe', label: 'Prescribe', key: 'r', roles: ['physician', 'scribe'], load: () => import('./PrescribeForm.tsx') },
  { id: 'lab', label: 'Order a lab test', key: 'l', roles: ['physician', 'nurse', 'scribe'], load: () => import('./LabOrderForm.tsx') },
];

/** Asks the open chart to open an action (the command palette uses this). */
export function openAction(id: string) {
  window.dispatchEvent(new CustomEvent('hale:action', { detail: id }));
}

/** Tells the open chart that its data changed. */
export function chartChanged() {
  window.dispatchEvent(new CustomEvent('hale:chart-changed'));
}
