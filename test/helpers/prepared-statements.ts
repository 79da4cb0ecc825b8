import type SQLite from "better-sqlite3";

/**
 * Records the SQL of every statement `connection` prepares from now on (Kysely's statement cache
 * prepares each text once), and hands back the original `prepare` (e.g. to explain them).
 */
export function recordPrepared(connection: SQLite.Database): {
  sources: string[];
  prepare: (source: string) => SQLite.Statement;
} {
  const sources: string[] = [];
  const prepare = connection.prepare.bind(connection);
  connection.prepare = ((source: string) => {
    sources.push(source);
    return prepare(source);
  }) as typeof connection.prepare;
  return { sources, prepare };
}
