//! Column changes that keep one column: add (nullable or NOT NULL with a
//! fill), drop, NOT NULL on and off, defaults, and a backfill on its own.

use super::*;

pub(super) fn add_column(
    p: &mut Planner,
    pattern: Pattern,
    table: &str,
    column: &str,
    ty: &str,
    default: Option<&str>,
) -> R<Vec<Phase>> {
    let t = p.table(table)?;
    let c = p.ident("column", column)?;
    let mut ex = phase(
        PhaseKind::Expand,
        format!("Add {}.{}", t.q, c),
        "add the column; old app versions ignore it",
    );
    ex.app = vec![app("v1", &[], &[])];
    ex.validation.push(check(
        sql::column_exists(&t.sql, c.as_str()),
        "1",
        "the column exists",
    ));
    ex.rollback = vec![p.brief(vec![format!(
        "ALTER TABLE {} DROP COLUMN IF EXISTS {};",
        t.sql,
        c.pg()
    )])];
    ex.rollback_point =
        "drop the column again (values written to it are lost; nothing read them yet)".into();
    ex.advance_when
        .push("the column exists; then release the app version that uses it".into());
    ex.abort_when.push("the statement gives up after its retries: find the blocking transaction in pg_stat_activity, let it finish, rerun".into());
    if pattern == Pattern::AddThenBackfill {
        let d = default.unwrap_or("NULL");
        ex.forward = vec![p.brief(vec![
            format!("ALTER TABLE {} ADD COLUMN {} {ty};", t.sql, c.pg()),
            format!(
                "ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {d};",
                t.sql,
                c.pg()
            ),
        ])];
        ex.goal =
            "add the column without a default (no rewrite), then give new rows the default".into();
        let remaining = format!("SELECT count(*) FROM {} WHERE {} IS NULL", t.sql, c.pg());
        let (tsql, key, cp) = (t.sql.clone(), t.key_sql(), c.pg());
        let kb = p.keyset(&t, &[c.as_str()], &move |lo, hi| format!("UPDATE {tsql} SET {cp} = {d} WHERE {key} >= {lo} AND {key} <= {hi} AND {cp} IS NULL"), remaining.clone(), "keyset batches by primary key; each batch sets the default on rows still NULL")?;
        let bf = p.backfill_phase(
            &kb,
            &remaining,
            &format!("Fill {}.{} for existing rows", t.q, c),
            vec![app("v1", &[], &[])],
        );
        return Ok(vec![ex, bf]);
    }
    ex.forward = vec![p.brief(vec![format!(
        "ALTER TABLE {} ADD COLUMN {} {ty}{};",
        t.sql,
        c.pg(),
        default.map(|d| format!(" DEFAULT {d}")).unwrap_or_default()
    )])];
    Ok(vec![ex])
}

/// One backfill batch for keys in [lo, hi], as SQL.
pub(super) type BatchBody = Box<dyn Fn(&str, &str) -> String>;

