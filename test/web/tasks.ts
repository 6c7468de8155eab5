/**
 * The clinician tasks issue 4 budgets (at most 3 clicks plus the typing the content needs), scripted through a
 * Tally: the UI benchmark (bench/ui.ts) counts them and the browser suites check that each finishes for real.
 */
import type { Page } from 'playwright-core';
import { ACTION_TASKS, openChart, taskPatientId } from './action-tasks.ts';
import type { WebClinic } from './clinic.ts';
import type { Tally } from './tally.ts';

export interface Task {
  name: string;
  role?: string;
  /** Uncounted preparation (e.g. open the chart the task starts from). */
  setup?: (page: Page, c: WebClinic) => Promise<void>;
  run: (t: Tally, c: WebClinic) => Promise<void>;
}

/** Press N on the chart, replace the template, three lines with one smart phrase, Ctrl+Enter signs. */
export const WRITE_AND_SIGN_NOTE: Task = {
  name: 'Write and sign a 3-line note, 1 smart phrase',
  setup: (page, c) => openChart(page, taskPatientId(c)),
  async run(t) {
    await t.press('n');
    await t.page.locator('#note-text:focus').waitFor();
    await t.press('Control+a');
    await t.type('Cough for three days, no fever.\nO: .vitals \nA: viral upper respiratory infection. P: fluids, review in a week.');
    await t.press('Control+Enter');
    await t.page.getByText('Note signed.').waitFor();
  },
};

export const TASKS: Task[] = [...ACTION_TASKS, WRITE_AND_SIGN_NOTE];
