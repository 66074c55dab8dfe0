//! Widening a primary key (`integer -> bigint`, `smallint -> integer`):
//! a shadow column per key and per referencing column, kept in sync and
//! backfilled; the shadow key's unique index built concurrently; then one
//! short guarded transaction swaps the columns, makes the index the primary
//! key, moves the sequence or identity and re-adds the foreign keys NOT
//! VALID, and a separate step validates them.
//!
//! What only the database knows for sure (the primary key's and foreign
//! keys' names and definitions, whether the key is an identity or owns a
//! sequence, its next value) is read from the catalog inside the swap, so
//! a schema that leaves them out cannot make the swap guess.

use super::*;

/// The integer types in widening order.
const WIDTHS: [&str; 3] = ["smallint", "integer", "bigint"];

fn width(ty: &str) -> Option<usize> {
    let norm = crate::engine::postgres::normalise_type(ty);
    let norm = match norm.as_str() {
        "int2" | "smallserial" | "serial2" => "smallint",
        "int" | "int4" | "serial" | "serial4" => "integer",
        "int8" | "bigserial" | "serial8" => "bigint",
        other => other,
    };
    WIDTHS.iter().position(|w| *w == norm)
}

/// One column widened by shadow: the key itself or a column referencing it.
struct Widened {
    t: T,
    col: Ident,
    shadow: Ident,
    old: Ident,
    label: String,
    not_null: bool,
    /// Single-column indexes on the column to rebuild on the shadow.
    indexes: Vec<(String, bool)>,
}

/// A quoted table name as a SQL string literal, for `format('%s', ...)`.
fn lit(s: &str) -> String {
    literal_pg(s)
}

/// Refuses a type change of a column the plan could not see as a key (no
/// schema) when the catalog says it is part of the primary key or is
/// referenced by a foreign key: a column swap would drop the key.
pub(super) fn not_a_key_guard(p: &Planner, t: &T, c: &Ident) -> Step {
    let body = format!(
        "IF EXISTS (SELECT 1 FROM pg_constraint WHERE contype IN ('p', 'f') AND ((contype = 'p' AND conrelid = {rel}) OR confrelid = {rel}) AND (SELECT attnum FROM pg_attribute WHERE attrelid = {rel} AND attname = {col} AND NOT attisdropped) = ANY (CASE WHEN contype = 'p' THEN conkey ELSE confkey END)) THEN\n        RAISE EXCEPTION '% is part of the primary key of % or referenced by a foreign key: this plan (made without a schema) would drop the key; plan again with the schema (the CREATE TABLE of % with its primary key and of every table whose foreign keys reference it)', {col}, {tlit}, {tlit};\n      END IF;",
        rel = sql::regclass(&t.sql),
        col = lit(c.as_str()),
        tlit = lit(&t.sql),
    );
    p.step(
        format!("DO $guard$\nBEGIN\n      {body}\nEND\n$guard$;"),
        true,
        Lock::None,
        Duration::Brief,
    )
}

