//! The `schemashift` command line: parses arguments, calls the library,
//! prints the result. Exit codes: 0 ok, 1 `review` found hazards at or above
//! `--fail-on` or could not check some input, 2 bad input or usage.

use clap::{Args, Parser, Subcommand};
use schemashift::change::ChangeInput;
use schemashift::classify::{classify_request, ClassifyRequest};
use schemashift::context::{Context, Engine};
use schemashift::review::config::{Config, FailOn, Overrides};
use schemashift::review::{files, format};
use schemashift::{limits, references, render, report};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "schemashift",
    version,
    about = "Plan zero-downtime database schema changes, and prove them on a real PostgreSQL"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the MCP server over stdin/stdout (for Claude Code and other MCP editors).
    Serve,
    /// Classify a change: type, risk, lock facts of the naive DDL, phases needed.
    #[command(
        after_help = "Examples:\n  schemashift classify \"rename users.username to handle\"\n  schemashift classify --json \"ALTER TABLE orders ALTER COLUMN amount TYPE bigint\"\n  echo 'ALTER TABLE users DROP COLUMN legacy;' | schemashift classify -"
    )]
    Classify(ChangeArgs),
    /// Build the zero-downtime plan: every phase's SQL, rollback, checks and gates.
    #[command(
        after_help = "Examples:\n  schemashift plan \"rename users.username to handle\"\n  schemashift plan --json --schema db/structure.sql \"change orders.amount from integer to bigint\"\n  schemashift plan --mode backfill --rows 20000000 \"add non-null org_id to invoices from accounts.organisation_id\""
    )]
    Plan(PlanArgs),
    /// Rehearse a plan on a real PostgreSQL: old and new app versions run through every phase and its rollback.
    #[command(
        after_help = "Exit codes: 0 proven, 1 failed (the report says where and why), 2 usage error or no PostgreSQL.\n\nExamples:\n  schemashift rehearse \"rename users.username to handle\"\n  schemashift rehearse --schema db/structure.sql --rows 1000000 \"change orders.amount from integer to bigint\"\n  schemashift plan --json \"rename users.username to handle\" > plan.json && schemashift rehearse plan.json\n  schemashift rehearse --as-is --schema db/structure.sql db/migrate/20260101_rename.sql\n  schemashift rehearse --database-url postgresql://me@localhost/scratch \"make users.email required\""
    )]
    Rehearse(RehearseArgs),
    /// Detect the database engine and migration tool of a project, and how its migrations are named.
    #[command(
        after_help = "Reads only; never writes.\n\nExamples:\n  schemashift detect\n  schemashift detect --json path/to/project"
    )]
    Detect {
        /// The project folder (default: the current one).
        dir: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Review migration files for lock and compatibility hazards (for people and CI).
    #[command(
        after_help = "Exit codes: 0 no finding at or above --fail-on, 1 findings at or above it or input that could not be checked (verdict unchecked; --allow-unchecked lets it pass), 2 usage or I/O error.\n\nExamples:\n  schemashift review db/migrate/20260101_add_status.sql\n  schemashift review --format github --fail-on warning migrations/\n  schemashift review --format sarif migrations/ > schemashift.sarif\n  python manage.py sqlmigrate shop 0042 | schemashift review --pg-version 12 -"
    )]
    Review(ReviewArgs),
    /// List the review rules, or print one rule's documentation.
    Rules {
        /// A rule id, e.g. rename-column.
        id: Option<String>,
        /// Print every rule's documentation as one Markdown page (docs/rules.md).
        #[arg(long, conflicts_with = "id")]
        markdown: bool,
    },
    /// Render a result (the JSON of --json or of the MCP tools) with a template; without TEMPLATE, list the templates.
    #[command(
        after_help = "Examples:\n  schemashift render\n  schemashift plan --json \"rename users.username to handle\" > plan.json\n  schemashift render plan --data plan.json\n  schemashift render plan-summary --data plan.json\n  schemashift review --format json db/migrate/ | schemashift render review --data -"
    )]
    Render(RenderArgs),
    /// List the embedded reference documents, or print one.
    Refs {
        /// A reference name, e.g. migration-failure-modes.
        name: Option<String>,
    },
}

