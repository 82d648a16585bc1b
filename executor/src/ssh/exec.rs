//! One agent SSH command, from the open message to the `exit` frame.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use russh::{ChannelMsg, Sig};
use shellgate_shared::bus::messages::{
    Accepted, ResponseHead, SSH_STDERR, SSH_STDOUT, SshExecRequest, SshExit, StreamFailure,
};
use shellgate_shared::bus::stream::{Frame, Sender};
use shellgate_shared::db::queries;
use shellgate_shared::db::queries::host_keys::PresentedKey;
use shellgate_shared::error::Code;
use shellgate_shared::ssh::{KILL_AFTER_SECS, exit_code_for_signal, parse_public_key, remote_script, wrapped_script};
use shellgate_shared::states::TargetKind;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::pool::{ConnectError, Endpoint, Lease, SshPools};
use crate::context::ExecutorContext;
use crate::intake::{InFlight, Opened, open_credential, open_request, resolve_target};
use crate::scrub::{Patterns, Scrubber};

/// After a timeout or a cancel the channel gets TERM (the wrapper's `timeout` passes it to the
/// command's whole process group, and KILLs the group `KILL_AFTER_SECS` later), then KILL this
/// much later — after the group's KILL, so `timeout` is never killed before it did its work; it
/// reaches the command itself only on servers without `timeout` — then the channel is closed.
const KILL_AFTER: Duration = Duration::from_secs(KILL_AFTER_SECS + 1);
/// The server-side deadline is this much after the executor's own: normally the executor's TERM
/// comes first; the deadline kills the command if the executor or its connection is gone.
const REMOTE_DEADLINE_SLACK_SECS: u64 = 1;

/// Handles one SSH open message from the queue group. Always answers.
pub async fn handle_ssh_open(ctx: Arc<ExecutorContext>, pools: Arc<SshPools>, msg: async_nats::Message) {
    let _inflight = InFlight::new(&ctx.metrics.executor.inflight);
    let parent = shellgate_shared::telemetry::extract(msg.headers.as_ref());
    let Some(Opened {
        mut tx,
        rx: _rx,
        request: req,
        ..
    }) = open_request::<SshExecRequest>(&ctx, msg).await
    else {
        return;
    };
    // Connecting may take a while: say at once that this executor has the command.
    if tx
        .send(Frame::Accepted(Accepted {
            executor: ctx.id.clone(),
        }))
        .await
        .is_err()
    {
        return;
    }
    let span = tracing::info_span!(
        "exec_ssh",
        otel.kind = "consumer",
        request_id = %req.request_id,
        target_id = %req.target_id,
        executor = %ctx.id,
    );
    if let Err(e) = span.set_parent(parent) {
        tracing::debug!(error = ?e, "trace context not attached");
    }
    if let Err(failure) = run(&ctx, &pools, req, &mut tx).instrument(span).await {
        let _ = tx.send(Frame::Error(failure)).await;
    }
    tx.linger().await;
}

