/**
 * Keyboard scripts for the chart's quick actions that issue 4 budgets: record a set of vitals, add a
 * problem, prescribe a common drug. Each starts on an open chart (uncounted setup) and is done from the
 * keyboard alone: the action's key, the content, Tab between fields, Enter to pick and to save. The UI
 * benchmark counts them through a Tally; test/web/actions.test.ts checks they save the right resources.
 */
import type { Page } from 'playwright-core';
import type { WebClinic } from './clinic.ts';
import type { Tally } from './tally.ts';
import type { Task } from './tasks.ts';

/** The chart the scripts work on: an ordinary demo patient every web clinic has. */
export const taskPatientId = (c: WebClinic) => String(c.patients.get(3)?.id);

export async function openChart(page: Page, patientId: string) {
  await page.goto(`/patients/${patientId}`);
  await page.locator('.chart .chart-main').waitFor();
}

/** Presses the action's key on the chart and waits until its form has the focus (loading it is not the user's work). */
export async function openAction(t: Tally, key: string) {
  await t.press(key);
  await t.page.locator('.side-panel form :focus').waitFor();
}

/** Waits for the chart's confirmation of a saved action. */
export async function confirmed(page: Page, message: string | RegExp) {
  await page.locator('.action-bar [role="status"]').filter({ hasText: message }).waitFor();
}

/** Systolic, diastolic, heart rate, temperature, respiratory rate, SpO2, weight, height: in the form's order. */
export const VITALS_TYPED = ['128', '82', '72', '36.8', '16', '98', '81.5', '178'];

export const RECORD_VITALS: Task = {
  name: 'Record a set of vitals (8 values)',
  setup: (page, c) => openChart(page, taskPatientId(c)),
  async run(t) {
    await openAction(t, 'v');
    for (const [i, v] of VITALS_TYPED.entries()) {
      if (i) await t.press('Tab');
      await t.type(v);
    }
    await t.press('Enter');
    await confirmed(t.page, 'Vitals recorded');
  },
};

export const ADD_PROBLEM: Task = {
  name: 'Add a problem (coded, from the list)',
  setup: (page, c) => openChart(page, taskPatientId(c)),
  async run(t) {
    await openAction(t, 'p');
    await t.type('migr');
    await t.press('Enter', 'Enter'); // pick Migraine, save
    await confirmed(t.page, 'Problem added: Migraine');
  },
};

export const PRESCRIBE: Task = {
  name: 'Prescribe a common drug (usual directions)',
  setup: (page, c) => openChart(page, taskPatientId(c)),
  async run(t) {
    await openAction(t, 'r');
    await t.type('amlo 5');
    await t.press('Enter', 'Enter'); // pick amlodipine 5 mg (once daily, 30, 5 refills), prescribe
    await confirmed(t.page, 'Prescribed: Amlodipine 5 mg tablet');
  },
};

export const ACTION_TASKS: Task[] = [RECORD_VITALS, ADD_PROBLEM, PRESCRIBE];
