/* eslint-disable no-control-regex */

/**
 * Control characters in text from outside: the C0 range (NUL, tab, newline, escape…) and DEL.
 * Unicode's other invisible characters are not included.
 */

const CONTROL = /[\x00-\x1f\x7f]/;
const CONTROL_OR_SPACE = /[\x00-\x20\x7f]/;
const EACH_CONTROL = /[\x00-\x1f\x7f]/g;
const CONTROL_RUN = /[\x00-\x1f\x7f]+/g;

export const hasControlCharacters = (value: string): boolean => CONTROL.test(value);

/** Control characters or a plain space, for values that have no spaces (URLs). */
export const hasControlOrSpace = (value: string): boolean => CONTROL_OR_SPACE.test(value);

/**
 * `value` with each control character replaced by a space; with `collapse`, each run of them
 * becomes one space.
 */
export function withoutControlCharacters(
  value: string,
  options: { collapse?: boolean } = {},
): string {
  return value.replace(options.collapse === true ? CONTROL_RUN : EACH_CONTROL, " ");
}
