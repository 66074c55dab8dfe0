//! Indexes and constraints: built concurrently or NOT VALID first, validated
//! after, so that no step holds a lock that blocks the app for a scan.

use super::*;

pub(super) fn index_name(t: &T, parts: &[String], suffix: &str) -> String {
    let cleaned: Vec<String> = parts
        .iter()
        .map(|p| {
            p.chars()
                .map(|ch| {
                    if ch.is_alphanumeric() {
                        ch.to_ascii_lowercase()
                    } else {
                        '_'
                    }
                })
                .collect::<String>()
                .trim_matches('_')
                .to_string()
        })
        .collect();
    let mut all = vec![t.q.name.as_str().to_string()];
    all.extend(cleaned);
    all.push(suffix.into());
    object_name(&all.iter().map(String::as_str).collect::<Vec<_>>())
}

pub(super) fn key_parts(p: &Planner, parts: &[String]) -> R<String> {
    parts
        .iter()
        .map(|part| {
            if crate::change::is_plain_identifier(part) {
                p.ident("columns", part).map(|i| i.pg())
            } else {
                Ok(format!("({part})"))
            }
        })
        .collect::<R<Vec<_>>>()
        .map(|v| v.join(", "))
}

pub(super) fn add_index(
    p: &mut Planner,
    table: &str,
    columns: &[String],
    name: Option<&str>,
    unique: bool,
    method: Option<&str>,
    predicate: Option<&str>,
) -> R<Vec<Phase>> {
    let t = p.table(table)?;
    let name = match name {
        Some(n) => p.ident("name", n)?.to_string(),
        None => index_name(&t, columns, if unique { "key" } else { "idx" }),
    };
    let parts = key_parts(p, columns)?;
    let (create, drop) = p.cic(&t, &name, unique, &parts, method, predicate);
    let mut ex = phase(PhaseKind::Expand, format!("Build {}index {name} concurrently", if unique { "unique " } else { "" }), "build the index without blocking writes (SHARE UPDATE EXCLUSIVE), outside any transaction block");
    ex.app = vec![app("v1", &[], &[])];
    ex.forward = vec![create];
    ex.rollback = vec![drop];
    ex.validation.push(check(
        sql::index_valid(t.schema(), &name),
        "1",
        "the index exists and is valid",
    ));
    if p.v() == 14 {
        p.risks.push(
            "PostgreSQL 14.0-14.3 can corrupt indexes built CONCURRENTLY: run 14.4 or later".into(),
        );
    }
    ex.advance_when
        .push("the index is valid; EXPLAIN the queries it is for".into());
    ex.abort_when.push(p.index_abort(&t, &name));
    if unique {
        ex.abort_when
            .push("the build fails on duplicate keys: remove the duplicates, then retry".into());
    }
    ex.rollback_point = "drop the index concurrently".into();
    p.risks.push("CREATE INDEX CONCURRENTLY waits for every transaction that started before it, and scans the table twice; a long transaction makes it wait".into());
    Ok(vec![ex])
}

