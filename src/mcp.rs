//! The MCP adapter: parses tool calls, calls the library, formats the result.
//! Nothing about databases lives here.

use crate::classify::{classify_request, Classification, ClassifyRequest};
use crate::detect::{Detection, Tool};
use crate::emit::{emit, Emission, EmitOptions, StageSelect};
use crate::mcp_schema::ChangeDef;
use crate::plan::{build_plan, Plan, PlanRequest};
use crate::references;
use crate::rehearse::{Rehearsal, RehearseRequest};
use crate::render;
use crate::review::{review, Review, ReviewOptions};
use rmcp::handler::server::router::prompt::PromptRouter;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::*;
use rmcp::service::RequestContext;
use rmcp::{prompt, prompt_handler, prompt_router, tool, tool_handler, tool_router};
use rmcp::{ErrorData as McpError, Json, RoleServer, ServerHandler};
use schemars::JsonSchema;
use serde::Deserialize;
use std::sync::OnceLock;

const INSTRUCTIONS: &str = "schemashift plans zero-downtime database schema changes \
(expand, dual write, backfill, cutover, contract) for PostgreSQL 10-19 and MySQL 8. \
Call classify_change first, then build_plan for the phased SQL; review_plan reviews migration SQL someone already wrote. Give the change as `change` (structured: \
classify_change's input schema lists the fields of each change type) with the user's words as `request` for the record; words alone (`request`, \
e.g. \"rename users.username to handle\") or the naive DDL (`sql`) work too, and when words are refused, write the structured change and call again. classify_change returns the change type, risk, the lock facts of the naive DDL, \
the phases a plan needs and the questions whose answers would change it. Show SQL only as the tools return it. \
render_template turns any of these results into the report people read (`plan`, `review`, `classification`, ...) or its short summary. \
rehearse_plan proves a plan (or a migration as written) on a real PostgreSQL with old and new app versions running through every phase and rollback. \
To put a plan into the project as migration files, call detect_stack with the project folder, then emit_migrations: it returns the files (paths and contents) in the project's own tool; write them as returned, never over an existing file, and only the stage it names; replace each file in `updates` (Drizzle's journal) only while it still holds `previous` exactly. \
Reference documents are resources under schemashift://references/, the templates under schemashift://templates/.";

/// The stdio MCP server.
#[derive(Clone, Default)]
pub struct Server;

// The routers (above all the tools' JSON Schemas) cost far more than the rest
// of startup, so they are built on first use, after `initialize` is answered.
impl Server {
    pub fn new() -> Self {
        Self
    }

    fn tools(&self) -> &'static ToolRouter<Server> {
        static TOOLS: OnceLock<ToolRouter<Server>> = OnceLock::new();
        TOOLS.get_or_init(Self::tool_router)
    }

    fn prompts(&self) -> &'static PromptRouter<Server> {
        static PROMPTS: OnceLock<PromptRouter<Server>> = OnceLock::new();
        PROMPTS.get_or_init(Self::prompt_router)
    }
}