async fn run(
    ctx: &ExecutorContext,
    pools: &SshPools,
    req: SshExecRequest,
    tx: &mut Sender,
) -> Result<(), StreamFailure> {
    let started = Instant::now();
    let resolved = resolve_target(ctx, req.target_id, TargetKind::Ssh).await?;
    let target = &resolved.target;
    crate::recheck::recheck_ssh(ctx, &req, target).await?;
    let misconfigured = || StreamFailure::new(Code::TargetMisconfigured, "the SSH target is incomplete");
    let sealed = resolved.credential.as_ref().ok_or_else(|| {
        StreamFailure::new(
            Code::CredentialMissing,
            "the SSH target has no credential; an admin must set one",
        )
    })?;
    let credential = open_credential(ctx, sealed)?;
    let patterns = ctx
        .scrub_patterns
        .get(sealed.target_id, sealed.updated_at.unix_timestamp_nanos(), || {
            credential.scrub_needles()
        });
    let endpoint = Endpoint {
        target_id: target.id,
        host: target.ssh_host.clone().ok_or_else(misconfigured)?,
        port: target
            .ssh_port
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(misconfigured)?,
        username: target.ssh_username.clone().ok_or_else(misconfigured)?,
        credential,
        credential_version: sealed.updated_at.unix_timestamp_nanos(),
        pins: resolved
            .host_keys
            .iter()
            .filter_map(|k| parse_public_key(&k.public_key))
            .collect(),
    };
    // The call to the server, as a client span: connection (or reuse) and the command. Neither the
    // command nor the host's credential is an attribute.
    let span = tracing::info_span!(
        "ssh_command",
        otel.kind = "client",
        ssh.reused_connection = tracing::field::Empty,
        ssh.exit_code = tracing::field::Empty,
        ssh.signal = tracing::field::Empty,
    );
    let outcome = call(ctx, pools, &req, endpoint, &patterns, tx, started)
        .instrument(span.clone())
        .await?;
    if let Some(exit) = outcome {
        span.record("ssh.reused_connection", exit.reused_connection);
        if let Some(code) = exit.exit_code {
            span.record("ssh.exit_code", code);
        }
        if let Some(signal) = &exit.signal {
            span.record("ssh.signal", signal.as_str());
        }
        drop(span);
        let _ = tx.send(Frame::Exit(exit)).await;
    }
    Ok(())
}

/// Gets a channel (host keys checked) and runs the command on it.
async fn call(
    ctx: &ExecutorContext,
    pools: &SshPools,
    req: &SshExecRequest,
    endpoint: Endpoint,
    patterns: &Arc<Patterns>,
    tx: &mut Sender,
    started: Instant,
) -> Result<Option<SshExit>, StreamFailure> {
    let mut lease = match pools.channel(&endpoint).await {
        Ok(l) => l,
        Err(ConnectError::Failure(f)) => return Err(f),
        Err(ConnectError::HostKey { presented, pinned }) => {
            return Err(host_key_refused(ctx, req, &presented, pinned).await);
        }
    };
    drop(endpoint);
    execute(ctx, req, &mut lease, patterns, tx, started).await
}