pub(super) fn drop_index(p: &mut Planner, name: &str, table: Option<&str>) -> R<Vec<Phase>> {
    let q = QualifiedName::parse("name", name).map_err(|e| invalid(e.to_string()))?;
    // Unqualified names resolve in current_schema(), as the DROP will.
    let schema = q.schema.as_ref().map_or_else(
        || "current_schema()".to_string(),
        |s| literal_pg(s.as_str()),
    );
    let known = table
        .and_then(|tb| QualifiedName::parse("table", tb).ok())
        .and_then(|tq| p.schema.and_then(|s| s.table(&tq)).cloned());
    let def = known.as_ref().and_then(|t| {
        t.indexes
            .iter()
            .find(|i| i.name == q.name.as_str())
            .cloned()
    });
    let mut con = phase(
        PhaseKind::Contract,
        format!("Drop index {q} concurrently"),
        "remove the index without blocking reads or writes, outside any transaction block",
    );
    con.forward = vec![p.step(
        format!("DROP INDEX CONCURRENTLY IF EXISTS {};", q.pg()),
        false,
        Lock::ShareUpdateExclusive,
        Duration::Brief,
    )];
    con.validation.push(check(
        sql::index_valid(q.schema.as_ref().map(|s| s.as_str()), q.name.as_str()),
        "0",
        "the index is gone",
    ));
    match (def, known) {
        (Some(ix), Some(tinfo)) => {
            // Only the name and schema matter to the index rebuild.
            let t = t_keyed(
                tinfo.name.clone(),
                Ident::new("key", "id").map_err(|e| invalid(e.to_string()))?,
                None,
                Some(tinfo),
            );
            let parts = key_parts(p, &ix.columns)?;
            let (create, _) = p.cic(&t, q.name.as_str(), ix.unique, &parts, None, None);
            con.rollback = vec![create];
            con.rollback_point = "rebuild the index concurrently from its definition".into();
        }
        _ => {
            con.rollback_point = format!("rebuild it from the definition saved before the drop: SELECT pg_get_indexdef({}::regclass);", literal_pg(&q.pg()));
            p.assume("the index definition is not in the schema given: save it with pg_get_indexdef before dropping (runbook pre-check) to be able to rebuild it".to_string());
        }
    }
    con.advance_when
        .push("query latency stays normal for a full business cycle".into());
    con.abort_when
        .push("queries slow down: rebuild the index concurrently".into());
    con.abort_when.push("the drop fails because a constraint uses the index: drop the constraint instead (that is a different change)".into());
    p.risks.push(format!(
        "check the index is unused first: SELECT idx_scan FROM pg_stat_user_indexes WHERE schemaname = {} AND indexrelname = {}; (on every replica too)",
        schema,
        literal_pg(q.name.as_str())
    ));
    Ok(vec![con])
}

pub(super) fn add_unique(
    p: &mut Planner,
    table: &str,
    columns: &[String],
    name: Option<&str>,
    primary: bool,
) -> R<Vec<Phase>> {
    let t = p.table(table)?;
    let cols: Vec<Ident> = columns
        .iter()
        .map(|c| p.ident("columns", c))
        .collect::<R<_>>()?;
    let name = match name {
        Some(n) => p.ident("name", n)?.to_string(),
        None if primary => object_name(&[t.q.name.as_str(), "pkey"]),
        None => index_name(
            &t,
            &cols.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            "key",
        ),
    };
    let (create, drop) = p.cic(&t, &name, true, &names(&cols).join(", "), None, None);
    let mut ex = phase(
        PhaseKind::Expand,
        format!("Build unique index {name} concurrently"),
        "build the index the constraint will use, without blocking writes",
    );
    ex.app = vec![app("v1", &[], &[])];
    ex.forward = vec![create];
    ex.rollback = vec![drop];
    ex.validation.push(check(
        format!(
            "SELECT count(*) FROM (SELECT {} FROM {} GROUP BY {} HAVING count(*) > 1) AS dup",
            names(&cols).join(", "),
            t.sql,
            names(&cols).join(", ")
        ),
        "0",
        "no duplicate keys",
    ));
    ex.validation.push(check(
        sql::index_valid(t.schema(), &name),
        "1",
        "the unique index is valid",
    ));
    ex.advance_when.push("the index is valid".into());
    ex.abort_when.push("the build fails on duplicate keys: remove the duplicates (or make v1 stop writing them), drop the invalid index, retry".into());
    ex.abort_when.push(p.index_abort(&t, &name));
    ex.rollback_point = "drop the index concurrently".into();
    let mut val = phase(
        PhaseKind::Validate,
        format!(
            "Attach {name} as the {}",
            if primary {
                "primary key"
            } else {
                "unique constraint"
            }
        ),
        "turn the prebuilt index into the constraint under a brief lock",
    );
    val.app = vec![app("v1", &[], &[])];
    // Dropping the constraint drops its index, so the rollback builds it
    // again to return to the state after the first phase; the forward makes
    // sure it exists (a no-op after the first phase), so the phase can run
    // again after its own rollback.
    let ensure_sql = ex.forward[0].sql.replacen(
        "INDEX CONCURRENTLY ",
        "INDEX CONCURRENTLY IF NOT EXISTS ",
        1,
    );
    val.forward.push(p.step(
        ensure_sql.clone(),
        false,
        Lock::ShareUpdateExclusive,
        Duration::Brief,
    ));
    let rebuild = p.step(
        ensure_sql,
        false,
        Lock::ShareUpdateExclusive,
        Duration::IndexBuild,
    );
    let mut rb = Vec::new();
    if primary {
        for c in &cols {
            match t.col(c).map(|col| col.not_null) {
                Some(true) => {}
                known => {
                    if known.is_none() {
                        p.assume(format!("{}.{c} is nullable today: NOT NULL is added without a scan before the key (and removed on rollback)", t.q));
                    }
                    let (fwd, back) = p.enforce_not_null(&t, c);
                    val.forward.extend(fwd);
                    rb.extend(back);
                }
            }
        }
    }
    val.forward.push(p.brief(vec![format!(
        "ALTER TABLE {} ADD CONSTRAINT {} {} USING INDEX {};",
        t.sql,
        quote_pg(&name),
        if primary { "PRIMARY KEY" } else { "UNIQUE" },
        quote_pg(&name)
    )]));
    let mut rollback = vec![p.brief(vec![format!(
        "ALTER TABLE {} DROP CONSTRAINT IF EXISTS {};",
        t.sql,
        quote_pg(&name)
    )])];
    rollback.extend(rb);
    rollback.push(rebuild);
    val.rollback = rollback;
    val.validation.push(check(
        format!("SELECT count(*) FROM pg_constraint WHERE conrelid = {} AND conname = {} AND contype = '{}'", sql::regclass(&t.sql), literal_pg(&name), if primary { "p" } else { "u" }),
        "1",
        "the constraint exists",
    ));
    val.advance_when.push("the constraint exists".into());
    val.abort_when.push("the statement gives up after its retries: find the blocking transaction in pg_stat_activity".into());
    val.rollback_point =
        "drop the constraint (its index goes with it), then build the index again concurrently: the state after the first phase".into();
    Ok(vec![ex, val])
}

