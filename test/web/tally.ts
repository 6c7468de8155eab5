/**
 * Counts what a person does to finish a task in the web app: clicks, keys that move or confirm (Tab, Enter,
 * shortcuts), and the characters of content they type. The UI benchmark and the browser suites drive tasks
 * only through a Tally, so the counts are the real cost of the task as scripted.
 */
import type { Locator, Page } from 'playwright-core';

export class Tally {
  clicks = 0;
  keys = 0;
  typed = 0;
  constructor(readonly page: Page) {}

  async click(target: Locator) {
    this.clicks++;
    await target.click();
  }

  /** A key or chord (Tab, Enter, Control+k, v): one action each. */
  async press(...keys: string[]) {
    for (const k of keys) {
      this.keys++;
      await this.page.keyboard.press(k);
    }
  }

  /** Content the task needs (a value, a name, the note's words): counted as characters typed. */
  async type(text: string) {
    this.typed += text.length;
    await this.page.keyboard.type(text);
  }

  reset() {
    this.clicks = this.keys = this.typed = 0;
  }
}
