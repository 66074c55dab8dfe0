//! Reshaping columns within one table: rename, split and merge, all by a
//! shadow column kept in sync, a backfill and a cutover.

use super::*;

/// Expand/contract phases shared by rename, split and merge of columns.
pub(super) struct Reshape<'a> {
    pub(super) t: &'a T,
    pub(super) label: &'a str,
    pub(super) old: Vec<Ident>,
    pub(super) new: Vec<Ident>,
    pub(super) add_new: Vec<String>,
    pub(super) to_new: Vec<String>,
    pub(super) to_old: Vec<String>,
    pub(super) what: String,
}

pub(super) fn reshape_same_table(p: &mut Planner, r: Reshape) -> R<Vec<Phase>> {
    let t = r.t;
    let old_names = qualified(t, &r.old);
    let new_names = qualified(t, &r.new);
    let trigger = p.s.dual_write == DualWrite::Trigger;
    let (v_reads, v_writes) = if trigger { ("v2", "v3") } else { ("v3", "v4") };
    let bf_title = format!("Backfill {}", new_names.join(", "));
    let val_title = format!(
        "Prove {} matches {}",
        new_names.join(", "),
        old_names.join(", ")
    );
    let cr_title = format!("Release {v_reads}: reads {}", new_names.join(", "));
    let cw_title = format!(
        "Release {v_writes}: reads and writes {} only",
        new_names.join(", ")
    );
    let con_title = format!("Drop {}", old_names.join(", "));
    let mut ex = phase(
        PhaseKind::Expand,
        format!("Add {}", new_names.join(", ")),
        format!(
            "add the new shape beside the old one{}",
            if trigger {
                ", kept in sync both ways by a trigger"
            } else {
                ""
            }
        ),
    );
    ex.app = vec![app("v1", &old_names, &old_names)];
    let mut drop_new: Vec<String> = r
        .new
        .iter()
        .map(|c| format!("ALTER TABLE {} DROP COLUMN IF EXISTS {};", t.sql, c.pg()))
        .collect();
    ex.forward = vec![p.brief(r.add_new.clone())];
    let (create_fn, create_trig, drop_trig) =
        p.same_row_sync(t, r.label, &r.old, &r.new, &r.to_new, &r.to_old);
    if trigger {
        ex.forward.push(create_fn);
        ex.forward.push(create_trig);
        ex.rollback.push(drop_trig);
    }
    ex.rollback.push(p.brief(std::mem::take(&mut drop_new)));
    for c in &r.new {
        ex.validation.push(check(
            sql::column_exists(&t.sql, c.as_str()),
            "1",
            format!("{c} exists"),
        ));
    }
    ex.advance_when.push("the new columns exist".into());
    ex.rollback_point = "drop the new columns (and the trigger); v1 never saw them".into();
    let mut phases = vec![ex];
    let both: Vec<String> = old_names.iter().chain(&new_names).cloned().collect();
    if !trigger {
        let mut dep = phase(
            PhaseKind::Deploy,
            format!(
                "Release v2: reads {}, writes both shapes",
                old_names.join(", ")
            ),
            "the application keeps old and new in sync on every write",
        );
        dep.app = vec![
            app("v1", &old_names, &old_names),
            app("v2", &old_names, &both),
        ];
        dep.advance_when.push("every instance runs v2: rows written by v1 after the backfill would otherwise leave the new shape stale".into());
        dep.rollback_point = "redeploy v1".into();
        dep.abort_when.push("v2 fails writes: redeploy v1".into());
        phases.push(dep);
    }
    if p.outline {
        key_usable(t)?;
        return Ok(outlined(
            phases,
            vec![
                (PhaseKind::Backfill, bf_title),
                (PhaseKind::Validate, val_title),
                (PhaseKind::CutoverReads, cr_title),
                (PhaseKind::CutoverWrites, cw_title),
                (PhaseKind::Contract, con_title),
            ],
        ));
    }
    let diff = format!(
        "SELECT count(*) FROM {} WHERE ROW({}) IS DISTINCT FROM ROW({})",
        t.sql,
        names(&r.new).join(", "),
        r.to_new.join(", ")
    );
    let (tsql, key) = (t.sql.clone(), t.key_sql());
    let set = r
        .new
        .iter()
        .zip(&r.to_new)
        .map(|(c, e)| format!("{} = {e}", c.pg()))
        .collect::<Vec<_>>()
        .join(", ");
    let newrow = names(&r.new).join(", ");
    let exprs = r.to_new.join(", ");
    let kb = p.keyset(
        t,
        &[r.label],
        &move |lo, hi| format!("UPDATE {tsql} SET {set} WHERE {key} >= {lo} AND {key} <= {hi} AND ROW({newrow}) IS DISTINCT FROM ROW({exprs})"),
        diff.clone(),
        &format!("keyset batches by primary key; each batch derives {} from {} where they differ", r.new.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", "), r.old.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")),
    )?;
    let live = if trigger {
        vec![app("v1", &old_names, &old_names)]
    } else {
        vec![app("v2", &old_names, &both)]
    };
    phases.push(p.backfill_phase(&kb, &diff, &bf_title, live.clone()));
    let mut val = phase(
        PhaseKind::Validate,
        val_title,
        "the new shape equals the old for every row; carry over constraints",
    );
    val.app = live;
    val.validation.push(check(
        diff.clone(),
        "0",
        "no row differs between the old and new shapes",
    ));
    for c in &r.old {
        if r.old.len() == 1 && r.new.len() == 1 && t.col(c).is_some_and(|col| col.not_null) {
            let (fwd, rb) = p.enforce_not_null(t, &r.new[0]);
            val.forward.extend(fwd);
            val.rollback.extend(rb);
            val.validation.push(check(
                sql::column_not_null(&t.sql, r.new[0].as_str()),
                "1",
                format!("{} is NOT NULL like {c}", r.new[0]),
            ));
        }
        if let (Some(d), true) = (
            t.col(c).and_then(|col| col.default.clone()),
            r.old.len() == 1 && r.new.len() == 1,
        ) {
            val.forward.push(p.brief(vec![format!(
                "ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {d};",
                t.sql,
                r.new[0].pg()
            )]));
            val.rollback.insert(
                0,
                p.brief(vec![format!(
                    "ALTER TABLE {} ALTER COLUMN {} DROP DEFAULT;",
                    t.sql,
                    r.new[0].pg()
                )]),
            );
        }
    }
    if r.old.len() == 1 && r.new.len() == 1 {
        if let Some(info) = &t.info {
            for (i, idx) in info
                .indexes
                .iter()
                .filter(|ix| ix.columns.len() == 1 && ix.columns[0] == r.old[0].pg())
                .enumerate()
            {
                let name = object_name(&[
                    t.q.name.as_str(),
                    r.new[0].as_str(),
                    if idx.unique { "key" } else { "idx" },
                    &i.to_string(),
                ]);
                let (create, drop) = p.cic(t, &name, idx.unique, &r.new[0].pg(), None, None);
                val.forward.push(create);
                val.rollback.insert(0, drop);
                val.validation.push(check(
                    sql::index_valid(t.schema(), &name),
                    "1",
                    format!("the copy of index {} on {} is valid", idx.name, r.new[0]),
                ));
            }
        }
    }
    if t.info.is_none() {
        p.assume(format!(
            "no indexes, unique constraints or foreign keys on {} need copying (no schema given)",
            old_names.join(", ")
        ));
    }
    val.advance_when
        .push("the difference query returns 0 twice, a few minutes apart".into());
    val.abort_when.push(
        "rows keep differing: a writer bypasses the dual write; find it before going on".into(),
    );
    val.rollback_point =
        "undo the constraint copies; the old shape is still the source of truth".into();
    phases.push(val);
    let mut cr = phase(
        PhaseKind::CutoverReads,
        cr_title,
        format!(
            "switch reads to the new shape while writes still go to {}",
            if trigger {
                "the old one (the trigger copies them)"
            } else {
                "both"
            }
        ),
    );
    let prev = if trigger {
        app("v1", &old_names, &old_names)
    } else {
        app("v2", &old_names, &both)
    };
    cr.app = vec![
        prev.clone(),
        app(
            v_reads,
            &new_names,
            if trigger { &old_names } else { &both },
        ),
    ];
    cr.validation
        .push(check(diff.clone(), "0", "old and new still agree"));
    cr.advance_when.push(format!(
        "every instance runs {v_reads} and reads look right for a full business cycle"
    ));
    cr.abort_when.push(format!("{v_reads} shows wrong or missing values: redeploy the previous version; writes never stopped going to the old shape"));
    cr.rollback_point = "redeploy the previous version: both shapes are in sync".into();
    let mut cw = phase(
        PhaseKind::CutoverWrites,
        cw_title,
        format!(
            "switch writes to the new shape; {}",
            if trigger {
                "the trigger keeps the old one filled for any older instance"
            } else {
                "the old shape stops being written"
            }
        ),
    );
    cw.app = vec![
        app(
            v_reads,
            &new_names,
            if trigger { &old_names } else { &both },
        ),
        app(v_writes, &new_names, &new_names),
    ];
    if !trigger {
        // Rows written by the new-only release have no old value: copy them
        // back before the previous release may read the old shape again.
        let (tsql, key) = (t.sql.clone(), t.key_sql());
        let set = r
            .old
            .iter()
            .zip(&r.to_old)
            .map(|(c, e)| format!("{} = {e}", c.pg()))
            .collect::<Vec<_>>()
            .join(", ");
        let oldrow = names(&r.old).join(", ");
        let exprs = r.to_old.join(", ");
        let back = keyset_backfill(
            p.s,
            &object_name(&["schemashift_restore", t.q.name.as_str(), r.label]),
            &t.sql,
            &t.keyset_key(),
            &move |lo, hi| {
                format!("UPDATE {tsql} SET {set} WHERE {key} >= {lo} AND {key} <= {hi} AND ROW({oldrow}) IS DISTINCT FROM ROW({exprs})")
            },
        );
        cw.rollback
            .push(p.step(back.procedure, true, Lock::None, Duration::Brief));
        cw.rollback
            .push(p.step(back.call, false, Lock::RowExclusive, Duration::Statement));
        cw.rollback
            .push(p.step(back.drop, true, Lock::None, Duration::Brief));
        for c in &r.old {
            match t.col(c).map(|col| col.not_null) {
                Some(true) => {
                    cw.forward.push(p.brief(vec![format!(
                        "ALTER TABLE {} ALTER COLUMN {} DROP NOT NULL;",
                        t.sql,
                        c.pg()
                    )]));
                    let (fwd, _) = p.enforce_not_null(t, c);
                    cw.rollback.extend(fwd);
                }
                Some(false) => {}
                None => cw.validation.push(nullable_gate(p, t, c, v_writes)),
            }
        }
    }
    cw.advance_when.push(format!(
        "every instance runs {v_writes}; nothing writes {} any more",
        old_names.join(", ")
    ));
    cw.abort_when.push(format!(
        "{v_writes} fails writes: redeploy {v_reads}{}",
        if trigger {
            ""
        } else {
            " and rerun the backfill procedure in reverse before trusting the old shape"
        }
    ));
    cw.rollback_point = if trigger {
        format!("redeploy {v_reads}: the trigger kept the old shape current")
    } else {
        format!("redeploy {v_reads}; rows written by {v_writes} must be copied back to the old shape first")
    };
    phases.push(cr);
    phases.push(cw);
    let mut con = phase(
        PhaseKind::Contract,
        con_title,
        "remove the old shape and the sync machinery",
    );
    con.app = vec![app(v_writes, &new_names, &new_names)];
    // The trigger goes in the same transaction as the old columns: between
    // the two, the app's writes (new shape only) would leave an old NOT NULL
    // column empty and fail.
    let mut contract = if trigger {
        p.same_row_sync_drop(t, r.label)
    } else {
        Vec::new()
    };
    contract.extend(
        r.old
            .iter()
            .map(|c| format!("ALTER TABLE {} DROP COLUMN {};", t.sql, c.pg())),
    );
    con.forward.push(p.brief(contract));
    for c in &r.old {
        con.validation.push(check(
            sql::column_exists(&t.sql, c.as_str()),
            "0",
            format!("{c} is gone"),
        ));
    }
    con.data_loss = Some(format!(
        "{} is dropped; its data lives on in {} ({})",
        old_names.join(", "),
        new_names.join(", "),
        r.what
    ));
    con.advance_when.push("done".into());
    con.abort_when.push(format!(
        "anything still reads {}: keep it, find the reader",
        old_names.join(", ")
    ));
    con.rollback_point = "none after the drop: the old columns come back only from a backup".into();
    phases.push(con);
    Ok(phases)
}