pub(super) fn fill_body(
    t: &T,
    c: &Ident,
    fill: &Fill,
    local_default: &str,
) -> R<(BatchBody, String, String)> {
    let (tsql, key, cp) = (t.sql.clone(), t.key_sql(), c.pg());
    let tkey = t.key_sql_at("t.");
    match fill {
        Fill::Expression { expression } if is_volatile_default(expression) => {
            // A volatile value differs on every evaluation: "still to do" can only mean "still NULL".
            let e = expression.clone();
            let remaining = format!("SELECT count(*) FROM {tsql} WHERE {cp} IS NULL");
            let strategy = format!(
                "keyset batches by primary key; each batch sets {c} = {e} on rows still NULL"
            );
            Ok((
                Box::new(move |lo, hi| {
                    format!("UPDATE {tsql} SET {cp} = ({e}) WHERE {key} >= {lo} AND {key} <= {hi} AND {cp} IS NULL")
                }),
                remaining,
                strategy,
            ))
        }
        Fill::Expression { expression } => {
            let e = expression.clone();
            let remaining =
                format!("SELECT count(*) FROM {tsql} WHERE {cp} IS DISTINCT FROM ({e})");
            let strategy = format!(
                "keyset batches by primary key; each batch sets {c} = {e} where it differs"
            );
            Ok((
                Box::new(move |lo, hi| {
                    format!("UPDATE {tsql} SET {cp} = ({e}) WHERE {key} >= {lo} AND {key} <= {hi} AND {cp} IS DISTINCT FROM ({e})")
                }),
                remaining,
                strategy,
            ))
        }
        Fill::Lookup {
            table,
            column,
            local_key,
            remote_key,
        } => {
            let src =
                QualifiedName::parse("fill.table", table).map_err(|e| invalid(e.to_string()))?;
            let sc = Ident::parse("fill.column", column).map_err(|e| invalid(e.to_string()))?;
            let lk = Ident::parse(
                "fill.local_key",
                local_key.as_deref().unwrap_or(local_default),
            )
            .map_err(|e| invalid(e.to_string()))?;
            let rk = Ident::parse("fill.remote_key", remote_key.as_deref().unwrap_or("id"))
                .map_err(|e| invalid(e.to_string()))?;
            let ssql = src.pg();
            let (scp, lkp, rkp) = (sc.pg(), lk.pg(), rk.pg());
            let remaining = format!("SELECT count(*) FROM {tsql} AS t JOIN {ssql} AS s ON s.{rkp} = t.{lkp} WHERE t.{cp} IS DISTINCT FROM s.{scp}");
            let strategy = format!("keyset batches by primary key; each batch copies {src}.{sc} through {}.{lk} = {src}.{rk} where it differs", t.q);
            Ok((
                Box::new(move |lo, hi| {
                    format!("UPDATE {tsql} AS t SET {cp} = s.{scp} FROM {ssql} AS s WHERE s.{rkp} = t.{lkp} AND {tkey} >= {lo} AND {tkey} <= {hi} AND t.{cp} IS DISTINCT FROM s.{scp}")
                }),
                remaining,
                strategy,
            ))
        }
    }
}