#[derive(Args)]
struct ReviewArgs {
    /// SQL files, or directories (every *.sql inside, sorted); `-` reads stdin.
    #[arg(required = true, num_args = 1..)]
    files: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: FormatArg,
    /// PostgreSQL major version the migrations run on (default 15).
    #[arg(long)]
    pg_version: Option<u32>,
    /// Database engine: postgres (default) or mysql.
    #[arg(long)]
    engine: Option<Engine>,
    /// The migration tool wraps each file in a transaction (Rails, Django, Flyway, Alembic), as it does: Flyway (V1__x.sql) not a file of only statements that cannot run in one, Prisma (migration.sql) not a one-statement file, sqlx not a file starting `-- no-transaction`.
    #[arg(long)]
    assume_in_transaction: bool,
    /// Exit 1 when a finding is at least this severe (default: error).
    #[arg(long, value_enum)]
    fail_on: Option<FailOnArg>,
    /// Configuration file (default: schemashift.toml in this directory or a parent).
    #[arg(long)]
    config: Option<PathBuf>,
    /// A rule id not to report; repeatable.
    #[arg(long, value_name = "RULE_ID")]
    exclude: Vec<String>,
    /// Exit 0 even when some input could not be checked (verdict `unchecked`); it is still listed.
    #[arg(long)]
    allow_unchecked: bool,
    #[command(flatten)]
    out: OutArgs,
}

#[derive(Args)]
struct OutArgs {
    /// Also write the report, as <slug>-<kind>.md and .json, into DIR (default docs/database-report/), and print its summary. Put it after the other arguments, or write --out=DIR.
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = report::DEFAULT_DIR)]
    out: Option<PathBuf>,
    /// With --out: replace report files whose content differs.
    #[arg(long, requires = "out")]
    force: bool,
}

