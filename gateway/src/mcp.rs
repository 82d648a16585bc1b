//! The MCP server (`POST /mcp`): the agent's tools over Streamable HTTP, with rmcp (the official
//! Rust SDK) mounted in actix-web by rmcp-actix-web.
//!
//! Stateless: no `Mcp-Session-Id`, nothing of a conversation in this process's memory, so any
//! gateway replica answers any request behind a plain round-robin balancer (and so the server
//! never pushes `list_changed` notifications: a client sees a new tool on its next `tools/list`).
//! Each request is authenticated by `caller::admit_caller` before rmcp sees it — the same cached
//! token check as `/gateway` — and the tools a caller may use are listed per request.
//!
//! A tool is one module under `mcp/tools/` and one line in `tools::TOOLS`.

mod caller;
mod tools;

use std::sync::Arc;

use actix_web::web;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ListToolsResult, PaginatedRequestParams,
    ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use rmcp_actix_web::transport::{LocalSessionManager, StreamableHttpService, on_request_extensions};
use shellgate_shared::config::{Settings, list};

pub use caller::Caller;

use crate::context::GatewayContext;

/// What the server tells a model when it connects.
const INSTRUCTIONS: &str = "Shellgate lets you call HTTP APIs and run commands on servers on behalf of \
your user, with credentials you never see. Call `bootstrap` first: it lists the targets you may use \
and the rules that apply. Credentials are added by Shellgate; never ask for them. Some requests need a \
human's approval: the tool answers `approval_required` with an `approval_id`; wait with \
`approval_status`, then repeat the same call with that `approval_id`. A `blocked` request never runs.";

/// The MCP endpoint, built once (outside the per-worker app factory) and mounted by every worker.
#[derive(Clone)]
pub struct McpEndpoint {
    service: StreamableHttpService<ShellgateMcp, LocalSessionManager>,
}

impl McpEndpoint {
    pub fn new(ctx: Arc<GatewayContext>, settings: &Settings) -> Self {
        let server = ShellgateMcp { ctx };
        let service = StreamableHttpService::builder()
            .service_factory(Arc::new(move || Ok(server.clone())))
            // Only its event store is consulted, and only with sessions; stateless has none.
            .session_manager(Arc::new(LocalSessionManager::default()))
            .stateful_mode(false)
            .json_response(true)
            // Empty: any Host (rmcp's default is loopback only, which every balancer would fail).
            .allowed_hosts(list(&settings.mcp_allowed_hosts))
            // Origins are checked by `caller::admit_caller`, with a JSON error like every other.
            .allowed_origins(Vec::new())
            .max_request_body_bytes(settings.mcp_max_request_bytes)
            .on_request_fn(|req, ext| {
                use actix_web::HttpMessage;
                if let Some(caller) = req.extensions().get::<Caller>() {
                    ext.insert(caller.clone());
                }
            })
            .build();
        Self { service }
    }

    /// Mounts `/mcp` behind the caller check.
    pub fn mount(&self, cfg: &mut web::ServiceConfig) {
        cfg.service(
            self.service
                .clone()
                .scope_with_path("/mcp")
                .wrap(actix_web::middleware::from_fn(caller::admit_caller)),
        );
    }
}

/// The rmcp server: one per request (cheap to clone), everything shared behind the `Arc`.
#[derive(Clone)]
struct ShellgateMcp {
    ctx: Arc<GatewayContext>,
}

/// The caller `admit_caller` put on the request; always there for a request that got this far.
fn caller(rc: &RequestContext<RoleServer>) -> Result<Caller, ErrorData> {
    on_request_extensions(&rc.extensions)
        .and_then(|ext| ext.get::<Caller>().cloned())
        .ok_or_else(|| ErrorData::internal_error("request without a caller", None))
}

impl ServerHandler for ShellgateMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("shellgate", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS.to_string())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        rc: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let caller = caller(&rc)?;
        // Caching hints left unset: rmcp marks the list private to this caller.
        Ok(ListToolsResult::with_all_items(tools::listed(&caller)))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        rc: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let caller = caller(&rc)?;
        tools::call(&self.ctx, &caller, &request.name, request.arguments.unwrap_or_default())
            .await
            .map(Into::into)
    }
}