pub(super) fn add_not_null_column(
    p: &mut Planner,
    pattern: Pattern,
    table: &str,
    column: &str,
    ty: &str,
    default: Option<&str>,
    fill: Option<&Fill>,
) -> R<Vec<Phase>> {
    let t = p.table(table)?;
    let c = p.ident("column", column)?;
    if pattern == Pattern::InstantDdl {
        let d = default
            .ok_or_else(|| invalid("a required column added in one step needs a default"))?;
        let mut ex = phase(PhaseKind::Expand, format!("Add {}.{} NOT NULL DEFAULT {d}", t.q, c), "add the required column with a constant default: PostgreSQL 11+ stores it once, no rewrite");
        ex.app = vec![app("v1", &[], &[])];
        ex.forward = vec![p.brief(vec![format!(
            "ALTER TABLE {} ADD COLUMN {} {ty} NOT NULL DEFAULT {d};",
            t.sql,
            c.pg()
        )])];
        ex.rollback = vec![p.brief(vec![format!(
            "ALTER TABLE {} DROP COLUMN IF EXISTS {};",
            t.sql,
            c.pg()
        )])];
        ex.validation = vec![
            check(
                sql::column_not_null(&t.sql, c.as_str()),
                "1",
                "the column exists and is NOT NULL",
            ),
            check(
                format!("SELECT count(*) FROM {} WHERE {} IS NULL", t.sql, c.pg()),
                "0",
                "every row has a value",
            ),
        ];
        ex.advance_when
            .push("the column exists; release the app version that writes it".into());
        ex.abort_when.push("the statement gives up after its retries: find the blocking transaction in pg_stat_activity".into());
        ex.rollback_point = "drop the column (values written since are lost)".into();
        return Ok(vec![ex]);
    }
    let fill = match (fill, default) {
        (Some(f), _) => f.clone(),
        (None, Some(d)) => Fill::Expression { expression: d.to_string() },
        (None, None) => {
            return Err(invalid(format!(
                "add_not_null_column needs a value for the existing rows of {}: give `default` (e.g. 0) or `fill` (an expression, or a column of another table)",
                t.q
            )))
        }
    };
    let local_default = match &fill {
        Fill::Lookup {
            table,
            local_key: None,
            ..
        } => {
            let lk = format!("{}_id", singular(table));
            p.assume(format!(
                "{}.{lk} points at {table}.id (give fill.local_key / fill.remote_key otherwise)",
                t.q
            ));
            lk
        }
        _ => String::new(),
    };
    let mut ex = phase(
        PhaseKind::Expand,
        format!("Add {}.{} as nullable", t.q, c),
        "add the column without NOT NULL so old app versions keep inserting",
    );
    ex.app = vec![app("v1", &[], &[])];
    let mut add = vec![format!("ALTER TABLE {} ADD COLUMN {} {ty};", t.sql, c.pg())];
    if let Some(d) = default {
        add.push(format!(
            "ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {d};",
            t.sql,
            c.pg()
        ));
    }
    ex.forward = vec![p.brief(add)];
    ex.rollback = vec![p.brief(vec![format!(
        "ALTER TABLE {} DROP COLUMN IF EXISTS {};",
        t.sql,
        c.pg()
    )])];
    ex.validation = vec![check(
        sql::column_exists(&t.sql, c.as_str()),
        "1",
        "the column exists",
    )];
    ex.advance_when.push("the column exists".into());
    ex.rollback_point = "drop the column; nothing reads it yet".into();
    let cname = c.to_string();
    // App lists name columns with their table, as every other plan's do.
    let written = format!("{}.{c}", t.q);
    let mut dep = phase(
        PhaseKind::Deploy,
        format!("Release v2, which writes {cname} on every insert and update"),
        "new rows get a value before the backfill closes the gap",
    );
    dep.app = vec![
        app("v1", &[], &[]),
        app("v2", &[], std::slice::from_ref(&written)),
    ];
    if default.is_some() {
        dep.goal = "the column default covers inserts by v1; v2 writes the value explicitly".into();
    }
    dep.advance_when
        .push("every instance runs v2 (no v1 left: it would insert rows without a value)".into());
    dep.abort_when.push(
        "v2 errors on writes: roll back to v1; the column is still nullable, nothing breaks".into(),
    );
    dep.rollback_point = "redeploy v1".into();
    let (body, remaining, strategy) = fill_body(&t, &c, &fill, &local_default)?;
    let kb = p.keyset(
        &t,
        &[c.as_str()],
        body.as_ref(),
        remaining.clone(),
        &strategy,
    )?;
    let mut bf = p.backfill_phase(
        &kb,
        &remaining,
        &format!("Backfill {}.{}", t.q, c),
        vec![app("v2", &[], std::slice::from_ref(&written))],
    );
    bf.validation.push(check(
        format!("SELECT count(*) FROM {} WHERE {} IS NULL", t.sql, c.pg()),
        "0",
        "no row is left without a value",
    ));
    bf.abort_when.push(format!("rows stay NULL after the backfill (no matching source row): decide their value before enforcing NOT NULL; list them with SELECT {} FROM {} WHERE {} IS NULL LIMIT 100", names(&t.key_cols.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>()).join(", "), t.sql, c.pg()));
    let (fwd, rb) = p.enforce_not_null(&t, &c);
    let mut val = phase(
        PhaseKind::Validate,
        format!("Enforce NOT NULL on {}.{}", t.q, c),
        "prove no NULL is left and make the column NOT NULL without a long lock",
    );
    val.app = vec![app("v2", &[], std::slice::from_ref(&written))];
    val.forward = fwd;
    val.rollback = rb;
    val.validation = vec![check(
        sql::column_not_null(&t.sql, c.as_str()),
        "1",
        "the column is NOT NULL",
    )];
    val.advance_when.push("the column is NOT NULL".into());
    val.abort_when
        .push("VALIDATE CONSTRAINT fails: a NULL slipped in; backfill again, then retry".into());
    val.rollback_point = "drop the NOT NULL; the column stays filled".into();
    Ok(vec![ex, dep, bf, val])
}