#[tool_router]
impl Server {
    /// Classify a schema change before planning it: change type id, backward
    /// compatibility, risk, complexity, rollout pattern and phases, the lock
    /// facts of the naive DDL for the engine and version, red flags,
    /// invariants, open questions, and whether it is in scope. Give the change
    /// as `change` (structured) with the user's words as `request` (kept for
    /// the record), or as `request` (English) or `sql` (DDL) alone.
    #[tool(
        input_schema = crate::mcp_schema::input::<ClassifyRequest>(ChangeDef::Full),
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false))]
    async fn classify_change(
        &self,
        Parameters(req): Parameters<ClassifyRequest>,
    ) -> Result<Json<Classification>, String> {
        classify_request(&req).map(Json).map_err(|e| e.to_string())
    }

    /// Build the complete zero-downtime plan for PostgreSQL 11-19: every
    /// phase (expand, deploy, backfill, validate, cutover_reads,
    /// cutover_writes, contract) with its exact forward and rollback SQL,
    /// validation queries with expected results, advance and abort criteria,
    /// lock impact, the batched backfill, estimates, runbook and risks. Give
    /// the change as for classify_change; pass the current
    /// CREATE TABLE DDL as `schema` so types, keys and NOT NULLs are known;
    /// `options.mode` slices the plan to backfill, cutover or deprecate.
    /// Present the SQL exactly as returned.
    #[tool(
        input_schema = crate::mcp_schema::input::<PlanRequest>(ChangeDef::AsInHome),
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false))]
    async fn build_plan(
        &self,
        Parameters(req): Parameters<PlanRequest>,
    ) -> Result<Json<Plan>, String> {
        build_plan(&req).map(Json).map_err(|e| e.to_string())
    }

    /// Review a migration or a rollout plan someone wrote, the way a senior
    /// database engineer would: every statement checked for the lock it takes
    /// and what that blocks, table rewrites, and changes that break running
    /// app versions, precisely for the engine and version in `options`. Give
    /// exactly one of `sql` (a migration file's text, with its name as `file`:
    /// the name selects the migration tool's conventions, so `*.down.sql` is
    /// skipped and dbmate's `-- migrate:down` section is not reviewed) or
    /// `plan` (build_plan's JSON or a Markdown plan: phases are also checked
    /// for rollback, validation, abort criteria, ordering and backfill
    /// safety). Returns the verdict (`proceed`, `revise`, `stop`) and each
    /// finding with its rule id, line, message and the safe alternative as
    /// SQL. Present the fixes exactly as returned.
    #[tool(
        input_schema = crate::mcp_schema::input::<ReviewRequest>(ChangeDef::Full),
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false))]
    async fn review_plan(
        &self,
        Parameters(req): Parameters<ReviewRequest>,
    ) -> Result<Json<Review>, String> {
        req.review().map(Json)
    }

    /// Prove a plan zero-downtime on a real PostgreSQL before it ships: loads
    /// the starting `schema` (CREATE TABLE DDL) with generated rows
    /// (`rehearsal.rows`, default 100000), then for each phase runs the app
    /// versions live in it as concurrent clients (one of them reusing
    /// prepared statements) while the phase's SQL applies, also with a long
    /// app transaction holding the table, and checks: no app statement
    /// fails, no lock stalls the app beyond the statement's lock_timeout,
    /// validation queries pass, every live version reads what the others
    /// wrote, no row is lost; then rehearses each rollback under the
    /// previous phase's app. Give the change as for build_plan (`request`,
    /// `sql` or `change`, with `schema` and plan `options`), or `plan` (a
    /// build_plan result, possibly edited), or `as_is` (a migration's SQL,
    /// rehearsed exactly as written while today's app runs). Side effects:
    /// by default it starts a local PostgreSQL server (a throwaway cluster
    /// of the local binaries, on a private Unix socket) and removes it
    /// afterwards; with `rehearsal.database_url` it creates a scratch
    /// database and a login role on that server (the URL's user needs
    /// CREATEDB and CREATEROLE) and drops both afterwards. All rehearsal SQL
    /// runs in that scratch database as that non-superuser role, never in
    /// the URL's own database.
    /// Takes seconds to a minute. Returns the verdict (`proven`, or `failed at
    /// phase N: reason`) with per-statement locks, durations and app
    /// latencies; render it with template `rehearsal`.
    // Not read-only: it creates and drops a database and a role on the
    // given server, or runs a local server. Destructive: it drops what it
    // created (and, on a later run, leftovers of killed runs). Not
    // idempotent: every call makes new ones. Open world: database_url
    // names a server outside this process's control.
    #[tool(
        input_schema = crate::mcp_schema::input::<RehearseRequest>(ChangeDef::AsInHome),
        annotations(
        read_only_hint = false,
        destructive_hint = true,
        idempotent_hint = false,
        open_world_hint = true
    ))]
    async fn rehearse_plan(
        &self,
        Parameters(req): Parameters<RehearseRequest>,
    ) -> Result<Json<Rehearsal>, String> {
        if let Some(sql) = &req.as_is {
            crate::limits::check_field("as_is", sql, crate::limits::AS_IS_BYTES)?;
        }
        // Its own threads: a rehearsal is long and its timings must not
        // share the server's event loop.
        tokio::task::spawn_blocking(move || crate::rehearse::rehearse_blocking(&req))
            .await
            .map_err(|e| format!("the rehearsal stopped unexpectedly: {e}"))?
            .map(Json)
            .map_err(|e| e.to_string())
    }

    /// Render a result of build_plan, review_plan or classify_change as the
    /// text people read: `template` is one of plan, plan-summary, backfill,
    /// cutover, deprecate, runbook (a build_plan result), review,
    /// review-summary (a review_plan result), classification,
    /// classification-summary (a classify_change result), rehearsal,
    /// rehearsal-summary (a rehearse_plan result); `data` is the
    /// result's JSON, unchanged (add `report_path` to have a summary point to
    /// a written report); `format` picks the full `markdown` report or the
    /// `summary` (at most 40 lines) of the same family. Returns the text;
    /// show it as is. The templates are resources under schemashift://templates/.
    #[tool(
        input_schema = crate::mcp_schema::input::<RenderRequest>(ChangeDef::Full),
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false))]
    async fn render_template(
        &self,
        Parameters(req): Parameters<RenderRequest>,
    ) -> Result<String, String> {
        render::render_json(
            &req.template,
            &serde_json::Value::Object(req.data),
            req.format,
        )
        .map_err(|e| e.to_string())
    }

    /// Find the project's database engine and migration tool from its real
    /// files (Rails, Django, Alembic, Prisma, Drizzle, Knex, TypeORM,
    /// Sequelize, Flyway, golang-migrate, dbmate, sqlx, Diesel): where the
    /// migrations live, how they are named (timestamp format, sequence
    /// width, Flyway versions, Alembic revisions) and the latest one. Reads
    /// only, bounded (skips node_modules, .git, target, vendor).
    #[tool(
        input_schema = crate::mcp_schema::input::<DetectRequest>(ChangeDef::Full),
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false))]
    async fn detect_stack(
        &self,
        Parameters(req): Parameters<DetectRequest>,
    ) -> Result<Json<Detection>, String> {
        crate::detect::detect(std::path::Path::new(&req.dir)).map(Json)
    }

    /// Build the plan (same input as build_plan) and write it as migration
    /// files of the project in `dir`, in its detected tool (or `tool`): one
    /// migration per database step, named in the project's convention after
    /// its latest migration, with up and down in the tool's own form and
    /// non-transactional steps marked the tool's way, plus a runbook note.
    /// Returns the files WITHOUT writing them: create each `path` (relative
    /// to `dir`) with `contents` exactly, and refuse if one exists; then
    /// replace each file in `updates` (Drizzle's journal, entries appended)
    /// with `contents`, only if it still holds `previous` exactly. A plan
    /// whose later steps wait for app releases (or, for Drizzle, for a psql
    /// script) has stages: `stage` 1 (the default) is what may ship now; ask
    /// for the next stage only after what `notes` names.
    #[tool(
        input_schema = crate::mcp_schema::input::<EmitRequest>(ChangeDef::AsInHome),
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false))]
    async fn emit_migrations(
        &self,
        Parameters(req): Parameters<EmitRequest>,
    ) -> Result<Json<Emission>, String> {
        let plan = build_plan(&req.plan).map_err(|e| e.to_string())?;
        let detection = crate::detect::detect(std::path::Path::new(&req.dir))?;
        let options = EmitOptions {
            tool: req.tool,
            migrations_dir: req.migrations_dir,
            stage: req.stage,
            now: None,
        };
        let emission = emit(&plan, &detection, &options).map_err(|e| e.to_string())?;
        // What the CLI checks before writing, checked before the client writes.
        crate::emit::check_emission(std::path::Path::new(&req.dir), &emission)?;
        Ok(Json(emission))
    }
}

