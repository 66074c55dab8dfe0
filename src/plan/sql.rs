//! SQL building blocks every plan is made of. Each returns text that runs on
//! PostgreSQL 11+ as it stands; the real-PostgreSQL tests run all of it.

use super::Settings;
use crate::ident::{literal_pg, quote_pg};

/// Picks a dollar-quote tag that does not occur in the body.
pub fn dollar_tag(base: &str, body: &str) -> String {
    let mut tag = String::with_capacity(base.len() + 4);
    tag.push('$');
    tag.push_str(base);
    tag.push('$');
    // Most bodies hold no `$` at all: no search needed.
    if memchr::memchr(b'$', body.as_bytes()).is_none() {
        return tag;
    }
    let mut n = 1;
    while memchr::memmem::find(body.as_bytes(), tag.as_bytes()).is_some() {
        tag = format!("${base}{n}$");
        n += 1;
    }
    tag
}

/// Wraps statements that need a lock conflicting with app traffic: each try
/// sets `lock_timeout`, and a try that times out is rolled back (releasing
/// whatever it took) and retried after a growing pause, so a long transaction
/// holding the table never queues the app behind the DDL for longer than the
/// timeout. The pause doubles from 0.2 s up to 5 s and is jittered (half to
/// one and a half times), so several migrations or app-side retries do not
/// meet the lock in step. `body` holds PL/pgSQL statements, each ending in `;`.
pub fn guarded(s: &Settings, body: &[String]) -> String {
    // Built in one string: plans hold several of these, and every review
    // finding with a planned fix builds a plan.
    let mut stmts = String::with_capacity(body.iter().map(|b| b.len() + 7).sum());
    for (i, b) in body.iter().enumerate() {
        stmts.push_str(if i == 0 { "      " } else { "\n      " });
        stmts.push_str(b);
    }
    let tag = dollar_tag("migrate", &stmts);
    format!(
        "DO {tag}\nBEGIN\n  FOR attempt IN 1..{retries} LOOP\n    BEGIN\n      SET LOCAL lock_timeout = '{timeout}ms';\n{stmts}\n      RETURN;\n    EXCEPTION WHEN lock_not_available THEN\n      RAISE NOTICE 'lock not available (attempt % of {retries}); retrying', attempt;\n      PERFORM pg_sleep(least(0.1 * 2 ^ attempt, 5) * (0.5 + random()));\n    END;\n  END LOOP;\n  RAISE EXCEPTION 'gave up after {retries} attempts: another transaction kept the table locked';\nEND\n{tag};",
        retries = s.lock_retries,
        timeout = s.lock_timeout_ms,
    )
}

/// A name for a helper object (trigger, function, procedure, constraint,
/// index, backup table, shadow column), kept within PostgreSQL's 63-byte
/// limit: a longer name is cut on a character boundary and ends in a hash
/// of the whole name, so two long names that differ only past the cut stay
/// distinct (PostgreSQL would truncate both to the same name).
pub fn object_name(parts: &[&str]) -> String {
    let full = parts.join("_");
    if full.len() <= 63 {
        return full;
    }
    let hash = full.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let mut cut = 63 - 9;
    while !full.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}_{:08x}", &full[..cut], hash as u32)
}

/// `'public.users'::regclass` for catalog queries.
pub fn regclass(table_sql: &str) -> String {
    format!("{}::regclass", literal_pg(table_sql))
}

/// A query counting the columns named `column` on a table (0 or 1).
pub fn column_exists(table_sql: &str, column: &str) -> String {
    format!(
        "SELECT count(*) FROM pg_attribute WHERE attrelid = {} AND attname = {} AND NOT attisdropped",
        regclass(table_sql),
        literal_pg(column)
    )
}

/// A query returning 1 when the column is NOT NULL.
pub fn column_not_null(table_sql: &str, column: &str) -> String {
    format!(
        "SELECT count(*) FROM pg_attribute WHERE attrelid = {} AND attname = {} AND attnotnull AND NOT attisdropped",
        regclass(table_sql),
        literal_pg(column)
    )
}

/// A query returning 1 when the constraint exists and is validated.
pub fn constraint_validated(table_sql: &str, name: &str) -> String {
    format!(
        "SELECT count(*) FROM pg_constraint WHERE conrelid = {} AND conname = {} AND convalidated",
        regclass(table_sql),
        literal_pg(name)
    )
}