pub(super) fn drop_column(p: &mut Planner, table: &str, column: &str) -> R<Vec<Phase>> {
    let t = p.table(table)?;
    let c = p.ident("column", column)?;
    let cname = format!("{}.{}", t.q, c);
    let mut dep = phase(
        PhaseKind::Deploy,
        format!("Release v2, which never reads or writes {cname}"),
        "stop every use of the column before it disappears",
    );
    dep.app = vec![
        app(
            "v1",
            std::slice::from_ref(&cname),
            std::slice::from_ref(&cname),
        ),
        app("v2", &[], &[]),
    ];
    match t.col(&c).map(|col| col.not_null) {
        Some(true) => {
            dep.forward = vec![p.brief(vec![format!(
                "ALTER TABLE {} ALTER COLUMN {} DROP NOT NULL;",
                t.sql,
                c.pg()
            )])];
            dep.rollback = p.enforce_not_null(&t, &c).0;
            dep.goal = "relax NOT NULL so v2 can insert rows without the column, then stop every use of it".into();
        }
        Some(false) => {}
        None => dep.validation.push(nullable_gate(p, &t, &c, "v2")),
    }
    dep.validation.push(check(
        sql::column_exists(&t.sql, c.as_str()),
        "1",
        "the column is still there for v1",
    ));
    dep.advance_when
        .push("every instance runs v2, including workers, cron jobs and other services".into());
    dep.advance_when.push(format!("ORMs no longer select it (Rails: self.ignored_columns += [\"{c}\"] shipped in v2; Django: the field removed from the model)"));
    dep.abort_when.push("anything still reads the column: keep it and find the reader (pg_stat_statements, app logs)".into());
    dep.rollback_point = "redeploy v1; the column and its data are untouched".into();
    let mut con = phase(
        PhaseKind::Contract,
        format!("Drop {cname}"),
        "remove the column now that nothing uses it",
    );
    con.app = vec![app("v2", &[], &[])];
    con.forward = vec![p.brief(vec![format!(
        "ALTER TABLE {} DROP COLUMN {};",
        t.sql,
        c.pg()
    )])];
    con.validation.push(check(
        sql::column_exists(&t.sql, c.as_str()),
        "0",
        "the column is gone",
    ));
    con.data_loss = Some(format!(
        "the values of {cname} are deleted; only a backup brings them back"
    ));
    con.advance_when
        .push("done; the space is reclaimed as rows are updated (or by pg_repack)".into());
    con.abort_when.push("the drop fails because a view or constraint depends on the column: drop or change that first".into());
    con.rollback_point = "none: restore the column's data from the backup".into();
    Ok(vec![dep, con])
}

pub(super) fn set_not_null(p: &mut Planner, table: &str, column: &str) -> R<Vec<Phase>> {
    let t = p.table(table)?;
    let c = p.ident("column", column)?;
    let cname = format!("{}.{}", t.q, c);
    let nulls = format!("SELECT count(*) FROM {} WHERE {} IS NULL", t.sql, c.pg());
    let mut dep = phase(
        PhaseKind::Deploy,
        format!("Release v2, which always writes {cname}"),
        "no app version may write NULL once the constraint is enforced",
    );
    dep.app = vec![
        app("v1", &[], std::slice::from_ref(&cname)),
        app("v2", &[], std::slice::from_ref(&cname)),
    ];
    dep.validation.push(check(
        nulls.clone(),
        "0",
        "no row holds NULL (backfill them first if this fails)",
    ));
    dep.advance_when
        .push("every instance runs v2 and the NULL count is 0".into());
    dep.abort_when
        .push("NULLs keep appearing: something still writes NULL; find it before enforcing".into());
    dep.rollback_point = "redeploy v1".into();
    let (fwd, rb) = p.enforce_not_null(&t, &c);
    let mut val = phase(
        PhaseKind::Validate,
        format!("Enforce NOT NULL on {cname}"),
        "validate without a long ACCESS EXCLUSIVE scan, then set NOT NULL",
    );
    val.app = vec![app("v2", &[], std::slice::from_ref(&cname))];
    val.forward = fwd;
    val.rollback = rb;
    val.validation.push(check(
        sql::column_not_null(&t.sql, c.as_str()),
        "1",
        "the column is NOT NULL",
    ));
    val.advance_when.push("the column is NOT NULL".into());
    val.abort_when.push("VALIDATE CONSTRAINT fails: a NULL exists; fix it and retry (the NOT VALID check already blocks new NULLs)".into());
    val.rollback_point = "DROP NOT NULL".into();
    Ok(vec![dep, val])
}

