//! A type change whose conversion has no exact way back (any USING, a
//! narrowing cast, a cast between unrelated types): the old column stays
//! the truth the live app reads. A trigger derives the new column from it
//! and never writes the old one; reads move with one release, writes with
//! the next, and every rollback leaves the old column exactly as the app
//! wrote it. A narrowing cast first passes a gate that counts the values
//! it would cut.

use super::convert::Conversion;
use super::*;

/// The names and the conversion of one change.
pub(super) struct Retype<'r> {
    pub(super) c: &'r Ident,
    pub(super) shadow: &'r Ident,
    pub(super) from: Option<&'r str>,
    pub(super) to_type: &'r str,
    pub(super) conversion: &'r Conversion,
}

/// The function behind the one-way trigger: a write that sets the new
/// column keeps it as written (a release that writes it, the backfill); a
/// write of the old column alone derives the new one. The old column is
/// never assigned, and a value the conversion refuses leaves the new one
/// NULL rather than failing a write the old schema accepts (the validate
/// phase finds such rows).
fn derive_function(func_sql: &str, c: &Ident, shadow: &Ident, derive: &str) -> String {
    let (cq, sq) = (c.pg_quoted(), shadow.pg_quoted());
    let fill = format!("BEGIN SELECT {derive} INTO NEW.{sq} FROM (SELECT NEW.*) AS r; EXCEPTION WHEN data_exception THEN NEW.{sq} := NULL; END;");
    let body = format!(
        "BEGIN\n  IF TG_OP = 'INSERT' THEN\n    IF NEW.{sq} IS NULL THEN\n      {fill}\n    END IF;\n  ELSIF NEW.{cq} IS DISTINCT FROM OLD.{cq} AND NEW.{sq} IS NOT DISTINCT FROM OLD.{sq} THEN\n    {fill}\n  END IF;\n  RETURN NEW;\nEND\n"
    );
    let tag = sql::dollar_tag("sync", &body);
    format!("CREATE FUNCTION {func_sql}() RETURNS trigger LANGUAGE plpgsql AS {tag}\n{body}{tag};")
}