/// A query returning 1 when a valid index of that name exists on the table.
/// An unqualified name lives in the schema unqualified names resolve to
/// (`current_schema()`, `public` by default), not always `public`.
pub fn index_valid(schema: Option<&str>, name: &str) -> String {
    let nsp = schema.map_or_else(|| "current_schema()".to_string(), literal_pg);
    format!(
        "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = {nsp} AND c.relname = {} AND i.indisvalid",
        literal_pg(name)
    )
}

/// The label of the backfill procedure's block, which qualifies its locals.
const BLOCK: &str = "schemashift_batch";

/// The key a keyset backfill walks: the table's primary key, one column or
/// several (walked as a row value, `(a, b) > (x, y)` in `ORDER BY a, b`).
#[derive(Debug, Clone, PartialEq)]
pub struct KeysetKey {
    /// Column names (unquoted) in key order, each with its SQL type; `None`
    /// when no schema said it: the procedure then declares it
    /// `table.column%TYPE`, which PostgreSQL resolves from the catalog, and
    /// the prepared batch leaves its parameter type to be inferred from the
    /// column.
    pub cols: Vec<(String, Option<String>)>,
    /// The columns were assumed (no schema): the procedure stops before any
    /// batch unless they are exactly the table's primary key.
    pub verify: bool,
}

impl KeysetKey {
    /// One column of a known type.
    pub fn single(col: &str, ty: &str) -> KeysetKey {
        KeysetKey {
            cols: vec![(col.to_string(), Some(ty.to_string()))],
            verify: false,
        }
    }

    /// `a` or `(a, b)`: the key as one comparable value.
    pub fn expr(&self) -> String {
        self.row(|c| c.to_string())
    }

    /// `a, b`: the key's sort order.
    pub fn order(&self) -> String {
        self.list(|c| c.to_string())
    }

    /// The columns quoted.
    fn names(&self) -> impl Iterator<Item = String> + '_ {
        self.cols.iter().map(|(c, _)| quote_pg(c))
    }

    fn list(&self, f: impl Fn(&str) -> String) -> String {
        self.names().map(|c| f(&c)).collect::<Vec<_>>().join(", ")
    }

    /// Applies `f` to each column and makes one value of the results.
    fn row(&self, f: impl Fn(&str) -> String) -> String {
        if self.cols.len() == 1 {
            f(&quote_pg(&self.cols[0].0))
        } else {
            format!("({})", self.list(f))
        }
    }

    /// Per-column names of a variable: `batch_start` or `batch_start_1`, ...
    fn vars(&self, base: &str) -> Vec<String> {
        if self.cols.len() == 1 {
            vec![base.to_string()]
        } else {
            (1..=self.cols.len())
                .map(|i| format!("{base}_{i}"))
                .collect()
        }
    }

    /// The types as SQL, a `%TYPE` reference where the type is not known.
    fn types(&self, driver: &str) -> Vec<String> {
        self.cols
            .iter()
            .map(|(c, t)| {
                t.clone()
                    .unwrap_or_else(|| format!("{driver}.{}%TYPE", quote_pg(c)))
            })
            .collect()
    }

    /// Every type is known (none read from the catalog).
    fn known(&self) -> bool {
        self.cols.iter().all(|(_, t)| t.is_some())
    }
}

/// One value made of qualified variables: `b.x` or `(b.x_1, b.x_2)`.
fn qualified_row(prefix: &str, vars: &[String]) -> String {
    let parts = vars
        .iter()
        .map(|v| format!("{prefix}.{v}"))
        .collect::<Vec<_>>();
    if parts.len() == 1 {
        parts[0].clone()
    } else {
        format!("({})", parts.join(", "))
    }
}

/// A keyset backfill: the procedure that commits per batch, its CALL, its
/// DROP, one batch as a prepared statement, and how to loop it.
pub struct KeysetBackfill {
    pub batch_name: String,
    pub first_key_query: String,
    pub procedure: String,
    pub call: String,
    pub drop: String,
    pub batch: String,
    pub batch_loop: String,
}