/// What `detect_stack` looks at.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DetectRequest {
    /// The project folder (absolute, or relative to where the server runs).
    pub dir: String,
}

/// What `emit_migrations` writes: the change and plan settings as
/// build_plan takes them, and where.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct EmitRequest {
    #[serde(flatten)]
    pub plan: PlanRequest,
    /// The project folder; its migration tool is detected there.
    pub dir: String,
    /// The migration tool, when detection finds none or several.
    #[serde(default)]
    pub tool: Option<Tool>,
    /// The migrations folder relative to `dir`, when there are several
    /// (e.g. one Django app's `migrations`).
    #[serde(default)]
    pub migrations_dir: Option<String>,
    /// 1 (default), 2, ... or "all".
    #[serde(default)]
    pub stage: Option<StageSelect>,
}

/// What `render_template` renders.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RenderRequest {
    /// The template: plan, plan-summary, backfill, cutover, deprecate,
    /// runbook, review, review-summary, classification, classification-summary.
    pub template: String,
    /// The JSON result the template reads (of build_plan, review_plan or
    /// classify_change), optionally with `report_path`.
    pub data: serde_json::Map<String, serde_json::Value>,
    /// `markdown` (the full report) or `summary`; default: the template as named.
    #[serde(default)]
    pub format: Option<render::Format>,
}

