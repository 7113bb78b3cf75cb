// The checks every option goes through: a wrong type is a TypeError
// (ERR_INVALID_OPTION), a number out of range a RangeError (ERR_OUT_OF_RANGE);
// an absent value takes its default (lib/options/defaults.ts).
import { rangeError, typeError } from '../errors';

/** Node's timers take at most 2^31 - 1 ms (larger ones fire after 1 ms). */
export const MAX_MS = 2 ** 31 - 1;
export const MAX_SAFE_BYTES = 2 ** 53 - 1;

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function bool(v: unknown, name: string, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw typeError('ERR_INVALID_OPTION', `${name} must be a boolean`);
  return v;
}

export function integer(v: unknown, name: string, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw typeError('ERR_INVALID_OPTION', `${name} must be an integer`);
  if (v < min || v > max) throw rangeError('ERR_OUT_OF_RANGE', `${name} must be in [${min}, ${max}], got ${v}`);
  return v;
}

/** Refuses keys of `o` not in `keys` (a section of the options). */
export function only(o: Record<string, unknown>, name: string, keys: readonly string[]): void {
  for (const k of Object.keys(o)) {
    if (!keys.includes(k)) throw typeError('ERR_INVALID_OPTION', `unknown option: ${name}.${k}`);
  }
}