pub(super) fn rename_column(
    p: &mut Planner,
    table: &str,
    column: &str,
    new_name: &str,
) -> R<Vec<Phase>> {
    let t = p.table(table)?;
    let old = p.ident("column", column)?;
    let new = p.ident("new_name", new_name)?;
    let add = p.add_column_like(&t, &new, &t, &old, None);
    reshape_same_table(
        p,
        Reshape {
            t: &t,
            label: new.as_str(),
            old: vec![old.clone()],
            new: vec![new.clone()],
            add_new: vec![add],
            to_new: vec![old.pg_quoted()],
            to_old: vec![new.pg_quoted()],
            what: "the same values under the new name".into(),
        },
    )
}

pub(super) fn split_column(
    p: &mut Planner,
    table: &str,
    column: &str,
    into: &[ColumnSpec],
) -> R<Vec<Phase>> {
    let t = p.table(table)?;
    let old = p.ident("column", column)?;
    let mut new = Vec::new();
    let mut add = Vec::new();
    let mut to_new = Vec::new();
    for (i, spec) in into.iter().enumerate() {
        let c = p.ident("into.name", &spec.name)?;
        let ty = spec.data_type.clone().unwrap_or_else(|| "text".into());
        if spec.data_type.is_none() {
            p.assume(format!("{}.{c} is text (no type given)", t.q));
        }
        add.push(format!("ALTER TABLE {} ADD COLUMN {} {ty};", t.sql, c.pg()));
        to_new.push(match &spec.expression {
            Some(e) => format!("({e})"),
            None => {
                p.assume(format!("{old} holds comma-separated parts: part {} is trim(split_part({old}, ',', {}))", i + 1, i + 1));
                format!("nullif(trim(split_part({}, ',', {})), '')", old.pg(), i + 1)
            }
        });
        new.push(c);
    }
    p.assume(format!(
        "old app versions still writing {old} get the parts derived by the expressions above, and rows written with the parts get {old} = concat_ws(', ', {})",
        new.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
    ));
    let to_old = vec![format!(
        "nullif(concat_ws(', ', {}), '')",
        names(&new).join(", ")
    )];
    let label = format!("split_{}", old.as_str());
    reshape_same_table(
        p,
        Reshape {
            t: &t,
            label: &label,
            old: vec![old],
            new,
            add_new: add,
            to_new,
            to_old,
            what: "split into parts".into(),
        },
    )
}

