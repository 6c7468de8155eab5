/**
 * UCUM unit conversion for quantity search, so that 5400 mg is found by a search for 5.4 g. Quantities are
 * reduced to UCUM base units (g, m, s, K …) with @lhncbc/ucum-lhc, the NLM's UCUM library: the magnitude
 * and a canonical unit string such as "g1.m-3". Hale indexes that canonical form beside the original.
 */
import { createRequire } from 'node:module';

export const UCUM = 'http://unitsofmeasure.org';
/** The system of the extra index rows holding a UCUM quantity in base units (never a real coding system). */
export const UCUM_CANONICAL = 'urn:hale:ucum-canonical';

interface UcumUtils {
  convertToBaseUnits(unit: string, value: number): { status: string; magnitude?: number; unitToExp?: Record<string, number> };
}

let utils: UcumUtils | undefined;
function ucum(): UcumUtils {
  if (!utils) {
    // Loaded on first use: the package is CommonJS without type declarations.
    const mod = createRequire(import.meta.url)('@lhncbc/ucum-lhc') as { UcumLhcUtils: { getInstance(): UcumUtils } };
    utils = mod.UcumLhcUtils.getInstance();
  }
  return utils;
}

const memo = new Map<string, { unit: string } | null>();

/**
 * `value` of UCUM unit `code` in base units: [magnitude, canonical unit], or undefined when the unit is not
 * valid UCUM or is arbitrary. Rounded to 15 significant digits so 5 mg is 0.005 g, not 0.005000000000000001.
 */
export function toCanonical(value: number, code: string): [number, string] | undefined {
  if (!Number.isFinite(value) || !code || code.length > 100) return undefined;
  let unit = memo.get(code);
  if (unit === undefined) {
    unit = null;
    try {
      const r = ucum().convertToBaseUnits(code, 1);
      if (r.status === 'succeeded' && r.unitToExp) {
        const canonical =
          Object.entries(r.unitToExp)
            .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
            .map(([u, e]) => `${u}${e}`)
            .join('.') || '1';
        unit = { unit: canonical };
      }
    } catch {
      unit = null;
    }
    if (memo.size < 10000) memo.set(code, unit);
  }
  if (!unit) return undefined;
  // Special units (Cel, [degF], pH …) are not proportional: convert each value through the library.
  const r = ucum().convertToBaseUnits(code, value);
  if (r.status !== 'succeeded' || typeof r.magnitude !== 'number' || !Number.isFinite(r.magnitude)) return undefined;
  return [Number(r.magnitude.toPrecision(15)), unit.unit];
}
