//! A minimal local Lambda Runtime API: starts a function's process, hands it events
//! one after another, and times its init, its first (cold) response and the warm
//! ones after it; peak RSS is the process's high-water mark at the end. The
//! process's own CPU time is read from /proc when its first response comes in and
//! when its last does, so the warm invocations' CPU is the difference.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What one fresh process did.
#[derive(Debug, Clone)]
pub struct Run {
    /// From `exec` to its first `GET .../invocation/next`, ms.
    pub init: f64,
    /// From `exec` to its first response, ms.
    pub first: f64,
    /// Each later invocation, from handing the event over to its response, ms.
    pub warm: Vec<f64>,
    /// Peak resident memory (VmHWM), MB.
    pub rss: f64,
    /// The first response that was not a 2xx (by its `statusCode`), if any.
    pub failed: Option<String>,
    /// The process's CPU over the warm invocations (None with no warm invocation).
    pub cpu: Option<WarmCpu>,
}

/// What a function process spent on the CPU between its first response and its last
/// (read while it waited for the Runtime API's answer to each of them).
#[derive(Debug, Clone, Copy)]
pub struct WarmCpu {
    /// Warm invocations in the window.
    pub invocations: usize,
    /// `utime` and `stime` of /proc/<pid>/stat (the kernel's split, in clock ticks), s.
    pub user_s: f64,
    pub system_s: f64,
    /// One clock tick, s: the resolution of each of `user_s` and `system_s`.
    pub tick_s: f64,
    /// The scheduler's own runtime of the process's threads (/proc/<pid>/task/*/schedstat,
    /// ns), s; None when a thread ended inside the window (its time is then gone from
    /// /proc, and only the stat figures count it) or schedstat is not there.
    pub exact_s: Option<f64>,
}

impl WarmCpu {
    /// CPU per warm invocation, s: the scheduler's exact runtime when there is one,
    /// else utime + stime.
    pub fn per_invocation_s(&self) -> f64 {
        self.exact_s.unwrap_or(self.user_s + self.system_s) / self.invocations as f64
    }
}

/// The CPU figures of a process at one moment.
#[derive(Debug, Clone, Default)]
struct Snapshot {
    utime: u64,
    stime: u64,
    /// Each thread's runtime, ns (empty when schedstat is not readable).
    threads: HashMap<String, u64>,
}

fn snapshot(pid: u32) -> Option<Snapshot> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command's name (which may hold spaces), from field 3 (state) on.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime = fields.get(11)?.parse().ok()?;
    let stime = fields.get(12)?.parse().ok()?;
    let mut threads = HashMap::new();
    if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in dir.flatten() {
            let ns = std::fs::read_to_string(t.path().join("schedstat")).ok().and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok());
            if let Some(ns) = ns {
                threads.insert(t.file_name().to_string_lossy().into_owned(), ns);
            }
        }
    }
    Some(Snapshot { utime, stime, threads })
}

fn clock_tick_s() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 { 1.0 / hz as f64 } else { 0.01 }
}

fn warm_cpu(first: &Snapshot, last: &Snapshot, invocations: usize) -> Option<WarmCpu> {
    if invocations == 0 {
        return None;
    }
    let tick_s = clock_tick_s();
    // Every thread alive at the first response must still be there, or its time is lost.
    let kept = !first.threads.is_empty() && first.threads.keys().all(|t| last.threads.contains_key(t));
    let exact_ns: u64 = last.threads.iter().map(|(t, ns)| ns.saturating_sub(first.threads.get(t).copied().unwrap_or(0))).sum();
    Some(WarmCpu {
        invocations,
        user_s: last.utime.saturating_sub(first.utime) as f64 * tick_s,
        system_s: last.stime.saturating_sub(first.stime) as f64 * tick_s,
        tick_s,
        exact_s: (kept && exact_ns > 0).then_some(exact_ns as f64 / 1e9),
    })
}

#[derive(Default)]
struct State {
    next_at: Option<Duration>,
    served: Vec<Duration>,
    responded: Vec<Duration>,
    failed: Option<String>,
    /// CPU at the first response and at the last.
    cpu_first: Option<Snapshot>,
    cpu_last: Option<Snapshot>,
}