/// Records a key the server presented that is not accepted, and says why nothing ran.
async fn host_key_refused(
    ctx: &ExecutorContext,
    req: &SshExecRequest,
    presented: &shellgate_shared::ssh::HostKeyInfo,
    pinned: bool,
) -> StreamFailure {
    let key = PresentedKey {
        algorithm: &presented.algorithm,
        fingerprint: &presented.fingerprint,
        public_key: &presented.public_key,
    };
    match ctx.db.get().await {
        Ok(mut conn) => {
            if let Err(e) = queries::host_keys::record_presented(&mut conn, req.target_id, &key).await {
                tracing::error!(error = %e, "cannot record a presented host key");
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot record a presented host key"),
    }
    if pinned {
        tracing::warn!(
            target_id = %req.target_id,
            fingerprint = %presented.fingerprint,
            "SSH host key mismatch: the server presented a key that is not pinned for this target"
        );
        StreamFailure::new(
            Code::HostKeyMismatch,
            &format!(
                "the server presented host key {} ({}), which does not match the key pinned for this target; \
                 nothing was run",
                presented.fingerprint, presented.algorithm
            ),
        )
    } else {
        StreamFailure::new(
            Code::HostKeyUnknown,
            &format!(
                "the server's host key {} ({}) is not accepted yet; an admin must accept it \
                 (POST /api/targets/{}/host-keys) before commands run",
                presented.fingerprint, presented.algorithm, req.target_id
            ),
        )
    }
}

/// Output of one stream: counted, capped, scrubbed, sent as tagged `data` frames.
struct Output {
    tag: u8,
    seen: u64,
    kept: u64,
    cap: u64,
    scrubber: Scrubber,
}

impl Output {
    fn new(tag: u8, cap: u64, scrubber: Scrubber) -> Self {
        Self {
            tag,
            seen: 0,
            kept: 0,
            cap,
            scrubber,
        }
    }

    fn truncated(&self) -> bool {
        self.seen > self.kept
    }

    /// What of `data` goes to the gateway (nothing past the cap).
    fn take(&mut self, data: Bytes) -> Bytes {
        self.seen += data.len() as u64;
        let room = usize::try_from(self.cap.saturating_sub(self.kept)).unwrap_or(usize::MAX);
        let part = data.slice(..data.len().min(room));
        self.kept += part.len() as u64;
        if part.is_empty() {
            return Bytes::new();
        }
        self.scrubber.push(part)
    }

    fn frame(&self, data: &[u8]) -> Bytes {
        let mut buf = BytesMut::with_capacity(1 + data.len());
        buf.put_u8(self.tag);
        buf.put_slice(data);
        buf.freeze()
    }
}

/// Runs the command on the leased channel and streams its output. `Ok(None)`: the gateway went
/// away (the command was signalled and its channel closed).
async fn execute(
    ctx: &ExecutorContext,
    req: &SshExecRequest,
    lease: &mut Lease,
    patterns: &Arc<Patterns>,
    tx: &mut Sender,
    started: Instant,
) -> Result<Option<SshExit>, StreamFailure> {
    let lost = || {
        StreamFailure::new(
            Code::SshConnectionLost,
            "the SSH connection was lost while the command ran",
        )
    };
    let channel = lease.channel.take().ok_or_else(lost)?;
    let (mut read, write) = channel.split();
    let script = remote_script(&req.command, &req.env);
    let deadline = req.timeout_ms.div_ceil(1000) + REMOTE_DEADLINE_SLACK_SECS;
    write
        .exec(true, wrapped_script(&script, deadline).into_bytes())
        .await
        .map_err(|_| lost())?;
    // The server's answer to the exec request comes first.
    loop {
        match read.wait().await {
            Some(ChannelMsg::Success) => break,
            Some(ChannelMsg::Failure) => {
                return Err(StreamFailure::new(
                    Code::SshExecRefused,
                    "the SSH server refused to run the command",
                ));
            }
            Some(ChannelMsg::Close) | None => return Err(lost()),
            Some(_) => {}
        }
    }
    if tx
        .send(Frame::Head(ResponseHead {
            status: 200,
            headers: Vec::new(),
            content_length: None,
        }))
        .await
        .is_err()
    {
        signal_and_close(write).await;
        return Ok(None);
    }
    // Stdin, then EOF (without stdin at once, so a command reading it does not wait forever).
    let stdin = req.stdin.clone().unwrap_or_default();
    let writer = {
        let write = write.make_writer();
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt as _;
            let mut w = write;
            if !stdin.is_empty() {
                let _ = w.write_all(stdin.as_bytes()).await;
            }
            let _ = w.shutdown().await;
        })
    };
    let cap = ctx.settings.ssh_output_cap_bytes;
    let mut stdout = Output::new(SSH_STDOUT, cap, Scrubber::with(patterns.clone()));
    let mut stderr = Output::new(SSH_STDERR, cap, Scrubber::with(patterns.clone()));
    let mut exit = SshExit {
        reused_connection: lease.reused,
        ..SshExit::default()
    };
    // Past the deadline: TERM, then KILL, then stop waiting for the server to report an end.
    let mut timer = tokio::time::Instant::now() + Duration::from_millis(req.timeout_ms);
    let mut next_signal = [Some(Sig::TERM), Some(Sig::KILL), None].into_iter();
    let gone = tx.gone();
    tokio::pin!(gone);
    let mut closed = false;
    loop {
        let msg = tokio::select! {
            m = read.wait() => m,
            _ = tokio::time::sleep_until(timer) => {
                if !exit.timed_out {
                    tracing::info!(request_id = %req.request_id, "SSH command timed out; signalling it");
                }
                exit.timed_out = true;
                match next_signal.next().flatten() {
                    Some(sig) => {
                        let _ = write.signal(sig).await;
                        timer = tokio::time::Instant::now() + KILL_AFTER;
                    }
                    None => {
                        let _ = write.close().await;
                        break;
                    }
                }
                continue;
            }
            e = &mut gone => {
                tracing::info!(error = %e, request_id = %req.request_id, "gateway went away; cancelling the SSH command");
                writer.abort();
                signal_and_close(write).await;
                return Ok(None);
            }
        };
        let (out, data) = match msg {
            Some(ChannelMsg::Data { data }) => (&mut stdout, data),
            Some(ChannelMsg::ExtendedData { data, ext: 1 }) => (&mut stderr, data),
            Some(ChannelMsg::ExitStatus { exit_status }) => {
                exit.exit_code = Some(exit_status);
                continue;
            }
            Some(ChannelMsg::ExitSignal {
                signal_name,
                core_dumped,
                ..
            }) => {
                let name = signal_name_of(&signal_name);
                exit.exit_code = Some(exit_code_for_signal(&name));
                exit.signal = Some(name);
                exit.core_dumped = core_dumped;
                continue;
            }
            Some(ChannelMsg::Close) | None => {
                closed = true;
                break;
            }
            Some(_) => continue,
        };
        let kept = out.take(data);
        if !kept.is_empty() && tx.send_data(out.frame(&kept)).await.is_err() {
            writer.abort();
            signal_and_close(write).await;
            return Ok(None);
        }
    }
    writer.abort();
    for out in [&mut stdout, &mut stderr] {
        let rest = out.scrubber.finish();
        if !rest.is_empty() && tx.send_data(out.frame(&rest)).await.is_err() {
            return Ok(None);
        }
    }
    if !closed {
        let _ = write.close().await;
    }
    if exit.exit_code.is_none() {
        if exit.timed_out {
            // Killed, but the server did not say how: still never an exit 0.
            exit.signal = Some("KILL".into());
            exit.exit_code = Some(exit_code_for_signal("KILL"));
        } else {
            return Err(lost());
        }
    }
    exit.stdout_truncated = stdout.truncated();
    exit.stderr_truncated = stderr.truncated();
    exit.stdout_bytes = stdout.seen;
    exit.stderr_bytes = stderr.seen;
    exit.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(Some(exit))
}

