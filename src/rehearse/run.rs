//! The phase loop: for each phase, the live app versions run while its SQL
//! applies; then its claims are checked; then its rollback is rehearsed
//! under the previous phase's app, and the phase applied again.

use super::app::{self, AppVersion, Entry, VersionSpec};
use super::data::{self, first_line, StartSchema};
use super::invariants::{Invariants, Seg};
use super::locks::{blocks_writes, lock_timeout_ms, watch_locks};
use super::script::{Script, ScriptStep};
use super::target::Target;
use super::traffic::{self, connect, latency, message, Counters, Load, Recording};
use super::{
    AppModel, AppRun, BackfillRun, CheckRun, Rehearsal, RehearseError, Segment, Settings,
    StatementRun, Verdict,
};
use crate::change::{Change, ChangeType};
use crate::ident::{literal_pg, quote_pg};
use crate::plan::Check;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_postgres::{Client, SimpleQueryMessage};

/// Traffic before the first and after the last statement of a segment, so
/// every statement runs under load and its aftermath is seen.
const SETTLE: Duration = Duration::from_millis(200);

/// Slack on a lock_timeout for sampling and the retry's own pause.
const TIMEOUT_SLACK_MS: f64 = 500.0;

/// Margin over the app's budget for the lock sampler and the machine: an
/// app statement queued behind a lock_timeout equal to the budget takes the
/// budget plus its own run time.
const STALL_MARGIN_MS: f64 = 100.0;

/// A long transaction holds the tables this much longer than the
/// statement's lock_timeout, so waiting it out and retrying can be told apart.
const HOLD_BEYOND_TIMEOUT_MS: u64 = 1000;

/// How long past its statement_timeout a statement gets before it is
/// cancelled, and after that before its session is ended.
const BOUND_SLACK: Duration = Duration::from_secs(10);

/// Hold for statements that set no lock_timeout.
const HOLD_WITHOUT_TIMEOUT_MS: u64 = 2000;

/// A table's starting rows, to prove none is lost or altered.
struct RowSum {
    table: String,
    key: String,
    columns: Vec<String>,
    count: i64,
    checksum: String,
}

pub struct Runner<'a> {
    target: &'a Target,
    settings: &'a Settings,
    script: Script,
    schema: StartSchema,
    db: Client,
    migration: Client,
    monitor: Arc<Client>,
    migration_pid: i32,
    counters: Arc<Counters>,
    specs: Vec<VersionSpec>,
    affected: BTreeMap<String, BTreeSet<String>>,
    start: BTreeMap<String, Vec<String>>,
    built: Vec<Option<AppVersion>>,
    fingerprints: Vec<RowSum>,
    /// The primary keys at the start (see [`super::keys`]).
    keys: Vec<super::keys::StartKey>,
    inserted: Vec<(String, String)>,
    segments: Vec<Segment>,
    backfill: Option<BackfillRun>,
    invariants: Invariants,
    /// The failure that is a phase stopping as its abort criteria say, and
    /// the criterion.
    aborted: Option<(String, String)>,
    /// Keys per table oid the app may write in the segment now running.
    touched: BTreeMap<u32, BTreeSet<String>>,
    began: Instant,
}

fn db_err(what: &str) -> impl Fn(tokio_postgres::Error) -> RehearseError + '_ {
    move |e| RehearseError::Database(format!("{what}: {}", message(&e)))
}