pub(super) fn add_foreign_key(
    p: &mut Planner,
    table: &str,
    columns: &[String],
    ref_table: &str,
    ref_columns: &[String],
    name: Option<&str>,
    on_delete: Option<&str>,
) -> R<Vec<Phase>> {
    let t = p.table(table)?;
    let rt =
        QualifiedName::parse("references_table", ref_table).map_err(|e| invalid(e.to_string()))?;
    let cols: Vec<Ident> = columns
        .iter()
        .map(|c| p.ident("columns", c))
        .collect::<R<_>>()?;
    let rcols: Vec<Ident> = if ref_columns.is_empty() {
        vec![p.ident("references_columns", "id")?]
    } else {
        ref_columns
            .iter()
            .map(|c| p.ident("references_columns", c))
            .collect::<R<_>>()?
    };
    let name = match name {
        Some(n) => p.ident("name", n)?.to_string(),
        None => index_name(
            &t,
            &cols.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            "fkey",
        ),
    };
    let action = on_delete
        .map(|a| {
            format!(
                " ON DELETE {}",
                a.split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_ascii_uppercase()
            )
        })
        .unwrap_or_default();
    let mut ex = phase(
        PhaseKind::Expand,
        format!("Add foreign key {name} NOT VALID"),
        "new and updated rows are checked from now on; existing rows are not scanned",
    );
    ex.app = vec![app("v1", &[], &[])];
    ex.forward = vec![p.guard(
        vec![format!(
            "ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}){action} NOT VALID;",
            t.sql,
            quote_pg(&name),
            names(&cols).join(", "),
            rt.pg(),
            names(&rcols).join(", ")
        )],
        Lock::ShareRowExclusive,
        Duration::Brief,
    )];
    ex.rollback = vec![p.guard(
        vec![format!(
            "ALTER TABLE {} DROP CONSTRAINT IF EXISTS {};",
            t.sql,
            quote_pg(&name)
        )],
        Lock::AccessExclusive,
        Duration::Brief,
    )];
    let orphans = format!(
        "SELECT count(*) FROM {} AS c WHERE {} AND NOT EXISTS (SELECT 1 FROM {} AS p WHERE {})",
        t.sql,
        cols.iter()
            .map(|c| format!("c.{} IS NOT NULL", c.pg()))
            .collect::<Vec<_>>()
            .join(" AND "),
        rt.pg(),
        cols.iter()
            .zip(&rcols)
            .map(|(c, r)| format!("p.{} = c.{}", r.pg(), c.pg()))
            .collect::<Vec<_>>()
            .join(" AND ")
    );
    ex.validation.push(check(
        orphans.clone(),
        "0",
        "no existing row points at a missing parent",
    ));
    ex.advance_when.push("the orphan count is 0".into());
    ex.abort_when.push(format!("orphans exist: fix or delete them (list them with the orphan query), since VALIDATE would fail; locks on {t} and {rt} are SHARE ROW EXCLUSIVE while it is added", t = t.q));
    ex.rollback_point = "drop the constraint".into();
    let mut val = phase(
        PhaseKind::Validate,
        format!("Validate {name}"),
        "scan existing rows under SHARE UPDATE EXCLUSIVE: reads and writes continue",
    );
    val.app = vec![app("v1", &[], &[])];
    val.forward = vec![p.validate_constraint(&t, &name, true)];
    val.validation.push(check(
        sql::constraint_validated(&t.sql, &name),
        "1",
        "the constraint is validated",
    ));
    val.advance_when.push("the constraint is validated".into());
    val.abort_when.push("VALIDATE fails on an orphan: fix it and rerun VALIDATE (the constraint already guards new rows)".into());
    val.rollback_point = "nothing to undo: validation only marks the constraint as checked; to remove it, roll back the previous phase".into();
    let indexed = t.info.as_ref().map(|i| {
        i.indexes
            .iter()
            .any(|ix| ix.columns.first() == Some(&cols[0].pg()))
    });
    if indexed != Some(true) {
        p.risks.push(format!(
            "{}({}) {}: deletes and key updates on {rt} scan {} for each row; add an index on it first (add_index)",
            t.q,
            names(&cols).join(", "),
            if indexed.is_none() { "may not be indexed" } else { "is not indexed" },
            t.q
        ));
    }
    Ok(vec![ex, val])
}

