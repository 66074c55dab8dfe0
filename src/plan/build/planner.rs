//! The planner's state and the small builders every change family shares:
//! the resolved table, derived names, guarded statements, sync triggers.

use super::*;

pub(super) fn invalid(msg: impl Into<String>) -> PlanError {
    PlanError::Invalid(msg.into())
}

/// A table as the plan knows it: quoted name, keyset key, and what the schema says.
pub(super) struct T {
    pub(super) q: QualifiedName,
    pub(super) sql: String,
    /// The first (usually only) primary-key column.
    pub(super) key: Ident,
    /// Its SQL type; `None` when no schema said it (then it is read from the
    /// catalog where it is needed, never assumed).
    pub(super) key_type: Option<String>,
    /// Every primary-key column with its type, in key order.
    pub(super) key_cols: Vec<(Ident, Option<String>)>,
    /// The key is the assumed `id` (no schema): SQL that walks it checks it first.
    pub(super) key_assumed: bool,
    /// Why this table cannot be walked by key, if it cannot; only backfills care.
    pub(super) key_problem: Option<String>,
    pub(super) info: Option<Table>,
}

impl T {
    pub(super) fn col(&self, c: &Ident) -> Option<&Column> {
        self.info.as_ref().and_then(|t| t.column(c))
    }
    /// The schema when the name gave one.
    pub(super) fn schema(&self) -> Option<&str> {
        self.q.schema.as_ref().map(|s| s.as_str())
    }
    /// The key a keyset backfill walks.
    pub(super) fn keyset_key(&self) -> KeysetKey {
        KeysetKey {
            cols: self
                .key_cols
                .iter()
                .map(|(c, t)| (c.as_str().to_string(), t.clone()))
                .collect(),
            verify: self.key_assumed,
        }
    }
    /// The key as one comparable value, each column after `prefix`
    /// (`t.` or empty): `t.id` or `(t.a, t.b)`.
    pub(super) fn key_sql_at(&self, prefix: &str) -> String {
        let cols = self
            .key_cols
            .iter()
            .map(|(c, _)| format!("{prefix}{}", c.pg()))
            .collect::<Vec<_>>();
        if cols.len() == 1 {
            cols[0].clone()
        } else {
            format!("({})", cols.join(", "))
        }
    }
    /// The key as one comparable value: `id` or `(a, b)`.
    pub(super) fn key_sql(&self) -> String {
        self.key_sql_at("")
    }
}

/// A `T` for a table the plan makes or names without a schema entry,
/// keyed by `key` of `key_type`.
pub(super) fn t_keyed(
    q: QualifiedName,
    key: Ident,
    key_type: Option<String>,
    info: Option<Table>,
) -> T {
    T {
        sql: q.pg(),
        q,
        key_cols: vec![(key.clone(), key_type.clone())],
        key,
        key_type,
        key_assumed: false,
        key_problem: None,
        info,
    }
}