impl<'a> Runner<'a> {
    pub async fn new(
        target: &'a Target,
        settings: &'a Settings,
        script: Script,
        schema: StartSchema,
    ) -> Result<Runner<'a>, RehearseError> {
        let began = Instant::now();
        let db = connect(&target.config)
            .await
            .map_err(db_err("connecting"))?;
        let migration = connect(&target.config)
            .await
            .map_err(db_err("connecting"))?;
        let monitor = Arc::new(
            connect(&target.config)
                .await
                .map_err(db_err("connecting"))?,
        );
        let migration_pid: i32 = migration
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .map_err(db_err("connecting"))?
            .get(0);
        Ok(Runner {
            target,
            settings,
            script,
            schema,
            db,
            migration,
            monitor,
            migration_pid,
            // App values start past the generated rows' so they never
            // collide with them in a unique column.
            counters: Arc::new(Counters::starting_at(settings.rows + 1)),
            specs: Vec::new(),
            affected: BTreeMap::new(),
            start: BTreeMap::new(),
            built: Vec::new(),
            fingerprints: Vec::new(),
            keys: Vec::new(),
            inserted: Vec::new(),
            segments: Vec::new(),
            backfill: None,
            invariants: Invariants::default(),
            aborted: None,
            touched: BTreeMap::new(),
            began,
        })
    }

    pub async fn run(mut self) -> Result<Rehearsal, RehearseError> {
        // A backfill-only change fills a column that is not filled yet: it
        // starts NULL on every other row, so the backfill has work to do.
        let unfilled: Vec<(String, String)> = match self.script.change() {
            Some(Change::BackfillOnly { table, column, .. }) => {
                let e = Entry::parse(&format!("{table}.{column}"));
                e.column.map(|c| (e.table, c)).into_iter().collect()
            }
            _ => Vec::new(),
        };
        // Each statement is bounded by the session's statement_timeout, but
        // the schema's SQL may lift it: the whole load is bounded too.
        let steps = self.schema.statements.len() as u64 + 3 * self.schema.tables.len() as u64 + 1;
        let limit = Duration::from_millis(self.settings.statement_timeout_ms.saturating_mul(steps));
        let loading = data::load(&self.db, &self.schema, self.settings.rows, &unfilled);
        self.start = tokio::time::timeout(limit, loading).await.map_err(|_| {
            RehearseError::Database(format!(
                "loading the starting schema and rows took longer than {} s; raise statement_timeout_ms or lower rows",
                limit.as_secs()
            ))
        })??;
        if let Some(change) = self.script.change() {
            data::check_named_schemas(&self.db, change).await?;
        }
        self.specs = match &self.script.plan {
            Some(plan) => app::versions(plan),
            None => vec![whole_tables("v1", &self.schema.tables)],
        };
        if self.specs.is_empty() {
            self.specs.push(whole_tables("v1", &self.schema.tables));
        }
        app::resolve_types(&self.db, &mut self.specs)
            .await
            .map_err(db_err("reading the catalog"))?;
        // A phase that names no app version runs the versions of the phase
        // before it (the first, the app running today): the app does not
        // stop while a statement runs.
        let mut previous = vec![self.specs[0].name.clone()];
        for phase in &mut self.script.phases {
            if phase.app.is_empty() {
                phase.app = previous.clone();
            }
            previous = phase.app.clone();
        }
        self.affected = app::affected(&self.specs, self.script.change());
        self.built = vec![None; self.specs.len()];
        self.fingerprints = self.fingerprint_all().await?;
        self.keys = super::keys::start_keys(&self.db, self.start.keys())
            .await
            .map_err(|e| RehearseError::Database(format!("reading primary keys: {e}")))?;
        let keys: Vec<(String, String, Vec<String>)> = self
            .fingerprints
            .iter()
            .map(|f| (f.table.clone(), f.key.clone(), f.columns.clone()))
            .collect();
        self.invariants = Invariants::start(&self.db, &self.script, &keys)
            .await
            .map_err(|e| RehearseError::Database(format!("reading the starting schema: {e}")))?;

        // The app before any change: if it fails here, the model (not the
        // plan) is wrong, and nothing after would mean anything.
        // That is the first version the first phase names (the others it
        // names are released during it).
        let first_app: Vec<String> = self
            .script
            .phases
            .first()
            .and_then(|p| p.app.first().cloned())
            .into_iter()
            .collect();
        let baseline = self
            .segment(
                0,
                "baseline",
                "The app before any change",
                "baseline",
                &first_app,
                &first_app,
                &[],
                &[],
                false,
                false,
            )
            .await;
        if !baseline.passed {
            return Err(RehearseError::AppModel(baseline.failures.join("; ")));
        }
        self.segments.push(baseline);

        let phases = self.script.phases.clone();
        'phases: for (i, phase) in phases.iter().enumerate() {
            let n = i + 1;
            let before = match i {
                0 => first_app.clone(),
                _ => phases[i - 1].app.clone(),
            };
            let forward = self
                .segment(
                    n,
                    &phase.id,
                    &phase.title,
                    "forward",
                    &phase.app,
                    &before,
                    &phase.forward,
                    &phase.validation,
                    self.settings.long_transaction,
                    phase.announces_reprepare,
                )
                .await;
            let ok = forward.passed;
            if let Some(criterion) = forward
                .statements
                .last()
                .and_then(|s| s.error.as_deref())
                .and_then(|e| super::script::foreseen(&phase.abort_when, e))
            {
                if let Some(f) = forward.failures.first() {
                    self.aborted = Some((f.clone(), criterion.to_string()));
                }
            }
            self.segments.push(forward);
            if !ok {
                break;
            }
            if phase.rollback.is_empty() || phase.data_loss {
                continue;
            }
            let (prev_app, prev_checks) = match i {
                0 => (phase.app.clone(), Vec::new()),
                _ => (phases[i - 1].app.clone(), phases[i - 1].validation.clone()),
            };
            for (direction, app, running, steps, checks) in [
                (
                    "rollback",
                    &prev_app,
                    &phase.app,
                    &phase.rollback,
                    &prev_checks,
                ),
                (
                    "forward again",
                    &phase.app,
                    &prev_app,
                    &phase.forward,
                    &phase.validation,
                ),
            ] {
                let s = self
                    .segment(
                        n,
                        &phase.id,
                        &phase.title,
                        direction,
                        app,
                        running,
                        steps,
                        checks,
                        false,
                        phase.announces_reprepare,
                    )
                    .await;
                let ok = s.passed;
                self.segments.push(s);
                if !ok {
                    break 'phases;
                }
            }
        }
        Ok(self.report())
    }

    fn report(self) -> Rehearsal {
        let failures: Vec<String> = self
            .segments
            .iter()
            .flat_map(|s| s.failures.iter().cloned())
            .collect();
        let aborted = self
            .aborted
            .as_ref()
            .filter(|(f, _)| failures.first() == Some(f));
        let verdict = match (failures.is_empty(), aborted) {
            (true, _) => Verdict::Proven,
            (false, Some(_)) => Verdict::Aborted,
            (false, None) => Verdict::Failed,
        };
        let verdict_text = match (failures.first(), aborted) {
            (None, _) => "proven".to_string(),
            (Some(f), Some((_, why))) => {
                format!("aborted as the plan says (\"{why}\") at {f}")
            }
            (Some(f), None) => format!("failed at {f}"),
        };
        let advice = if self.script.kind == "as_is" {
            if failures.is_empty() {
                vec![
                    "the app running today kept working, without stalls, while this SQL applied"
                        .into(),
                ]
            } else {
                vec![
                    "plan the change instead (schemashift plan \"<the change>\", or the build_plan tool): it splits it into phases that keep every live app version working, and rehearse that plan".into(),
                ]
            }
        } else {
            Vec::new()
        };
        let apps = self
            .specs
            .iter()
            .zip(&self.built)
            .filter_map(|(spec, built)| {
                let b = built.as_ref()?;
                let mut statements = Vec::new();
                for t in &b.tables {
                    statements.push(t.select_sql("<key>"));
                    statements.push(t.update_sql("<key>", 1).0);
                    statements.push(t.insert_sql(1).0);
                    statements.push(format!("prepared: {}", t.prepared_sql().0));
                }
                Some(AppModel {
                    version: spec.name.clone(),
                    statements,
                })
            })
            .collect();
        Rehearsal {
            verdict,
            verdict_text,
            subject: self.script.subject.clone(),
            kind: self.script.kind.to_string(),
            server: self.target.description.clone(),
            rows: self.settings.rows,
            assumptions: if self.schema.synthesized {
                vec!["no schema given: rehearsed on a minimal table (an identity key and the columns the change names, as text unless the change says their type); give the real schema for a rehearsal of your tables".into()]
            } else {
                Vec::new()
            },
            apps,
            segments: self.segments,
            backfill: self.backfill,
            failures,
            advice,
            seconds: round2(self.began.elapsed().as_secs_f64()),
        }
    }

    fn version_index(&self, name: &str) -> Option<usize> {
        self.specs.iter().position(|s| s.name == name)
    }

    #[allow(clippy::too_many_arguments)]
    async fn segment(
        &mut self,
        phase: usize,
        id: &str,
        title: &str,
        direction: &str,
        app_versions: &[String],
        running_before: &[String],
        steps: &[ScriptStep],
        checks: &[Check],
        long_transaction: bool,
        reprepare_announced: bool,
    ) -> Segment {
        let label = match (phase, direction) {
            (0, _) => "the baseline".to_string(),
            (_, "forward") => format!("phase {phase} ({id})"),
            (_, d) => format!("phase {phase} ({id}), {d}"),
        };
        let began = Instant::now();
        let mut seg = Segment {
            seconds: 0.0,
            phase,
            phase_id: id.to_string(),
            title: title.to_string(),
            direction: direction.to_string(),
            app_versions: app_versions.to_vec(),
            statements: Vec::new(),
            app: Vec::new(),
            checks: Vec::new(),
            passed: true,
            failures: Vec::new(),
        };
        let fail = |seg: &mut Segment, reason: String| {
            seg.passed = false;
            seg.failures.push(format!("{label}: {reason}"));
        };

        // The versions that keep running while the SQL applies; the others
        // of this segment are deployed once it has applied (a release
        // follows the SQL it needs), and versions not listed any more were
        // retired before it.
        self.touched.clear();
        let before = match self.invariants.before_segment(&self.db).await {
            Ok(b) => b,
            Err(e) => {
                fail(&mut seg, format!("cannot copy the rows before it: {e}"));
                return seg;
            }
        };
        let (during, joining): (Vec<String>, Vec<String>) = app_versions
            .iter()
            .cloned()
            .partition(|v| running_before.contains(v));
        let mut live = match self.deploy(&during).await {
            Ok(l) => l,
            Err(e) => {
                fail(&mut seg, e);
                return seg;
            }
        };
        let traffic = match self.start_traffic(&live).await {
            Ok(t) => t,
            Err(e) => {
                fail(&mut seg, e);
                return seg;
            }
        };
        tokio::time::sleep(SETTLE).await;
        let app_tables: BTreeSet<String> = live
            .iter()
            .flat_map(|(_, v)| v.tables.iter().map(|t| t.table.clone()))
            .collect();
        let mut windows = Vec::new();
        let mut blocker_used = false;
        let mut step_failed = false;
        for step in steps {
            let long = long_transaction && !blocker_used && blocks_writes(step);
            blocker_used |= long;
            let (run, window) = self.apply(step, long, &app_tables).await;
            let failed = run.error.clone();
            seg.statements.push(run);
            windows.push(window);
            if let Some(e) = failed {
                fail(&mut seg, format!("`{}` failed: {e}", first_line(&step.sql)));
                step_failed = true;
                break;
            }
        }
        let mut joined = None;
        if !step_failed && !joining.is_empty() {
            match self.deploy(&joining).await {
                Ok(new) => match self.start_traffic(&new).await {
                    Ok(t) => {
                        joined = Some(t);
                        live.extend(new);
                    }
                    Err(e) => fail(&mut seg, e),
                },
                Err(e) => fail(&mut seg, e),
            }
        }
        tokio::time::sleep(SETTLE).await;
        let mut rec = traffic.stop().await;
        if let Some(t) = joined {
            rec.absorb(t.stop().await);
        }
        self.inserted.extend(rec.inserted.iter().cloned());

        // Per statement: app latency while it ran, and what it made the app wait.
        for (run, &(from, to)) in seg.statements.iter_mut().zip(&windows) {
            run.app = latency(
                rec.samples
                    .iter()
                    .filter(|s| s.start_us < to && s.start_us + s.dur_us > from),
            );
        }
        // A prepared statement whose result type the phase changes fails
        // once per connection until re-prepared, whatever the plan does: a
        // column's type cannot change under a cached plan. That is accepted
        // where the phase tells the operator so (drivers that do not retry
        // show the error once); elsewhere it is a failed statement.
        let failed =
            |s: &traffic::Sample| s.error.is_some() && !(s.reprepared && reprepare_announced);
        for (i, v) in &live {
            let mine: Vec<_> = rec.samples.iter().filter(|s| s.version == *i).collect();
            let first_error = mine
                .iter()
                .find(|s| failed(s))
                .and_then(|s| s.error.as_ref())
                .map(|(sql, msg)| format!("{sql} -> {msg}"));
            let mut l = latency(mine.iter().copied());
            l.errors = mine.iter().filter(|s| failed(s)).count();
            if let Some(e) = &first_error {
                fail(
                    &mut seg,
                    format!(
                        "app {} had {} failed statement(s) of {}; first: {e}",
                        v.name, l.errors, l.statements
                    ),
                );
            }
            seg.app.push(AppRun {
                version: v.name.clone(),
                latency: l,
                first_error,
            });
        }
        let reprepared = rec.samples.iter().filter(|s| s.reprepared).count();
        if reprepared > 0 {
            seg.checks.push(CheckRun {
                kind: "prepared".into(),
                meaning: "prepared statements whose result type changed are prepared again (\"cached plan must not change result type\"); a driver that does not retry shows that error once per statement and connection".into(),
                expect: "the phase tells the operator to re-prepare".into(),
                got: format!(
                    "{reprepared} re-prepared; {}",
                    if reprepare_announced { "the phase says so" } else { "the phase does not say so" }
                ),
                passed: reprepare_announced,
            });
        }
        for reason in self.stalls(&seg, steps, &windows, &rec) {
            fail(&mut seg, reason);
        }
        if !step_failed {
            let at = Seg {
                phase,
                direction,
                steps,
            };
            let checks = self
                .invariants
                .after_segment(&self.db, &at, &before, &live, &self.touched)
                .await;
            for (check, reason) in checks {
                if let Some(r) = reason {
                    fail(&mut seg, r);
                }
                seg.checks.push(check);
            }
        }
        if !step_failed {
            for c in checks {
                let got = self.scalar(&c.sql).await;
                let passed = got.as_deref() == Ok(c.expect.trim());
                let got = got.unwrap_or_else(|e| format!("error: {e}"));
                if !passed {
                    fail(
                        &mut seg,
                        format!(
                            "validation \"{}\" returned {got}, expected {}",
                            c.meaning, c.expect
                        ),
                    );
                }
                seg.checks.push(CheckRun {
                    kind: "validation".into(),
                    meaning: c.meaning.clone(),
                    expect: c.expect.clone(),
                    got,
                    passed,
                });
            }
        }
        if live.len() > 1 {
            for (check, reason) in self.consistency(&live, &rec).await {
                if let Some(r) = reason {
                    fail(&mut seg, r);
                }
                seg.checks.push(check);
            }
        }
        for (check, reason) in self.rows_kept().await {
            if let Some(mut r) = reason {
                // Which value changed, from the copy taken before the segment.
                if let Ok(Some(c)) = before.first_strict_change(&self.db).await {
                    r = format!("{r}: {c}");
                }
                fail(&mut seg, r);
            }
            seg.checks.push(check);
        }
        for (check, reason) in
            super::keys::keys_kept(&self.db, &self.keys, self.script.change()).await
        {
            if let Some(r) = reason {
                fail(&mut seg, r);
            }
            seg.checks.push(check);
        }
        before.drop(&self.db).await;
        self.note_backfill(&seg, steps);
        seg.seconds = round2(began.elapsed().as_secs_f64());
        seg
    }

    /// The named versions, each built the first time it is deployed.
    async fn deploy(&mut self, names: &[String]) -> Result<Vec<(usize, AppVersion)>, String> {
        let mut live = Vec::new();
        for name in names {
            let Some(i) = self.version_index(name) else {
                continue;
            };
            if self.built[i].is_none() {
                let model = app::Model {
                    affected: &self.affected,
                    start: &self.start,
                    change: self.script.change(),
                };
                let v = app::build_version(&self.db, &self.specs[i], &model)
                    .await
                    .map_err(|e| format!("app {name} cannot start: {e}"))?;
                self.built[i] = Some(v);
            }
            if let Some(v) = &self.built[i] {
                live.push((i, v.clone()));
            }
        }
        Ok(live)
    }

    async fn start_traffic(
        &mut self,
        live: &[(usize, AppVersion)],
    ) -> Result<traffic::Traffic, String> {
        let keys = self.sample_keys(live).await;
        for (table, found) in &keys {
            if let Some(oid) = super::values::oid_of(&self.db, table).await {
                self.touched
                    .entry(oid)
                    .or_default()
                    .extend(found.iter().cloned());
            }
        }
        let load = Load {
            plain_clients: 2,
            rate: self.settings.rate,
        };
        traffic::start(&self.target.config, live, &keys, load, &self.counters).await
    }

    /// Applies one statement, sampling the locks it holds and waits for;
    /// with `long`, an app transaction holds the tables as it arrives.
    async fn apply(
        &self,
        step: &ScriptStep,
        long: bool,
        app_tables: &BTreeSet<String>,
    ) -> (StatementRun, (u64, u64)) {
        let timeout = lock_timeout_ms(&step.sql);
        let hold_ms = self.settings.long_transaction_ms.unwrap_or_else(|| {
            timeout.map_or(HOLD_WITHOUT_TIMEOUT_MS, |t| t + HOLD_BEYOND_TIMEOUT_MS)
        });
        let blocker = if long {
            self.hold_tables(app_tables, hold_ms).await
        } else {
            None
        };
        let done = Arc::new(AtomicBool::new(false));
        let watcher = tokio::spawn(watch_locks(
            Arc::clone(&self.monitor),
            self.migration_pid,
            app_tables.clone(),
            Arc::clone(&done),
        ));
        let from = self.counters.now_us();
        let result = self.run_bounded(&step.sql).await;
        let to = self.counters.now_us();
        done.store(true, Ordering::SeqCst);
        let seen = watcher.await.unwrap_or_default();
        // A transaction held longer than the statement took (it gave up)
        // ends with it.
        let held_for = match blocker {
            Some((h, release, since)) => {
                let _ = release.send(());
                let _ = h.await;
                Some((since.elapsed().as_millis() as u64).min(hold_ms))
            }
            None => None,
        };
        (
            StatementRun {
                statement: first_line(&step.sql),
                planned_lock: step.lock,
                observed_lock: seen.lock,
                lock_timeout_ms: timeout,
                duration_ms: round2((to - from) as f64 / 1000.0),
                lock_wait_ms: round2(seen.longest_wait_ms),
                app_blocked_ms: round2(seen.longest_block_ms),
                app: Default::default(),
                long_transaction_ms: held_for,
                error: result.err().map(|e| message(&e)),
            },
            (from, to),
        )
    }

    /// Runs a statement on the migration session. The session's
    /// statement_timeout bounds it, but the SQL may lift that (SET
    /// statement_timeout = 0), so past it the statement is cancelled, and
    /// its session ended if even that does not stop it.
    async fn run_bounded(
        &self,
        sql: &str,
    ) -> Result<Vec<SimpleQueryMessage>, tokio_postgres::Error> {
        let limit = Duration::from_millis(self.settings.statement_timeout_ms) + BOUND_SLACK;
        let running = self.migration.simple_query(sql);
        tokio::pin!(running);
        if let Ok(r) = tokio::time::timeout(limit, &mut running).await {
            return r;
        }
        let _ = self
            .monitor
            .execute("SELECT pg_cancel_backend($1)", &[&self.migration_pid])
            .await;
        if let Ok(r) = tokio::time::timeout(BOUND_SLACK, &mut running).await {
            return r;
        }
        let _ = self
            .monitor
            .execute("SELECT pg_terminate_backend($1)", &[&self.migration_pid])
            .await;
        running.await
    }

    /// Opens a transaction holding ROW EXCLUSIVE on the app's tables (an app
    /// transaction that wrote and has not committed) and commits it after
    /// `hold_ms`, or when released.
    async fn hold_tables(
        &self,
        tables: &BTreeSet<String>,
        hold_ms: u64,
    ) -> Option<(
        tokio::task::JoinHandle<()>,
        tokio::sync::oneshot::Sender<()>,
        Instant,
    )> {
        let mut existing = Vec::new();
        for t in tables {
            let kind = self
                .db
                .query_opt(
                    "SELECT relkind::text FROM pg_class WHERE oid = to_regclass($1)",
                    &[&quote_pg(t)],
                )
                .await
                .ok()
                .flatten()
                .map(|r| r.get::<_, String>(0));
            if matches!(kind.as_deref(), Some("r" | "p")) {
                existing.push(quote_pg(t));
            }
        }
        if existing.is_empty() {
            return None;
        }
        let client = connect(&self.target.config).await.ok()?;
        client
            .batch_execute(&format!(
                "BEGIN; LOCK TABLE {} IN ROW EXCLUSIVE MODE",
                existing.join(", ")
            ))
            .await
            .ok()?;
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let since = Instant::now();
        let h = tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(hold_ms)) => {}
                _ = released => {}
            }
            let _ = client.batch_execute("COMMIT").await;
        });
        Some((h, release, since))
    }

    /// App statements slower than the budget, blamed on the statement that
    /// ran meanwhile. The budget alone judges: a statement that met a long
    /// transaction makes the app wait up to its lock_timeout per attempt, so
    /// a lock_timeout above the budget stalls the app; one without a
    /// lock_timeout makes it wait for the whole transaction.
    fn stalls(
        &self,
        seg: &Segment,
        steps: &[ScriptStep],
        windows: &[(u64, u64)],
        rec: &Recording,
    ) -> Vec<String> {
        let budget = self.settings.max_app_wait_ms;
        let mut out = Vec::new();
        for ((run, step), &(from, to)) in seg.statements.iter().zip(steps).zip(windows) {
            let allowed = budget + STALL_MARGIN_MS;
            let worst = rec
                .samples
                .iter()
                .filter(|s| s.start_us < to && s.start_us + s.dur_us > from)
                .map(|s| s.dur_us as f64 / 1000.0)
                .fold(0.0, f64::max);
            let stmt = first_line(&step.sql);
            // Blamed only when the server saw app sessions waiting on this
            // statement that long: a slow statement with nobody blocked is
            // the machine, not the plan.
            if worst > allowed && run.app_blocked_ms > budget {
                let why = match (run.long_transaction_ms, run.lock_timeout_ms) {
                    (Some(h), None) => format!(
                        "with an app transaction open on the table for {h} ms it queued for its lock with no lock_timeout, and the app queued behind it: set lock_timeout and retry"
                    ),
                    (_, Some(t)) if t as f64 > budget => format!(
                        "its lock_timeout of {t} ms is longer than the app's budget of {budget:.0} ms (max_app_wait_ms): the app queues behind each attempt for up to {t} ms; set lock_timeout to the budget"
                    ),
                    _ => "the app waited on its lock or its row locks: it blocks the app for as long as it runs".to_string(),
                };
                out.push(format!(
                    "app statements waited up to {worst:.0} ms during `{stmt}`, blocked behind it for {:.0} ms (allowed {allowed:.0} ms): {why}",
                    run.app_blocked_ms
                ));
            }
            if let Some(t) = run.lock_timeout_ms {
                if run.lock_wait_ms > t as f64 + TIMEOUT_SLACK_MS {
                    out.push(format!(
                        "`{stmt}` waited {:.0} ms for one lock, longer than its lock_timeout of {t} ms",
                        run.lock_wait_ms
                    ));
                }
            }
        }
        out
    }

    /// Up to 500 keys per table for the app to pick rows by.
    async fn sample_keys(&self, live: &[(usize, AppVersion)]) -> HashMap<String, Vec<String>> {
        let mut keys = HashMap::new();
        for (_, v) in live {
            for t in &v.tables {
                if keys.contains_key(&t.table) {
                    continue;
                }
                let sql = format!(
                    "SELECT k::text FROM (SELECT {key} AS k FROM {table} LIMIT 20000) s ORDER BY random() LIMIT 500",
                    key = quote_pg(&t.key.name),
                    table = t.table_sql
                );
                let found: Vec<String> = match self.db.query(&sql, &[]).await {
                    Ok(rows) => rows.iter().filter_map(|r| r.get(0)).collect(),
                    Err(_) => Vec::new(),
                };
                keys.insert(t.table.clone(), found);
            }
        }
        keys
    }

    /// A query's single value as text (`NULL` for null).
    async fn scalar(&self, sql: &str) -> Result<String, String> {
        let msgs = self.db.simple_query(sql).await.map_err(|e| message(&e))?;
        for m in msgs {
            if let SimpleQueryMessage::Row(r) = m {
                return Ok(r.get(0).unwrap_or("NULL").trim().to_string());
            }
        }
        Err("no row".into())
    }

    /// Every live version reads what the others wrote: for the last values
    /// each version wrote, every other version that reads the same data
    /// (under its own name for it) must find them.
    async fn consistency(
        &self,
        live: &[(usize, AppVersion)],
        rec: &Recording,
    ) -> Vec<(CheckRun, Option<String>)> {
        let change = self.script.change();
        // The last value written to each logical (table, key, column).
        let mut last: HashMap<(String, String, String), &traffic::Written> = HashMap::new();
        for w in &rec.writes {
            let (t, c) = app::logical(change, &w.table, &w.column);
            let slot = (t, w.key.clone(), c);
            if last.get(&slot).is_none_or(|prev| prev.seq < w.seq) {
                last.insert(slot, w);
            }
        }
        let mut out = Vec::new();
        for (ri, reader) in live {
            for ops in &reader.tables {
                for col in &ops.reads {
                    let (lt, lc) = app::logical(change, &ops.table, &col.name);
                    let mut sample: Vec<&traffic::Written> = last
                        .iter()
                        .filter(|((t, _, c), w)| *t == lt && *c == lc && w.version != *ri)
                        .map(|(_, w)| *w)
                        .collect();
                    if sample.is_empty() {
                        continue;
                    }
                    sample.sort_by_key(|w| std::cmp::Reverse(w.seq));
                    sample.truncate(5);
                    let writers: BTreeSet<&str> = sample
                        .iter()
                        .map(|w| self.specs[w.version].name.as_str())
                        .collect();
                    let meaning = format!(
                        "app {} reads {}.{} of rows {} wrote",
                        reader.name,
                        ops.table,
                        col.name,
                        writers.into_iter().collect::<Vec<_>>().join(", ")
                    );
                    let mut bad = None;
                    for w in &sample {
                        let sql = format!(
                            "SELECT {c}::text, {c} IS NOT DISTINCT FROM {lit}::{ty} FROM {t} WHERE {k} = {key}",
                            c = quote_pg(&col.name),
                            lit = literal_pg(&w.value),
                            ty = col.data_type,
                            t = ops.table_sql,
                            k = quote_pg(&ops.key.name),
                            key = app::literal(&ops.key, &w.key)
                        );
                        let got = match self.db.query_opt(&sql, &[]).await {
                            Ok(Some(row)) => {
                                let same: Option<bool> = row.get(1);
                                if same == Some(true) {
                                    continue;
                                }
                                row.get::<_, Option<String>>(0)
                                    .unwrap_or_else(|| "NULL".into())
                            }
                            Ok(None) => "no such row".into(),
                            Err(e) => format!("error: {}", message(&e)),
                        };
                        bad = Some((w, got));
                        break;
                    }
                    let reason = bad.as_ref().map(|(w, got)| {
                        format!(
                            "app {} read {}.{} = {got} for the row with key {} where app {} had written {} = {}: an old reader must see what a new writer wrote (keep them in sync, or keep the versions apart)",
                            reader.name,
                            ops.table,
                            col.name,
                            w.key,
                            self.specs[w.version].name,
                            w.column,
                            w.value
                        )
                    });
                    out.push((
                        CheckRun {
                            kind: "consistency".into(),
                            meaning,
                            expect: "the values written".into(),
                            got: match &bad {
                                None => format!("{} of {} read back", sample.len(), sample.len()),
                                Some((_, got)) => got.clone(),
                            },
                            passed: bad.is_none(),
                        },
                        reason,
                    ));
                }
            }
        }
        out
    }

    /// Count and checksum of each starting table's untouched columns over its
    /// starting rows.
    async fn fingerprint_all(&self) -> Result<Vec<RowSum>, RehearseError> {
        let mut out = Vec::new();
        for (table, cols) in &self.start {
            let Some(key) = app::row_key(&self.db, table, self.script.change())
                .await
                .map_err(db_err("reading keys"))?
            else {
                continue;
            };
            let none = BTreeSet::new();
            let changed = self.affected.get(table).unwrap_or(&none);
            let columns: Vec<String> = cols
                .iter()
                .filter(|c| !changed.contains(*c))
                .cloned()
                .collect();
            let (count, checksum) = self
                .table_sum(table, &key, &columns)
                .await
                .map_err(RehearseError::Database)?;
            out.push(RowSum {
                table: table.clone(),
                key,
                columns,
                count,
                checksum,
            });
        }
        Ok(out)
    }

    async fn table_sum(
        &self,
        table: &str,
        key: &str,
        columns: &[String],
    ) -> Result<(i64, String), String> {
        let cols: Vec<String> = columns.iter().map(|c| quote_pg(c)).collect();
        let inserted: Vec<String> = self
            .inserted
            .iter()
            .filter(|(t, _)| {
                // Rows inserted under either name of a renamed table.
                let change = self.script.change();
                app::logical(change, t, "").0 == app::logical(change, table, "").0
            })
            .map(|(_, k)| k.clone())
            .collect();
        let sql = format!(
            "SELECT count(*), coalesce(md5(string_agg(ROW({cols})::text, ',' ORDER BY {k})), '') FROM {t} WHERE NOT ({k}::text = ANY ($1::text[]))",
            cols = cols.join(", "),
            k = quote_pg(key),
            t = quote_pg(table)
        );
        let row = self
            .db
            .query_one(&sql, &[&inserted])
            .await
            .map_err(|e| message(&e))?;
        Ok((row.get(0), row.get(1)))
    }

    /// No starting row lost, and the columns the change does not touch
    /// unchanged (under the table's new name when the change renames it).
    async fn rows_kept(&self) -> Vec<(CheckRun, Option<String>)> {
        let change = self.script.change();
        let mut out = Vec::new();
        for f in &self.fingerprints {
            let mut table = f.table.clone();
            if let Some(Change::RenameTable {
                table: old,
                new_name,
            }) = change
            {
                if Entry::parse(old).table == f.table && !self.exists(&f.table).await {
                    table = Entry::parse(new_name).table;
                }
            }
            if !self.exists(&table).await {
                let dropped = matches!(change, Some(Change::DropTable { table: t }) if Entry::parse(t).table == f.table)
                    || change.is_some_and(|c| {
                        matches!(
                            c.change_type(),
                            ChangeType::SplitTable | ChangeType::MergeTables
                        )
                    });
                if !dropped {
                    out.push((
                        rows_check(&table, f.count, "table is gone".into(), false),
                        Some(format!(
                            "table {table} is gone, and the change does not drop it"
                        )),
                    ));
                }
                continue;
            }
            let present = app::catalog_columns(&self.db, &table)
                .await
                .map(|cols| cols.into_iter().map(|c| c.name).collect::<Vec<_>>())
                .unwrap_or_default();
            let lost: Vec<&String> = f.columns.iter().filter(|c| !present.contains(c)).collect();
            if !lost.is_empty() {
                let lost = lost
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                out.push((
                    rows_check(&table, f.count, format!("columns gone: {lost}"), false),
                    Some(format!(
                        "{table} lost columns the change does not touch: {lost}"
                    )),
                ));
                continue;
            }
            match self.table_sum(&table, &f.key, &f.columns).await {
                Ok((count, sum)) => {
                    let passed = count == f.count && sum == f.checksum;
                    let got = if passed {
                        format!("{count} rows, same data")
                    } else if count != f.count {
                        format!("{count} rows")
                    } else {
                        format!("{count} rows, data changed")
                    };
                    let reason = (!passed).then(|| {
                        format!(
                            "{table} holds {got} of its {} starting rows: rows or the data of columns the change does not touch were lost",
                            f.count
                        )
                    });
                    out.push((rows_check(&table, f.count, got, passed), reason));
                }
                Err(e) => out.push((
                    rows_check(&table, f.count, format!("error: {e}"), false),
                    Some(format!("cannot read {table}: {e}")),
                )),
            }
        }
        out
    }

    async fn exists(&self, table: &str) -> bool {
        self.db
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&quote_pg(table)])
            .await
            .is_ok_and(|r| r.get(0))
    }

    /// Records the plan's backfill statement as it ran (its first forward run).
    fn note_backfill(&mut self, seg: &Segment, steps: &[ScriptStep]) {
        if self.backfill.is_some() || seg.direction != "forward" {
            return;
        }
        let Some(call) = self
            .script
            .plan
            .as_ref()
            .and_then(|p| p.backfill.as_ref())
            .map(|b| b.call_sql.trim().to_string())
        else {
            return;
        };
        for (run, step) in seg.statements.iter().zip(steps) {
            if step.sql.trim() == call && run.error.is_none() {
                let rows = self.settings.rows;
                let seconds = run.duration_ms / 1000.0;
                self.backfill = Some(BackfillRun {
                    statement: run.statement.clone(),
                    rows,
                    seconds: round2(seconds),
                    rows_per_second: if seconds > 0.0 {
                        (rows as f64 / seconds).round()
                    } else {
                        0.0
                    },
                    app: run.app,
                });
            }
        }
    }
}

fn rows_check(table: &str, count: i64, got: String, passed: bool) -> CheckRun {
    CheckRun {
        kind: "rows".into(),
        meaning: format!("{table} keeps its {count} starting rows and their untouched columns"),
        expect: format!("{count} rows, same data"),
        got,
        passed,
    }
}

/// A version that uses whole tables: the app running today, for SQL
/// rehearsed as written.
fn whole_tables(name: &str, tables: &[String]) -> VersionSpec {
    let entries: BTreeSet<Entry> = tables
        .iter()
        .map(|t| Entry {
            table: t.clone(),
            column: None,
        })
        .collect();
    VersionSpec {
        name: name.into(),
        reads: entries.clone(),
        writes: entries,
        never_writes: BTreeMap::new(),
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