pub(super) fn merge_columns(
    p: &mut Planner,
    table: &str,
    columns: &[String],
    into: &str,
    ty: Option<&str>,
    expression: Option<&str>,
) -> R<Vec<Phase>> {
    let t = p.table(table)?;
    let old: Vec<Ident> = columns
        .iter()
        .map(|c| p.ident("columns", c))
        .collect::<R<_>>()?;
    let new = p.ident("into", into)?;
    let ty = ty.unwrap_or("text");
    let to_new = match expression {
        Some(e) => format!("({e})"),
        None => {
            p.assume(format!(
                "{new} = concat_ws(' ', {}) (no expression given)",
                names(&old).join(", ")
            ));
            format!("nullif(concat_ws(' ', {}), '')", names(&old).join(", "))
        }
    };
    let n = old.len();
    // A value with fewer words than columns leaves the last ones empty: a
    // NOT NULL text column gets '' there, or the trigger would fail the
    // write of a one-word value.
    let required_text = |c: &Ident| {
        t.col(c).is_some_and(|col| {
            let ty = col.data_type.to_ascii_lowercase();
            col.not_null
                && ["text", "character", "varchar", "char", "citext"]
                    .iter()
                    .any(|p| ty.starts_with(p))
        })
    };
    let to_old: Vec<String> = old
        .iter()
        .enumerate()
        .map(|(k, c)| {
            let i = k + 1;
            let part = if i < n {
                format!("nullif(split_part({}, ' ', {i}), '')", new.pg())
            } else {
                format!(
                    "nullif(array_to_string((string_to_array({}, ' '))[{i}:], ' '), '')",
                    new.pg()
                )
            };
            if required_text(c) {
                format!("coalesce({part}, '')")
            } else {
                part
            }
        })
        .collect();
    p.assume(format!("rows written with only {new} get the old columns back by splitting on spaces (the last one takes the rest)"));
    if old.iter().any(required_text) {
        p.assume(format!(
            "a value of {new} with fewer words than columns leaves the NOT NULL ones empty ('')"
        ));
    }
    let label = format!("merge_{}", new.as_str());
    reshape_same_table(
        p,
        Reshape {
            t: &t,
            label: &label,
            old,
            new: vec![new.clone()],
            add_new: vec![format!(
                "ALTER TABLE {} ADD COLUMN {} {ty};",
                t.sql,
                new.pg()
            )],
            to_new: vec![to_new],
            to_old,
            what: "merged into one column".into(),
        },
    )
}