/// The primary key's type change. `c` is the whole single-column primary key of `t`.
pub(super) fn change_key_type(
    p: &mut Planner,
    t: T,
    c: Ident,
    from: Option<&str>,
    to_type: &str,
    using: Option<&str>,
) -> R<Vec<Phase>> {
    let Some(info) = t.info.clone() else {
        return Err(PlanError::Unsupported(format!(
            "{}.{c} is taken for the primary key (no schema given): changing a primary key's type also moves the key constraint, its sequence or identity and every foreign key that references it, and none of that can be planned blind; plan again with the schema (the CREATE TABLE of {} with its primary key, and of every table whose foreign keys reference it)",
            t.q, t.q
        )));
    };
    if t.key_cols.len() != 1 {
        return Err(PlanError::Unsupported(format!(
            "{}.{c} is part of a composite primary key: widening one column of a composite key is not planned; change it with its own tooling",
            t.q
        )));
    }
    if using.is_some() {
        return Err(PlanError::Unsupported(format!(
            "{}.{c} is the primary key: a key's values must stay the same in every referencing row, so a USING conversion is not planned; only widening (smallint -> integer -> bigint) is",
            t.q
        )));
    }
    let from = from.map(str::to_string).or_else(|| t.key_type.clone());
    let (Some(fw), Some(tw)) = (from.as_deref().and_then(width), width(to_type)) else {
        return Err(PlanError::Unsupported(format!(
            "{}.{c} is the primary key: only widening an integer key (smallint -> integer -> bigint) is planned; {} -> {to_type} changes the values every referencing row holds",
            t.q,
            from.as_deref().unwrap_or("its current type")
        )));
    };
    if tw <= fw {
        return Err(PlanError::Unsupported(format!(
            "{}.{c} is the primary key: {} -> {to_type} does not widen it; narrowing a key is not planned",
            t.q,
            from.as_deref().unwrap_or("")
        )));
    }
    let from = WIDTHS[fw].to_string();
    let to = WIDTHS[tw].to_string();
    // Indexes other than the key's own on the key column must move too;
    // only single-column ones are rebuilt.
    for ix in &info.indexes {
        if ix.columns.iter().any(|k| k == &c.pg()) && ix.columns.len() > 1 {
            return Err(PlanError::Unsupported(format!(
                "index {} on {} includes the key column {c} with other parts: rebuild it on the new column by hand after the swap, or drop it first",
                ix.name, t.q
            )));
        }
    }
    let schema = p
        .schema
        .expect("a table with schema info comes from a schema");
    let mut refs: Vec<(QualifiedName, Ident)> = Vec::new();
    for rt in &schema.tables {
        for fk in &rt.foreign_keys {
            let to_key = fk.references.name == t.q.name
                && match (&fk.references.schema, &t.q.schema) {
                    (Some(a), Some(b)) => a == b,
                    _ => true,
                }
                && (fk.referenced_columns.is_empty() || fk.referenced_columns == [c.clone()]);
            if !to_key {
                continue;
            }
            if fk.columns.len() != 1 {
                return Err(PlanError::Unsupported(format!(
                    "{} has a multi-column foreign key to {}: not planned",
                    rt.name, t.q
                )));
            }
            if rt.name.name == t.q.name {
                return Err(PlanError::Unsupported(format!(
                    "{}.{} references its own table's key: widening a self-referencing key is not planned",
                    rt.name, fk.columns[0]
                )));
            }
            refs.push((rt.name.clone(), fk.columns[0].clone()));
        }
    }
    let mut targets = vec![widened(p, t, &c, &info)?];
    for (rq, rc) in &refs {
        let rt = p.table(&rq.to_string())?;
        let rinfo = rt.info.clone().expect("from the schema");
        let ty = rinfo.column(rc).map(|x| x.data_type.clone());
        if ty.as_deref().and_then(width).is_some_and(|w| w >= tw) {
            // Already wide enough: only its foreign key is re-added.
            continue;
        }
        for ix in &rinfo.indexes {
            if ix.columns.iter().any(|k| k == &rc.pg()) && ix.columns.len() > 1 {
                return Err(PlanError::Unsupported(format!(
                    "index {} on {} includes the referencing column {rc} with other parts: rebuild it on the new column by hand after the swap, or drop it first",
                    ix.name, rq
                )));
            }
        }
        key_usable(&rt)?;
        targets.push(widened(p, rt, rc, &rinfo)?);
    }
    build(p, targets, refs.len(), &from, &to)
}

fn widened(p: &Planner, t: T, col: &Ident, info: &Table) -> R<Widened> {
    let shadow = p.derived("shadow column", &[col.as_str(), "new"])?;
    let old = p.derived("old column", &[col.as_str(), "old"])?;
    let is_key = t.key_cols.len() == 1 && &t.key == col;
    let indexes = info
        .indexes
        .iter()
        .filter(|ix| ix.columns.len() == 1 && ix.columns[0] == col.pg())
        .map(|ix| (ix.name.clone(), ix.unique))
        .collect();
    Ok(Widened {
        not_null: is_key || info.column(col).is_some_and(|x| x.not_null),
        label: format!("widen_{}", col.as_str()),
        col: col.clone(),
        shadow,
        old,
        indexes,
        t,
    })
}