#[derive(Args)]
struct RenderArgs {
    /// A template name, e.g. plan, plan-summary, review, classification.
    template: Option<String>,
    /// The JSON to render: a file, or `-` for stdin.
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,
    /// markdown (the full report) or summary (at most 40 lines); default: the template as named.
    #[arg(long, value_enum)]
    format: Option<RenderFormatArg>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum RenderFormatArg {
    Markdown,
    Summary,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    Text,
    Json,
    Github,
    Sarif,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FailOnArg {
    Warning,
    Error,
}

#[derive(Args)]
struct ChangeArgs {
    /// The change, in words ("rename users.username to handle") or SQL; `-` reads stdin.
    #[arg(required = true, num_args = 1..)]
    change: Vec<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Print the summary (at most 40 lines) instead of the full report.
    #[arg(long, conflicts_with = "json")]
    summary: bool,
    #[command(flatten)]
    out: OutArgs,
    #[command(flatten)]
    context: ContextArgs,
}

#[derive(Args)]
struct PlanArgs {
    #[command(flatten)]
    change: ChangeArgs,
    /// File with the current CREATE TABLE DDL of the tables involved (e.g. from pg_dump -s).
    #[arg(long)]
    schema: Option<std::path::PathBuf>,
    /// plan (all phases), backfill, cutover or deprecate [default: the change's leading mode word, else plan].
    #[arg(long, value_enum)]
    mode: Option<ModeArg>,
    /// trigger (a database trigger keeps old and new in sync) or app (the app writes both).
    #[arg(long, value_enum, default_value = "trigger")]
    dual_write: DualWriteArg,
    /// lock_timeout per statement, in milliseconds (default: --max-app-wait-ms).
    #[arg(long, value_name = "MS")]
    lock_timeout_ms: Option<u64>,
    /// The app's latency budget: the longest an app statement may wait on the migration, in milliseconds.
    #[arg(long, default_value_t = 200)]
    max_app_wait_ms: u64,
    /// Retries after a lock timeout.
    #[arg(long, default_value_t = 10)]
    lock_retries: u32,
    /// Rows per backfill batch.
    #[arg(long, default_value_t = 5000)]
    batch_size: u64,
    /// Pause between backfill batches, in milliseconds.
    #[arg(long, default_value_t = 50)]
    batch_pause_ms: u64,
    /// Write the plan as migration files of the project in DIR (its detected tool), never overwriting (Drizzle's journal only gets entries appended).
    #[arg(long, value_name = "DIR")]
    emit: Option<PathBuf>,
    /// With --emit: the migration tool (rails, django, alembic, prisma, drizzle, knex, typeorm, sequelize, flyway, golang-migrate, dbmate, sqlx, diesel).
    #[arg(long, requires = "emit")]
    tool: Option<schemashift::detect::Tool>,
    /// With --emit: the migrations folder, relative to DIR (when there are several).
    #[arg(long, requires = "emit")]
    migrations_dir: Option<String>,
    /// With --emit: which stage to write, 1 (default), 2, ... or all; a stage waits for the app releases before it.
    #[arg(long, requires = "emit")]
    stage: Option<schemashift::emit::StageSelect>,
}

#[derive(Args)]
struct RehearseArgs {
    /// The change in words or SQL, a plan JSON file (build_plan's output), or with --as-is a SQL file or SQL; `-` reads stdin.
    #[arg(required = true, num_args = 1..)]
    change: Vec<String>,
    /// Rehearse the SQL exactly as written (no planning): does the running app survive it?
    #[arg(long)]
    as_is: bool,
    /// File with the starting CREATE TABLE DDL (e.g. from pg_dump -s); without it a minimal table is made from the change.
    #[arg(long)]
    schema: Option<PathBuf>,
    /// Rows generated per starting table.
    #[arg(long, default_value_t = 100_000)]
    rows: u64,
    /// Rehearse on this server instead of a throwaway cluster, in a scratch database and role it creates and drops there (needs CREATEDB and CREATEROLE); sslmode is honoured.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Production's PostgreSQL major: the plan is built for it and, without --database-url, the rehearsal runs on a server of that major (installed, cached, or downloaded into the cache). Default: the newest installed server.
    #[arg(long = "pg-version", value_name = "MAJOR")]
    pg_version: Option<u32>,
    /// Never download a PostgreSQL server build (also SCHEMASHIFT_OFFLINE=1); use installed or cached binaries only.
    #[arg(long)]
    offline: bool,
    /// statement_timeout of every rehearsal session, in milliseconds (default 10 minutes plus one per million rows).
    #[arg(long, value_name = "MS")]
    statement_timeout_ms: Option<u64>,
    /// An app statement slower than this counts as stalled, in milliseconds.
    #[arg(long, default_value_t = 200)]
    max_app_wait_ms: u64,
    /// Statements per second per app client (three clients per app version).
    #[arg(long, default_value_t = 50)]
    rate: u32,
    /// Skip holding a long app transaction when each phase's first blocking statement arrives.
    #[arg(long)]
    no_long_transaction: bool,
    /// Plan option: trigger or app dual writes.
    #[arg(long, value_enum, default_value = "trigger")]
    dual_write: DualWriteArg,
    /// Plan option: lock_timeout per statement, in milliseconds (default: --max-app-wait-ms).
    #[arg(long, value_name = "MS")]
    lock_timeout_ms: Option<u64>,
    /// Plan option: rows per backfill batch.
    #[arg(long, default_value_t = 5000)]
    batch_size: u64,
    /// Plan option: pause between backfill batches, in milliseconds.
    #[arg(long, default_value_t = 50)]
    batch_pause_ms: u64,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Print the summary (at most 40 lines) instead of the full report.
    #[arg(long, conflicts_with = "json")]
    summary: bool,
    #[command(flatten)]
    out: OutArgs,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ModeArg {
    Plan,
    Backfill,
    Cutover,
    Deprecate,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum DualWriteArg {
    Trigger,
    App,
}

#[derive(Args, Default)]
struct ContextArgs {
    /// Database engine: postgres or mysql.
    #[arg(long, default_value = "postgres")]
    engine: Engine,
    /// Engine major version (default: PostgreSQL 15, MySQL 8).
    #[arg(long = "engine-version", alias = "pg-version")]
    version: Option<u32>,
    /// Approximate rows in the table.
    #[arg(long)]
    rows: Option<u64>,
    /// Approximate writes per second to the table.
    #[arg(long)]
    writes_per_second: Option<f64>,
    /// Only one app version runs at a time (no rolling deploys).
    #[arg(long)]
    single_app_version: bool,
}

impl ContextArgs {
    fn context(&self) -> Context {
        Context {
            engine: self.engine,
            version: self.version,
            rows: self.rows,
            writes_per_second: self.writes_per_second,
            multiple_app_versions: self.single_app_version.then_some(false),
        }
    }
}

/// A failure the user can fix: printed with a hint, exit code 2.
struct UsageError(String);

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve) {
        quiet_on_closed_pipe();
    }
    let result = match cli.command {
        Command::Serve => serve(),
        Command::Classify(args) => classify(args),
        Command::Plan(args) => plan(args),
        Command::Detect { dir, json } => detect(dir, json),
        Command::Review(args) => return review(args).unwrap_or_else(usage_error),
        Command::Rehearse(args) => return rehearse(args).unwrap_or_else(usage_error),
        Command::Rules { id, markdown } => rules(id, markdown),
        Command::Render(args) => render_cmd(args),
        Command::Refs { name } => refs(name),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => usage_error(e),
    }
}

/// `schemashift plan ... | head` ends quietly, as other command line tools
/// do, instead of panicking when `println!` meets the closed pipe: Rust
/// ignores SIGPIPE, so restore the default. Not for `serve`, which must
/// outlive its client long enough to undo a running rehearsal.
fn quiet_on_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: called once at start-up, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn usage_error(UsageError(msg): UsageError) -> ExitCode {
    // Messages quote input: never let it reach the terminal raw.
    eprintln!("error: {}", report::safe_message(&msg));
    ExitCode::from(2)
}

/// Reviews files: 0 when nothing reaches --fail-on, 1 when something does.
fn review(args: ReviewArgs) -> Result<ExitCode, UsageError> {
    let config_path = args.config.clone().or_else(|| {
        std::env::current_dir()
            .ok()
            .and_then(|d| Config::discover(&d))
    });
    let config = match &config_path {
        Some(path) => Config::load(path).map_err(|e| UsageError(e.to_string()))?,
        None => Config::default(),
    };
    let settings = config
        .resolve(&Overrides {
            engine: args.engine,
            pg_version: args.pg_version,
            assume_in_transaction: args.assume_in_transaction,
            fail_on: args.fail_on.map(|f| match f {
                FailOnArg::Warning => FailOn::Warning,
                FailOnArg::Error => FailOn::Error,
            }),
            exclude: args.exclude.clone(),
            allow_unchecked: args.allow_unchecked,
        })
        .map_err(UsageError)?;
    let mut targets = Vec::new();
    let mut skipped = Vec::new();
    for arg in &args.files {
        let found = files::expand(arg).map_err(UsageError)?;
        if found.targets.is_empty() {
            eprintln!(
                "warning: no SQL or migration files in {}",
                report::echo(arg)
            );
        }
        skipped.extend(found.skipped);
        for t in found.targets {
            if !targets.contains(&t) {
                targets.push(t);
            }
        }
    }
    let mut inputs = Vec::with_capacity(targets.len());
    let mut left = limits::REVIEW_BYTES;
    for t in &targets {
        let input = files::read(t, left).map_err(UsageError)?;
        left -= input.text.len().min(left);
        if input.lossy {
            eprintln!(
                "warning: {} is not valid UTF-8; reviewed with replacement characters",
                report::echo(&input.name)
            );
        }
        inputs.push(input);
    }
    let mut review = files::review_inputs(&inputs, &settings.options);
    skipped.append(&mut review.skipped);
    review.skipped = skipped;
    // Which file turned which rules off, in the output itself.
    review.config = config_path
        .as_deref()
        .map(|p| schemashift::review::config::ConfigUsed::new(p, &config));
    let format = match args.format {
        FormatArg::Text => format::Format::Text,
        FormatArg::Json => format::Format::Json,
        FormatArg::Github => format::Format::Github,
        FormatArg::Sarif => format::Format::Sarif,
    };
    let extents = if format == format::Format::Sarif {
        files::extents(&inputs, &settings.options)
    } else {
        format::Extents::default()
    };
    match &args.out.out {
        // The report files, and the summary pointing to them instead of the text listing.
        Some(dir) => {
            let r = report::Report::of_review(&review, &args.files)
                .map_err(|e| UsageError(e.to_string()))?;
            let written = r
                .write(dir, args.out.force)
                .map_err(|e| UsageError(e.to_string()))?;
            if format == format::Format::Text {
                let md = r.paths(dir).0.display().to_string();
                let data = render::with_report_path(&review, &md);
                print!(
                    "{}",
                    rendered(render::render_json("review-summary", &data, None))?
                );
                print_written(&written, false);
            } else {
                print_review(&review, format, &extents)?;
                print_written(&written, true);
            }
        }
        None => print_review(&review, format, &extents)?,
    }
    Ok(if settings.fails(&review) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn rules(id: Option<String>, markdown: bool) -> Result<(), UsageError> {
    use schemashift::review::{config, rules};
    if markdown {
        print!("{}", format::rules_markdown());
        return Ok(());
    }
    match id {
        None => {
            print!("{}", format::rules_list());
            Ok(())
        }
        Some(id) => {
            let rule = rules::get(&id).ok_or_else(|| {
                UsageError(config::check_rule_ids(std::slice::from_ref(&id)).unwrap_err())
            })?;
            println!("{}", rule.doc());
            Ok(())
        }
    }
}

fn serve() -> Result<(), UsageError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "schemashift=info,rmcp=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    // One stdio client at a time: a current-thread runtime starts fastest.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| UsageError(format!("cannot start the async runtime: {e}")))?;
    // A signal, or the client closing stdin, ends rehearsals in flight
    // with their clusters and scratch databases removed.
    schemashift::rehearse::install_signal_cleanup();
    let served = runtime.block_on(schemashift::mcp::serve_stdio());
    schemashift::rehearse::stop_all();
    served.map_err(|e| UsageError(format!("MCP server stopped: {e}")))
}

/// A `--schema` file, read with its bound.
fn read_schema(path: &std::path::Path) -> Result<String, UsageError> {
    limits::read_file_text(
        path,
        limits::SCHEMA_BYTES,
        "the schema file",
        "give the CREATE TABLE statements of the tables the change touches",
    )
    .map_err(UsageError)
}

/// Plans (or takes the plan or SQL given) and rehearses; exit 1 when the
/// rehearsal fails.
fn rehearse(args: RehearseArgs) -> Result<ExitCode, UsageError> {
    use schemashift::plan::{DualWrite, PlanOptions, PlanRequest};
    use schemashift::rehearse::{RehearseOptions, RehearseRequest, Verdict};
    let schema = match &args.schema {
        Some(path) => Some(read_schema(path)?),
        None => None,
    };
    let mut req = RehearseRequest {
        plan_request: PlanRequest {
            schema,
            options: PlanOptions {
                lock_timeout_ms: args.lock_timeout_ms,
                max_app_wait_ms: Some(args.max_app_wait_ms),
                batch_size: Some(args.batch_size),
                batch_pause_ms: Some(args.batch_pause_ms),
                dual_write: Some(match args.dual_write {
                    DualWriteArg::Trigger => DualWrite::Trigger,
                    DualWriteArg::App => DualWrite::App,
                }),
                ..PlanOptions::default()
            },
            context: Context {
                version: args.pg_version,
                ..Context::default()
            },
            ..PlanRequest::default()
        },
        rehearsal: RehearseOptions {
            rows: Some(args.rows),
            database_url: args.database_url.clone(),
            max_app_wait_ms: Some(args.max_app_wait_ms),
            rate: Some(args.rate),
            long_transaction: Some(!args.no_long_transaction),
            long_transaction_ms: None,
            statement_timeout_ms: args.statement_timeout_ms,
            offline: args.offline.then_some(true),
        },
        ..RehearseRequest::default()
    };
    // One argument naming a file: a plan (JSON) or, with --as-is, SQL.
    let file = match args.change.as_slice() {
        [one] if one != "-" && std::path::Path::new(one).is_file() => Some(PathBuf::from(one)),
        _ => None,
    };
    let text = match &file {
        Some(path) => {
            let (limit, hint) = if args.as_is {
                (limits::AS_IS_BYTES, "rehearse one migration at a time")
            } else {
                (limits::JSON_BYTES, "give build_plan's JSON for one change")
            };
            limits::read_file_text(path, limit, "the file", hint).map_err(UsageError)?
        }
        None => change_text(&args.change)?,
    };
    if args.as_is {
        req.as_is = Some(text);
    } else if file.is_some() || text.trim_start().starts_with('{') {
        let plan = serde_json::from_str(&text).map_err(|e| {
            UsageError(format!(
                "the file is not a plan (build_plan's JSON): {e}; to rehearse a change give it in words or SQL, and to rehearse a migration file as written add --as-is"
            ))
        })?;
        req.plan = Some(plan);
    } else {
        req.plan_request.input = ChangeInput::from_request(text);
    }
    // Ctrl-C, SIGTERM or SIGHUP stop the cluster or drop the scratch
    // database before exiting.
    schemashift::rehearse::install_signal_cleanup();
    let result =
        schemashift::rehearse::rehearse_blocking(&req).map_err(|e| UsageError(e.to_string()))?;
    let change_args = ChangeArgs {
        change: args.change.clone(),
        json: args.json,
        summary: args.summary,
        out: args.out,
        context: ContextArgs::default(),
    };
    output(&result, "rehearsal", &change_args, || {
        report::Report::of_rehearsal(&result)
    })?;
    Ok(match result.verdict {
        Verdict::Proven => ExitCode::SUCCESS,
        Verdict::Failed | Verdict::Aborted => ExitCode::from(1),
    })
}

/// Joins the words of a change, reading stdin for `-`.
fn change_text(words: &[String]) -> Result<String, UsageError> {
    if words.len() == 1 && words[0] == "-" {
        return limits::read_stdin_text(
            limits::CHANGE_BYTES,
            "the change on stdin",
            "give one change (a request or the DDL of one change), not a whole schema dump",
        )
        .map_err(UsageError);
    }
    Ok(words.join(" "))
}

fn classify(args: ChangeArgs) -> Result<(), UsageError> {
    let text = change_text(&args.change)?;
    let req = ClassifyRequest {
        input: ChangeInput::from_request(text.clone()),
        context: args.context.context(),
    };
    let c = classify_request(&req).map_err(|e| {
        UsageError(format!(
            "{e}\n\nexample: schemashift classify \"rename users.username to handle\""
        ))
    })?;
    output(&c, "classification", &args, || {
        report::Report::of_classification(&c, &text)
    })
}

fn plan(args: PlanArgs) -> Result<(), UsageError> {
    use schemashift::plan::{build_plan, DualWrite, PlanMode, PlanOptions, PlanRequest};
    let text = change_text(&args.change.change)?;
    let schema = match &args.schema {
        Some(path) => Some(read_schema(path)?),
        None => None,
    };
    let req = PlanRequest {
        input: ChangeInput::from_request(text),
        context: args.change.context.context(),
        schema,
        options: PlanOptions {
            lock_timeout_ms: args.lock_timeout_ms,
            max_app_wait_ms: Some(args.max_app_wait_ms),
            lock_retries: Some(args.lock_retries),
            batch_size: Some(args.batch_size),
            batch_pause_ms: Some(args.batch_pause_ms),
            dual_write: Some(match args.dual_write {
                DualWriteArg::Trigger => DualWrite::Trigger,
                DualWriteArg::App => DualWrite::App,
            }),
            // Without --mode, `plan cutover <change>` takes the word's mode.
            mode: args.mode.map(|m| match m {
                ModeArg::Plan => PlanMode::Plan,
                ModeArg::Backfill => PlanMode::Backfill,
                ModeArg::Cutover => PlanMode::Cutover,
                ModeArg::Deprecate => PlanMode::Deprecate,
            }),
        },
    };
    let plan = build_plan(&req).map_err(|e| {
        UsageError(format!(
            "{e}\n\nexample: schemashift plan \"rename users.username to handle\""
        ))
    })?;
    if let Some(dir) = &args.emit {
        return emit(&plan, dir, &args);
    }
    let template = report::Kind::of_mode(plan.mode).template();
    output(&plan, template, &args.change, || {
        report::Report::of_plan(&plan)
    })
}

/// Maps a render failure to a usage error.
fn rendered(r: Result<String, render::RenderError>) -> Result<String, UsageError> {
    r.map_err(|e| UsageError(e.to_string()))
}

/// Prints a result as JSON, its summary or its full report (`template`).
/// With --out, first writes the report files, then prints the summary
/// pointing to them and the paths written.
fn output<T: serde::Serialize + 'static>(
    data: &T,
    template: &str,
    args: &ChangeArgs,
    report: impl FnOnce() -> Result<report::Report, report::ReportError>,
) -> Result<(), UsageError> {
    let mut written = Vec::new();
    let mut report_path = None;
    if let Some(dir) = &args.out.out {
        let r = report().map_err(|e| UsageError(e.to_string()))?;
        written = r
            .write(dir, args.out.force)
            .map_err(|e| UsageError(e.to_string()))?;
        report_path = Some(r.paths(dir).0.display().to_string());
    }
    if args.json {
        print_json(data)?;
    } else if let Some(path) = &report_path {
        let data = render::with_report_path(data, path);
        print!(
            "{}",
            rendered(render::render_json(
                template,
                &data,
                Some(render::Format::Summary)
            ))?
        );
    } else if args.summary {
        print!(
            "{}",
            rendered(render::render(
                template,
                data,
                Some(render::Format::Summary)
            ))?
        );
    } else {
        print!("{}", rendered(render::render(template, data, None))?);
    }
    print_written(&written, args.json);
    Ok(())
}

/// Prints a review to standard output; JSON as it is serialized, so that a
/// large review is not held a second time as one string.
fn print_review(
    review: &schemashift::review::Review,
    format: format::Format,
    extents: &format::Extents,
) -> Result<(), UsageError> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    format::write(&mut out, review, format, extents)
        .and_then(|()| out.flush())
        .map_err(|e| UsageError(format!("cannot write the review: {e}")))
}

/// Lists the report files written (on stderr when stdout carries JSON or CI output).
fn print_written(written: &[report::Written], to_stderr: bool) {
    for w in written {
        let line = format!("{} {}", w.outcome.as_str(), w.path.display());
        if to_stderr {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }
}

/// Lists the templates, or renders JSON data with one.
fn render_cmd(args: RenderArgs) -> Result<(), UsageError> {
    let Some(name) = args.template else {
        for t in render::CATALOGUE {
            println!("{:<24} {}", t.name, t.description);
        }
        return Ok(());
    };
    let Some(path) = args.data else {
        return Err(UsageError(format!(
            "give the JSON to render with --data FILE (or --data - for stdin)\n\nexample: schemashift plan --json \"rename users.username to handle\" | schemashift render {name} --data -"
        )));
    };
    let hint = "give the JSON of one result";
    let text = if path.as_os_str() == "-" {
        limits::read_stdin_text(limits::JSON_BYTES, "the data on stdin", hint)
    } else {
        limits::read_file_text(&path, limits::JSON_BYTES, "the data file", hint)
    }
    .map_err(UsageError)?;
    let data: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| UsageError(format!("the data is not JSON: {e}")))?;
    let format = args.format.map(|f| match f {
        RenderFormatArg::Markdown => render::Format::Markdown,
        RenderFormatArg::Summary => render::Format::Summary,
    });
    print!("{}", rendered(render::render_json(&name, &data, format))?);
    Ok(())
}

fn detect(dir: Option<PathBuf>, json: bool) -> Result<(), UsageError> {
    let dir = dir.unwrap_or_else(|| PathBuf::from("."));
    let d = schemashift::detect::detect(&dir).map_err(UsageError)?;
    if json {
        return print_json(&d);
    }
    println!("directory: {}", d.dir);
    let evidence = d
        .engine_evidence
        .first()
        .map(|e| format!(" ({e})"))
        .unwrap_or_default();
    println!("engine: {}{evidence}", d.engine.as_str());
    if d.tools.is_empty() {
        println!("migration tool: none found");
    }
    for t in &d.tools {
        println!("tool: {}", t.tool);
        println!(
            "  migrations: {} ({} existing)",
            t.migrations_dir, t.migrations
        );
        println!("  naming: {}", t.naming.describe());
        if let Some(l) = &t.latest {
            println!("  latest: {} (version {})", l.path, l.version);
        }
        for e in &t.evidence {
            println!("  evidence: {e}");
        }
        for w in &t.warnings {
            println!("  warning: {w}");
        }
    }
    for n in &d.notes {
        println!("note: {n}");
    }
    Ok(())
}

/// `plan --emit DIR`: detects the tool in DIR, computes the files, writes
/// them (refusing to overwrite any) and lists them.
fn emit(
    plan: &schemashift::plan::Plan,
    dir: &std::path::Path,
    args: &PlanArgs,
) -> Result<(), UsageError> {
    use schemashift::emit::{emit, write_emission, EmitOptions};
    let detection = schemashift::detect::detect(dir).map_err(UsageError)?;
    let options = EmitOptions {
        tool: args.tool,
        migrations_dir: args.migrations_dir.clone(),
        stage: args.stage,
        now: None,
    };
    let emission = emit(plan, &detection, &options).map_err(|e| UsageError(e.to_string()))?;
    write_emission(dir, &emission).map_err(UsageError)?;
    if args.change.json {
        return print_json(&emission);
    }
    println!(
        "{} migrations in {}:",
        emission.tool, emission.migrations_dir
    );
    for f in &emission.files {
        println!("  wrote {}", dir.join(&f.path).display());
    }
    for u in &emission.updates {
        println!("  updated {}", dir.join(&u.path).display());
    }
    for n in &emission.notes {
        println!("note: {n}");
    }
    Ok(())
}

fn refs(name: Option<String>) -> Result<(), UsageError> {
    match name {
        None => {
            for r in references::all() {
                println!("{:<30} {}", r.name, r.title);
            }
            Ok(())
        }
        Some(n) => {
            let r = references::get(&n).ok_or_else(|| UsageError(references::not_found(&n)))?;
            print!("{}", r.text);
            Ok(())
        }
    }
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<(), UsageError> {
    let s = serde_json::to_string_pretty(value)
        .map_err(|e| UsageError(format!("cannot encode JSON: {e}")))?;
    println!("{s}");
    Ok(())
}
