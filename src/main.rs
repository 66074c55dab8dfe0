//! The `schemashift` command line: parses arguments, calls the library,
//! prints the result. Exit codes: 0 ok, 2 bad input or usage.

use clap::{Args, Parser, Subcommand};
use schemashift::change::ChangeInput;
use schemashift::classify::{classify_request, ClassifyRequest};
use schemashift::context::{Context, Engine};
use schemashift::{references, render};
use std::io::Read;
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
    /// List the embedded reference documents, or print one.
    Refs {
        /// A reference name, e.g. migration-failure-modes.
        name: Option<String>,
    },
}

#[derive(Args)]
struct ChangeArgs {
    /// The change, in words ("rename users.username to handle") or SQL; `-` reads stdin.
    #[arg(required = true, num_args = 1..)]
    change: Vec<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
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
    /// plan (all phases), backfill, cutover or deprecate.
    #[arg(long, value_enum, default_value = "plan")]
    mode: ModeArg,
    /// trigger (a database trigger keeps old and new in sync) or app (the app writes both).
    #[arg(long, value_enum, default_value = "trigger")]
    dual_write: DualWriteArg,
    /// lock_timeout per statement, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    lock_timeout_ms: u64,
    /// Retries after a lock timeout.
    #[arg(long, default_value_t = 10)]
    lock_retries: u32,
    /// Rows per backfill batch.
    #[arg(long, default_value_t = 5000)]
    batch_size: u64,
    /// Pause between backfill batches, in milliseconds.
    #[arg(long, default_value_t = 50)]
    batch_pause_ms: u64,
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

#[derive(Args)]
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
    let result = match cli.command {
        Command::Serve => serve(),
        Command::Classify(args) => classify(args),
        Command::Plan(args) => plan(args),
        Command::Refs { name } => refs(name),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(UsageError(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
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
    runtime
        .block_on(schemashift::mcp::serve_stdio())
        .map_err(|e| UsageError(format!("MCP server stopped: {e}")))
}

/// Joins the words of a change, reading stdin for `-`.
fn change_text(words: &[String]) -> Result<String, UsageError> {
    if words.len() == 1 && words[0] == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| UsageError(format!("cannot read the change from stdin: {e}")))?;
        return Ok(s);
    }
    Ok(words.join(" "))
}

fn classify(args: ChangeArgs) -> Result<(), UsageError> {
    let text = change_text(&args.change)?;
    let req = ClassifyRequest {
        input: ChangeInput::from_request(text),
        context: args.context.context(),
    };
    let c = classify_request(&req).map_err(|e| {
        UsageError(format!(
            "{e}\n\nexample: schemashift classify \"rename users.username to handle\""
        ))
    })?;
    if args.json {
        print_json(&c)
    } else {
        print!(
            "{}",
            render::render("classification", &c).map_err(UsageError)?
        );
        Ok(())
    }
}

fn plan(args: PlanArgs) -> Result<(), UsageError> {
    use schemashift::plan::{build_plan, DualWrite, PlanMode, PlanOptions, PlanRequest};
    let text = change_text(&args.change.change)?;
    let schema = match &args.schema {
        Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
            UsageError(format!(
                "cannot read the schema file {}: {e}",
                path.display()
            ))
        })?),
        None => None,
    };
    let req = PlanRequest {
        input: ChangeInput::from_request(text),
        context: args.change.context.context(),
        schema,
        options: PlanOptions {
            lock_timeout_ms: Some(args.lock_timeout_ms),
            lock_retries: Some(args.lock_retries),
            batch_size: Some(args.batch_size),
            batch_pause_ms: Some(args.batch_pause_ms),
            dual_write: Some(match args.dual_write {
                DualWriteArg::Trigger => DualWrite::Trigger,
                DualWriteArg::App => DualWrite::App,
            }),
            mode: Some(match args.mode {
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
    if args.change.json {
        print_json(&plan)
    } else {
        print!("{}", render::render("plan", &plan).map_err(UsageError)?);
        Ok(())
    }
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
