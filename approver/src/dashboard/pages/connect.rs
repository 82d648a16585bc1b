//! `/connect`: connect an agent. Pick Claude Code, Codex, OpenClaw, Hermes or a custom MCP
//! client; then either create a token for it (its targets ticked; shown once, with the command
//! holding it) or use a token you have (the command with a placeholder, since a token is never
//! shown twice). The answer is the one-line install (`GET /install/<agent>.sh` on a gateway) and
//! the configuration to paste by hand, as the install scripts would write it.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use shellgate_shared::db::queries;
use shellgate_shared::states::Capability;

use super::{Form, admins, change, context, form_error, signed_in, unavailable};
use crate::context::ApproverContext;
use crate::dashboard::session::Session;
use crate::dashboard::view;
use crate::handlers::tokens::create::{self as create_token, CreateTokenRequest};

/// The agents (path name, display name) with an install script, then the custom client.
const AGENTS: &[(&str, &str)] = &[
    ("claude-code", "Claude Code"),
    ("codex", "Codex"),
    ("openclaw", "OpenClaw"),
    ("hermes", "Hermes"),
    ("custom", "Another MCP client"),
];

/// The environment variable the scripts keep the token in.
const ENV_NAME: &str = "SHELLGATE_MCP_TOKEN";

#[derive(Debug, Deserialize)]
pub struct Pick {
    agent: Option<String>,
}

/// One way to set the agent up: a title and the text to run or paste.
#[derive(Debug, Serialize)]
struct Step {
    title: String,
    text: String,
}

/// The gateway's URL as agents reach it: `SHELLGATE_PUBLIC_URL`, else the gateway's listen
/// address (its port on the host this page was reached at, when it listens on every interface).
pub(super) fn gateway_url(ctx: &ApproverContext, req: &HttpRequest) -> String {
    if let Some(url) = &ctx.settings.public_url {
        return url.trim_end_matches('/').to_string();
    }
    match ctx.settings.gateway_listen.parse::<SocketAddr>() {
        Ok(addr) if addr.port() != 0 && addr.ip().is_unspecified() => {
            let info = req.connection_info();
            let host = info.host();
            let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
            format!("{}://{name}:{}", info.scheme(), addr.port())
        }
        Ok(addr) if addr.port() != 0 => format!("http://{addr}"),
        _ => "http://<gateway>".into(),
    }
}

/// How to set `agent` up with `token` (a real one, or a placeholder).
fn steps(agent: &str, url: &str, token: &str) -> (Option<String>, Vec<Step>) {
    let step = |title: &str, text: String| Step {
        title: title.into(),
        text,
    };
    let install =
        (agent != "custom").then(|| format!("curl -fsSL {url}/install/{agent}.sh | SHELLGATE_TOKEN={token} sh"));
    let manual = match agent {
        "claude-code" => vec![step(
            "Or add it with Claude Code's CLI",
            format!(
                "claude mcp add-json --scope user shellgate '{{\"type\":\"http\",\"url\":\"{url}/mcp\",\"headers\":{{\"Authorization\":\"Bearer {token}\"}}}}'"
            ),
        )],
        "codex" => vec![
            step(
                "Or keep the token in Codex's environment",
                format!("{ENV_NAME}={token}"),
            ),
            step(
                "and add the server with Codex's CLI",
                format!("codex mcp add shellgate --url {url}/mcp --bearer-token-env-var {ENV_NAME}"),
            ),
        ],
        "openclaw" => vec![
            step(
                "Or add this line to ~/.openclaw/.env (mode 0600)",
                format!("{ENV_NAME}={token}"),
            ),
            step(
                "and this to ~/.openclaw/openclaw.json (inside the top-level object)",
                format!(
                    "\"mcp\": {{\"servers\": {{\"shellgate\": {{\"url\": \"{url}/mcp\", \"transport\": \"streamable-http\", \"headers\": {{\"Authorization\": \"Bearer ${{{ENV_NAME}}}\"}}}}}}}}"
                ),
            ),
        ],
        "hermes" => vec![
            step(
                "Or add this line to ~/.hermes/.env (mode 0600)",
                format!("{ENV_NAME}={token}"),
            ),
            step(
                "and this to ~/.hermes/config.yaml",
                format!(
                    "mcp_servers:\n  shellgate:\n    url: \"{url}/mcp\"\n    headers:\n      Authorization: \"Bearer ${{{ENV_NAME}}}\""
                ),
            ),
        ],
        _ => vec![
            step(
                "MCP server (Streamable HTTP, stateless)",
                format!("URL: {url}/mcp\nHeader: Authorization: Bearer {token}"),
            ),
            step(
                "Or plain HTTP, without MCP",
                format!(
                    "curl -H 'Authorization: Bearer {token}' {url}/bootstrap\ncurl -H 'Authorization: Bearer {token}' {url}/gateway/<target>/<path>"
                ),
            ),
        ],
    };
    (install, manual)
}

