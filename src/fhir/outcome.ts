/**
 * OperationOutcome helpers. Every error that crosses the API is a FhirError: an HTTP status plus an
 * OperationOutcome whose messages say what to fix. Nothing else (no stack trace) reaches a client.
 */
export type IssueSeverity = 'fatal' | 'error' | 'warning' | 'information';

export interface Issue {
  severity: IssueSeverity;
  code: string;
  diagnostics: string;
  expression?: string[];
}

export interface OperationOutcome {
  resourceType: 'OperationOutcome';
  issue: Issue[];
}

export function outcome(issues: Issue[]): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: issues };
}

export function issue(severity: IssueSeverity, code: string, diagnostics: string, expression?: string): Issue {
  return expression ? { severity, code, diagnostics, expression: [expression] } : { severity, code, diagnostics };
}

export class FhirError extends Error {
  readonly status: number;
  readonly issues: Issue[];
  constructor(status: number, issues: Issue[] | string, code = 'processing') {
    const list = typeof issues === 'string' ? [issue('error', code, issues)] : issues;
    super(list.map((i) => i.diagnostics).join('; '));
    this.status = status;
    this.issues = list;
  }
  get outcome(): OperationOutcome {
    return outcome(this.issues);
  }
}

export const badRequest = (msg: string, expression?: string) => new FhirError(400, [issue('error', 'invalid', msg, expression)]);
export const notFound = (msg: string) => new FhirError(404, [issue('error', 'not-found', msg)]);
export const gone = (msg: string) => new FhirError(410, [issue('error', 'deleted', msg)]);
export const conflict = (msg: string) => new FhirError(409, [issue('error', 'conflict', msg)]);
export const preconditionFailed = (msg: string) => new FhirError(412, [issue('error', 'conflict', msg)]);
export const notSupported = (msg: string) => new FhirError(400, [issue('error', 'not-supported', msg)]);
export const allOk = (msg: string) => outcome([issue('information', 'informational', msg)]);

/**
 * What the log says about an internal error: its kind, code and stack frames. Database messages are left
 * out because they can quote the offending value (a patient's date, an identifier).
 */
export function describeInternalError(err: unknown): string {
  const e = err as { name?: string; code?: string; stack?: string; message?: string };
  const frames = (e.stack ?? '')
    .split('\n')
    .filter((l) => l.trim().startsWith('at '))
    .slice(0, 12)
    .join('\n');
  const fromDatabase = typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code);
  const message = fromDatabase ? '(database error; message withheld: it may quote data)' : (e.message ?? String(err));
  return `${e.name ?? 'Error'}${e.code ? ` [${e.code}]` : ''}: ${message}\n${frames}`;
}