/// Most SQL one review call takes; larger files belong to `schemashift review`.
const MAX_REVIEW_BYTES: usize = 8 << 20;

/// What `review_plan` reviews.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    /// The migration's SQL: the whole file's text.
    #[serde(default)]
    pub sql: Option<String>,
    /// The file's name, e.g. `db/migrate/001_add_status.up.sql`: it selects
    /// the migration tool's conventions (down migrations are skipped).
    #[serde(default)]
    pub file: Option<String>,
    /// A rollout plan instead of SQL: build_plan's JSON, or a Markdown plan a
    /// person wrote (phases as headings, SQL in fenced blocks).
    #[serde(default)]
    pub plan: Option<String>,
    /// Engine, PostgreSQL version (default 15), whether the tool wraps the
    /// file in a transaction, and rule ids to leave out.
    #[serde(default)]
    pub options: Option<ReviewOptions>,
}

impl ReviewRequest {
    fn review(&self) -> Result<Review, String> {
        let opts = self.options.clone().unwrap_or_default();
        // Plan rule ids are accepted too: a plan review runs both kinds.
        let sql_rule_ids: Vec<String> = opts
            .exclude
            .iter()
            .filter(|id| {
                !crate::review::plan::RULES
                    .iter()
                    .any(|r| r.id == id.as_str())
            })
            .cloned()
            .collect();
        crate::review::config::check_rule_ids(&sql_rule_ids)
            .map_err(|e| format!("options.exclude: {e}"))?;
        if opts.engine == crate::context::Engine::Postgres {
            crate::review::config::check_pg_version(opts.pg_version)
                .map_err(|e| format!("options.pg_version: {e}"))?;
        }
        let text = match (&self.sql, &self.plan) {
            (Some(_), Some(_)) => {
                return Err("give either `sql` (a migration) or `plan` (a rollout plan), not both".into())
            }
            (None, None) => {
                return Err("nothing to review: give the migration's SQL as `sql` (and its file name as `file`), or a rollout plan as `plan`".into())
            }
            (Some(t), None) | (None, Some(t)) => t,
        };
        if text.len() > MAX_REVIEW_BYTES {
            return Err(format!(
                "the input is {} bytes, over the {MAX_REVIEW_BYTES}-byte limit of one call; review large files with `schemashift review FILE`",
                text.len()
            ));
        }
        match &self.plan {
            Some(plan) => crate::review::plan::review_plan_text(plan, &opts),
            None => Ok(review(text, self.file.as_deref(), &opts)),
        }
    }
}

/// Arguments of every mode prompt.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ModeArgs {
    /// The change in words or SQL, e.g. "rename users.username to handle"; for
    /// review, the migration SQL or a file path.
    #[serde(default)]
    pub request: Option<String>,
}

fn mode_prompt(mode: &str, what: &str, request: Option<String>) -> Vec<PromptMessage> {
    let request = request
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| "(ask the user which change they mean)".into());
    vec![PromptMessage::new_text(
        Role::User,
        format!(
            "Mode: {mode}. Change: {request}\n\n{what}\n\nFirst call the schemashift tool classify_change with the change \
             as structured `change` (the tool's input schema lists each change type's fields) and the user's words as `request`, \
             or as DDL in `sql`; if words alone are refused, write the structured change and call again. If in_scope is false, say why and stop. If questions are listed, \
             answer them from the project or ask the user. Present SQL exactly as the tools return it, never your own. \
             Read schemashift://references/migration-failure-modes for the failure modes that apply."
        ),
    )]
}

#[prompt_router]
impl Server {
    /// Plan a zero-downtime schema change end to end (expand, dual write, backfill, cutover, contract).
    #[prompt(name = "plan")]
    async fn plan(
        &self,
        Parameters(a): Parameters<ModeArgs>,
    ) -> Result<Vec<PromptMessage>, McpError> {
        Ok(mode_prompt("plan", "Produce the full phased rollout: compatibility table, phases with forward and rollback SQL, validation queries, advance and abort criteria.", a.request))
    }

    /// Review a migration someone wrote for lock and compatibility hazards.
    #[prompt(name = "review")]
    async fn review(
        &self,
        Parameters(a): Parameters<ModeArgs>,
    ) -> Result<Vec<PromptMessage>, McpError> {
        Ok(mode_prompt("review", "Classify each change in the migration and report every hazard: the lock it takes, what it blocks, whether old app versions break, and the safe alternative.", a.request))
    }