pub(super) fn by_release(p: &mut Planner, t: &T, r: Retype) -> R<Vec<Phase>> {
    let Retype {
        c,
        shadow,
        from,
        to_type,
        conversion,
    } = r;
    let old_col = format!("{}.{c}", t.q);
    let new_col = format!("{}.{shadow}", t.q);
    let (old_l, new_l) = (
        std::slice::from_ref(&old_col),
        std::slice::from_ref(&new_col),
    );
    let from_text = from.unwrap_or("its current type");
    p.strategy = Some(format!(
        "{}add a shadow column derived from the old one by a one-way trigger, backfill, release a version that reads it, then one that writes it, then drop the old column; the old column stays the truth until writes move, because the conversion has no exact inverse",
        if conversion.narrowing(&c.pg()).is_some() {
            "count the values the narrower type cannot hold (a gate), "
        } else {
            ""
        }
    ));
    let mut phases = Vec::new();
    if let Some((pred, what)) = conversion.narrowing(&c.pg()) {
        let mut gate = phase(
            PhaseKind::Validate,
            format!("Gate: every value of {old_col} fits {to_type}"),
            format!("before anything is written, count the {what}; the change goes ahead only when there are none"),
        );
        gate.app = vec![app("v1", old_l, old_l)];
        gate.validation.push(check(
            format!("SELECT count(*) FROM {} WHERE {pred}", t.sql),
            "0",
            format!("no value of {old_col} would be changed by the cast to {to_type}"),
        ));
        gate.advance_when.push("the gate query returns 0".into());
        gate.abort_when.push(format!(
            "the gate query returns more than 0: stop, nothing has been written. List the rows with SELECT {}, {} FROM {} WHERE {pred}; fix or shorten those values (or choose a type that holds them, or give a USING expression that says how to convert them), then run the gate again",
            t.key.pg(),
            c.pg(),
            t.sql
        ));
        gate.rollback_point = "nothing to undo: the gate only reads".into();
        phases.push(gate);
    }
    let bf_title = format!("Backfill {new_col}");
    let val_title = format!("Prove {shadow} equals {c} converted");
    let reads_title = format!("Release v2: read {shadow}, still write {c}");
    let writes_title = format!("Release v3: write {shadow} instead of {c}");
    let con_title = format!("Drop {c} and the sync trigger");

    let mut ex = phase(
        PhaseKind::Expand,
        format!("Add {new_col} {to_type}, derived from {c} by a one-way trigger"),
        format!(
            "a new column of the new type, filled from {c} on every write; the conversion has no exact inverse, so {c} stays the truth: nothing writes a derived value into it, and every rollback leaves it as the app wrote it"
        ),
    );
    ex.app = vec![app("v1", old_l, old_l)];
    let func_sql = sync_function_name(t, "retype");
    let trig = object_name(&[t.q.name.as_str(), "retype", "sync"]);
    let derive = conversion
        .to_new(&format!("r.{}", c.pg()))
        .map_err(invalid)?;
    ex.forward = vec![
        p.brief(vec![format!(
            "ALTER TABLE {} ADD COLUMN {} {to_type};",
            t.sql,
            shadow.pg()
        )]),
        p.step(
            derive_function(&func_sql, c, shadow, &derive),
            true,
            Lock::None,
            Duration::Brief,
        ),
        p.guard(
            vec![format!("CREATE TRIGGER {} BEFORE INSERT OR UPDATE ON {} FOR EACH ROW EXECUTE FUNCTION {func_sql}();", quote_pg(&trig), t.sql)],
            Lock::ShareRowExclusive,
            Duration::Brief,
        ),
    ];
    let trigger_drop = p.guard(
        p.same_row_sync_drop(t, "retype"),
        Lock::AccessExclusive,
        Duration::Brief,
    );
    p.shadow_expand_checks(&mut ex, t, shadow, trigger_drop);
    ex.abort_when.push(format!(
        "app write latency rises with the trigger: run the rollback; a value of {c} the conversion refuses does not fail the write, it leaves {shadow} NULL on that row for the validate phase to count"
    ));
    ex.rollback_point = format!("drop the trigger and the shadow column; {c} was never written");
    phases.push(ex);
    if p.outline {
        key_usable(t)?;
        let built = phases;
        return Ok(outlined(
            built,
            vec![
                (PhaseKind::Backfill, bf_title),
                (PhaseKind::Validate, val_title),
                (PhaseKind::CutoverReads, reads_title),
                (PhaseKind::CutoverWrites, writes_title),
                (PhaseKind::Contract, con_title),
            ],
        ));
    }

    let conv = conversion.to_new(&c.pg()).map_err(invalid)?;
    let diff = format!(
        "SELECT count(*) FROM {} WHERE {} IS DISTINCT FROM {conv}",
        t.sql,
        shadow.pg()
    );
    let (tsql, key, sp, cv) = (t.sql.clone(), t.key.pg(), shadow.pg(), conv.clone());
    let kb = p.keyset(t, &[c.as_str(), "retype"], &move |lo, hi| format!("UPDATE {tsql} SET {sp} = {cv} WHERE {key} >= {lo} AND {key} <= {hi} AND {sp} IS DISTINCT FROM {cv}"), diff.clone(), "keyset batches by primary key; each batch converts rows whose shadow value differs (the trigger leaves the old column alone)")?;
    let mut bf = p.backfill_phase(&kb, &diff, &bf_title, vec![app("v1", old_l, old_l)]);
    bf.rollback_point = format!(
        "the backfill wrote only {shadow}; {c} is untouched and nothing reads {shadow} yet, so stopping here is safe"
    );
    phases.push(bf);

    let mut val = phase(
        PhaseKind::Validate,
        val_title,
        "every row converted, constraints copied to the shadow column",
    );
    val.app = vec![app("v1", old_l, old_l)];
    val.validation
        .push(check(diff.clone(), "0", "every row converted"));
    if conversion.narrowing(&c.pg()).is_some() {
        val.validation.push(check(
            format!(
                "SELECT count(*) FROM {} WHERE {}",
                t.sql,
                conversion.differs(&c.pg(), &shadow.pg()).map_err(invalid)?
            ),
            "0",
            format!("no value was cut: {shadow} cast back to {from_text} equals {c}"),
        ));
    }
    copy_constraints(p, t, c, shadow, &mut val);
    val.advance_when
        .push("every check returns 0, twice a few minutes apart".into());
    val.abort_when.push(format!(
        "a check returns more than 0 or fails with the value it cannot convert: a write the conversion cuts or refuses arrived after the gate (list the rows with the check's WHERE), or a column the USING expression reads changed without {c}; fix the values and rerun the backfill (it converts only rows that differ), or roll back"
    ));
    val.rollback_point =
        format!("drop the copied constraints; nothing reads {shadow}, {c} is untouched");
    phases.push(val);

    let mut reads = phase(
        PhaseKind::CutoverReads,
        reads_title,
        format!(
            "release v2, which reads {shadow} (the new type) and still writes only {c}; the trigger derives {shadow} from every write, so v1 and v2 see the same rows"
        ),
    );
    reads.app = vec![app("v1", old_l, old_l), app("v2", new_l, old_l)];
    reads.validation.push(check(
        diff.clone(),
        "0",
        format!("{shadow} still follows {c}"),
    ));
    reads.advance_when.push(
        "every instance runs v2, including workers, cron jobs and other services; app error rates are normal".into(),
    );
    reads.abort_when.push(format!(
        "v2 misreads {shadow}: redeploy v1; the database did not change in this phase"
    ));
    reads.rollback_point = format!(
        "nothing to undo in the database: redeploy v1; {c} holds exactly what the app wrote"
    );
    phases.push(reads);

    let mut writes = phase(
        PhaseKind::CutoverWrites,
        writes_title,
        format!(
            "release v3, which reads and writes {shadow} only; a write that sets {shadow} is kept as written, a v2 write of {c} still derives it. From here rows v3 writes are current only in {shadow}: nothing converts them back into {c}, because the conversion has no exact inverse"
        ),
    );
    writes.app = vec![app("v2", new_l, old_l), app("v3", new_l, new_l)];
    match t.col(c).map(|col| col.not_null) {
        Some(true) => {
            writes.forward.push(p.brief(vec![format!(
                "ALTER TABLE {} ALTER COLUMN {} DROP NOT NULL;",
                t.sql,
                c.pg()
            )]));
            let (fwd, _) = p.enforce_not_null(t, c);
            writes.rollback.extend(fwd);
        }
        Some(false) => {}
        None => writes.validation.push(nullable_gate(p, t, c, "v3")),
    }
    writes.advance_when.push(format!(
        "every instance runs v3; nothing writes {c} any more"
    ));
    writes.abort_when.push(format!(
        "v3 fails writes: redeploy v2, which reads {shadow}; do not go back to v1 once v3 has written rows, since {c} does not hold their values"
    ));
    writes.rollback_point = format!(
        "redeploy v2 (the rollback SQL restores NOT NULL on {c} and fails if v3 inserted rows without it: then leave it nullable, v2 reads {shadow}); {c} keeps the values the app wrote, nothing derived"
    );
    phases.push(writes);

    let mut con = phase(
        PhaseKind::Contract,
        con_title,
        format!(
            "remove the old column once v3 has run for a full business cycle; the new values keep the name {shadow} (to give them the name {c}, plan a rename of {new_col} to {c} next)"
        ),
    );
    con.app = vec![app("v3", new_l, new_l)];
    let mut contract = p.same_row_sync_drop(t, "retype");
    contract.push(format!("ALTER TABLE {} DROP COLUMN {};", t.sql, c.pg()));
    // The new column's default waits for the trigger to go: before that,
    // a default would fill it on v1/v2 inserts and stop the derivation.
    match t.col(c).map(|col| col.default.clone()) {
        Some(Some(d)) => match conversion.converts_constant(&d) {
            Some(nd) => contract.push(format!(
                "ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {nd};",
                t.sql,
                shadow.pg()
            )),
            None => p.assume(format!(
                "the default of {old_col} ({d}) is not carried to {shadow}: the USING expression reads other columns, so it cannot be a default; set one on {shadow} by hand if v3 relies on it"
            )),
        },
        Some(None) => {}
        None => p.assume(format!(
            "{old_col} has no default to carry to {shadow} (no schema given)"
        )),
    }
    con.forward = vec![p.brief(contract)];
    con.validation.push(check(
        sql::column_exists(&t.sql, c.as_str()),
        "0",
        "the old column is gone",
    ));
    con.data_loss = Some(format!(
        "{old_col} with its {from_text} values is dropped ({shadow} holds the converted values)"
    ));
    con.advance_when.push("done".into());
    con.abort_when
        .push(format!("anything still reads or writes {c}: keep it"));
    con.rollback_point = "none after the drop".into();
    phases.push(con);
    Ok(phases)
}