/// `(to_new, to_old)` sync expressions for a widening between names.
fn casts(from: &str, to: &str, old: &Ident, new: &Ident) -> (String, String) {
    (
        format!("r.{}::{to}", old.pg_quoted()),
        format!("r.{}::{from}", new.pg_quoted()),
    )
}

fn build(
    p: &mut Planner,
    targets: Vec<Widened>,
    n_refs: usize,
    from: &str,
    to: &str,
) -> R<Vec<Phase>> {
    let key = &targets[0];
    let (kt, kc) = (&key.t, &key.col);
    let rel = sql::regclass(&kt.sql);
    let key_idx = object_name(&[kt.q.name.as_str(), key.shadow.as_str(), "key"]);
    let spare_idx = object_name(&[kt.q.name.as_str(), key.old.as_str(), "key"]);
    let bf_title = format!(
        "Backfill the widened copies of {}.{kc} and its references",
        kt.q
    );
    let val_title = format!(
        "Prove the copies equal, enforce NOT NULL, build the unique index on {}",
        key.shadow
    );
    let sw_title =
        format!("Swap to the {to} key in one short transaction; validate the foreign keys");
    let con_title = "Drop the old columns and the sync triggers".to_string();

    // Phase 1: the catalog must agree with the schema before anything is added.
    let mut ex = phase(
        PhaseKind::Expand,
        format!(
            "Add {to} shadow columns for {}.{kc} and the columns that reference it, kept in sync",
            kt.q
        ),
        "new columns of the new type, filled by triggers on every write",
    );
    let reads: Vec<String> = targets
        .iter()
        .map(|w| format!("{}.{}", w.t.q, w.col))
        .collect();
    ex.app = vec![app("v1", &reads, &reads)];
    let expected_pk = format!(
        "(SELECT count(*) FROM pg_constraint WHERE conrelid = {rel} AND contype = 'p' AND conkey = ARRAY[(SELECT attnum FROM pg_attribute WHERE attrelid = {rel} AND attname = {} AND NOT attisdropped)]::int2[] AND (SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = {rel} AND attname = {} AND NOT attisdropped) = {})",
        lit(kc.as_str()),
        lit(kc.as_str()),
        lit(from)
    );
    let fk_count =
        format!("(SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND confrelid = {rel})");
    ex.forward.push(p.step(
        format!(
            "DO $preflight$\nBEGIN\n  IF {expected_pk} <> 1 THEN\n    RAISE EXCEPTION 'the primary key of % is not the single {from} column %, as the schema given says: plan again with the current schema', {}, {};\n  END IF;\n  IF {fk_count} <> {n_refs} THEN\n    RAISE EXCEPTION '% foreign keys reference %, the schema given shows {n_refs}: plan again with the CREATE TABLE of every referencing table in the schema', {fk_count}, {};\n  END IF;\nEND\n$preflight$;",
            lit(&kt.sql),
            lit(kc.as_str()),
            lit(&kt.sql)
        ),
        true,
        Lock::None,
        Duration::Brief,
    ));
    for w in &targets {
        let (to_new, to_old) = casts(from, to, &w.col, &w.shadow);
        let (fn_create, trig_create, trig_drop) = p.same_row_sync(
            &w.t,
            &w.label,
            std::slice::from_ref(&w.col),
            std::slice::from_ref(&w.shadow),
            &[to_new],
            &[to_old],
        );
        ex.forward.push(p.brief(vec![format!(
            "ALTER TABLE {} ADD COLUMN {} {to};",
            w.t.sql,
            w.shadow.pg()
        )]));
        ex.forward.push(fn_create);
        ex.forward.push(trig_create);
        ex.rollback.push(trig_drop);
        ex.rollback.push(p.brief(vec![format!(
            "ALTER TABLE {} DROP COLUMN IF EXISTS {};",
            w.t.sql,
            w.shadow.pg()
        )]));
        ex.validation.push(check(
            sql::column_exists(&w.t.sql, w.shadow.as_str()),
            "1",
            format!("{}.{} exists", w.t.q, w.shadow),
        ));
    }
    ex.advance_when
        .push("the shadow columns and their triggers exist".into());
    ex.abort_when.push("the preflight stops: the database differs from the schema given; plan again with the current schema".into());
    ex.rollback_point = "drop the triggers and the shadow columns".into();
    if p.outline {
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

    // Phase 2: backfills, the key's table last so the plan's backfill is its own.
    let diff = |w: &Widened| {
        format!(
            "SELECT count(*) FROM {} WHERE {} IS DISTINCT FROM {}::{to}",
            w.t.sql,
            w.shadow.pg(),
            w.col.pg()
        )
    };
    let mut extra_fwd = Vec::new();
    let mut extra_rb = Vec::new();
    let mut extra_checks = Vec::new();
    for w in targets.iter().skip(1) {
        let (tsql, k, sp, cp) = (w.t.sql.clone(), w.t.key_sql(), w.shadow.pg(), w.col.pg());
        let to2 = to.to_string();
        let kb = keyset_backfill(
            p.s,
            &object_name(&["schemashift_backfill", w.t.q.name.as_str(), &w.label]),
            &w.t.sql,
            &w.t.keyset_key(),
            &move |lo, hi| {
                format!("UPDATE {tsql} SET {sp} = {cp}::{to2} WHERE {k} >= {lo} AND {k} <= {hi} AND {sp} IS DISTINCT FROM {cp}::{to2}")
            },
        );
        extra_fwd.push(p.step(kb.procedure, true, Lock::None, Duration::Brief));
        extra_fwd.push(p.step(kb.call, false, Lock::RowExclusive, Duration::Statement));
        extra_fwd.push(p.step(kb.drop.clone(), true, Lock::None, Duration::Brief));
        extra_rb.push(p.step(kb.drop, true, Lock::None, Duration::Brief));
        extra_checks.push(check(
            diff(w),
            "0",
            format!("every row of {} copied", w.t.q),
        ));
    }
    let kdiff = diff(key);
    let (tsql, k, sp, cp) = (kt.sql.clone(), kt.key_sql(), key.shadow.pg(), kc.pg());
    let to2 = to.to_string();
    let kb = p.keyset(
        kt,
        &[key.label.as_str()],
        &move |lo, hi| format!("UPDATE {tsql} SET {sp} = {cp}::{to2} WHERE {k} >= {lo} AND {k} <= {hi} AND {sp} IS DISTINCT FROM {cp}::{to2}"),
        kdiff.clone(),
        "keyset batches by primary key over the key's table and each referencing table; each batch copies rows whose copy differs",
    )?;
    let mut bf = p.backfill_phase(&kb, &kdiff, &bf_title, vec![app("v1", &reads, &reads)]);
    extra_fwd.extend(bf.forward);
    bf.forward = extra_fwd;
    bf.rollback.extend(extra_rb);
    bf.validation.extend(extra_checks.clone());

    // Phase 3: NOT NULL, the unique index on the shadow key, copied indexes.
    let mut val = phase(
        PhaseKind::Validate,
        val_title,
        "the shadow key is ready to become the primary key",
    );
    val.app = vec![app("v1", &reads, &reads)];
    val.validation
        .push(check(kdiff.clone(), "0", "every key copied"));
    val.validation.extend(extra_checks);
    for w in &targets {
        if w.not_null {
            let (fwd, rb) = p.enforce_not_null(&w.t, &w.shadow);
            val.forward.extend(fwd);
            val.rollback.splice(0..0, rb);
        }
    }
    let (create, drop) = p.cic(kt, &key_idx, true, &key.shadow.pg(), None, None);
    val.forward.push(create);
    val.rollback.insert(0, drop);
    val.abort_when.push(p.index_abort(kt, &key_idx));
    for w in &targets {
        for (i, (_, unique)) in w.indexes.iter().enumerate() {
            if std::ptr::eq(w, key) {
                // The key's own index is the primary key: built above.
                continue;
            }
            let name = object_name(&[
                w.t.q.name.as_str(),
                w.shadow.as_str(),
                if *unique { "key" } else { "idx" },
                &i.to_string(),
            ]);
            let (create, drop) = p.cic(&w.t, &name, *unique, &w.shadow.pg(), None, None);
            val.forward.push(create);
            val.rollback.insert(0, drop);
        }
    }
    val.validation.push(check(
        sql::index_valid(kt.schema(), &key_idx),
        "1",
        "the unique index on the shadow key is valid",
    ));
    val.advance_when
        .push("the copies are equal and the index is valid".into());
    val.rollback_point = "drop the index and the NOT NULLs; nothing uses the shadow columns".into();

    // Phase 4: the swap.
    let mut sw = phase(
        PhaseKind::CutoverWrites,
        sw_title,
        "the key and the referencing columns become the new type; the old columns stay as the rollback",
    );
    sw.app = vec![app("v1", &reads, &reads)];
    sw.forward.push(p.brief(vec![swap_block(
        &targets,
        from,
        to,
        &key_idx,
        Direction::Forward,
    )]));
    sw.forward.push(validate_fks(p, &rel));
    let pk_now = |col: &Ident, ty: &str| {
        format!(
            "SELECT count(*) FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] WHERE c.conrelid = {rel} AND c.contype = 'p' AND array_length(c.conkey, 1) = 1 AND a.attname = {} AND format_type(a.atttypid, a.atttypmod) = {}",
            lit(col.as_str()),
            lit(ty)
        )
    };
    sw.validation.push(check(
        pk_now(kc, to),
        "1",
        format!("the primary key of {} is {kc}, of type {to}", kt.q),
    ));
    sw.validation.push(check(
        format!("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND confrelid = {rel} AND convalidated"),
        &n_refs.to_string(),
        "every foreign key to the key is back and validated",
    ));
    for w in &targets {
        sw.validation.push(check(
            format!(
                "SELECT count(*) FROM {} WHERE {} IS DISTINCT FROM {}::{to}",
                w.t.sql,
                w.col.pg(),
                w.old.pg()
            ),
            "0",
            format!("{}.{} agrees with its old copy", w.t.q, w.col),
        ));
    }
    // Rollback: a NOT NULL old key (a value past the old type left it NULL,
    // which stops here), its unique index rebuilt, then the swap reversed.
    for w in &targets {
        if w.not_null {
            let (fwd, _) = p.enforce_not_null_as(&w.t, &w.old, &w.col);
            sw.rollback.extend(fwd);
        }
    }
    let (spare, _) = p.cic(kt, &spare_idx, true, &key.old.pg(), None, None);
    sw.rollback.push(spare);
    let (again, _) = p.cic(kt, &key_idx, true, &kc.pg(), None, None);
    sw.rollback.push(again);
    sw.rollback.push(p.brief(vec![swap_block(
        &targets,
        from,
        to,
        &spare_idx,
        Direction::Back,
    )]));
    sw.rollback.push(validate_fks(p, &rel));
    sw.advance_when.push("the checks pass and app error rates are normal; restart or re-prepare connections whose cached plans selected the key (\"cached plan must not change result type\")".into());
    sw.abort_when.push("the app fails on the new type: run the rollback (it rebuilds the old key's index concurrently, then swaps back in one short transaction)".into());
    sw.rollback_point = format!(
        "swap back: the old key gets a unique index built concurrently and becomes the primary key again, with its sequence or identity and the foreign keys; stops if a key past the {from} range was written"
    );

    // Phase 5: contract.
    let mut con = phase(
        PhaseKind::Contract,
        con_title,
        "remove the old copies once the new key has run for a full business cycle",
    );
    con.app = vec![app("v1", &reads, &reads)];
    for w in &targets {
        let mut stmts = p.same_row_sync_drop(&w.t, &w.label);
        stmts.push(format!(
            "ALTER TABLE {} DROP COLUMN {};",
            w.t.sql,
            w.old.pg()
        ));
        con.forward.push(p.brief(stmts));
        con.validation.push(check(
            sql::column_exists(&w.t.sql, w.old.as_str()),
            "0",
            format!("{}.{} is gone", w.t.q, w.old),
        ));
    }
    con.validation
        .push(check(pk_now(kc, to), "1", "the primary key is intact"));
    con.data_loss = Some(format!(
        "the {from} copies ({}) are dropped (the values live on in the {to} columns)",
        targets
            .iter()
            .map(|w| format!("{}.{}", w.t.q, w.old))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    con.advance_when.push("done".into());
    con.abort_when
        .push("anything reads an old column: keep it".into());
    con.rollback_point = "none after the drop".into();
    Ok(vec![ex, bf, val, sw, con])
}

#[derive(Clone, Copy, PartialEq)]
enum Direction {
    Forward,
    Back,
}

/// Validates every NOT VALID foreign key to the table, by name from the
/// catalog (SHARE UPDATE EXCLUSIVE on the referencing tables: app reads
/// and writes go on).
fn validate_fks(p: &Planner, rel: &str) -> Step {
    p.step(
        format!(
            "DO $validate$\nDECLARE\n  fk record;\nBEGIN\n  FOR fk IN SELECT conrelid::regclass AS rel, conname FROM pg_constraint WHERE contype = 'f' AND confrelid = {rel} AND NOT convalidated LOOP\n    EXECUTE format('ALTER TABLE %s VALIDATE CONSTRAINT %I', fk.rel, fk.conname);\n  END LOOP;\nEND\n$validate$;"
        ),
        true,
        Lock::ShareUpdateExclusive,
        Duration::Scan,
    )
}

/// The swap (or its reverse) as one PL/pgSQL block for [`guarded`]:
/// foreign keys to the table saved and dropped, the primary key dropped,
/// columns renamed, the sequence or identity moved, `index` made the
/// primary key under the old name, the syncs re-pointed, the foreign keys
/// re-added NOT VALID.
fn swap_block(targets: &[Widened], from: &str, to: &str, index: &str, dir: Direction) -> String {
    let key = &targets[0];
    let kt = &key.t;
    let rel = sql::regclass(&kt.sql);
    let tl = lit(&kt.sql);
    // The key column by its name when the block starts: it holds the
    // sequence or identity to move.
    let cur = &key.col;
    let mut s = String::new();
    s.push_str("DECLARE\n        fk record;\n        fk_rel text[] := '{}';\n        fk_name text[] := '{}';\n        fk_def text[] := '{}';\n        pk_name text;\n        ident \"char\";\n        seq text;\n        next_value bigint;\n        step bigint;\n        dflt text;\n      BEGIN\n");
    s.push_str(&format!(
        "        FOR fk IN SELECT conrelid::regclass::text AS r, conname, pg_get_constraintdef(oid) AS d FROM pg_constraint WHERE contype = 'f' AND confrelid = {rel} LOOP\n          fk_rel := fk_rel || fk.r; fk_name := fk_name || fk.conname::text; fk_def := fk_def || regexp_replace(fk.d, ' NOT VALID$', '');\n          EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.r, fk.conname);\n        END LOOP;\n"
    ));
    s.push_str(&format!(
        "        SELECT conname INTO pk_name FROM pg_constraint WHERE conrelid = {rel} AND contype = 'p';\n        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', {tl}, pk_name);\n"
    ));
    s.push_str(&format!(
        "        SELECT attidentity INTO ident FROM pg_attribute WHERE attrelid = {rel} AND attname = {} AND NOT attisdropped;\n        seq := pg_get_serial_sequence({tl}, {});\n        SELECT pg_get_expr(adbin, adrelid) INTO dflt FROM pg_attrdef WHERE adrelid = {rel} AND adnum = (SELECT attnum FROM pg_attribute WHERE attrelid = {rel} AND attname = {} AND NOT attisdropped);\n        IF ident IN ('a', 'd') THEN\n          EXECUTE format('SELECT CASE WHEN is_called THEN last_value + %s ELSE last_value END FROM %s', (SELECT seqincrement FROM pg_sequence WHERE seqrelid = seq::regclass), seq) INTO next_value;\n          SELECT seqincrement INTO step FROM pg_sequence WHERE seqrelid = seq::regclass;\n          EXECUTE format('ALTER TABLE %s ALTER COLUMN %I DROP IDENTITY', {tl}, {});\n        ELSIF dflt IS NOT NULL THEN\n          EXECUTE format('ALTER TABLE %s ALTER COLUMN %I DROP DEFAULT', {tl}, {});\n        END IF;\n",
        lit(cur.as_str()),
        lit(cur.as_str()),
        lit(cur.as_str()),
        lit(cur.as_str()),
        lit(cur.as_str()),
    ));
    // Renames: col -> old, shadow -> col (forward); col -> shadow, old -> col (back).
    for w in targets {
        let (a, b) = match dir {
            Direction::Forward => (&w.old, &w.shadow),
            Direction::Back => (&w.shadow, &w.old),
        };
        s.push_str(&format!(
            "        ALTER TABLE {t} RENAME COLUMN {c} TO {a};\n        ALTER TABLE {t} RENAME COLUMN {b} TO {c};\n",
            t = w.t.sql,
            c = w.col.pg(),
            a = a.pg(),
            b = b.pg()
        ));
        // Forward, the old copy may go NULL (a value past its range); back,
        // the shadow keeps the NOT NULL the validate phase gave it.
        if w.not_null && dir == Direction::Forward {
            s.push_str(&format!(
                "        ALTER TABLE {} ALTER COLUMN {} DROP NOT NULL;\n",
                w.t.sql,
                a.pg()
            ));
        }
        // The sync follows the names: lenient towards the narrower side.
        let func_sql = sync_function_name(&w.t, &w.label);
        let (narrow, wide) = match dir {
            Direction::Forward => (&w.old, &w.col),
            Direction::Back => (&w.col, &w.shadow),
        };
        let (to_wide, to_narrow) = casts(from, to, narrow, wide);
        s.push_str("        ");
        s.push_str(&sync_function(
            &func_sql,
            "CREATE OR REPLACE",
            std::slice::from_ref(narrow),
            std::slice::from_ref(wide),
            &[to_wide],
            &[to_narrow],
            dir == Direction::Forward,
        ));
        s.push('\n');
    }
    let ty = match dir {
        Direction::Forward => to,
        Direction::Back => from,
    };
    let c = lit(key.col.as_str());
    s.push_str(&format!(
        "        IF ident IN ('a', 'd') THEN\n          EXECUTE format('ALTER TABLE %s ALTER COLUMN %I ADD GENERATED %s AS IDENTITY (START WITH %s INCREMENT BY %s)', {tl}, {c}, CASE ident WHEN 'a' THEN 'ALWAYS' ELSE 'BY DEFAULT' END, next_value, step);\n        ELSIF dflt IS NOT NULL THEN\n          EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET DEFAULT %s', {tl}, {c}, dflt);\n          IF seq IS NOT NULL THEN\n            EXECUTE format('ALTER SEQUENCE %s OWNED BY %s.%I', seq, {tl}, {c});\n            EXECUTE format('ALTER SEQUENCE %s AS %s', seq, {});\n          END IF;\n        END IF;\n",
        lit(ty)
    ));
    s.push_str(&format!(
        "        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I PRIMARY KEY USING INDEX %I', {tl}, pk_name, {});\n",
        lit(index)
    ));
    s.push_str("        FOR i IN 1..coalesce(array_length(fk_rel, 1), 0) LOOP\n          EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s NOT VALID', fk_rel[i], fk_name[i], fk_def[i]);\n        END LOOP;\n      END;");
    s
}