    /// Plan the backfill stage: keyset batches, throttle, progress and completion queries.
    #[prompt(name = "backfill")]
    async fn backfill(
        &self,
        Parameters(a): Parameters<ModeArgs>,
    ) -> Result<Vec<PromptMessage>, McpError> {
        Ok(mode_prompt("backfill", "Focus on the backfill: keyset batches by primary key, one transaction per batch, idempotent, resumable, throttled, with progress and completion queries.", a.request))
    }

    /// Plan the cutover stage: switch reads, then writes, with a rollback point and abort criteria.
    #[prompt(name = "cutover")]
    async fn cutover(
        &self,
        Parameters(a): Parameters<ModeArgs>,
    ) -> Result<Vec<PromptMessage>, McpError> {
        Ok(mode_prompt("cutover", "Focus on the cutover: reads switch before writes, each with its evidence gate, rollback point and abort criteria.", a.request))
    }

    /// Plan the deprecation and contract stage: prove nothing uses the old shape, then remove it.
    #[prompt(name = "deprecate")]
    async fn deprecate(
        &self,
        Parameters(a): Parameters<ModeArgs>,
    ) -> Result<Vec<PromptMessage>, McpError> {
        Ok(mode_prompt("deprecate", "Focus on the contract: prove no live app version reads or writes the old shape, then remove it under lock_timeout, with a backup and data-loss warning.", a.request))
    }
}

#[tool_handler(router = self.tools())]
#[prompt_handler(router = self.prompts())]
impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_prompts()
                .build(),
        )
        .with_server_info(Implementation::new(
            "schemashift",
            env!("CARGO_PKG_VERSION"),
        ))
        .with_instructions(INSTRUCTIONS)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let templates = render::CATALOGUE.iter().map(|t| {
            Resource::new(t.uri(), format!("template {}", t.name))
                .with_title(format!("Template `{}`", t.name))
                .with_description(format!(
                    "minijinja template rendering {}: {}",
                    t.data.describe(),
                    t.description
                ))
                .with_mime_type("text/plain")
                .with_size(t.source().len() as u64)
        });
        Ok(ListResourcesResult::with_all_items(
            references::all()
                .into_iter()
                .map(|r| {
                    Resource::new(r.uri(), r.name)
                        .with_title(r.title)
                        .with_description(r.description())
                        .with_mime_type("text/markdown")
                        .with_size(r.text.len() as u64)
                })
                .chain(templates)
                .collect(),
        ))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new(references::URI_TEMPLATE, "reference")
                .with_description("A schemashift reference document by name")
                .with_mime_type("text/markdown"),
            ResourceTemplate::new(render::URI_TEMPLATE, "template")
                .with_description(
                    "The source of an output template by name (render_template renders it)",
                )
                .with_mime_type("text/plain"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        if let Some(name) = request.uri.strip_prefix(render::URI_PREFIX) {
            return match render::get(name) {
                Some(t) => Ok(ReadResourceResult::new(vec![ResourceContents::text(
                    t.source(),
                    request.uri.clone(),
                )
                .with_mime_type("text/plain")])
                .into()),
                None => Err(McpError::resource_not_found(
                    format!(
                        "no template named `{name}`: the templates are {} (URIs look like {}<name>)",
                        render::names().join(", "),
                        render::URI_PREFIX
                    ),
                    None,
                )),
            };
        }
        match references::get(&request.uri) {
            Some(r) if request.uri.starts_with(references::URI_PREFIX) => Ok(
                ReadResourceResult::new(vec![ResourceContents::text(r.text, request.uri.clone())
                    .with_mime_type("text/markdown")])
                .into(),
            ),
            _ => Err(McpError::resource_not_found(
                format!(
                    "{} (URIs look like {}<name>)",
                    references::not_found(&request.uri),
                    references::URI_PREFIX
                ),
                None,
            )),
        }
    }
}

/// Serves MCP over stdin/stdout until the client disconnects; every
/// malformed message gets its JSON-RPC error ([`crate::mcp_stdio`]).
pub async fn serve_stdio() -> anyhow::Result<()> {
    crate::mcp_stdio::serve(Server::new(), tokio::io::stdin(), tokio::io::stdout()).await
}
