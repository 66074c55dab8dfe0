//! Whole-table changes: create, rename, drop, and moving columns between
//! tables (split and merge of tables).

use super::*;

/// Cross-table moves: columns of `src` copied to `dst`, rows matched by
/// `dst.dst_key = src.src_key`, kept in sync by a pair of triggers.
pub(super) struct Move<'a> {
    pub(super) src: &'a T,
    pub(super) src_key: Ident,
    pub(super) dst: &'a T,
    pub(super) dst_key: Ident,
    pub(super) cols: Vec<Ident>,
    /// The destination table is new (split_table): rows are upserted.
    pub(super) dst_is_new: bool,
    pub(super) create_dst: Vec<Step>,
    pub(super) drop_dst: Vec<Step>,
    /// What the contract removes: the source columns, or the whole source table.
    pub(super) contract_drops_table: bool,
    pub(super) label: String,
}

pub(super) fn move_between_tables(p: &mut Planner, m: Move) -> R<Vec<Phase>> {
    let (src, dst) = (m.src, m.dst);
    let src_names = qualified(src, &m.cols);
    let dst_names = qualified(dst, &m.cols);
    let trigger = p.s.dual_write == DualWrite::Trigger;
    let mut ex = phase(
        PhaseKind::Expand,
        format!("Add {}", dst_names.join(", ")),
        format!(
            "create the new home of the data{}",
            if trigger {
                ", kept in sync both ways by triggers"
            } else {
                ""
            }
        ),
    );
    ex.app = vec![app("v1", &src_names, &src_names)];
    ex.forward = m.create_dst.clone();
    let (f1, t1, d1) = p.push_trigger(
        &format!("{}_fwd", m.label),
        src,
        &m.src_key,
        &m.cols,
        dst,
        &m.dst_key,
        &m.cols,
        m.dst_is_new,
    );
    let (f2, t2, d2) = p.push_trigger(
        &format!("{}_back", m.label),
        dst,
        &m.dst_key,
        &m.cols,
        src,
        &m.src_key,
        &m.cols,
        false,
    );
    if trigger {
        ex.forward.extend([f1, t1, f2, t2]);
        ex.rollback = vec![d2.clone(), d1.clone()];
    }
    ex.rollback.extend(m.drop_dst.clone());
    for c in &m.cols {
        ex.validation.push(check(
            sql::column_exists(&dst.sql, c.as_str()),
            "1",
            format!("{}.{c} exists", dst.q),
        ));
    }
    ex.advance_when.push("the new columns exist".into());
    ex.rollback_point = "drop the new columns and triggers; v1 never saw them".into();
    let mut phases = vec![ex];
    let both: Vec<String> = src_names.iter().chain(&dst_names).cloned().collect();
    if !trigger {
        let mut dep = phase(
            PhaseKind::Deploy,
            format!(
                "Release v2: reads {}, writes both places",
                src_names.join(", ")
            ),
            "the application keeps both copies in sync on every write",
        );
        dep.app = vec![
            app("v1", &src_names, &src_names),
            app("v2", &src_names, &both),
        ];
        dep.advance_when.push("every instance runs v2".into());
        dep.rollback_point = "redeploy v1".into();
        dep.abort_when.push("v2 fails writes: redeploy v1".into());
        phases.push(dep);
    }
    let srow = |a: &str| {
        format!(
            "ROW({})",
            m.cols
                .iter()
                .map(|c| format!("{a}.{}", c.pg()))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let diff = if m.dst_is_new {
        format!(
            "SELECT count(*) FROM {} AS s LEFT JOIN {} AS d ON d.{} = s.{} WHERE d.{} IS NULL OR {} IS DISTINCT FROM {}",
            src.sql, dst.sql, m.dst_key.pg(), m.src_key.pg(), m.dst_key.pg(), srow("d"), srow("s")
        )
    } else {
        format!(
            "SELECT count(*) FROM {} AS d JOIN {} AS s ON s.{} = d.{} WHERE {} IS DISTINCT FROM {}",
            dst.sql,
            src.sql,
            m.src_key.pg(),
            m.dst_key.pg(),
            srow("d"),
            srow("s")
        )
    };
    let (ssql, dsql, sk, dk) = (
        src.sql.clone(),
        dst.sql.clone(),
        m.src_key.pg(),
        m.dst_key.pg(),
    );
    let colnames = names(&m.cols);
    let kb = if m.dst_is_new {
        let (skey, cols) = (src.key.pg(), colnames.clone());
        let srow_s = srow("s");
        let excluded = format!(
            "ROW({})",
            cols.iter()
                .map(|c| format!("EXCLUDED.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let drow = format!(
            "ROW({})",
            cols.iter()
                .map(|c| format!("d.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = srow_s;
        p.keyset(
            src,
            &[m.label.as_str()],
            &move |lo, hi| {
                format!(
                    "INSERT INTO {dsql} AS d ({dk}, {c}) SELECT s.{sk}, {sc} FROM {ssql} AS s WHERE s.{skey} >= {lo} AND s.{skey} <= {hi} ON CONFLICT ({dk}) DO UPDATE SET {set} WHERE {drow} IS DISTINCT FROM {excluded}",
                    c = cols.join(", "),
                    sc = cols.iter().map(|c| format!("s.{c}")).collect::<Vec<_>>().join(", "),
                    set = cols.iter().map(|c| format!("{c} = EXCLUDED.{c}")).collect::<Vec<_>>().join(", "),
                )
            },
            diff.clone(),
            "keyset batches over the source table by primary key; each batch upserts rows that are missing or differ",
        )?
    } else {
        let dkey = dst.key.pg();
        let cols = colnames.clone();
        let (drow, srow_s) = (srow("d"), srow("s"));
        p.keyset(
            dst,
            &[m.label.as_str()],
            &move |lo, hi| {
                format!(
                    "UPDATE {dsql} AS d SET {set} FROM {ssql} AS s WHERE s.{sk} = d.{dk} AND d.{dkey} >= {lo} AND d.{dkey} <= {hi} AND {drow} IS DISTINCT FROM {srow_s}",
                    set = cols.iter().map(|c| format!("{c} = s.{c}")).collect::<Vec<_>>().join(", "),
                )
            },
            diff.clone(),
            "keyset batches over the destination table by primary key; each batch copies values that differ",
        )?
    };
    let live = if trigger {
        vec![app("v1", &src_names, &src_names)]
    } else {
        vec![app("v2", &src_names, &both)]
    };
    phases.push(p.backfill_phase(
        &kb,
        &diff,
        &format!("Backfill {}", dst_names.join(", ")),
        live.clone(),
    ));
    let mut val = phase(
        PhaseKind::Validate,
        format!(
            "Prove {} matches {}",
            dst_names.join(", "),
            src_names.join(", ")
        ),
        "both copies agree for every row",
    );
    val.app = live;
    val.validation
        .push(check(diff.clone(), "0", "no row differs or is missing"));
    if !m.dst_is_new {
        val.validation.push(check(
            format!("SELECT count(*) FROM {} AS s WHERE NOT EXISTS (SELECT 1 FROM {} AS d WHERE d.{} = s.{})", src.sql, dst.sql, m.dst_key.pg(), m.src_key.pg()),
            "0",
            format!("every row of {} has a row in {} to receive its values", src.q, dst.q),
        ));
    }
    val.advance_when
        .push("the difference query returns 0 twice, a few minutes apart".into());
    val.abort_when
        .push("rows keep differing: a writer bypasses the sync; find it".into());
    val.rollback_point = "nothing changed here; roll back earlier phases to undo".into();
    phases.push(val);
    let v_reads = if trigger { "v2" } else { "v3" };
    let v_writes = if trigger { "v3" } else { "v4" };
    let prev = if trigger {
        app("v1", &src_names, &src_names)
    } else {
        app("v2", &src_names, &both)
    };
    let mut cr = phase(
        PhaseKind::CutoverReads,
        format!("Release {v_reads}: reads {}", dst_names.join(", ")),
        "switch reads to the new home while writes still reach the old one",
    );
    cr.app = vec![
        prev,
        app(
            v_reads,
            &dst_names,
            if trigger { &src_names } else { &both },
        ),
    ];
    cr.validation
        .push(check(diff.clone(), "0", "both copies still agree"));
    cr.advance_when
        .push(format!("every instance runs {v_reads}"));
    cr.abort_when
        .push("reads look wrong: redeploy the previous version".into());
    cr.rollback_point = "redeploy the previous version".into();
    let mut cw = phase(
        PhaseKind::CutoverWrites,
        format!(
            "Release {v_writes}: reads and writes {} only",
            dst_names.join(", ")
        ),
        "switch writes to the new home",
    );
    cw.app = vec![
        app(
            v_reads,
            &dst_names,
            if trigger { &src_names } else { &both },
        ),
        app(v_writes, &dst_names, &dst_names),
    ];
    cw.advance_when.push(format!(
        "every instance runs {v_writes}; nothing writes {} any more",
        src_names.join(", ")
    ));
    cw.abort_when
        .push(format!("{v_writes} fails writes: redeploy {v_reads}"));
    cw.rollback_point = if trigger {
        format!("redeploy {v_reads}: the triggers kept the old copy current")
    } else {
        format!("redeploy {v_reads} after copying rows written by {v_writes} back")
    };
    phases.push(cr);
    phases.push(cw);
    let mut con = phase(
        PhaseKind::Contract,
        if m.contract_drops_table {
            format!("Drop {}", src.q)
        } else {
            format!("Drop {}", src_names.join(", "))
        },
        "remove the old copy and the sync triggers",
    );
    con.app = vec![app(v_writes, &dst_names, &dst_names)];
    if trigger {
        con.forward.extend([d2, d1]);
    }
    if m.contract_drops_table {
        con.forward
            .push(p.brief(vec![format!("DROP TABLE {};", src.sql)]));
        con.validation.push(check(
            format!(
                "SELECT count(*) FROM pg_class WHERE oid = to_regclass({})",
                literal_pg(&src.sql)
            ),
            "0",
            format!("{} is gone", src.q),
        ));
        con.data_loss = Some(format!("{} is dropped with every column not moved", src.q));
    } else {
        con.forward.push(
            p.brief(
                m.cols
                    .iter()
                    .map(|c| format!("ALTER TABLE {} DROP COLUMN {};", src.sql, c.pg()))
                    .collect(),
            ),
        );
        for c in &m.cols {
            con.validation.push(check(
                sql::column_exists(&src.sql, c.as_str()),
                "0",
                format!("{}.{c} is gone", src.q),
            ));
        }
        con.data_loss = Some(format!(
            "{} are dropped; the data lives on in {}",
            src_names.join(", "),
            dst_names.join(", ")
        ));
    }
    con.advance_when.push("done".into());
    con.abort_when
        .push("anything still reads the old copy: keep it".into());
    con.rollback_point = "none after the drop: restore from the backup".into();
    phases.push(con);
    Ok(phases)
}

pub(super) fn move_column(
    p: &mut Planner,
    column: &str,
    from_table: &str,
    to_table: &str,
    ty: Option<&str>,
    key: Option<&str>,
) -> R<Vec<Phase>> {
    let src = p.table(from_table)?;
    let dst = p.table(to_table)?;
    single_key(&src, "moving a column")?;
    single_key(&dst, "moving a column")?;
    let c = p.ident("column", column)?;
    let dst_key = match key {
        Some(k) => p.ident("key", k)?,
        None => {
            let k = format!("{}_id", singular(src.q.name.as_str()));
            p.assume(format!(
                "{}.{k} references {}.{} (one {} row per {} row; give `key` otherwise)",
                dst.q, src.q, src.key, dst.q, src.q
            ));
            p.ident("key", &k)?
        }
    };
    let add = p.add_column_like(&dst, &c, &src, &c, ty);
    let create = vec![p.brief(vec![add])];
    let drop = vec![p.brief(vec![format!(
        "ALTER TABLE {} DROP COLUMN IF EXISTS {};",
        dst.sql,
        c.pg()
    )])];
    let src_key = src.key.clone();
    let label = format!("move_{}", c.as_str());
    move_between_tables(
        p,
        Move {
            src: &src,
            src_key,
            dst: &dst,
            dst_key,
            cols: vec![c],
            dst_is_new: false,
            create_dst: create,
            drop_dst: drop,
            contract_drops_table: false,
            label,
        },
    )
}

pub(super) fn split_table(
    p: &mut Planner,
    table: &str,
    new_table: &str,
    columns: &[String],
    key: Option<&str>,
) -> R<Vec<Phase>> {
    let src = p.table(table)?;
    let nq = QualifiedName::parse("new_table", new_table).map_err(|e| invalid(e.to_string()))?;
    let cols: Vec<Ident> = columns
        .iter()
        .map(|c| p.ident("columns", c))
        .collect::<R<_>>()?;
    let dst_key = match key {
        Some(k) => p.ident("key", k)?,
        None => p.ident("key", &format!("{}_id", singular(src.q.name.as_str())))?,
    };
    single_key(&src, "splitting a table")?;
    let dst = t_keyed(nq.clone(), dst_key.clone(), src.key_type.clone(), None);
    let mut body = vec![match &src.key_type {
        Some(ty) => format!(
            "CREATE TABLE {} ({} {ty} PRIMARY KEY REFERENCES {} ({}) ON DELETE CASCADE);",
            dst.sql,
            dst_key.pg(),
            src.sql,
            src.key.pg()
        ),
        // No schema: the new key takes the source key's type from the catalog.
        None => format!(
            "EXECUTE format('CREATE TABLE %s (%I %s PRIMARY KEY REFERENCES %s (%I) ON DELETE CASCADE)', {}, {}, (SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = {} AND attname = {} AND NOT attisdropped), {}, {});",
            literal_pg(&dst.sql),
            literal_pg(dst_key.as_str()),
            sql::regclass(&src.sql),
            literal_pg(src.key.as_str()),
            literal_pg(&src.sql),
            literal_pg(src.key.as_str())
        ),
    }];
    for c in &cols {
        body.push(p.add_column_like(&dst, c, &src, c, None));
    }
    let create = vec![p.guard(body, Lock::ShareRowExclusive, Duration::Brief)];
    let drop = vec![p.brief(vec![format!("DROP TABLE IF EXISTS {};", dst.sql)])];
    let label = format!("split_{}", nq.name.as_str());
    let src_key = src.key.clone();
    move_between_tables(
        p,
        Move {
            src: &src,
            src_key,
            dst: &dst,
            dst_key,
            cols,
            dst_is_new: true,
            create_dst: create,
            drop_dst: drop,
            contract_drops_table: false,
            label,
        },
    )
}

pub(super) fn merge_tables(
    p: &mut Planner,
    table: &str,
    other: &str,
    columns: &[String],
    key: Option<&str>,
) -> R<Vec<Phase>> {
    let dst = p.table(table)?;
    let src = p.table(other)?;
    single_key(&dst, "merging tables")?;
    single_key(&src, "merging tables")?;
    let cols: Vec<Ident> = columns
        .iter()
        .map(|c| p.ident("columns", c))
        .collect::<R<_>>()?;
    let src_match = match key {
        Some(k) => p.ident("key", k)?,
        None => {
            let k = format!("{}_id", singular(dst.q.name.as_str()));
            p.assume(format!(
                "{}.{k} references {}.{} with at most one row each (give `key` otherwise)",
                src.q, dst.q, dst.key
            ));
            p.ident("key", &k)?
        }
    };
    let mut add = Vec::new();
    for c in &cols {
        add.push(p.add_column_like(&dst, c, &src, c, None));
    }
    let create = vec![p.brief(add)];
    let drop = vec![p.brief(
        cols.iter()
            .map(|c| format!("ALTER TABLE {} DROP COLUMN IF EXISTS {};", dst.sql, c.pg()))
            .collect(),
    )];
    let dst_key = dst.key.clone();
    let label = format!("merge_{}", src.q.name.as_str());
    move_between_tables(
        p,
        Move {
            src: &src,
            src_key: src_match,
            dst: &dst,
            dst_key,
            cols,
            dst_is_new: false,
            create_dst: create,
            drop_dst: drop,
            contract_drops_table: true,
            label,
        },
    )
}

pub(super) fn rename_table(p: &mut Planner, table: &str, new_name: &str) -> R<Vec<Phase>> {
    let old = QualifiedName::parse("table", table).map_err(|e| invalid(e.to_string()))?;
    // A table keeps its schema on rename: only the name part counts.
    let new = QualifiedName::parse("new_name", new_name)
        .map_err(|e| invalid(e.to_string()))?
        .name;
    let new_q = QualifiedName {
        schema: old.schema.clone(),
        name: new.clone(),
    };
    let mut ex = phase(PhaseKind::Expand, format!("Rename {old} to {new} and leave a view named {old}"), "one short transaction: the table gets its new name, and an updatable view keeps the old name working for v1");
    ex.app = vec![app("v1", &[old.to_string()], &[old.to_string()])];
    ex.forward = vec![p.brief(vec![
        format!("ALTER TABLE {} RENAME TO {};", old.pg(), new.pg()),
        format!("CREATE VIEW {} AS SELECT * FROM {};", old.pg(), new_q.pg()),
    ])];
    ex.rollback = vec![p.brief(vec![
        format!("DROP VIEW IF EXISTS {};", old.pg()),
        format!("ALTER TABLE {} RENAME TO {};", new_q.pg(), old.name.pg()),
    ])];
    ex.validation.push(check(
        format!(
            "SELECT count(*) FROM pg_class WHERE oid = to_regclass({}) AND relkind = 'r'",
            literal_pg(&new_q.pg())
        ),
        "1",
        "the table has its new name",
    ));
    ex.validation.push(check(
        format!(
            "SELECT count(*) FROM pg_class WHERE oid = to_regclass({}) AND relkind = 'v'",
            literal_pg(&old.pg())
        ),
        "1",
        "the old name is a view",
    ));
    ex.advance_when
        .push("v1 reads and writes through the view without errors".into());
    ex.abort_when.push("v1 fails through the view (it uses ON CONFLICT, locks the table by name, or TRUNCATE): roll back, those need the expand/contract route".into());
    ex.rollback_point = "drop the view and rename the table back".into();
    p.risks.push(format!("a view over a table does not support every statement old code may run against {old}: TRUNCATE, LOCK TABLE, ALTER TABLE and INSERT ... ON CONFLICT on the view fail; check v1 for them"));
    p.risks.push(format!("sequences, indexes and constraints keep their old names ({old}_id_seq, {old}_pkey...): rename them later if it matters"));
    let mut dep = phase(
        PhaseKind::Deploy,
        format!("Release v2, which uses {new}"),
        "move every reader and writer to the new name",
    );
    dep.app = vec![
        app("v1", &[old.to_string()], &[old.to_string()]),
        app("v2", &[new_q.to_string()], &[new_q.to_string()]),
    ];
    dep.advance_when
        .push("every instance, job and service runs v2".into());
    dep.abort_when.push("v2 fails: redeploy v1".into());
    dep.rollback_point = "redeploy v1".into();
    let mut con = phase(
        PhaseKind::Contract,
        format!("Drop the view {old}"),
        "remove the compatibility view",
    );
    con.app = vec![app("v2", &[new_q.to_string()], &[new_q.to_string()])];
    con.forward = vec![p.brief(vec![format!("DROP VIEW {};", old.pg())])];
    con.rollback = vec![p.brief(vec![format!(
        "CREATE VIEW {} AS SELECT * FROM {};",
        old.pg(),
        new_q.pg()
    )])];
    con.validation.push(check(
        format!(
            "SELECT count(*) FROM pg_class WHERE oid = to_regclass({})",
            literal_pg(&old.pg())
        ),
        "0",
        "the view is gone",
    ));
    con.advance_when.push("done".into());
    con.abort_when
        .push("something still uses the old name: recreate the view".into());
    con.rollback_point = "recreate the view".into();
    Ok(vec![ex, dep, con])
}

pub(super) fn drop_table(p: &mut Planner, table: &str) -> R<Vec<Phase>> {
    let q = QualifiedName::parse("table", table).map_err(|e| invalid(e.to_string()))?;
    let mut dep = phase(
        PhaseKind::Deploy,
        format!("Release v2, which never touches {q}"),
        "stop every read and write of the table",
    );
    dep.app = vec![
        app("v1", &[q.to_string()], &[q.to_string()]),
        app("v2", &[], &[]),
    ];
    dep.validation.push(check(
        format!("SELECT count(*) FROM pg_constraint WHERE confrelid = to_regclass({}) AND conrelid <> confrelid", literal_pg(&q.pg())),
        "0",
        "no other table has a foreign key to it",
    ));
    dep.advance_when.push("every instance, job and service runs v2, and pg_stat_user_tables shows no new seq_scan/idx_scan/n_tup_ins on it for a full business cycle".into());
    dep.abort_when
        .push("something still reads it: keep the table".into());
    dep.rollback_point = "redeploy v1".into();
    let mut con = phase(PhaseKind::Contract, format!("Drop {q}"), "remove the table");
    con.app = vec![app("v2", &[], &[])];
    con.forward = vec![p.brief(vec![format!("DROP TABLE {};", q.pg())])];
    con.validation.push(check(
        format!(
            "SELECT count(*) FROM pg_class WHERE oid = to_regclass({})",
            literal_pg(&q.pg())
        ),
        "0",
        "the table is gone",
    ));
    con.data_loss = Some(format!("{q} and every row in it are deleted; only a backup brings them back (take one with pg_dump -t {q})"));
    con.advance_when.push("done".into());
    con.abort_when.push("the drop fails on a dependency (a view, a foreign key): remove that first; never use CASCADE blindly".into());
    con.rollback_point = "none: restore from the backup".into();
    Ok(vec![dep, con])
}

pub(super) fn create_table(p: &mut Planner, table: &str, columns: &[ColumnSpec]) -> R<Vec<Phase>> {
    let q = QualifiedName::parse("table", table).map_err(|e| invalid(e.to_string()))?;
    let mut defs = Vec::new();
    let mut pk = Vec::new();
    for c in columns {
        let id = p.ident("columns.name", &c.name)?;
        let ty = c.data_type.clone().ok_or_else(|| {
            invalid(format!(
                "column {id} of the new table {q} needs a data_type"
            ))
        })?;
        let mut d = format!("{} {ty}", id.pg());
        if c.not_null && !c.primary_key {
            d.push_str(" NOT NULL");
        }
        if let Some(def) = &c.default {
            d.push_str(&format!(" DEFAULT {def}"));
        }
        if c.primary_key {
            pk.push(id.pg());
        }
        defs.push(d);
    }
    if !pk.is_empty() {
        defs.push(format!("PRIMARY KEY ({})", pk.join(", ")));
    } else {
        p.risks.push(format!(
            "{q} has no primary key: logical replication and keyset backfills need one"
        ));
    }
    let mut ex = phase(
        PhaseKind::Expand,
        format!("Create {q}"),
        "a new, empty table: no existing table is locked",
    );
    ex.forward = vec![p.step(
        format!("CREATE TABLE {} (\n  {}\n);", q.pg(), defs.join(",\n  ")),
        true,
        Lock::None,
        Duration::Brief,
    )];
    ex.rollback = vec![p.step(
        format!("DROP TABLE IF EXISTS {};", q.pg()),
        true,
        Lock::None,
        Duration::Brief,
    )];
    ex.validation.push(check(
        format!(
            "SELECT count(*) FROM pg_class WHERE oid = to_regclass({})",
            literal_pg(&q.pg())
        ),
        "1",
        "the table exists",
    ));
    ex.advance_when
        .push("the table exists; release the app that uses it".into());
    ex.abort_when
        .push("creation fails (name taken): pick another name".into());
    ex.rollback_point = "drop the table (it is empty until the app release)".into();
    Ok(vec![ex])
}