/// Refuses a composite key where the plan joins or copies rows by one key column.
pub(super) fn single_key(t: &T, why: &str) -> R<()> {
    if t.key_cols.len() > 1 {
        return Err(PlanError::Unsupported(format!(
            "{} has a composite primary key ({}): {why} matches rows by a single key column; add a single-column unique key first (add_unique_constraint) and name it as the key",
            t.q,
            t.key_cols
                .iter()
                .map(|(c, _)| c.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(())
}

pub(super) struct Planner<'a> {
    pub(super) ctx: &'a Context,
    pub(super) s: &'a Settings,
    pub(super) schema: Option<&'a Schema>,
    pub(super) rows: u64,
    pub(super) assumptions: Vec<String>,
    pub(super) risks: Vec<String>,
    pub(super) backfill: Option<Backfill>,
    /// Build the first phase whole and only the kind and title of the
    /// others (see [`super::outline_phases`]).
    pub(super) outline: bool,
    /// The strategy in a sentence when the plan departs from its pattern's
    /// (a type change without an exact inverse switches by release).
    pub(super) strategy: Option<String>,
}

/// Whether keyset batches can walk the table's key (see [`Planner::keyset`]).
pub(super) fn key_usable(t: &T) -> R<()> {
    match &t.key_problem {
        Some(problem) => Err(PlanError::Unsupported(problem.clone())),
        None => Ok(()),
    }
}

/// The name of the function behind a same-row sync trigger, as SQL.
pub(super) fn sync_function_name(t: &T, label: &str) -> String {
    let func = object_name(&["schemashift_sync", t.q.name.as_str(), label]);
    match &t.q.schema {
        Some(s) => format!("{}.{}", s.pg(), quote_pg(&func)),
        None => quote_pg(&func),
    }
}

/// `CREATE [OR REPLACE] FUNCTION` of a same-row sync: whichever side a
/// writer set is copied to the other. PL/pgSQL finds `NEW.<column>` by
/// name when it runs, so a rename of a synced column needs the function
/// made again with the new names in the same transaction. With
/// `lenient_old`, a value that does not fit the old side (an out-of-range
/// number after a widening) leaves it NULL instead of failing the write.
///
/// The old side is filled from the new only when the new values are not
/// what the old ones convert to: the backfill writes exactly that, and
/// copying it back through a conversion that is not an exact inverse (a
/// split joined again, a merge split again) would rewrite the live column
/// that old app versions still read.
pub(super) fn sync_function(
    func_sql: &str,
    create: &str,
    old: &[Ident],
    new: &[Ident],
    to_new: &[String],
    to_old: &[String],
    lenient_old: bool,
) -> String {
    // Each list written straight into one string (no string per column):
    // a plan holds up to four of these functions, and every planned fix in
    // a review builds a plan.
    let list = |cols: &[Ident], before: &str, after: &str, sep: &str| {
        let mut out = String::new();
        for (i, c) in cols.iter().enumerate() {
            if i > 0 {
                out.push_str(sep);
            }
            out.push_str(before);
            // Quoted: a bare name could be a PL/pgSQL keyword (`NEW.by`).
            out.push_str(&c.pg_quoted());
            out.push_str(after);
        }
        out
    };
    let all_null = |cols: &[Ident]| list(cols, "NEW.", " IS NULL", " AND ");
    let row = |prefix: &str, cols: &[Ident]| format!("ROW({})", list(cols, prefix, "", ", "));
    let assign = |exprs: &[String], targets: &[Ident]| {
        format!(
            "SELECT {} INTO {} FROM (SELECT NEW.*) AS r;",
            exprs.join(", "),
            list(targets, "NEW.", "", ", ")
        )
    };
    let fill_old = if lenient_old {
        format!(
            "BEGIN {} EXCEPTION WHEN data_exception THEN {} END;",
            assign(to_old, old),
            list(old, "NEW.", " := NULL;", " ")
        )
    } else {
        assign(to_old, old)
    };
    let body = format!(
        "BEGIN\n  IF TG_OP = 'INSERT' THEN\n    IF {new_null} THEN\n      {fill_new}\n    ELSIF {old_null} THEN\n      {fill_old}\n    END IF;\n  ELSIF {old_new_row} IS DISTINCT FROM {old_old_row} AND {new_new_row} IS NOT DISTINCT FROM {new_old_row} THEN\n    {fill_new}\n  ELSIF {new_new_row} IS DISTINCT FROM {new_old_row} AND {old_new_row} IS NOT DISTINCT FROM {old_old_row} AND NOT EXISTS (SELECT FROM (SELECT NEW.*) AS r WHERE ROW({to_new_list}) IS NOT DISTINCT FROM {new_new_row}) THEN\n    {fill_old}\n  END IF;\n  RETURN NEW;\nEND\n",
        new_null = all_null(new),
        old_null = all_null(old),
        fill_new = assign(to_new, new),
        old_new_row = row("NEW.", old),
        old_old_row = row("OLD.", old),
        new_new_row = row("NEW.", new),
        new_old_row = row("OLD.", new),
        to_new_list = to_new.join(", "),
    );
    let tag = sql::dollar_tag("sync", &body);
    format!(
        "{create} FUNCTION {func_sql}() RETURNS trigger LANGUAGE plpgsql AS {tag}\n{body}{tag};"
    )
}

pub(super) fn app(version: &str, reads: &[String], writes: &[String]) -> AppVersion {
    AppVersion {
        version: version.into(),
        reads: reads.to_vec(),
        writes: writes.to_vec(),
        never_writes: Default::default(),
    }
}

pub(super) fn phase(kind: PhaseKind, title: impl Into<String>, goal: impl Into<String>) -> Phase {
    Phase {
        id: String::new(),
        kind,
        title: title.into(),
        goal: goal.into(),
        app: Vec::new(),
        forward: Vec::new(),
        rollback: Vec::new(),
        validation: Vec::new(),
        advance_when: Vec::new(),
        abort_when: Vec::new(),
        rollback_point: String::new(),
        data_loss: None,
    }
}

pub(super) fn check(sql: impl Into<String>, expect: &str, meaning: impl Into<String>) -> Check {
    Check {
        sql: sql.into(),
        expect: expect.into(),
        meaning: meaning.into(),
    }
}

pub(super) fn names(cols: &[Ident]) -> Vec<String> {
    cols.iter().map(|c| c.pg()).collect()
}

pub(super) fn qualified(t: &T, cols: &[Ident]) -> Vec<String> {
    cols.iter().map(|c| format!("{}.{}", t.q, c)).collect()
}

impl<'a> Planner<'a> {
    pub(super) fn v(&self) -> u32 {
        self.ctx.version()
    }

    pub(super) fn assume(&mut self, a: impl Into<String>) {
        let a = a.into();
        if !self.assumptions.contains(&a) {
            self.assumptions.push(a);
        }
    }

    pub(super) fn ident(&self, what: &str, raw: &str) -> R<Ident> {
        Ident::parse(what, raw).map_err(|e| invalid(e.to_string()))
    }

    /// A name the plan makes up from user names (`<column>_new`): taken as
    /// it is (never folded or trimmed like user input) and kept within
    /// 63 bytes by [`object_name`].
    pub(super) fn derived(&self, what: &str, parts: &[&str]) -> R<Ident> {
        Ident::new(what, object_name(parts)).map_err(|e| invalid(e.to_string()))
    }

    pub(super) fn table(&mut self, raw: &str) -> R<T> {
        let q = QualifiedName::parse("table", raw).map_err(|e| invalid(e.to_string()))?;
        let info = self.schema.and_then(|s| s.table(&q)).cloned();
        let mut key_problem = None;
        let id = || Ident::new("key", "id").map_err(|e| invalid(e.to_string()));
        let (key_cols, key_assumed) = match &info {
            Some(t) if !t.primary_key.is_empty() => (
                t.primary_key
                    .iter()
                    .map(|k| {
                        // A key column the schema does not list keeps an
                        // unknown type: read from the catalog, not guessed.
                        let ty = t.column(k).map(|c| match c.data_type.as_str() {
                            "serial" | "serial4" => "integer".to_string(),
                            "bigserial" | "serial8" => "bigint".to_string(),
                            "smallserial" | "serial2" => "smallint".to_string(),
                            other => other.to_string(),
                        });
                        (k.clone(), ty)
                    })
                    .collect::<Vec<_>>(),
                false,
            ),
            Some(t) => {
                key_problem = Some(format!(
                    "{q} has no primary key in the schema given: backfills walk the table in primary-key order. Add one first — schemashift plans it without a long lock: {{\"change_type\": \"add_primary_key\", \"table\": \"{q}\", \"columns\": [\"<unique, non-null column(s)>\"]}} — or, if the table has one, include its PRIMARY KEY in the schema"
                ));
                let _ = t;
                (vec![(id()?, None)], false)
            }
            None => {
                self.assume(format!("{q} has a single-column primary key `id` (no schema given): its type is read from the catalog when the backfill is created, and the backfill stops before its first batch if the primary key is not (id)"));
                (vec![(id()?, None)], true)
            }
        };
        let (key, key_type) = (key_cols[0].0.clone(), key_cols[0].1.clone());
        let sql = q.pg();
        Ok(T {
            q,
            sql,
            key_problem,
            key,
            key_type,
            key_cols,
            key_assumed,
            info,
        })
    }

    pub(super) fn step(
        &self,
        sql: String,
        transactional: bool,
        lock: Lock,
        duration: Duration,
    ) -> Step {
        let fk = sql.contains("VALIDATE CONSTRAINT") && sql.contains("_fkey");
        Step {
            sql,
            transactional,
            lock,
            rewrites_table: duration == Duration::Rewrite,
            scans_table: matches!(
                duration,
                Duration::Scan | Duration::Rewrite | Duration::IndexBuild | Duration::Statement
            ),
            blocks: lock.blocks().into(),
            estimated_seconds: estimate::seconds(duration, self.rows, fk),
        }
    }

    /// Statements under a lock that conflicts with the app: lock_timeout + retry.
    pub(super) fn guard(&self, body: Vec<String>, lock: Lock, duration: Duration) -> Step {
        self.step(guarded(self.s, &body), true, lock, duration)
    }

    /// The part every shadow-column expand shares: its rollback (the sync
    /// trigger's removal, then the column), the check that the column
    /// exists, and when to advance.
    pub(super) fn shadow_expand_checks(
        &self,
        ex: &mut Phase,
        t: &T,
        shadow: &Ident,
        trigger_drop: Step,
    ) {
        ex.rollback = vec![
            trigger_drop,
            self.brief(vec![format!(
                "ALTER TABLE {} DROP COLUMN IF EXISTS {};",
                t.sql,
                shadow.pg()
            )]),
        ];
        ex.validation = vec![check(
            sql::column_exists(&t.sql, shadow.as_str()),
            "1",
            "the shadow column exists",
        )];
        ex.advance_when
            .push("the shadow column and its trigger exist".into());
    }

    pub(super) fn brief(&self, body: Vec<String>) -> Step {
        self.guard(body, Lock::AccessExclusive, Duration::Brief)
    }

    pub(super) fn validate_constraint(&self, t: &T, name: &str, fk: bool) -> Step {
        let mut st = self.step(
            format!(
                "ALTER TABLE {} VALIDATE CONSTRAINT {};",
                t.sql,
                quote_pg(name)
            ),
            true,
            Lock::ShareUpdateExclusive,
            Duration::Scan,
        );
        if fk {
            st.estimated_seconds = estimate::seconds(Duration::Scan, self.rows, true);
        }
        st
    }

    /// `ADD COLUMN new` with the exact type of another column, read from the
    /// catalog when no schema says what it is.
    pub(super) fn add_column_like(
        &mut self,
        t: &T,
        new: &Ident,
        like_table: &T,
        like: &Ident,
        to_type: Option<&str>,
    ) -> String {
        if let Some(ty) = to_type {
            return format!("ALTER TABLE {} ADD COLUMN {} {ty};", t.sql, new.pg());
        }
        if let Some(c) = like_table.col(like) {
            return format!(
                "ALTER TABLE {} ADD COLUMN {} {};",
                t.sql,
                new.pg(),
                c.data_type
            );
        }
        self.assume(format!(
            "the new column {}.{} takes the exact type of {}.{}, read from the catalog at run time",
            t.q, new, like_table.q, like
        ));
        format!(
            "EXECUTE format('ALTER TABLE %s ADD COLUMN %I %s', {}, {}, (SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = {} AND attname = {} AND NOT attisdropped));",
            literal_pg(&t.sql),
            literal_pg(new.as_str()),
            sql::regclass(&like_table.sql),
            literal_pg(like.as_str())
        )
    }

    /// NOT NULL without a long ACCESS EXCLUSIVE scan: a validated CHECK on
    /// PG 12-17, a NOT VALID not-null constraint on 18, the plain scan on 11.
    pub(super) fn enforce_not_null(&mut self, t: &T, col: &Ident) -> (Vec<Step>, Vec<Step>) {
        self.enforce_not_null_as(t, col, col)
    }

    /// [`Self::enforce_not_null`] with the constraint named for `named_for`:
    /// a column about to be renamed back to `named_for` gets the name
    /// PostgreSQL 18 gave its NOT NULL constraint at the start.
    pub(super) fn enforce_not_null_as(
        &mut self,
        t: &T,
        col: &Ident,
        named_for: &Ident,
    ) -> (Vec<Step>, Vec<Step>) {
        let chk = object_name(&[t.q.name.as_str(), named_for.as_str(), "not_null"]);
        let rollback = vec![self.brief(vec![
            format!(
                "ALTER TABLE {} ALTER COLUMN {} DROP NOT NULL;",
                t.sql,
                col.pg()
            ),
            format!(
                "ALTER TABLE {} DROP CONSTRAINT IF EXISTS {};",
                t.sql,
                quote_pg(&chk)
            ),
        ])];
        let forward = if self.v() >= 18 {
            vec![
                self.brief(vec![format!(
                    "ALTER TABLE {} ADD CONSTRAINT {} NOT NULL {} NOT VALID;",
                    t.sql,
                    quote_pg(&chk),
                    col.pg()
                )]),
                self.validate_constraint(t, &chk, false),
            ]
        } else if self.v() >= 12 {
            vec![
                self.brief(vec![format!(
                    "ALTER TABLE {} ADD CONSTRAINT {} CHECK ({} IS NOT NULL) NOT VALID;",
                    t.sql,
                    quote_pg(&chk),
                    col.pg()
                )]),
                self.validate_constraint(t, &chk, false),
                self.brief(vec![
                    format!(
                        "ALTER TABLE {} ALTER COLUMN {} SET NOT NULL;",
                        t.sql,
                        col.pg()
                    ),
                    format!("ALTER TABLE {} DROP CONSTRAINT {};", t.sql, quote_pg(&chk)),
                ]),
            ]
        } else {
            self.risks.push(format!(
                "PostgreSQL 11 cannot skip the scan of SET NOT NULL: {}.{} is scanned under ACCESS EXCLUSIVE (about 0.1 s per million rows); upgrade to 12+ to avoid it",
                t.q, col
            ));
            vec![self.guard(
                vec![format!(
                    "ALTER TABLE {} ALTER COLUMN {} SET NOT NULL;",
                    t.sql,
                    col.pg()
                )],
                Lock::AccessExclusive,
                Duration::Scan,
            )]
        };
        (forward, rollback)
    }

    pub(super) fn keyset(
        &mut self,
        t: &T,
        purpose: &[&str],
        body: &dyn Fn(&str, &str) -> String,
        remaining: String,
        strategy: &str,
    ) -> R<KeysetBackfill> {
        key_usable(t)?;
        let name = object_name(&{
            let mut p = vec!["schemashift_backfill", t.q.name.as_str()];
            p.extend_from_slice(purpose);
            p
        });
        let kb = keyset_backfill(self.s, &name, &t.sql, &t.keyset_key(), body);
        self.backfill = Some(Backfill {
            strategy: strategy.into(),
            table: t.q.to_string(),
            key: t
                .key_cols
                .iter()
                .map(|(c, _)| c.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            batch_size: self.s.batch_size,
            throttle: format!(
                "{} ms pause between batches; raise it if replication lag or app p99 latency grows",
                self.s.batch_pause_ms
            ),
            restart: if t.key_cols.len() == 1 {
                format!(
                    "safe to stop at any time: every batch commits on its own and only rows still to do are touched, so rerun the CALL; to skip what is done, pass start_after => the last key in the NOTICE output, e.g. CALL {}(start_after => 123456);",
                    quote_pg(&name)
                )
            } else {
                format!(
                    "safe to stop at any time: every batch commits on its own and only rows still to do are touched, so rerun the CALL; to skip what is done, pass the last key in the NOTICE output as start_after_1 => ... up to start_after_{n} => ..., one per key column in key order, e.g. CALL {}({});",
                    quote_pg(&name),
                    (1..=t.key_cols.len()).map(|i| format!("start_after_{i} => ...")).collect::<Vec<_>>().join(", "),
                    n = t.key_cols.len()
                )
            },
            procedure_sql: kb.procedure.clone(),
            call_sql: kb.call.clone(),
            batch_sql: kb.batch.clone(),
            batch_name: kb.batch_name.clone(),
            first_key_query: kb.first_key_query.clone(),
            batch_loop: kb.batch_loop.clone(),
            progress_query: format!(
                "SELECT ({remaining}) AS remaining, (SELECT count(*) FROM {}) AS total",
                t.sql
            ),
            completion_query: format!("SELECT ({remaining})"),
        });
        Ok(kb)
    }

    /// The backfill phase around a keyset backfill.
    pub(super) fn backfill_phase(
        &self,
        kb: &KeysetBackfill,
        remaining: &str,
        title: &str,
        apps: Vec<AppVersion>,
    ) -> Phase {
        let mut p = phase(PhaseKind::Backfill, title, "fill every existing row in keyset batches, one transaction per batch, touching only rows still to do");
        p.app = apps;
        p.forward = vec![
            self.step(kb.procedure.clone(), true, Lock::None, Duration::Brief),
            self.step(
                kb.call.clone(),
                false,
                Lock::RowExclusive,
                Duration::Statement,
            ),
            self.step(kb.drop.clone(), true, Lock::None, Duration::Brief),
        ];
        p.rollback = vec![self.step(kb.drop.clone(), true, Lock::None, Duration::Brief)];
        p.validation = vec![check(
            format!("SELECT ({remaining})"),
            "0",
            "no row is left to fill",
        )];
        p.advance_when = vec![
            "the completion query returns 0".into(),
            "replication lag and app latency are back to their baseline".into(),
        ];
        p.abort_when = vec![
            "app p99 latency or replication lag grows past your alert threshold: stop the CALL (cancel it; committed batches stay), raise batch_pause_ms, resume".into(),
            "the CALL fails on a row: fix the data it names, then rerun (finished batches are skipped)".into(),
        ];
        p.rollback_point =
            "the backfill only wrote the new shape; nothing reads it yet, so stopping here is safe"
                .into();
        p
    }

    /// A BEFORE trigger that keeps two representations of the same row in
    /// sync both ways: whichever side a writer set is copied to the other.
    pub(super) fn same_row_sync(
        &self,
        t: &T,
        label: &str,
        old: &[Ident],
        new: &[Ident],
        to_new: &[String],
        to_old: &[String],
    ) -> (Step, Step, Step) {
        let func_sql = sync_function_name(t, label);
        let trig = object_name(&[t.q.name.as_str(), label, "sync"]);
        let create_fn = self.step(
            sync_function(&func_sql, "CREATE", old, new, to_new, to_old, false),
            true,
            Lock::None,
            Duration::Brief,
        );
        let create_trigger = self.guard(
            vec![format!("CREATE TRIGGER {} BEFORE INSERT OR UPDATE ON {} FOR EACH ROW EXECUTE FUNCTION {func_sql}();", quote_pg(&trig), t.sql)],
            Lock::ShareRowExclusive,
            Duration::Brief,
        );
        let drop = self.guard(
            self.same_row_sync_drop(t, label),
            Lock::AccessExclusive,
            Duration::Brief,
        );
        (create_fn, create_trigger, drop)
    }

    /// The statements that remove [`Self::same_row_sync`]'s trigger and function.
    pub(super) fn same_row_sync_drop(&self, t: &T, label: &str) -> Vec<String> {
        let trig = object_name(&[t.q.name.as_str(), label, "sync"]);
        vec![
            format!("DROP TRIGGER IF EXISTS {} ON {};", quote_pg(&trig), t.sql),
            format!(
                "DROP FUNCTION IF EXISTS {}();",
                sync_function_name(t, label)
            ),
        ]
    }

    /// An AFTER trigger on `src` that pushes changed columns to the matching
    /// row of `dst` (only when they differ, so the two triggers of a pair
    /// stop after one round).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn push_trigger(
        &self,
        label: &str,
        src: &T,
        src_match: &Ident,
        src_cols: &[Ident],
        dst: &T,
        dst_match: &Ident,
        dst_cols: &[Ident],
        upsert: bool,
    ) -> (Step, Step, Step) {
        let func = object_name(&["schemashift_push", src.q.name.as_str(), label]);
        let trig = object_name(&[src.q.name.as_str(), label, "push"]);
        let func_sql = match &src.q.schema {
            Some(s) => format!("{}.{}", s.pg(), quote_pg(&func)),
            None => quote_pg(&func),
        };
        let new_vals = src_cols
            .iter()
            .map(|c| format!("NEW.{}", c.pg_quoted()))
            .collect::<Vec<_>>();
        let dst_row = format!(
            "ROW({})",
            dst_cols
                .iter()
                .map(|c| format!("d.{}", c.pg_quoted()))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let set = dst_cols
            .iter()
            .zip(&new_vals)
            .map(|(d, v)| format!("{} = {v}", d.pg_quoted()))
            .collect::<Vec<_>>()
            .join(", ");
        let write = if upsert {
            let excluded_set = dst_cols
                .iter()
                .map(|d| format!("{} = EXCLUDED.{}", d.pg_quoted(), d.pg_quoted()))
                .collect::<Vec<_>>()
                .join(", ");
            let excl_row = format!(
                "ROW({})",
                dst_cols
                    .iter()
                    .map(|c| format!("EXCLUDED.{}", c.pg_quoted()))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            format!(
                "INSERT INTO {dst} AS d ({dm}, {dc}) VALUES (NEW.{sm}, {nv})\n    ON CONFLICT ({dm}) DO UPDATE SET {excluded_set} WHERE {dst_row} IS DISTINCT FROM {excl_row};",
                dst = dst.sql,
                dm = dst_match.pg_quoted(),
                dc = dst_cols.iter().map(Ident::pg_quoted).collect::<Vec<_>>().join(", "),
                sm = src_match.pg_quoted(),
                nv = new_vals.join(", "),
            )
        } else {
            format!(
                "UPDATE {dst} AS d SET {set} WHERE d.{dm} = NEW.{sm} AND {dst_row} IS DISTINCT FROM ROW({nv});",
                dst = dst.sql,
                dm = dst_match.pg_quoted(),
                sm = src_match.pg_quoted(),
                nv = new_vals.join(", "),
            )
        };
        let body = format!("BEGIN\n  {write}\n  RETURN NULL;\nEND\n");
        let tag = sql::dollar_tag("push", &body);
        let cols = names(src_cols).join(", ");
        (
            self.step(format!("CREATE FUNCTION {func_sql}() RETURNS trigger LANGUAGE plpgsql AS {tag}\n{body}{tag};"), true, Lock::None, Duration::Brief),
            self.guard(
                vec![format!("CREATE TRIGGER {} AFTER INSERT OR UPDATE OF {cols} ON {} FOR EACH ROW EXECUTE FUNCTION {func_sql}();", quote_pg(&trig), src.sql)],
                Lock::ShareRowExclusive,
                Duration::Brief,
            ),
            self.guard(
                vec![format!("DROP TRIGGER IF EXISTS {} ON {};", quote_pg(&trig), src.sql), format!("DROP FUNCTION IF EXISTS {func_sql}();")],
                Lock::AccessExclusive,
                Duration::Brief,
            ),
        )
    }

    pub(super) fn cic(
        &self,
        t: &T,
        name: &str,
        unique: bool,
        parts: &str,
        method: Option<&str>,
        predicate: Option<&str>,
    ) -> (Step, Step) {
        let idx = match &t.q.schema {
            Some(s) => format!("{}.{}", s.pg(), quote_pg(name)),
            None => quote_pg(name),
        };
        let create = format!(
            "CREATE {}INDEX CONCURRENTLY {} ON {}{} ({parts}){};",
            if unique { "UNIQUE " } else { "" },
            quote_pg(name),
            t.sql,
            method
                .map(|m| format!(" USING {}", m.to_ascii_lowercase()))
                .unwrap_or_default(),
            predicate.map(|p| format!(" WHERE {p}")).unwrap_or_default()
        );
        (
            self.step(
                create,
                false,
                Lock::ShareUpdateExclusive,
                Duration::IndexBuild,
            ),
            self.step(
                format!("DROP INDEX CONCURRENTLY IF EXISTS {idx};"),
                false,
                Lock::ShareUpdateExclusive,
                Duration::Brief,
            ),
        )
    }

    pub(super) fn index_abort(&self, t: &T, name: &str) -> String {
        let idx = match &t.q.schema {
            Some(s) => format!("{}.{}", s.pg(), quote_pg(name)),
            None => quote_pg(name),
        };
        format!(
            "the build fails (a duplicate, a deadlock, a cancel): it leaves an INVALID index behind; find it with `{}` returning 0 while the index exists, drop it with `DROP INDEX CONCURRENTLY IF EXISTS {idx};` and retry",
            sql::index_valid(t.schema(), name)
        )
    }
}

/// Without a schema the plan cannot know whether a column that stops being
/// written is NOT NULL; relaxing it blindly would make the rollback guess.
/// This check stops the rollout there instead, with the fix in its meaning.
pub(super) fn nullable_gate(p: &mut Planner, t: &T, c: &Ident, release: &str) -> Check {
    p.assume(format!(
        "{}.{c} is assumed nullable (no schema given): the check before {release} stops the rollout if it is NOT NULL",
        t.q
    ));
    check(
        sql::column_not_null(&t.sql, c.as_str()),
        "0",
        format!(
            "{}.{c} accepts NULL, so {release} can insert rows without it; if this returns 1, run ALTER TABLE {} ALTER COLUMN {} DROP NOT NULL; first (or plan again with the schema, which adds that step and its rollback)",
            t.q,
            t.sql,
            c.pg()
        ),
    )
}