pub(super) fn add_check(
    p: &mut Planner,
    table: &str,
    expression: &str,
    name: Option<&str>,
) -> R<Vec<Phase>> {
    let t = p.table(table)?;
    let name = match name {
        Some(n) => p.ident("name", n)?.to_string(),
        None => {
            let first = expression
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .find(|w| !w.is_empty() && w.chars().next().is_some_and(|c| c.is_alphabetic()))
                .unwrap_or("expr");
            object_name(&[t.q.name.as_str(), &first.to_ascii_lowercase(), "check"])
        }
    };
    let mut ex = phase(
        PhaseKind::Expand,
        format!("Add check {name} NOT VALID"),
        "new and updated rows are checked from now on; existing rows are not scanned",
    );
    ex.app = vec![app("v1", &[], &[])];
    ex.forward = vec![p.brief(vec![format!(
        "ALTER TABLE {} ADD CONSTRAINT {} CHECK ({expression}) NOT VALID;",
        t.sql,
        quote_pg(&name)
    )])];
    ex.rollback = vec![p.brief(vec![format!(
        "ALTER TABLE {} DROP CONSTRAINT IF EXISTS {};",
        t.sql,
        quote_pg(&name)
    )])];
    ex.validation.push(check(
        format!(
            "SELECT count(*) FROM {} WHERE ({expression}) IS FALSE",
            t.sql
        ),
        "0",
        "no existing row breaks the check",
    ));
    ex.advance_when.push("the violation count is 0".into());
    ex.abort_when
        .push("existing rows break the check: fix them first (VALIDATE would fail)".into());
    ex.abort_when.push(
        "v1 writes rows that break the check and now fail: drop the constraint, fix v1".into(),
    );
    ex.rollback_point = "drop the constraint".into();
    let mut val = phase(
        PhaseKind::Validate,
        format!("Validate {name}"),
        "scan existing rows under SHARE UPDATE EXCLUSIVE: reads and writes continue",
    );
    val.app = vec![app("v1", &[], &[])];
    val.forward = vec![p.validate_constraint(&t, &name, false)];
    val.validation.push(check(
        sql::constraint_validated(&t.sql, &name),
        "1",
        "the constraint is validated",
    ));
    val.advance_when.push("the constraint is validated".into());
    val.abort_when
        .push("VALIDATE fails: a row breaks the check; fix it and rerun".into());
    val.rollback_point = "nothing to undo: validation only marks the constraint as checked; to remove it, roll back the previous phase".into();
    Ok(vec![ex, val])
}
