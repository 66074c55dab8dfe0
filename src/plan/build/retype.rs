//! Changing a column's type: in place when the change is binary-coercible,
//! otherwise by a shadow column, a sync trigger, a backfill and a swap.

use super::convert::Conversion;
use super::*;

pub(super) fn change_type(
    p: &mut Planner,
    pattern: Pattern,
    table: &str,
    column: &str,
    from_type: Option<&str>,
    to_type: &str,
    using: Option<&str>,
) -> R<Vec<Phase>> {
    let t = p.table(table)?;
    let c = p.ident("column", column)?;
    let from = from_type
        .map(str::to_string)
        .or_else(|| t.col(&c).map(|col| col.data_type.clone()));
    if pattern == Pattern::InstantDdl {
        let Some(from) = from else {
            return Err(invalid("the current type is needed to undo the change"));
        };
        let mut ex = phase(
            PhaseKind::Expand,
            format!("Change {}.{} to {to_type} in place", t.q, c),
            "a binary-coercible type change: catalog only, no rewrite, indexes kept",
        );
        ex.app = vec![app("v1", &[], &[])];
        ex.forward = vec![p.brief(vec![format!(
            "ALTER TABLE {} ALTER COLUMN {} TYPE {to_type};",
            t.sql,
            c.pg()
        )])];
        // Going back would narrow the type: a rewrite under ACCESS EXCLUSIVE
        // that fails on longer values. Every old value fits the new type, so
        // the safe rollback is to keep it.
        ex.validation = vec![check(
            format!(
                "SELECT count(*) FROM pg_attribute WHERE attrelid = {} AND attname = {} AND format_type(atttypid, atttypmod) = format_type({}::regtype, {})",
                sql::regclass(&t.sql),
                literal_pg(c.as_str()),
                literal_pg(to_type),
                typmod_sql(to_type)
            ),
            "1",
            "the column has the new type",
        )];
        ex.advance_when.push("the column has the new type; restart or re-prepare app connections that cached plans selecting it".into());
        ex.abort_when.push("the statement gives up after its retries: find the blocking transaction in pg_stat_activity".into());
        ex.rollback_point = format!("none needed: every value written as {from} still fits {to_type}, and old app versions read it unchanged; changing it back would rewrite the table");
        return Ok(vec![ex]);
    }
    // Checked before anything is built, so that an outline fails as the
    // whole plan does.
    let is_pk = t.key_cols.iter().any(|(k, _)| k == &c) && (t.info.is_some() || t.key_assumed);
    if is_pk {
        return retype_key::change_key_type(p, t, c, from_type, to_type, using);
    }
    let shadow = p.derived("shadow column", &[c.as_str(), "new"])?;
    let old_name = p.derived("old column", &[c.as_str(), "old"])?;
    let bf_title = format!("Backfill {}.{shadow}", t.q);
    let val_title = format!("Prove {shadow} equals {c} converted");
    let sw_title = format!("Swap {c} and {shadow} in one short transaction");
    let con_title = format!("Drop {old_name} and the sync trigger");
    let conversion = Conversion::new(&t.q, &c, from.as_deref(), to_type, using).map_err(invalid)?;
    // Only an exact inverse pair may sync values back into the old column
    // the live app reads; anything else keeps it authoritative.
    if !conversion.invertible() {
        return by_release(
            p,
            &t,
            Retype {
                c: &c,
                shadow: &shadow,
                from: from.as_deref(),
                to_type,
                conversion: &conversion,
            },
        );
    }
    let conv = conversion.to_new(&c.pg()).map_err(invalid)?;
    let to_new_from = |src: &Ident| conversion.to_new(&format!("r.{}", src.pg()));
    let to_old_from = |src: &Ident| {
        conversion
            .to_old(&format!("r.{}", src.pg()))
            .ok_or_else(|| invalid("an invertible conversion has a way back"))
    };
    let trigger_on = p.s.dual_write;
    if trigger_on == DualWrite::App {
        p.assume("the column swap is done by renames in the database, so the app never writes two columns: the sync is a trigger even with dual_write = app".to_string());
    }
    let mut ex = phase(
        PhaseKind::Expand,
        format!("Add shadow column {}.{shadow} {to_type} kept in sync", t.q),
        "a new column of the new type, filled by a trigger on every write",
    );
    ex.app = vec![app(
        "v1",
        &[format!("{}.{c}", t.q)],
        &[format!("{}.{c}", t.q)],
    )];
    let (fn_create, trig_create, trig_drop) = p.same_row_sync(
        &t,
        "retype",
        std::slice::from_ref(&c),
        std::slice::from_ref(&shadow),
        &[to_new_from(&c).map_err(invalid)?],
        &[to_old_from(&shadow)?],
    );
    ex.forward = vec![
        p.brief(vec![format!(
            "ALTER TABLE {} ADD COLUMN {} {to_type};",
            t.sql,
            shadow.pg()
        )]),
        fn_create,
        trig_create,
    ];
    p.shadow_expand_checks(&mut ex, &t, &shadow, trig_drop);
    ex.rollback_point = "drop the trigger and the shadow column".into();
    if p.outline {
        key_usable(&t)?;
        return Ok(outlined(
            vec![ex],
            vec![
                (PhaseKind::Backfill, bf_title),
                (PhaseKind::Validate, val_title),
                (PhaseKind::CutoverWrites, sw_title),
                (PhaseKind::Contract, con_title),
            ],
        ));
    }
    let diff = format!(
        "SELECT count(*) FROM {} WHERE {} IS DISTINCT FROM {conv}",
        t.sql,
        shadow.pg()
    );
    let (tsql, key, sp, cv) = (t.sql.clone(), t.key_sql(), shadow.pg(), conv.clone());
    let kb = p.keyset(&t, &[c.as_str(), "retype"], &move |lo, hi| format!("UPDATE {tsql} SET {sp} = {cv} WHERE {key} >= {lo} AND {key} <= {hi} AND {sp} IS DISTINCT FROM {cv}"), diff.clone(), "keyset batches by primary key; each batch converts rows whose shadow value differs")?;
    let bf = p.backfill_phase(
        &kb,
        &diff,
        &bf_title,
        vec![app("v1", &[], &[format!("{}.{c}", t.q)])],
    );
    let mut val = phase(
        PhaseKind::Validate,
        val_title,
        "every row converted, constraints copied to the shadow column",
    );
    val.app = vec![app("v1", &[], &[])];
    val.validation
        .push(check(diff.clone(), "0", "every row converted"));
    let col_info = t.col(&c).cloned();
    copy_constraints(p, &t, &c, &shadow, &mut val);
    val.advance_when
        .push("the difference query returns 0".into());
    val.abort_when.push(
        "rows fail to convert or keep differing: fix the values (or the USING expression) first"
            .into(),
    );
    val.rollback_point = "drop the copied constraints; nothing uses the shadow column".into();
    let mut sw = phase(
        PhaseKind::CutoverWrites,
        sw_title,
        "the column name now points at the new type; the old values stay as the rollback",
    );
    sw.app = vec![app(
        "v1",
        &[format!("{}.{c}", t.q)],
        &[format!("{}.{c}", t.q)],
    )];
    let mut swap = vec![
        format!(
            "ALTER TABLE {} RENAME COLUMN {} TO {};",
            t.sql,
            c.pg(),
            old_name.pg()
        ),
        format!(
            "ALTER TABLE {} RENAME COLUMN {} TO {};",
            t.sql,
            shadow.pg(),
            c.pg()
        ),
    ];
    let mut unswap = vec![
        format!(
            "ALTER TABLE {} RENAME COLUMN {} TO {};",
            t.sql,
            c.pg(),
            shadow.pg()
        ),
        format!(
            "ALTER TABLE {} RENAME COLUMN {} TO {};",
            t.sql,
            old_name.pg(),
            c.pg()
        ),
    ];
    if let Some(d) = col_info.as_ref().and_then(|ci| ci.default.clone()) {
        swap.push(format!(
            "ALTER TABLE {} ALTER COLUMN {} DROP DEFAULT;",
            t.sql,
            old_name.pg()
        ));
        swap.push(format!(
            "ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {d};",
            t.sql,
            c.pg()
        ));
        unswap.insert(
            0,
            format!(
                "ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {d};",
                t.sql,
                old_name.pg()
            ),
        );
        unswap.insert(
            0,
            format!(
                "ALTER TABLE {} ALTER COLUMN {} DROP DEFAULT;",
                t.sql,
                c.pg()
            ),
        );
    }
    if col_info.as_ref().is_some_and(|ci| ci.not_null) {
        swap.push(format!(
            "ALTER TABLE {} ALTER COLUMN {} DROP NOT NULL;",
            t.sql,
            old_name.pg()
        ));
    }
    // The sync trigger names its columns: in the same transaction, make it
    // sync the new names (a value that no longer fits the old type leaves
    // the old column NULL, so the rollback's NOT NULL check stops a lossy
    // rollback instead of failing the app's write), and back on rollback.
    let func_sql = sync_function_name(&t, "retype");
    let sync_between = |old: &Ident, new: &Ident, lenient: bool| -> R<String> {
        Ok(sync_function(
            &func_sql,
            "CREATE OR REPLACE",
            std::slice::from_ref(old),
            std::slice::from_ref(new),
            &[to_new_from(old).map_err(invalid)?],
            &[to_old_from(new)?],
            lenient,
        ))
    };
    swap.push(sync_between(&old_name, &c, true)?);
    unswap.push(sync_between(&c, &shadow, false)?);
    sw.forward = vec![p.brief(swap)];
    if col_info.as_ref().is_some_and(|ci| ci.not_null) {
        let (fwd, _) = p.enforce_not_null_as(&t, &old_name, &c);
        sw.rollback.extend(fwd);
    }
    sw.rollback.push(p.brief(unswap));
    sw.validation.push(check(
        format!(
            "SELECT count(*) FROM {} WHERE {}",
            t.sql,
            conversion
                .differs(&old_name.pg(), &c.pg())
                .map_err(invalid)?
        ),
        "0",
        "the swapped columns agree",
    ));
    sw.advance_when.push("app error rates are normal; restart or re-prepare connections whose cached plans selected the column (\"cached plan must not change result type\")".into());
    sw.abort_when.push("the app fails on the new type: run the rollback (renames back); the trigger kept both columns in sync".into());
    sw.rollback_point =
        "rename the columns back; the same transaction points the sync trigger at the old names again".into();
    let mut con = phase(
        PhaseKind::Contract,
        con_title,
        "remove the old values once the new type has run for a full business cycle",
    );
    con.app = vec![app(
        "v1",
        &[format!("{}.{c}", t.q)],
        &[format!("{}.{c}", t.q)],
    )];
    // One transaction: with the trigger gone first, app writes would leave
    // a NOT NULL old copy empty and fail until the column is dropped.
    let mut contract = p.same_row_sync_drop(&t, "retype");
    contract.push(format!(
        "ALTER TABLE {} DROP COLUMN {};",
        t.sql,
        old_name.pg()
    ));
    con.forward = vec![p.brief(contract)];
    con.validation.push(check(
        sql::column_exists(&t.sql, old_name.as_str()),
        "0",
        "the old column is gone",
    ));
    con.data_loss = Some(format!(
        "the old-typed copy {old_name} is dropped (the values live on in {c})"
    ));
    con.advance_when.push("done".into());
    con.abort_when
        .push("anything reads the old column: keep it".into());
    con.rollback_point = "none after the drop".into();
    Ok(vec![ex, bf, val, sw, con])
}