/// Starts `cmd` and serves it `events` in order; returns once all are answered.
pub async fn run(cmd: &[String], env: &[(String, String)], events: Vec<String>) -> Result<Run, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let addr = listener.local_addr().unwrap().to_string();
    let total = events.len();
    let state = Arc::new(Mutex::new(State::default()));
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let started = Instant::now();
    let mut child = tokio::process::Command::new(&cmd[0])
        .args(&cmd[1..])
        .env_clear()
        .envs(env.iter().cloned())
        .env("AWS_LAMBDA_RUNTIME_API", &addr)
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("RUST_LOG", "warn")
        .stdout(log())
        .stderr(log())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{}: {e}", cmd[0]))?;
    let pid = child.id().unwrap_or(0);
    let events = Arc::new(events);
    let server = {
        let state = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else { return };
                let (state, events, done_tx) = (state.clone(), events.clone(), done_tx.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 65536];
                    loop {
                        let Ok(n) = sock.read(&mut chunk).await else { return };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..end]).to_string();
                            let len: usize = head
                                .lines()
                                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
                                .unwrap_or(0);
                            if buf.len() < end + 4 + len {
                                break;
                            }
                            let body = buf[end + 4..end + 4 + len].to_vec();
                            buf.drain(..end + 4 + len);
                            if head.starts_with("GET") && head.contains("/invocation/next") {
                                let next = {
                                    let mut s = state.lock().unwrap();
                                    let at = started.elapsed();
                                    s.next_at.get_or_insert(at);
                                    let i = s.served.len();
                                    if i < events.len() && s.responded.len() == i {
                                        s.served.push(at);
                                        Some(i)
                                    } else {
                                        None
                                    }
                                };
                                // Past the last event the function waits for one that never comes.
                                let Some(i) = next else { continue };
                                let ev = &events[i];
                                let resp = format!(
                                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nlambda-runtime-aws-request-id: r{i}\r\nlambda-runtime-deadline-ms: {}\r\nlambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:1:function:bench\r\ncontent-length: {}\r\n\r\n{}",
                                    chrono::Utc::now().timestamp_millis() + 30_000,
                                    ev.len(),
                                    ev
                                );
                                let _ = sock.write_all(resp.as_bytes()).await;
                            } else if head.starts_with("POST") {
                                let at = started.elapsed();
                                let status = serde_json::from_slice::<serde_json::Value>(&body)
                                    .ok()
                                    .and_then(|v| v["statusCode"].as_u64())
                                    .unwrap_or(0);
                                let (all, n) = {
                                    let mut s = state.lock().unwrap();
                                    s.responded.push(at);
                                    if !(200..300).contains(&status) && s.failed.is_none() {
                                        s.failed = Some(String::from_utf8_lossy(&body).chars().take(600).collect());
                                    }
                                    (s.responded.len() == events.len(), s.responded.len())
                                };
                                // The process waits for this answer: its CPU stands still
                                // while it is read.
                                if n == 1 || all {
                                    let snap = snapshot(pid);
                                    let mut s = state.lock().unwrap();
                                    if n == 1 {
                                        s.cpu_first = snap.clone();
                                    }
                                    if all {
                                        s.cpu_last = snap;
                                    }
                                }
                                let _ = sock.write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n").await;
                                if all {
                                    let _ = done_tx.send(());
                                }
                            }
                        }
                    }
                });
            }
        })
    };
    // A minute, and a tenth of a second more for each event.
    let limit = Duration::from_secs(60) + Duration::from_millis(100) * total as u32;
    let finished = tokio::time::timeout(limit, done_rx.recv()).await.is_ok();
    let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0);
    let _ = child.kill().await;
    server.abort();
    let s = state.lock().unwrap();
    if !finished || s.responded.len() < total {
        return Err(format!("{} of {total} responses within {} s", s.responded.len(), limit.as_secs()));
    }
    let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
    Ok(Run {
        init: s.next_at.as_ref().map_or(0.0, ms),
        first: ms(&s.responded[0]),
        warm: s.served.iter().zip(&s.responded).skip(1).map(|(a, b)| ms(b) - ms(a)).collect(),
        rss,
        failed: s.failed.clone(),
        cpu: match (&s.cpu_first, &s.cpu_last) {
            (Some(a), Some(b)) => warm_cpu(a, b, total - 1),
            _ => None,
        },
    })
}

/// Where the functions' output goes: BENCH_FUNCTION_LOG (a file, appended), else nowhere.
fn log() -> std::process::Stdio {
    match std::env::var("BENCH_FUNCTION_LOG").ok().and_then(|p| std::fs::OpenOptions::new().create(true).append(true).open(p).ok()) {
        Some(f) => std::process::Stdio::from(f),
        None => std::process::Stdio::null(),
    }
}
