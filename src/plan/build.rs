//! The phases of each change type, built from the blocks in [`super::sql`].

use super::estimate::{self, DEFAULT_ROWS};
use super::sql::{self, guarded, keyset_backfill, object_name, KeysetBackfill};
use super::*;
use crate::change::{singular, ColumnSpec, EnumOp, Fill};
use crate::engine::Duration;
use crate::ident::{literal_pg, quote_pg, Ident, QualifiedName};
use crate::pattern::Pattern;
use crate::schema::{Column, Table};
use crate::sqltext::is_volatile_default;

type R<T> = Result<T, PlanError>;

fn invalid(msg: impl Into<String>) -> PlanError {
    PlanError::Invalid(msg.into())
}

/// A table as the plan knows it: quoted name, keyset key, and what the schema says.
struct T {
    q: QualifiedName,
    sql: String,
    key: Ident,
    key_type: String,
    /// Why this table cannot be walked by key, if it cannot; only backfills care.
    key_problem: Option<String>,
    info: Option<Table>,
}

impl T {
    fn col(&self, c: &Ident) -> Option<&Column> {
        self.info.as_ref().and_then(|t| t.column(c))
    }
    /// The schema when the name gave one.
    fn schema(&self) -> Option<&str> {
        self.q.schema.as_ref().map(|s| s.as_str())
    }
}

struct Planner<'a> {
    ctx: &'a Context,
    s: &'a Settings,
    schema: Option<&'a Schema>,
    rows: u64,
    assumptions: Vec<String>,
    risks: Vec<String>,
    backfill: Option<Backfill>,
    /// Build the first phase whole and only the kind and title of the
    /// others (see [`super::outline_phases`]).
    outline: bool,
}

/// Whether keyset batches can walk the table's key (see [`Planner::keyset`]).
fn key_usable(t: &T) -> R<()> {
    match &t.key_problem {
        Some(problem) => Err(PlanError::Unsupported(problem.clone())),
        None => Ok(()),
    }
}

/// The name of the function behind a same-row sync trigger, as SQL.
fn sync_function_name(t: &T, label: &str) -> String {
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
fn sync_function(
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
        "BEGIN\n  IF TG_OP = 'INSERT' THEN\n    IF {new_null} THEN\n      {fill_new}\n    ELSIF {old_null} THEN\n      {fill_old}\n    END IF;\n  ELSIF {old_new_row} IS DISTINCT FROM {old_old_row} AND {new_new_row} IS NOT DISTINCT FROM {new_old_row} THEN\n    {fill_new}\n  ELSIF {new_new_row} IS DISTINCT FROM {new_old_row} AND {old_new_row} IS NOT DISTINCT FROM {old_old_row} THEN\n    {fill_old}\n  END IF;\n  RETURN NEW;\nEND\n",
        new_null = all_null(new),
        old_null = all_null(old),
        fill_new = assign(to_new, new),
        old_new_row = row("NEW.", old),
        old_old_row = row("OLD.", old),
        new_new_row = row("NEW.", new),
        new_old_row = row("OLD.", new),
    );
    let tag = sql::dollar_tag("sync", &body);
    format!(
        "{create} FUNCTION {func_sql}() RETURNS trigger LANGUAGE plpgsql AS {tag}\n{body}{tag};"
    )
}

fn app(version: &str, reads: &[String], writes: &[String]) -> AppVersion {
    AppVersion {
        version: version.into(),
        reads: reads.to_vec(),
        writes: writes.to_vec(),
    }
}

