//! The MCP adapter: parses tool calls, calls the library, formats the result.
//! Nothing about databases lives here.

use crate::classify::{classify_request, Classification, ClassifyRequest};
use crate::plan::{build_plan, Plan, PlanRequest};
use crate::references;
use rmcp::handler::server::router::prompt::PromptRouter;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::*;
use rmcp::service::RequestContext;
use rmcp::{prompt, prompt_handler, prompt_router, tool, tool_handler, tool_router};
use rmcp::{ErrorData as McpError, Json, RoleServer, ServerHandler, ServiceExt};
use schemars::JsonSchema;
use serde::Deserialize;

const INSTRUCTIONS: &str = "schemashift plans zero-downtime database schema changes \
(expand, dual write, backfill, cutover, contract) for PostgreSQL 10-18 and MySQL 8. \
Call classify_change first, then build_plan for the phased SQL. Give the change to classify_change with the change as `request` (English, e.g. \"rename users.username to handle\"), \
`sql` (the naive DDL) or `change` (structured); it returns the change type, risk, the lock facts of the naive DDL, \
the phases a plan needs and the questions whose answers would change it. Show SQL only as the tools return it. \
Reference documents are resources under schemashift://references/.";

/// The stdio MCP server. The routers are built once and kept.
#[derive(Clone)]
pub struct Server {
    tool_router: ToolRouter<Server>,
    prompt_router: PromptRouter<Server>,
}

impl Default for Server {
    fn default() -> Self {
        Self::new()
    }
}

#[tool_router]
impl Server {
    pub fn new() -> Self {
        Self {
            tool_router: Self::tool_router(),
            prompt_router: Self::prompt_router(),
        }
    }

    /// Classify a schema change before planning it: change type id, backward
    /// compatibility, risk, complexity, rollout pattern and phases, the lock
    /// facts of the naive DDL for the engine and version, red flags,
    /// invariants, open questions, and whether it is in scope. Give the change
    /// as exactly one of `request` (English), `sql` (DDL) or `change` (structured).
    #[tool(annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false))]
    async fn classify_change(
        &self,
        Parameters(req): Parameters<ClassifyRequest>,
    ) -> Result<Json<Classification>, String> {
        classify_request(&req).map(Json).map_err(|e| e.to_string())
    }

    /// Build the complete zero-downtime plan for PostgreSQL 11-18: every
    /// phase (expand, deploy, backfill, validate, cutover_reads,
    /// cutover_writes, contract) with its exact forward and rollback SQL,
    /// validation queries with expected results, advance and abort criteria,
    /// lock impact, the batched backfill, estimates, runbook and risks. Give
    /// the change as one of `request`, `sql` or `change`; pass the current
    /// CREATE TABLE DDL as `schema` so types, keys and NOT NULLs are known;
    /// `options.mode` slices the plan to backfill, cutover or deprecate.
    /// Present the SQL exactly as returned.
    #[tool(annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false))]
    async fn build_plan(
        &self,
        Parameters(req): Parameters<PlanRequest>,
    ) -> Result<Json<Plan>, String> {
        build_plan(&req).map(Json).map_err(|e| e.to_string())
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
             (as `request` for words, `sql` for DDL). If in_scope is false, say why and stop. If questions are listed, \
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

#[tool_handler(router = self.tool_router)]
#[prompt_handler(router = self.prompt_router)]
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
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
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

/// Serves MCP over stdin/stdout until the client disconnects.
pub async fn serve_stdio() -> anyhow::Result<()> {
    let service = Server::new().serve(rmcp::transport::stdio()).await?;
    service.waiting().await?;
    Ok(())
}