pub(super) fn drop_not_null(p: &mut Planner, table: &str, column: &str) -> R<Vec<Phase>> {
    let t = p.table(table)?;
    let c = p.ident("column", column)?;
    let cname = format!("{}.{}", t.q, c);
    let mut ex = phase(
        PhaseKind::Expand,
        format!("Drop NOT NULL on {cname}"),
        "relax the column; nothing writes NULL yet, so every app version keeps working",
    );
    ex.app = vec![app(
        "v1",
        std::slice::from_ref(&cname),
        std::slice::from_ref(&cname),
    )];
    ex.forward = vec![p.brief(vec![format!(
        "ALTER TABLE {} ALTER COLUMN {} DROP NOT NULL;",
        t.sql,
        c.pg()
    )])];
    ex.rollback = p.enforce_not_null(&t, &c).0;
    ex.validation.push(check(
        sql::column_not_null(&t.sql, c.as_str()),
        "0",
        "the column accepts NULL",
    ));
    ex.advance_when.push("the column is nullable".into());
    ex.rollback_point = "restore NOT NULL (possible only while no NULL has been written)".into();
    let mut dep = phase(
        PhaseKind::Deploy,
        format!("Release v2, which may write NULL to {cname}"),
        "only after every reader copes with NULL",
    );
    dep.app = vec![
        app(
            "v1",
            std::slice::from_ref(&cname),
            std::slice::from_ref(&cname),
        ),
        app(
            "v2",
            std::slice::from_ref(&cname),
            std::slice::from_ref(&cname),
        ),
    ];
    dep.advance_when.push(
        "every instance runs v2, and every reader (reports, exports, other services) handles NULL"
            .into(),
    );
    dep.abort_when
        .push("a reader fails on NULL: redeploy v1 and fix the reader".into());
    dep.rollback_point = "redeploy v1; rows with NULL stay".into();
    Ok(vec![ex, dep])
}

pub(super) fn set_default(
    p: &mut Planner,
    table: &str,
    column: &str,
    default: Option<&str>,
) -> R<Vec<Phase>> {
    let t = p.table(table)?;
    let c = p.ident("column", column)?;
    let current = t.col(&c).map(|col| col.default.clone());
    if current.is_none() {
        p.assume(format!(
            "{}.{c} has no default today: the rollback drops the default",
            t.q
        ));
    }
    let set = |d: Option<&str>| match d {
        Some(d) => format!(
            "ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {d};",
            t.sql,
            c.pg()
        ),
        None => format!(
            "ALTER TABLE {} ALTER COLUMN {} DROP DEFAULT;",
            t.sql,
            c.pg()
        ),
    };
    let mut ex = phase(
        PhaseKind::Expand,
        match default {
            Some(d) => format!("Set the default of {}.{c} to {d}", t.q),
            None => format!("Drop the default of {}.{c}", t.q),
        },
        "catalog only: existing rows keep their values; later inserts that omit the column get the new default",
    );
    ex.app = vec![app("v1", &[], &[])];
    ex.forward = vec![p.brief(vec![set(default)])];
    ex.rollback = vec![p.brief(vec![set(current.flatten().as_deref())])];
    ex.validation.push(check(
        format!(
            "SELECT count(*) FROM pg_attribute WHERE attrelid = {} AND attname = {} AND atthasdef = {}",
            sql::regclass(&t.sql),
            literal_pg(c.as_str()),
            default.is_some()
        ),
        "1",
        "the default is in place",
    ));
    ex.advance_when.push("done".into());
    ex.abort_when.push("the statement gives up after its retries: find the blocking transaction in pg_stat_activity".into());
    ex.rollback_point = "restore the previous default".into();
    Ok(vec![ex])
}