fn phase(kind: PhaseKind, title: impl Into<String>, goal: impl Into<String>) -> Phase {
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

fn check(sql: impl Into<String>, expect: &str, meaning: impl Into<String>) -> Check {
    Check {
        sql: sql.into(),
        expect: expect.into(),
        meaning: meaning.into(),
    }
}

fn names(cols: &[Ident]) -> Vec<String> {
    cols.iter().map(|c| c.pg()).collect()
}

fn qualified(t: &T, cols: &[Ident]) -> Vec<String> {
    cols.iter().map(|c| format!("{}.{}", t.q, c)).collect()
}

impl<'a> Planner<'a> {
    fn v(&self) -> u32 {
        self.ctx.version()
    }

    fn assume(&mut self, a: impl Into<String>) {
        let a = a.into();
        if !self.assumptions.contains(&a) {
            self.assumptions.push(a);
        }
    }

    fn ident(&self, what: &str, raw: &str) -> R<Ident> {
        Ident::parse(what, raw).map_err(|e| invalid(e.to_string()))
    }

    /// A name the plan makes up from user names (`<column>_new`): taken as
    /// it is (never folded or trimmed like user input) and kept within
    /// 63 bytes by [`object_name`].
    fn derived(&self, what: &str, parts: &[&str]) -> R<Ident> {
        Ident::new(what, object_name(parts)).map_err(|e| invalid(e.to_string()))
    }

    fn table(&mut self, raw: &str) -> R<T> {
        let q = QualifiedName::parse("table", raw).map_err(|e| invalid(e.to_string()))?;
        let info = self.schema.and_then(|s| s.table(&q)).cloned();
        let mut key_problem = None;
        let (key, key_type) = match &info {
            Some(t) if t.primary_key.len() == 1 => {
                let k = t.primary_key[0].clone();
                let ty = t
                    .column(&k)
                    .map(|c| c.data_type.clone())
                    .unwrap_or_else(|| "bigint".into());
                let ty = match ty.as_str() {
                    "serial" => "integer".into(),
                    "bigserial" => "bigint".into(),
                    "smallserial" => "smallint".into(),
                    _ => ty,
                };
                (k, ty)
            }
            Some(t) => {
                key_problem = Some(if t.primary_key.is_empty() {
                    format!("{q} has no primary key in the schema given: backfills walk the table in primary-key order; add a primary key first (add_primary_key) or include its ALTER TABLE ... ADD CONSTRAINT ... PRIMARY KEY in the schema")
                } else {
                    format!("{q} has a composite primary key: keyset batching here walks a single-column key; add a single-column unique key or backfill with your own tooling")
                });
                (
                    Ident::new("key", "id").map_err(|e| invalid(e.to_string()))?,
                    "bigint".into(),
                )
            }
            None => {
                self.assume(format!("{q} has a single-column primary key `id` of type bigint (no schema given for it)"));
                (
                    Ident::new("key", "id").map_err(|e| invalid(e.to_string()))?,
                    "bigint".into(),
                )
            }
        };
        let sql = q.pg();
        Ok(T {
            q,
            sql,
            key_problem,
            key,
            key_type,
            info,
        })
    }

    fn step(&self, sql: String, transactional: bool, lock: Lock, duration: Duration) -> Step {
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
    fn guard(&self, body: Vec<String>, lock: Lock, duration: Duration) -> Step {
        self.step(guarded(self.s, &body), true, lock, duration)
    }

    fn brief(&self, body: Vec<String>) -> Step {
        self.guard(body, Lock::AccessExclusive, Duration::Brief)
    }

    fn validate_constraint(&self, t: &T, name: &str, fk: bool) -> Step {
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
    fn add_column_like(
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
    fn enforce_not_null(&mut self, t: &T, col: &Ident) -> (Vec<Step>, Vec<Step>) {
        let chk = object_name(&[t.q.name.as_str(), col.as_str(), "not_null"]);
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

    fn keyset(
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
        let kb = keyset_backfill(self.s, &name, &t.sql, &t.key.pg(), &t.key_type, body);
        self.backfill = Some(Backfill {
            strategy: strategy.into(),
            table: t.q.to_string(),
            key: t.key.to_string(),
            batch_size: self.s.batch_size,
            throttle: format!("{} ms pause between batches; raise it if replication lag or app p99 latency grows", self.s.batch_pause_ms),
            restart: format!(
                "safe to stop at any time: every batch commits on its own and only rows still to do are touched, so rerun the CALL; to skip what is done, pass start_after => the last key in the NOTICE output, e.g. CALL {}(start_after => 123456);",
                quote_pg(&name)
            ),
            procedure_sql: kb.procedure.clone(),
            call_sql: kb.call.clone(),
            batch_sql: kb.batch.clone(),
            batch_name: kb.batch_name.clone(),
            first_key_query: kb.first_key_query.clone(),
            batch_loop: kb.batch_loop.clone(),
            progress_query: format!("SELECT ({remaining}) AS remaining, (SELECT count(*) FROM {}) AS total", t.sql),
            completion_query: format!("SELECT ({remaining})"),
        });
        Ok(kb)
    }

    /// The backfill phase around a keyset backfill.
    fn backfill_phase(
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
    fn same_row_sync(
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
    fn same_row_sync_drop(&self, t: &T, label: &str) -> Vec<String> {
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
    fn push_trigger(
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

    fn cic(
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

    fn index_abort(&self, t: &T, name: &str) -> String {
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

/// Builds every phase of the plan and the tables derived from them.
pub(super) fn build(
    change: &Change,
    ctx: &Context,
    s: &Settings,
    schema: Option<&Schema>,
    classification: Classification,
) -> R<Plan> {
    let (p, phases) = construct(change, ctx, s, schema, false)?;
    finish(p, change, classification, phases)
}

/// The phases of the plan, as [`build`] puts them in the plan, without the
/// estimates, runbook and tables built around them; with `outline`, the
/// phases after the first may hold only their kind and title.
pub(super) fn phases(
    change: &Change,
    ctx: &Context,
    s: &Settings,
    schema: Option<&Schema>,
    outline: bool,
) -> R<Vec<Phase>> {
    let (p, all) = construct(change, ctx, s, schema, outline)?;
    selected(&p, change, all)
}

/// `built` followed by phases holding only a kind and a title: the rest of
/// a plan in outline.
fn outlined(mut built: Vec<Phase>, rest: Vec<(PhaseKind, String)>) -> Vec<Phase> {
    built.extend(rest.into_iter().map(|(kind, title)| phase(kind, title, "")));
    built
}

/// Every phase of the change, numbered.
fn construct<'a>(
    change: &Change,
    ctx: &'a Context,
    s: &'a Settings,
    schema: Option<&'a Schema>,
    outline: bool,
) -> R<(Planner<'a>, Vec<Phase>)> {
    let rows = ctx.rows.unwrap_or(DEFAULT_ROWS);
    let mut p = Planner {
        ctx,
        s,
        schema,
        rows,
        assumptions: Vec::new(),
        risks: Vec::new(),
        backfill: None,
        outline,
    };
    if ctx.rows.is_none() {
        p.assume(format!(
            "about {DEFAULT_ROWS} rows (no row count given): estimates scale linearly"
        ));
    }
    if schema.is_none() {
        p.assume("no schema given: column types, NOT NULLs, defaults and indexes are not known; pass the CREATE TABLE DDL (schema / --schema) to have them carried over exactly");
    }
    let pattern = Pattern::for_change(change, ctx);
    let mut phases = match change {
        Change::AddColumn {
            table,
            column,
            data_type,
            default,
        } => add_column(
            &mut p,
            pattern,
            table,
            column,
            data_type,
            default.as_deref(),
        )?,
        Change::AddNotNullColumn {
            table,
            column,
            data_type,
            default,
            fill,
        } => add_not_null_column(
            &mut p,
            pattern,
            table,
            column,
            data_type,
            default.as_deref(),
            fill.as_ref(),
        )?,
        Change::DropColumn { table, column } => drop_column(&mut p, table, column)?,
        Change::RenameColumn {
            table,
            column,
            new_name,
        } => rename_column(&mut p, table, column, new_name)?,
        Change::ChangeColumnType {
            table,
            column,
            from_type,
            to_type,
            using,
        } => change_type(
            &mut p,
            pattern,
            table,
            column,
            from_type.as_deref(),
            to_type,
            using.as_deref(),
        )?,
        Change::SetNotNull { table, column } => set_not_null(&mut p, table, column)?,
        Change::DropNotNull { table, column } => drop_not_null(&mut p, table, column)?,
        Change::SetDefault {
            table,
            column,
            default,
        } => set_default(&mut p, table, column, default.as_deref())?,
        Change::AddIndex {
            table,
            columns,
            name,
            unique,
            method,
            predicate,
        } => add_index(
            &mut p,
            table,
            columns,
            name.as_deref(),
            *unique,
            method.as_deref(),
            predicate.as_deref(),
        )?,
        Change::DropIndex { name, table } => drop_index(&mut p, name, table.as_deref())?,
        Change::AddUniqueConstraint {
            table,
            columns,
            name,
        } => add_unique(&mut p, table, columns, name.as_deref(), false)?,
        Change::AddPrimaryKey {
            table,
            columns,
            name,
        } => add_unique(&mut p, table, columns, name.as_deref(), true)?,
        Change::AddForeignKey {
            table,
            columns,
            references_table,
            references_columns,
            name,
            on_delete,
        } => add_foreign_key(
            &mut p,
            table,
            columns,
            references_table,
            references_columns,
            name.as_deref(),
            on_delete.as_deref(),
        )?,
        Change::AddCheckConstraint {
            table,
            expression,
            name,
        } => add_check(&mut p, table, expression, name.as_deref())?,
        Change::SplitColumn {
            table,
            column,
            into,
        } => split_column(&mut p, table, column, into)?,
        Change::MergeColumns {
            table,
            columns,
            into,
            data_type,
            expression,
        } => merge_columns(
            &mut p,
            table,
            columns,
            into,
            data_type.as_deref(),
            expression.as_deref(),
        )?,
        Change::MoveColumn {
            column,
            from_table,
            to_table,
            data_type,
            key,
        } => move_column(
            &mut p,
            column,
            from_table,
            to_table,
            data_type.as_deref(),
            key.as_deref(),
        )?,
        Change::SplitTable {
            table,
            new_table,
            columns,
            key,
        } => split_table(&mut p, table, new_table, columns, key.as_deref())?,
        Change::MergeTables {
            table,
            other,
            columns,
            key,
        } => merge_tables(&mut p, table, other, columns, key.as_deref())?,
        Change::RenameTable { table, new_name } => rename_table(&mut p, table, new_name)?,
        Change::DropTable { table } => drop_table(&mut p, table)?,
        Change::CreateTable { table, columns } => create_table(&mut p, table, columns)?,
        Change::EnumChange {
            type_name,
            operation,
        } => enum_change(&mut p, type_name, operation)?,
        Change::BackfillOnly {
            table,
            column,
            fill,
            predicate,
        } => backfill_only(&mut p, table, column, fill, predicate.as_deref())?,
    };
    for (i, ph) in phases.iter_mut().enumerate() {
        ph.id = format!("p{}-{}", i + 1, ph.kind.as_str().replace('_', "-"));
    }
    Ok((p, phases))
}

/// The phases of the mode asked for, each with what should make the team
/// abort it.
fn selected(p: &Planner, change: &Change, mut all: Vec<Phase>) -> R<Vec<Phase>> {
    for ph in all.iter_mut().filter(|ph| !ph.forward.is_empty()) {
        if ph.forward.iter().any(|s| s.sql.contains("CREATE TRIGGER")) {
            ph.abort_when.push("app write latency or errors rise once the sync trigger is in place: run this phase's rollback (it drops the trigger)".into());
        }
        if ph.forward.iter().any(|s| s.sql.contains("lock_timeout"))
            && !ph.abort_when.iter().any(|a| a.contains("retries"))
        {
            ph.abort_when.push("a statement gives up after its retries: find the blocking transaction in pg_stat_activity, let it finish, run the step again".into());
        }
    }
    let keep: Vec<PhaseKind> = match p.s.mode {
        PlanMode::Plan => all.iter().map(|ph| ph.kind).collect(),
        PlanMode::Backfill => vec![PhaseKind::Backfill, PhaseKind::Validate],
        PlanMode::Cutover => vec![
            PhaseKind::CutoverReads,
            PhaseKind::CutoverWrites,
            PhaseKind::Deploy,
        ],
        PlanMode::Deprecate => vec![PhaseKind::Contract],
    };
    let chosen: Vec<bool> = all
        .iter()
        .enumerate()
        .map(|(i, ph)| {
            keep.contains(&ph.kind)
                // Deprecating includes the release that stops using the old shape.
                || (p.s.mode == PlanMode::Deprecate
                    && ph.kind == PhaseKind::Deploy
                    && all.get(i + 1).is_some_and(|next| next.kind == PhaseKind::Contract))
        })
        .collect();
    if !chosen.contains(&true) {
        return Err(PlanError::Unsupported(
            format!(
                "{} has no {:?} stage: its phases are {}; ask for the whole plan (mode plan)",
                change.change_type(),
                p.s.mode,
                all.iter()
                    .map(|ph| ph.kind.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
            .to_lowercase(),
        ));
    }
    Ok(all
        .into_iter()
        .zip(chosen)
        .filter_map(|(ph, chosen)| chosen.then_some(ph))
        .collect())
}

fn finish(
    p: Planner,
    change: &Change,
    mut classification: Classification,
    all: Vec<Phase>,
) -> R<Plan> {
    classification.phases = all.iter().map(|ph| ph.kind).collect();
    let phases = selected(&p, change, all)?;
    let compatibility = phases
        .iter()
        .map(|ph| {
            let locks = ph
                .forward
                .iter()
                .map(|s| s.lock)
                .max()
                .unwrap_or(Lock::None);
            let heavy = ph
                .forward
                .iter()
                .any(|s| s.lock.conflicts_with_app() && s.scans_table);
            CompatRow {
                step: format!("{}: {}", ph.id, ph.title),
                backward_compatible: ph.data_loss.is_none(),
                risk: if ph.data_loss.is_some() {
                    Risk::High
                } else if heavy {
                    Risk::Medium
                } else {
                    Risk::Low
                },
                note: match (
                    &ph.data_loss,
                    ph.app
                        .iter()
                        .map(|a| a.version.as_str())
                        .collect::<Vec<_>>(),
                ) {
                    (Some(d), _) => format!("destructive: {d}"),
                    (None, live) => format!(
                        "live app versions: {}; strongest lock {} ({})",
                        if live.is_empty() {
                            "all".into()
                        } else {
                            live.join(", ")
                        },
                        locks,
                        locks.blocks()
                    ),
                },
            }
        })
        .collect();
    let lock_impact = phases
        .iter()
        .flat_map(|ph| {
            ph.forward
                .iter()
                .filter(|s| s.lock != Lock::None)
                .map(|s| LockImpact {
                    phase: ph.id.clone(),
                    statement: headline(&s.sql),
                    lock: s.lock,
                    blocks: s.blocks.clone(),
                    rewrites_table: s.rewrites_table,
                    scans_table: s.scans_table,
                    estimated_seconds: s.estimated_seconds,
                })
        })
        .collect();
    let (batches, backfill_seconds) = match &p.backfill {
        Some(_) => {
            let (b, s) = estimate::backfill_seconds(p.rows, p.s.batch_size, p.s.batch_pause_ms);
            (Some(b), Some(s))
        }
        None => (None, None),
    };
    let total: f64 = phases
        .iter()
        .flat_map(|ph| &ph.forward)
        .map(|s| s.estimated_seconds)
        .sum();
    let max_wait = phases
        .iter()
        .flat_map(|ph| &ph.forward)
        .filter(|s| s.lock.conflicts_with_app())
        .map(|s| {
            if s.sql.contains("lock_timeout") {
                s.estimated_seconds + p.s.lock_timeout_ms as f64 / 1000.0
            } else {
                s.estimated_seconds
            }
        })
        .fold(0.0, f64::max);
    let estimates = Estimates {
        rows: p.ctx.rows,
        batches,
        backfill_seconds,
        total_db_seconds: (total * 1000.0).round() / 1000.0,
        max_app_wait_seconds: (max_wait * 1000.0).round() / 1000.0,
        basis: estimate::BASIS.into(),
        load: match (batches, p.ctx.writes_per_second) {
            (Some(b), Some(w)) => format!("{b} batches of {} rows; each batch holds its rows' locks for milliseconds, adding about one extra write per row against {w} app writes/s", p.s.batch_size),
            (Some(b), None) => format!("{b} batches of {} rows, each its own short transaction; WAL and replication traffic grow by about the size of the rows rewritten", p.s.batch_size),
            (None, _) => "no backfill: catalog changes and index builds only".into(),
        },
    };
    let runbook = Runbook {
        pre_checks: vec![
            "a backup (or snapshot) taken today has been restored and checked somewhere else".into(),
            "the plan has been rehearsed on a copy with production-sized data, and the timings compared with the estimates".into(),
            "the window is off-peak, with the team that owns the app on hand".into(),
            "the connection pool has headroom: a stalled statement must not exhaust it (check max_connections and pool size)".into(),
            "no long-running transaction is open on the tables involved: SELECT pid, now() - xact_start AS age, state, query FROM pg_stat_activity WHERE xact_start < now() - interval '5 minutes' ORDER BY xact_start;".into(),
            "replication lag is near zero and disk has room for the WAL the change writes".into(),
        ],
        phases: phases
            .iter()
            .map(|ph| {
                let mut checklist = Vec::new();
                if !ph.app.is_empty() {
                    checklist.push(format!("live app versions: {}", ph.app.iter().map(|a| a.version.as_str()).collect::<Vec<_>>().join(", ")));
                }
                for (i, s) in ph.forward.iter().enumerate() {
                    checklist.push(format!(
                        "run forward step {} ({}{})",
                        i + 1,
                        if s.transactional { "in its own transaction" } else { "outside any transaction block" },
                        if s.lock.conflicts_with_app() { format!(", takes {} briefly, retries on lock timeout", s.lock) } else { String::new() }
                    ));
                }
                for c in &ph.validation {
                    checklist.push(format!("check `{}` returns {}", c.sql, c.expect));
                }
                checklist.extend(ph.advance_when.iter().map(|a| format!("advance when {a}")));
                ChecklistExt::push_data_loss(&mut checklist, &ph.data_loss);
                RunbookPhase { phase: format!("{}: {}", ph.id, ph.title), checklist }
            })
            .collect(),
    };
    let mut risks = p.risks;
    risks.extend(classification.red_flags.iter().cloned());
    Ok(Plan {
        schema_version: SCHEMA_VERSION,
        summary: format!(
            "{} in {} phase(s): {}",
            change.describe(),
            phases.len(),
            classification.strategy
        ),
        change_type: change.change_type(),
        change: change.clone(),
        mode: p.s.mode,
        dual_write: p.s.dual_write,
        invariants: classification.invariants.clone(),
        classification,
        assumptions: p.assumptions,
        compatibility,
        phases,
        lock_impact,
        backfill: p.backfill,
        estimates,
        runbook,
        risks,
    })
}

struct ChecklistExt;
impl ChecklistExt {
    fn push_data_loss(list: &mut Vec<String>, loss: &Option<String>) {
        if let Some(l) = loss {
            list.push(format!("DATA LOSS: {l}; confirm the backup before running"));
        }
    }
}

fn add_column(
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
        let (tsql, key, cp) = (t.sql.clone(), t.key.pg(), c.pg());
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
type BatchBody = Box<dyn Fn(&str, &str) -> String>;

fn fill_body(t: &T, c: &Ident, fill: &Fill, local_default: &str) -> R<(BatchBody, String, String)> {
    let (tsql, key, cp) = (t.sql.clone(), t.key.pg(), c.pg());
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
                    format!("UPDATE {tsql} AS t SET {cp} = s.{scp} FROM {ssql} AS s WHERE s.{rkp} = t.{lkp} AND t.{key} >= {lo} AND t.{key} <= {hi} AND t.{cp} IS DISTINCT FROM s.{scp}")
                }),
                remaining,
                strategy,
            ))
        }
    }
}

fn add_not_null_column(
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
    bf.abort_when.push(format!("rows stay NULL after the backfill (no matching source row): decide their value before enforcing NOT NULL; list them with SELECT {} FROM {} WHERE {} IS NULL LIMIT 100", t.key.pg(), t.sql, c.pg()));
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

fn drop_column(p: &mut Planner, table: &str, column: &str) -> R<Vec<Phase>> {
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

/// Expand/contract phases shared by rename, split and merge of columns.
struct Reshape<'a> {
    t: &'a T,
    label: &'a str,
    old: Vec<Ident>,
    new: Vec<Ident>,
    add_new: Vec<String>,
    to_new: Vec<String>,
    to_old: Vec<String>,
    what: String,
}

fn reshape_same_table(p: &mut Planner, r: Reshape) -> R<Vec<Phase>> {
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
    let (tsql, key) = (t.sql.clone(), t.key.pg());
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
        let (tsql, key) = (t.sql.clone(), t.key.pg());
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
            &t.key.pg(),
            &t.key_type,
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

fn rename_column(p: &mut Planner, table: &str, column: &str, new_name: &str) -> R<Vec<Phase>> {
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

fn split_column(p: &mut Planner, table: &str, column: &str, into: &[ColumnSpec]) -> R<Vec<Phase>> {
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

fn merge_columns(
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

fn change_type(
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
    let is_pk = t.key == c && t.info.is_some();
    if is_pk {
        return Err(PlanError::Unsupported(format!(
            "{}.{c} is the primary key: changing its type also swaps the primary-key constraint, its sequence and every foreign key that references it; plan those as separate changes (add_unique_constraint on the shadow column, then the key swap) or use a dedicated tool",
            t.q
        )));
    }
    let shadow = p.derived("shadow column", &[c.as_str(), "new"])?;
    let old_name = p.derived("old column", &[c.as_str(), "old"])?;
    let bf_title = format!("Backfill {}.{shadow}", t.q);
    let val_title = format!("Prove {shadow} equals {c} converted");
    let sw_title = format!("Swap {c} and {shadow} in one short transaction");
    let con_title = format!("Drop {old_name} and the sync trigger");
    let conv = match using {
        Some(u) => format!("({u})"),
        None => format!("{}::{to_type}", c.pg()),
    };
    let back = match &from {
        Some(f) => format!("{}::{f}", shadow.pg()),
        None => {
            p.assume(format!("values written to {shadow} before the swap are cast back to the old type of {c} by name"));
            shadow.pg().to_string()
        }
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
        &[conv.replace(&c.pg(), &format!("r.{}", c.pg()))],
        &[back.replace(&shadow.pg(), &format!("r.{}", shadow.pg()))],
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
    ex.rollback = vec![
        trig_drop,
        p.brief(vec![format!(
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
    let (tsql, key, sp, cv) = (t.sql.clone(), t.key.pg(), shadow.pg(), conv.clone());
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
    if col_info.as_ref().is_some_and(|ci| ci.not_null) {
        let (fwd, rb) = p.enforce_not_null(&t, &shadow);
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
            let (create, drop) = p.cic(&t, &name, idx.unique, &shadow.pg(), None, None);
            val.forward.push(create);
            val.rollback.insert(0, drop);
        }
    } else {
        p.assume(format!(
            "no indexes or constraints on {}.{c} need copying (no schema given)",
            t.q
        ));
    }
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
    let sync_between = |old: &Ident, new: &Ident, lenient: bool| {
        sync_function(
            &func_sql,
            "CREATE OR REPLACE",
            std::slice::from_ref(old),
            std::slice::from_ref(new),
            &[conv.replace(&c.pg(), &format!("r.{}", old.pg()))],
            &[back.replace(&shadow.pg(), &format!("r.{}", new.pg()))],
            lenient,
        )
    };
    swap.push(sync_between(&old_name, &c, true));
    unswap.push(sync_between(&c, &shadow, false));
    sw.forward = vec![p.brief(swap)];
    if col_info.as_ref().is_some_and(|ci| ci.not_null) {
        let (fwd, _) = p.enforce_not_null(&t, &old_name);
        sw.rollback.extend(fwd);
    }
    sw.rollback.push(p.brief(unswap));
    sw.validation.push(check(
        format!(
            "SELECT count(*) FROM {} WHERE {} IS DISTINCT FROM {}",
            t.sql,
            c.pg(),
            conv.replace(&c.pg(), &old_name.pg())
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

/// `varchar(255)` -> `255 + 4`, the typmod format_type expects; -1 otherwise.
fn typmod_sql(ty: &str) -> String {
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

fn set_not_null(p: &mut Planner, table: &str, column: &str) -> R<Vec<Phase>> {
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

fn drop_not_null(p: &mut Planner, table: &str, column: &str) -> R<Vec<Phase>> {
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

fn set_default(p: &mut Planner, table: &str, column: &str, default: Option<&str>) -> R<Vec<Phase>> {
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

fn index_name(t: &T, parts: &[String], suffix: &str) -> String {
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

fn key_parts(p: &Planner, parts: &[String]) -> R<String> {
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

fn add_index(
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

fn drop_index(p: &mut Planner, name: &str, table: Option<&str>) -> R<Vec<Phase>> {
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
            let t = T {
                sql: tinfo.name.pg(),
                key_problem: None,
                q: tinfo.name.clone(),
                key: Ident::new("key", "id").map_err(|e| invalid(e.to_string()))?,
                key_type: "bigint".into(),
                info: Some(tinfo),
            };
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

fn add_unique(
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

fn add_foreign_key(
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

fn add_check(p: &mut Planner, table: &str, expression: &str, name: Option<&str>) -> R<Vec<Phase>> {
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

/// Cross-table moves: columns of `src` copied to `dst`, rows matched by
/// `dst.dst_key = src.src_key`, kept in sync by a pair of triggers.
struct Move<'a> {
    src: &'a T,
    src_key: Ident,
    dst: &'a T,
    dst_key: Ident,
    cols: Vec<Ident>,
    /// The destination table is new (split_table): rows are upserted.
    dst_is_new: bool,
    create_dst: Vec<Step>,
    drop_dst: Vec<Step>,
    /// What the contract removes: the source columns, or the whole source table.
    contract_drops_table: bool,
    label: String,
}

fn move_between_tables(p: &mut Planner, m: Move) -> R<Vec<Phase>> {
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

fn move_column(
    p: &mut Planner,
    column: &str,
    from_table: &str,
    to_table: &str,
    ty: Option<&str>,
    key: Option<&str>,
) -> R<Vec<Phase>> {
    let src = p.table(from_table)?;
    let dst = p.table(to_table)?;
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

fn split_table(
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
    let dst = T {
        key_problem: None,
        sql: nq.pg(),
        q: nq.clone(),
        key: dst_key.clone(),
        key_type: src.key_type.clone(),
        info: None,
    };
    let mut body = vec![format!(
        "CREATE TABLE {} ({} {} PRIMARY KEY REFERENCES {} ({}) ON DELETE CASCADE);",
        dst.sql,
        dst_key.pg(),
        src.key_type,
        src.sql,
        src.key.pg()
    )];
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

fn merge_tables(
    p: &mut Planner,
    table: &str,
    other: &str,
    columns: &[String],
    key: Option<&str>,
) -> R<Vec<Phase>> {
    let dst = p.table(table)?;
    let src = p.table(other)?;
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

fn rename_table(p: &mut Planner, table: &str, new_name: &str) -> R<Vec<Phase>> {
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

fn drop_table(p: &mut Planner, table: &str) -> R<Vec<Phase>> {
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

fn create_table(p: &mut Planner, table: &str, columns: &[ColumnSpec]) -> R<Vec<Phase>> {
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

fn enum_change(p: &mut Planner, type_name: &str, op: &EnumOp) -> R<Vec<Phase>> {
    let ty = QualifiedName::parse("type_name", type_name).map_err(|e| invalid(e.to_string()))?;
    let label_count = |v: &str| {
        format!(
            "SELECT count(*) FROM pg_enum WHERE enumtypid = to_regtype({}) AND enumlabel = {}",
            literal_pg(&ty.pg()),
            literal_pg(v)
        )
    };
    let add = |p: &Planner, value: &str, pos: String| -> Phase {
        let mut ex = phase(
            PhaseKind::Expand,
            format!("Add '{value}' to {ty}"),
            "add the value in its own committed step, before anything uses it",
        );
        ex.app = vec![app("v1", &[], &[])];
        let transactional = p.v() >= 12;
        ex.forward = vec![p.step(
            format!(
                "ALTER TYPE {} ADD VALUE IF NOT EXISTS {}{pos};",
                ty.pg(),
                literal_pg(value)
            ),
            transactional,
            Lock::None,
            Duration::Brief,
        )];
        ex.validation
            .push(check(label_count(value), "1", "the value exists"));
        ex.advance_when.push("the ALTER TYPE has committed (the value cannot be used in the transaction that adds it)".into());
        ex.abort_when.push("the migration tool wraps it in a transaction on PostgreSQL < 12: run it outside (Rails disable_ddl_transaction!, Django atomic = False)".into());
        ex.rollback_point =
            "none needed: PostgreSQL cannot remove an enum value, and an unused value is harmless"
                .into();
        ex
    };
    match op {
        EnumOp::AddValue { value, before, after } => {
            let pos = match (before, after) {
                (Some(b), _) => format!(" BEFORE {}", literal_pg(b)),
                (_, Some(a)) => format!(" AFTER {}", literal_pg(a)),
                _ => String::new(),
            };
            let ex = add(p, value, pos);
            let mut dep = phase(PhaseKind::Deploy, format!("Release v2, which may write '{value}'"), "writers use the value only after it is committed, and readers know it first");
            dep.app = vec![app("v1", &[ty.to_string()], &[ty.to_string()]), app("v2", &[ty.to_string()], &[ty.to_string()])];
            dep.advance_when.push(format!("every reader handles '{value}' (ship the reading side first if v1 would crash on an unknown value)"));
            dep.abort_when.push("v2 fails: redeploy v1; rows holding the value stay valid".into());
            dep.rollback_point = "redeploy v1".into();
            Ok(vec![ex, dep])
        }
        EnumOp::RenameValue { from, to } | EnumOp::RemoveValue { value: from, replace_with: Some(to) } => {
            let schema = p.schema.ok_or_else(|| invalid(format!("moving rows from '{from}' to '{to}' needs the tables that use {ty}: pass their CREATE TABLE DDL as `schema`")))?;
            let users: Vec<(QualifiedName, Ident)> = schema
                .tables
                .iter()
                .flat_map(|t| t.columns.iter().filter(|c| names_type(&c.data_type, &ty)).map(|c| (t.name.clone(), c.name.clone())))
                .collect();
            let Some((tq, col)) = users.first().cloned() else {
                return Err(invalid(format!("no column of type {ty} found in the schema given")));
            };
            if users.len() > 1 {
                p.assume(format!("only {tq}.{col} is migrated; run the same plan for the other columns of type {ty}"));
            }
            let t = p.table(&tq.pg())?;
            let ex = add(p, to, format!(" AFTER {}", literal_pg(from)));
            let mut dep = phase(PhaseKind::Deploy, format!("Release v2: writes '{to}', reads both '{from}' and '{to}'"), "new rows use the new label");
            dep.app = vec![app("v1", &[format!("{tq}.{col}")], &[format!("{tq}.{col}")]), app("v2", &[format!("{tq}.{col}")], &[format!("{tq}.{col}")])];
            dep.advance_when.push(format!("every instance runs v2; nothing writes '{from}'"));
            dep.abort_when.push("v2 fails: redeploy v1".into());
            dep.rollback_point = "redeploy v1".into();
            let remaining = format!("SELECT count(*) FROM {} WHERE {} = {}", t.sql, col.pg(), literal_pg(from));
            let (tsql, key, cp, f, tt) = (t.sql.clone(), t.key.pg(), col.pg(), literal_pg(from), literal_pg(to));
            let kb = p.keyset(&t, &[col.as_str(), "relabel"], &move |lo, hi| format!("UPDATE {tsql} SET {cp} = {tt} WHERE {key} >= {lo} AND {key} <= {hi} AND {cp} = {f}"), remaining.clone(), "keyset batches by primary key; each batch relabels rows still holding the old value")?;
            let bf = p.backfill_phase(&kb, &remaining, &format!("Move rows of {tq}.{col} from '{from}' to '{to}'"), vec![app("v2", &[], &[])]);
            p.risks.push(format!("'{from}' stays in {ty} unused: removing a value needs a new type and a column type change that rewrites {tq}; leave it, or add a CHECK ({} <> {})", col.pg(), literal_pg(from)));
            Ok(vec![ex, dep, bf])
        }
        EnumOp::RemoveValue { value, replace_with: None } => Err(invalid(format!(
            "removing '{value}' from {ty} needs `replace_with`: the value rows holding '{value}' move to before it is retired"
        ))),
    }
}

/// Whether a column's type as the schema wrote it (`status`, `"Status"`,
/// `billing.status`) is the enum type `ty`.
fn names_type(data_type: &str, ty: &QualifiedName) -> bool {
    QualifiedName::parse("type", data_type).is_ok_and(|q| {
        q.name == ty.name
            && match (&q.schema, &ty.schema) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    })
}

fn backfill_only(
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
                key = t.key.pg(),
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
            format!("ALTER TABLE {backup_q} ADD PRIMARY KEY ({});", t.key.pg()),
            true,
            Lock::None,
            Duration::IndexBuild,
        ),
    );
    let (tsql, key, cp, bq) = (t.sql.clone(), t.key.pg(), c.pg(), backup_q.clone());
    let restore = keyset_backfill(
        p.s,
        &object_name(&["schemashift_restore", t.q.name.as_str(), c.as_str()]),
        &t.sql,
        &t.key.pg(),
        &t.key_type,
        &move |lo, hi| {
            format!("UPDATE {tsql} AS t SET {cp} = b.{cp} FROM {bq} AS b WHERE b.{key} = t.{key} AND t.{key} >= {lo} AND t.{key} <= {hi} AND t.{cp} IS DISTINCT FROM b.{cp}")
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

/// Without a schema the plan cannot know whether a column that stops being
/// written is NOT NULL; relaxing it blindly would make the rollback guess.
/// This check stops the rollout there instead, with the fix in its meaning.
fn nullable_gate(p: &mut Planner, t: &T, c: &Ident, release: &str) -> Check {
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

/// The statement a step is about, for tables: inside a DO block, the DDL line.
fn headline(sql: &str) -> String {
    const VERBS: &[&str] = &[
        "ALTER", "CREATE", "DROP", "CALL", "EXECUTE", "INSERT", "UPDATE",
    ];
    sql.lines()
        .map(str::trim)
        .find(|l| VERBS.iter().any(|v| l.starts_with(v)))
        .or_else(|| sql.lines().next())
        .unwrap_or("")
        .trim()
        .to_string()
}