/// Builds a keyset backfill over `driver` (quoted table) by `key`.
/// `body(lo, hi)` is the one statement that does the work for keys in
/// [lo, hi] (`key.expr() >= lo AND key.expr() <= hi`); it must only touch
/// rows still to do, so a rerun or a resumed run changes nothing twice.
///
/// Batch bounds are found with `ORDER BY key LIMIT`, never `min`/`max`
/// (uuid has neither), so the bounds, the `>` that starts the next batch
/// and the range in `body` all use the key's own ordering (its collation,
/// for text): every row falls in exactly one batch.
pub fn keyset_backfill(
    s: &Settings,
    name: &str,
    driver: &str,
    key: &KeysetKey,
    body: &dyn Fn(&str, &str) -> String,
) -> KeysetBackfill {
    let proc_name = quote_pg(name);
    // Every variable in a query is qualified (parameters by the procedure's
    // name, locals by the block label) and a bare name is always a column
    // (`use_column`): a key or column called `batch_end` or `start_after`
    // is neither taken for a variable nor an ambiguous reference.
    let (p, b) = (&proc_name, BLOCK);
    let types = key.types(driver);
    let (starts, ends, afters) = (
        key.vars("batch_start"),
        key.vars("batch_end"),
        key.vars("start_after"),
    );
    let (lo, hi) = (qualified_row(b, &starts), qualified_row(b, &ends));
    let work = body(&lo, &hi);
    let (kx, order) = (key.expr(), key.order());
    let n = key.cols.len();
    // Names reach the NOTICE as parameters, never inside its format string.
    let (driver_lit, key_lit) = (literal_pg(driver), literal_pg(&kx));
    let mut declare = String::new();
    for (v, t) in starts.iter().chain(&ends).zip(types.iter().chain(&types)) {
        declare.push_str(&format!("  {v} {t};\n"));
    }
    let verify = if key.verify {
        // The key was assumed: walking a column that is not the whole
        // primary key could miss rows (NULLs) or take another table's key.
        let attnums = key
            .cols
            .iter()
            .map(|(c, _)| {
                format!(
                    "(SELECT attnum FROM pg_attribute WHERE attrelid = {} AND attname = {} AND NOT attisdropped)",
                    regclass(driver),
                    literal_pg(c)
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = {} AND contype = 'p' AND conkey = ARRAY[{attnums}]::int2[]) THEN\n    RAISE EXCEPTION 'the primary key of % is not %, which the plan assumed without a schema: plan again with the schema (CREATE TABLE with its primary key) so the backfill walks the real key', {driver_lit}, {key_lit};\n  END IF;\n",
            regclass(driver)
        )
    } else {
        String::new()
    };
    let start_row = qualified_row(p, &afters);
    let targets = |vars: &[String]| vars.join(", ");
    let inner = format!(
        "#variable_conflict use_column\n<<{b}>>\nDECLARE\n{declare}BEGIN\n{verify}  SELECT {order} INTO {starts_l} FROM {driver} WHERE {p}.{a0} IS NULL OR {kx} > {start_row} ORDER BY {order} LIMIT 1;\n  WHILE {b}.{s0} IS NOT NULL LOOP\n    SELECT {ks} INTO {ends_l} FROM (\n      SELECT {kas} FROM {driver} WHERE {kx} >= {lo} ORDER BY {order} LIMIT {p}.batch_size\n    ) AS batch ORDER BY {kdesc} LIMIT 1;\n    {work};\n    RAISE NOTICE 'backfilled % up to % = {fmt}', {driver_lit}, {key_lit}, {ends_l};\n    COMMIT;\n    SELECT {order} INTO {starts_l} FROM {driver} WHERE {kx} > {hi} ORDER BY {order} LIMIT 1;\n    IF pause_ms > 0 THEN\n      PERFORM pg_sleep(pause_ms / 1000.0);\n    END IF;\n  END LOOP;\nEND\n",
        starts_l = targets(&starts),
        ends_l = targets(&ends),
        a0 = afters[0],
        s0 = starts[0],
        ks = (1..=n).map(|i| format!("k{i}")).collect::<Vec<_>>().join(", "),
        kas = key
            .names()
            .enumerate()
            .map(|(i, c)| format!("{c} AS k{}", i + 1))
            .collect::<Vec<_>>()
            .join(", "),
        kdesc = (1..=n).map(|i| format!("k{i} DESC")).collect::<Vec<_>>().join(", "),
        fmt = if n == 1 {
            "%".to_string()
        } else {
            format!("({})", vec!["%"; n].join(", "))
        },
    );
    let tag = dollar_tag("backfill", &inner);
    let params = afters
        .iter()
        .zip(&types)
        .map(|(a, t)| format!(", {a} {t} DEFAULT NULL"))
        .collect::<String>();
    let procedure = format!(
        "CREATE PROCEDURE {proc_name}(batch_size integer DEFAULT {batch}, pause_ms integer DEFAULT {pause}{params})\nLANGUAGE plpgsql\nAS {tag}\n{inner}{tag};",
        batch = s.batch_size,
        pause = s.batch_pause_ms,
    );
    let batch_name = object_name(&[name, "batch"]);
    // CTE names a table is unlikely to have: a CTE hides a table of its name.
    // Each bound is its own scalar subquery, so `(a, b) > (x, y)` stays a
    // row comparison the primary-key index answers.
    let his: Vec<String> = (1..=n).map(|i| format!("schemashift_hi_{i}")).collect();
    let hi_row = {
        let parts = his
            .iter()
            .map(|h| format!("(SELECT {h} FROM schemashift_bounds)"))
            .collect::<Vec<_>>();
        if n == 1 {
            parts[0].clone()
        } else {
            format!("({})", parts.join(", "))
        }
    };
    let params_row = {
        let parts = (1..=n).map(|i| format!("${i}")).collect::<Vec<_>>();
        if n == 1 {
            parts[0].clone()
        } else {
            format!("({})", parts.join(", "))
        }
    };
    let prepared_work = body(&params_row, &hi_row);
    // Without a known type the parameter's type is inferred from the key
    // column it is compared with.
    let prepare_types = if key.known() {
        format!("({})", types.join(", "))
    } else {
        String::new()
    };
    let batch = format!(
        "PREPARE {bn}{prepare_types} AS\nWITH schemashift_bounds AS (\n  SELECT {his_l} FROM (SELECT {kas} FROM {driver} WHERE {kx} >= {params_row} ORDER BY {order} LIMIT {size}) AS batch ORDER BY {kdesc} LIMIT 1\n), schemashift_work AS (\n  {prepared_work}\n)\nSELECT {order} FROM {driver} WHERE {kx} > {hi_row} ORDER BY {order} LIMIT 1;",
        bn = quote_pg(&batch_name),
        size = s.batch_size,
        his_l = his
            .iter()
            .enumerate()
            .map(|(i, h)| format!("k{} AS {h}", i + 1))
            .collect::<Vec<_>>()
            .join(", "),
        kas = key
            .names()
            .enumerate()
            .map(|(i, c)| format!("{c} AS k{}", i + 1))
            .collect::<Vec<_>>()
            .join(", "),
        kdesc = (1..=n).map(|i| format!("k{i} DESC")).collect::<Vec<_>>().join(", "),
    );
    // Without known types the signature is not spelled out: the name alone
    // drops the one procedure of that name.
    let drop = if key.known() {
        format!(
            "DROP PROCEDURE IF EXISTS {proc_name}(integer, integer, {});",
            types.join(", ")
        )
    } else {
        format!("DROP PROCEDURE IF EXISTS {proc_name};")
    };
    let first_key_query = format!("SELECT {order} FROM {driver} ORDER BY {order} LIMIT 1");
    let bn = quote_pg(&batch_name);
    let batch_loop = if n == 1 {
        format!(
            "start from the value of `{first_key_query}`: EXECUTE {bn}(that value); then EXECUTE {bn} again with the value the previous call returned, each call in its own transaction, sleeping {pause} ms between batches, until it returns no row; then DEALLOCATE {bn}",
            pause = s.batch_pause_ms
        )
    } else {
        format!(
            "start from the row of `{first_key_query}`: EXECUTE {bn}(its {n} values, in order); then EXECUTE {bn} again with the {n} values of the row the previous call returned, each call in its own transaction, sleeping {pause} ms between batches, until it returns no row; then DEALLOCATE {bn}",
            pause = s.batch_pause_ms
        )
    };
    KeysetBackfill {
        batch_name: bn,
        first_key_query,
        procedure,
        call: format!("CALL {proc_name}();"),
        drop,
        batch_loop,
        batch,
    }
}

#[cfg(test)]
mod tests {
    use super::{dollar_tag, object_name};

    #[test]
    fn object_names_fit_and_stay_distinct() {
        assert_eq!(object_name(&["users", "email", "idx"]), "users_email_idx");
        let a = format!("{}a", "é".repeat(30));
        let b = format!("{}b", "é".repeat(30));
        let (na, nb) = (object_name(&[&a, "new"]), object_name(&[&b, "new"]));
        assert!(na.len() <= 63 && nb.len() <= 63, "{na} {nb}");
        assert_ne!(na, nb);
        // Cut on a character boundary: still valid UTF-8 of whole characters.
        assert!(na.starts_with(&"é".repeat(26)), "{na}");
    }

    #[test]
    fn dollar_tag_avoids_every_tag_in_the_body() {
        assert_eq!(dollar_tag("migrate", "UPDATE t SET a = 1;"), "$migrate$");
        assert_eq!(dollar_tag("migrate", "SELECT $1, $$x$$;"), "$migrate$");
        assert_eq!(dollar_tag("migrate", "x $migrate$ y"), "$migrate1$");
        assert_eq!(
            dollar_tag("sync", "$sync$ $sync1$ $sync2$ $sync4$"),
            "$sync3$"
        );
    }
}
