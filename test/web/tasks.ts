/**
 * The clinician tasks issue 4 budgets (at most 3 clicks plus the typing the content needs), scripted through a
 * Tally: the UI benchmark (bench/ui.ts) counts them and the browser suites check that each finishes for real.
 */
import type { Page } from 'playwright-core';
import { ACTION_TASKS } from './action-tasks.ts';
import type { WebClinic } from './clinic.ts';
import type { Tally } from './tally.ts';

export interface Task {
  name: string;
  role?: string;
  /** Uncounted preparation (e.g. open the chart the task starts from). */
  setup?: (page: Page, c: WebClinic) => Promise<void>;
  run: (t: Tally, c: WebClinic) => Promise<void>;
}

export const TASKS: Task[] = [...ACTION_TASKS];
