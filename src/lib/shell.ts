/** `word` in single quotes for a POSIX shell, so that the shell reads it as one literal word. */
export const shellQuote = (word: string): string => `'${word.replace(/'/g, `'\\''`)}'`;
