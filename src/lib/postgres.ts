import type pg from "pg";
import {
  type ColumnDefinitionNode,
  DataTypeNode,
  Kysely,
  OperationNodeTransformer,
  PostgresAdapter,
  PostgresDialect,
  sql,
  type KyselyPlugin,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryResult,
  type RootOperationNode,
  type UnknownRow,
} from "kysely";

// Postgres type OIDs whose text pg would hand over as strings: `count(*)` and bigint columns
// (int8) and `sum(bigint)` (numeric). The services expect numbers, as SQLite gives them; sizes
// and counts stay far below 2^53.
const INT8_OID = 20;
const NUMERIC_OID = 1700;

function parseNumber(text: string): number {
  return Number(text);
}

/** The pool's own type parsers (not pg's global ones, which other code in the process shares). */
function numberTypes(types: typeof pg.types): { getTypeParser: typeof pg.types.getTypeParser } {
  return {
    getTypeParser: ((oid: number, format?: "text" | "binary") =>
      oid === INT8_OID || oid === NUMERIC_OID
        ? parseNumber
        : types.getTypeParser(oid, format ?? "text")) as typeof pg.types.getTypeParser,
  };
}

/**
 * Runs the platform's SQLite-flavoured schema on Postgres unchanged: `integer` columns become
 * `bigint` (SQLite's integers are 64-bit: byte sizes, counters) and `integer … autoIncrement`
 * keys become `bigserial` (Postgres has no `autoincrement` keyword).
 */
class PortableSchemaTransformer extends OperationNodeTransformer {
  protected override transformColumnDefinition(node: ColumnDefinitionNode): ColumnDefinitionNode {
    const transformed = super.transformColumnDefinition(node);
    const type = transformed.dataType;
    if (!DataTypeNode.is(type) || type.dataType !== "integer") return transformed;
    return Object.freeze({
      ...transformed,
      dataType: DataTypeNode.create(transformed.autoIncrement === true ? "bigserial" : "bigint"),
      autoIncrement: false,
    });
  }
}

class PortableSchemaPlugin implements KyselyPlugin {
  readonly #transformer = new PortableSchemaTransformer();

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    const kind = args.node.kind;
    if (kind !== "CreateTableNode" && kind !== "AlterTableNode") return args.node;
    return this.#transformer.transformNode(args.node, args.queryId);
  }

  transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return Promise.resolve(args.result);
  }
}

/** Opens a PostgreSQL database (`postgres://…`) for Kysely, speaking the SQLite schema's types. */
export function openPostgres<Schema>(url: string): Kysely<Schema> {
  // `pg` is loaded at the first query: a process on SQLite never loads it.
  const pool = async (): Promise<pg.Pool> => {
    const { default: pgModule } = await import("pg");
    const opened = new pgModule.Pool({
      connectionString: url,
      types: numberTypes(pgModule.types),
      max: 10,
    });
    // An idle connection that dies (a Postgres restart, a failover) is dropped from the pool and
    // the next query opens another; unhandled, the pool's `error` event would end the process.
    opened.on("error", () => undefined);
    return opened;
  };
  return new Kysely<Schema>({
    dialect: new PostgresDialect({ pool }),
    plugins: [new PortableSchemaPlugin()],
  });
}

/** Whether `db` speaks to PostgreSQL (the few dialect-specific queries ask this). */
export function isPostgres(db: Kysely<unknown>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

// `pg_advisory_lock` takes a bigint key: this one is "slipway-migrate" folded to 63 bits.
const MIGRATION_LOCK_KEY = 0x736c69707761796dn;

/**
 * Runs `work` while holding a session-level advisory lock on one pooled connection, so that
 * nodes starting at once migrate one after the other (the others wait, then find nothing to do).
 */
export async function withMigrationLock<T>(
  db: Kysely<unknown>,
  work: () => Promise<T>,
): Promise<T> {
  return db.connection().execute(async (connection) => {
    await sql`select pg_advisory_lock(${sql.lit(MIGRATION_LOCK_KEY)})`.execute(connection);
    try {
      return await work();
    } finally {
      await sql`select pg_advisory_unlock(${sql.lit(MIGRATION_LOCK_KEY)})`.execute(connection);
    }
  });
}
