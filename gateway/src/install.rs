//! One-line agent setup: `GET /install/<agent>.sh` answers a POSIX sh script that registers this
//! gateway's MCP server in that agent (`curl -fsSL <gw>/install/claude-code.sh | SHELLGATE_TOKEN=sg_… sh`).
//!
//! The scripts are static text: the only thing written into them is the gateway's URL
//! (`SHELLGATE_PUBLIC_URL`, else the URL the script was fetched from), and only when it is made of
//! characters that are inert in a shell word and in the agents' config formats. The token never
//! travels in a URL or in a script: the script reads it from `SHELLGATE_TOKEN` or the terminal.
//! The shared part (`install/common.sh`: options, the token, the check against `/bootstrap`) comes
//! first, then the agent's own part, which defines `install` and `uninstall`.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use shellgate_shared::config::is_plain_base_url;
use shellgate_shared::error::Code;

use crate::context::GatewayContext;
use crate::error::ApiError;

const COMMON: &str = include_str!("install/common.sh");

/// The agents, by the name in the script's path.
const AGENTS: &[(&str, &str)] = &[
    ("claude-code", include_str!("install/claude-code.sh")),
    ("codex", include_str!("install/codex.sh")),
    ("openclaw", include_str!("install/openclaw.sh")),
    ("hermes", include_str!("install/hermes.sh")),
];

/// `GET /install/{agent}.sh`
pub async fn get_install_script(
    ctx: web::Data<Arc<GatewayContext>>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let agent = path.strip_suffix(".sh").unwrap_or("");
    let (name, part) = AGENTS
        .iter()
        .find(|(name, _)| *name == agent)
        .ok_or(ApiError::NotFound)?;
    let url = match &ctx.public_url {
        Some(url) => url.clone(),
        None => {
            let info = req.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        }
    };
    if !is_plain_base_url(&url) {
        return Err(ApiError::BadRequest(
            Code::BadRequest,
            "this gateway's URL (from the Host header) cannot be written into a script: set SHELLGATE_PUBLIC_URL",
        ));
    }
    let script = format!(
        "#!/bin/sh\n# Connects {name} to Shellgate at {url} (MCP server `shellgate`).\n\
         # Usage: curl -fsSL {url}/install/{name}.sh | SHELLGATE_TOKEN=sg_... sh\n\
         #        curl -fsSL {url}/install/{name}.sh | sh -s -- --uninstall\n\
         SHELLGATE_AGENT='{name}'\nSHELLGATE_DEFAULT_URL='{url}'\n\n{COMMON}\n{part}\nmain \"$@\"\n"
    );
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/x-shellscript; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(script))
}