/// Cancels a running command: TERM, KILL shortly after, then the channel is closed. Runs
/// detached so the caller is not held.
async fn signal_and_close(write: russh::ChannelWriteHalf<russh::client::Msg>) {
    let _ = write.signal(Sig::TERM).await;
    tokio::spawn(async move {
        tokio::time::sleep(KILL_AFTER).await;
        let _ = write.signal(Sig::KILL).await;
        let _ = write.close().await;
    });
}

fn signal_name_of(sig: &Sig) -> String {
    match sig {
        Sig::ABRT => "ABRT".into(),
        Sig::ALRM => "ALRM".into(),
        Sig::FPE => "FPE".into(),
        Sig::HUP => "HUP".into(),
        Sig::ILL => "ILL".into(),
        Sig::INT => "INT".into(),
        Sig::KILL => "KILL".into(),
        Sig::PIPE => "PIPE".into(),
        Sig::QUIT => "QUIT".into(),
        Sig::SEGV => "SEGV".into(),
        Sig::TERM => "TERM".into(),
        Sig::USR1 => "USR1".into(),
        Sig::Custom(name) => name.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_capped_and_counted() {
        let mut out = Output::new(SSH_STDOUT, 5, Scrubber::new(Vec::new()));
        let a = out.take(Bytes::from_static(b"abc"));
        let b = out.take(Bytes::from_static(b"defg"));
        let c = out.take(Bytes::from_static(b"h"));
        let rest = out.scrubber.finish();
        let all = [a, b, c, rest].concat();
        assert_eq!(&all, b"abcde");
        assert_eq!(out.seen, 8);
        assert!(out.truncated());
        assert_eq!(&out.frame(b"x")[..], &[SSH_STDOUT, b'x']);
    }
}