pub(super) fn backfill_only(
    p: &mut Planner,
    table: &str,
    column: &str,
    fill: &Fill,
    predicate: Option<&str>,
) -> R<Vec<Phase>> {
    let t = p.table(table)?;
    let c = p.ident("column", column)?;
    if let Fill::Lookup {
        table: src,
        local_key: None,
        ..
    } = fill
    {
        p.assume(format!(
            "{}.{}_id points at {src}.id (give fill.local_key / fill.remote_key otherwise)",
            t.q,
            singular(src)
        ));
    }
    let local_default = match fill {
        Fill::Lookup { table: src, .. } => format!("{}_id", singular(src)),
        _ => String::new(),
    };
    let (body, remaining, strategy) = fill_body(&t, &c, fill, &local_default)?;
    // The app already sets the column on the rows it writes (that is why
    // only existing rows need the backfill, and what the validate phase
    // relies on): its lists say so.
    let written = [format!("{}.{c}", t.q)];
    let (body, remaining): (BatchBody, String) = match predicate {
        Some(pr) => {
            let pr = pr.to_string();
            let pr2 = pr.clone();
            (
                Box::new(move |lo, hi| format!("{} AND ({pr})", body(lo, hi))),
                format!("{remaining} AND ({pr2})"),
            )
        }
        None => (body, remaining),
    };
    let backup = object_name(&["schemashift_backup", t.q.name.as_str(), c.as_str()]);
    let key_list = names(
        &t.key_cols
            .iter()
            .map(|(k, _)| k.clone())
            .collect::<Vec<_>>(),
    )
    .join(", ");
    let backup_q = match &t.q.schema {
        Some(s) => format!("{}.{}", s.pg(), quote_pg(&backup)),
        None => quote_pg(&backup),
    };
    let kb = p.keyset(
        &t,
        &[c.as_str()],
        body.as_ref(),
        remaining.clone(),
        &strategy,
    )?;
    let mut bf = p.backfill_phase(
        &kb,
        &remaining,
        &format!("Backfill {}.{}", t.q, c),
        vec![app("v1", &[], &written)],
    );
    bf.forward.insert(
        0,
        p.step(
            format!(
                "CREATE TABLE {backup_q} AS SELECT {key}, {cp} FROM {tsql};",
                key = key_list,
                cp = c.pg(),
                tsql = t.sql
            ),
            true,
            Lock::AccessShare,
            Duration::Statement,
        ),
    );
    bf.forward.insert(
        1,
        p.step(
            format!("ALTER TABLE {backup_q} ADD PRIMARY KEY ({key_list});"),
            true,
            Lock::None,
            Duration::IndexBuild,
        ),
    );
    let (tsql, tkey, cp, bq) = (t.sql.clone(), t.key_sql_at("t."), c.pg(), backup_q.clone());
    let join = t
        .key_cols
        .iter()
        .map(|(k, _)| format!("b.{k} = t.{k}", k = k.pg()))
        .collect::<Vec<_>>()
        .join(" AND ");
    let restore = keyset_backfill(
        p.s,
        &object_name(&["schemashift_restore", t.q.name.as_str(), c.as_str()]),
        &t.sql,
        &t.keyset_key(),
        &move |lo, hi| {
            format!("UPDATE {tsql} AS t SET {cp} = b.{cp} FROM {bq} AS b WHERE {join} AND {tkey} >= {lo} AND {tkey} <= {hi} AND t.{cp} IS DISTINCT FROM b.{cp}")
        },
    );
    bf.rollback = vec![
        p.step(kb.drop.clone(), true, Lock::None, Duration::Brief),
        p.step(restore.procedure, true, Lock::None, Duration::Brief),
        p.step(restore.call, false, Lock::RowExclusive, Duration::Statement),
        p.step(restore.drop, true, Lock::None, Duration::Brief),
        p.step(
            format!("DROP TABLE IF EXISTS {backup_q};"),
            true,
            Lock::None,
            Duration::Brief,
        ),
    ];
    bf.rollback_point =
        format!("restore the previous values from {backup} in batches (the rollback does this)");
    let mut val = phase(
        PhaseKind::Validate,
        format!("Prove {}.{} is filled", t.q, c),
        "no row is left to do, and app writes keep it so",
    );
    val.app = vec![app("v1", &[], &written)];
    val.validation.push(check(
        format!("SELECT ({remaining})"),
        "0",
        "no row is left to do",
    ));
    val.advance_when
        .push("the count stays 0 across a business cycle (writers keep the column right)".into());
    val.abort_when.push(
        "the count grows again: a writer does not set the column; fix it, rerun the backfill"
            .into(),
    );
    val.rollback_point = "roll back the backfill phase to restore the old values".into();
    let mut con = phase(
        PhaseKind::Contract,
        format!("Drop the backup table {backup}"),
        "release the space once the new values are trusted",
    );
    con.app = vec![app("v1", &[], &written)];
    con.forward = vec![p.step(
        format!("DROP TABLE {backup_q};"),
        true,
        Lock::None,
        Duration::Brief,
    )];
    con.validation.push(check(
        format!(
            "SELECT count(*) FROM pg_class WHERE oid = to_regclass({})",
            literal_pg(&backup_q)
        ),
        "0",
        "the backup is gone",
    ));
    con.data_loss = Some(format!(
        "the previous values of {}.{} kept in {backup} are deleted",
        t.q, c
    ));
    con.advance_when.push("done".into());
    con.abort_when
        .push("doubts remain about the new values: keep the backup longer".into());
    con.rollback_point = "none after the drop".into();
    Ok(vec![bf, val, con])
}