async fn render(
    ctx: &ApproverContext,
    req: &HttpRequest,
    s: &Session,
    agent: Option<&str>,
    secret: Option<&str>,
    error: Option<&str>,
) -> HttpResponse {
    let mut c = context(ctx, s, "connect");
    c.insert("agents", AGENTS);
    let agent = agent.filter(|a| AGENTS.iter().any(|(name, _)| name == a));
    c.insert("agent", &agent);
    c.insert(
        "agent_name",
        &agent
            .and_then(|a| AGENTS.iter().find(|(n, _)| *n == a))
            .map(|(_, d)| *d),
    );
    c.insert("secret", &secret);
    c.insert("error", &error);
    if let Some(agent) = agent {
        let url = gateway_url(ctx, req);
        let (install, manual) = steps(agent, &url, secret.unwrap_or("sg_…"));
        c.insert("install", &install);
        c.insert("manual", &manual);
        c.insert("url", &url);
    }
    let listed = async {
        let mut conn = ctx.conn().await?;
        Ok::<_, crate::error::ApiError>(queries::targets::list_targets(&mut conn).await?)
    };
    let Ok(targets) = listed.await else {
        return unavailable(ctx);
    };
    let targets: Vec<(String, String, String)> = targets
        .into_iter()
        .map(|t| (t.id.to_string(), t.slug, t.kind.as_str().to_string()))
        .collect();
    c.insert("targets", &targets);
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    view::page(ctx, "connect.html", c, status)
}

/// `GET /connect?agent=…`
pub async fn page(ctx: web::Data<Arc<ApproverContext>>, req: HttpRequest, q: web::Query<Pick>) -> HttpResponse {
    match signed_in(&ctx, &req).await {
        Ok(s) => render(&ctx, &req, &s, q.agent.as_deref(), None, None).await,
        Err(res) => res,
    }
}

/// `POST /connect`: a new token for the agent (its targets ticked, the default capabilities),
/// shown once inside the commands.
pub async fn create(ctx: web::Data<Arc<ApproverContext>>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let form = Form::parse(&body);
    let s = match change(&ctx, &req, &form, admins).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let agent = form.text("agent");
    let targets: HashSet<String> = form.all("target").into_iter().collect();
    let request = CreateTokenRequest {
        name: form.text("name").unwrap_or_default(),
        expires_at: None,
        expires_in_seconds: None,
        enabled: Some(true),
        target_ids: targets.into_iter().collect(),
        approval_policy: None,
        capabilities: Some(Capability::DEFAULT.iter().map(|c| c.as_str().to_string()).collect()),
        allowed_cidrs: Vec::new(),
    };
    match create_token::create(&ctx, request).await {
        Ok(token) => {
            view::audit(&ctx, &req, StatusCode::CREATED, None, &s.user.username);
            render(&ctx, &req, &s, agent.as_deref(), token.token.as_deref(), None).await
        }
        Err(e) => {
            let message = form_error(&ctx, &req, &s, &e);
            render(&ctx, &req, &s, agent.as_deref(), None, Some(&message)).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::steps;

    #[test]
    fn every_agent_gets_its_install_line_and_a_manual_way() {
        for (agent, _) in super::AGENTS {
            let (install, manual) = steps(agent, "https://sg.example", "sg_abc");
            assert!(!manual.is_empty(), "{agent}");
            assert!(manual.iter().any(|s| s.text.contains("https://sg.example")), "{agent}");
            match *agent {
                "custom" => assert!(install.is_none()),
                a => assert_eq!(
                    install.as_deref(),
                    Some(format!("curl -fsSL https://sg.example/install/{a}.sh | SHELLGATE_TOKEN=sg_abc sh").as_str())
                ),
            }
        }
        let (_, openclaw) = steps("openclaw", "https://sg.example", "sg_abc");
        assert!(
            openclaw[1].text.contains("\"Bearer ${SHELLGATE_MCP_TOKEN}\""),
            "{}",
            openclaw[1].text
        );
    }
}
