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

/// Builds a keyset backfill over `driver` (quoted table) by `key` (quoted
/// column, of `key_type`). `body(lo, hi)` is the one statement that does the
/// work for keys in [lo, hi]; it must only touch rows still to do, so a rerun
/// or a resumed run changes nothing twice.
pub fn keyset_backfill(
    s: &Settings,
    name: &str,
    driver: &str,
    key: &str,
    key_type: &str,
    body: &dyn Fn(&str, &str) -> String,
) -> KeysetBackfill {
    let proc_name = quote_pg(name);
    // Every variable in a query is qualified (parameters by the procedure's
    // name, locals by the block label) and a bare name is always a column
    // (`use_column`): a key or column called `batch_end` or `start_after`
    // is neither taken for a variable nor an ambiguous reference.
    let (p, b) = (&proc_name, BLOCK);
    let work = body(&format!("{b}.batch_start"), &format!("{b}.batch_end"));
    // Names reach the NOTICE as parameters, never inside its format string.
    let (driver_lit, key_lit) = (literal_pg(driver), literal_pg(key));
    let inner = format!(
        "#variable_conflict use_column\n<<{b}>>\nDECLARE\n  batch_start {key_type};\n  batch_end {key_type};\nBEGIN\n  SELECT min({key}) INTO batch_start FROM {driver} WHERE {p}.start_after IS NULL OR {key} > {p}.start_after;\n  WHILE batch_start IS NOT NULL LOOP\n    SELECT max(k) INTO batch_end FROM (\n      SELECT {key} AS k FROM {driver} WHERE {key} >= {b}.batch_start ORDER BY {key} LIMIT {p}.batch_size\n    ) AS batch;\n    {work};\n    RAISE NOTICE 'backfilled % up to % = %', {driver_lit}, {key_lit}, batch_end;\n    COMMIT;\n    SELECT min({key}) INTO batch_start FROM {driver} WHERE {key} > {b}.batch_end;\n    IF pause_ms > 0 THEN\n      PERFORM pg_sleep(pause_ms / 1000.0);\n    END IF;\n  END LOOP;\nEND\n"
    );
    let tag = dollar_tag("backfill", &inner);
    let procedure = format!(
        "CREATE PROCEDURE {proc_name}(batch_size integer DEFAULT {batch}, pause_ms integer DEFAULT {pause}, start_after {key_type} DEFAULT NULL)\nLANGUAGE plpgsql\nAS {tag}\n{inner}{tag};",
        batch = s.batch_size,
        pause = s.batch_pause_ms,
    );
    let batch_name = object_name(&[name, "batch"]);
    // CTE names a table is unlikely to have: a CTE hides a table of its name.
    let prepared_work = body("$1", "(SELECT hi FROM schemashift_bounds)");
    let batch = format!(
        "PREPARE {bn}({key_type}) AS\nWITH schemashift_bounds AS (\n  SELECT max(k) AS hi FROM (SELECT {key} AS k FROM {driver} WHERE {key} >= $1 ORDER BY {key} LIMIT {size}) AS batch\n), schemashift_work AS (\n  {prepared_work}\n)\nSELECT min({key}) FROM {driver} WHERE {key} > (SELECT hi FROM schemashift_bounds);",
        bn = quote_pg(&batch_name),
        size = s.batch_size,
    );
    KeysetBackfill {
        batch_name: quote_pg(&batch_name),
        first_key_query: format!("SELECT min({key}) FROM {driver}"),
        procedure,
        call: format!("CALL {proc_name}();"),
        drop: format!("DROP PROCEDURE IF EXISTS {proc_name}(integer, integer, {key_type});"),
        batch_loop: format!(
            "start from the value of `SELECT min({key}) FROM {driver}`: EXECUTE {bn}(that value); then EXECUTE {bn} again with the value the previous call returned, each call in its own transaction, sleeping {pause} ms between batches, until it returns NULL; then DEALLOCATE {bn}",
            bn = quote_pg(&batch_name),
            pause = s.batch_pause_ms
        ),
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