/// The shadow column gets the old column's NOT NULL and its single-column
/// indexes, built without blocking the app, in the validate phase.
pub(super) fn copy_constraints(p: &mut Planner, t: &T, c: &Ident, shadow: &Ident, val: &mut Phase) {
    if t.col(c).is_some_and(|ci| ci.not_null) {
        let (fwd, rb) = p.enforce_not_null(t, shadow);
        val.forward.extend(fwd);
        val.rollback.extend(rb);
    }
    if let Some(info) = &t.info {
        for (i, idx) in info
            .indexes
            .iter()
            .filter(|ix| ix.columns.len() == 1 && ix.columns[0] == c.pg())
            .enumerate()
        {
            let name = object_name(&[
                t.q.name.as_str(),
                shadow.as_str(),
                if idx.unique { "key" } else { "idx" },
                &i.to_string(),
            ]);
            let (create, drop) = p.cic(t, &name, idx.unique, &shadow.pg(), None, None);
            val.forward.push(create);
            val.rollback.insert(0, drop);
        }
    } else {
        p.assume(format!(
            "no indexes or constraints on {}.{c} need copying (no schema given)",
            t.q
        ));
    }
}

/// `varchar(255)` -> `255 + 4`, the typmod format_type expects; -1 otherwise.
pub(super) fn typmod_sql(ty: &str) -> String {
    let norm = crate::engine::postgres::normalise_type(ty);
    match (norm.find('('), norm.strip_suffix(')')) {
        (Some(i), Some(inner)) if norm.starts_with("varchar") || norm.starts_with("char") => {
            let n: i64 = inner[i + 1..].trim().parse().unwrap_or(-5);
            (n + 4).to_string()
        }
        (Some(i), Some(inner)) if norm.starts_with("numeric") => {
            let parts: Vec<i64> = inner[i + 1..]
                .split(',')
                .filter_map(|x| x.trim().parse().ok())
                .collect();
            match parts.as_slice() {
                [p] => ((p << 16) + 4).to_string(),
                [p, s] => (((p << 16) | s) + 4).to_string(),
                _ => "-1".into(),
            }
        }
        _ => "-1".into(),
    }
}
