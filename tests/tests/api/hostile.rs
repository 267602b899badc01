//! Webhook receivers that misbehave on purpose (API.md §5a): each records when every
//! request arrived, then answers in its own bad way. Raw TCP, so the answers can be
//! what no well-behaved HTTP server would send.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// 100 MiB: the body a huge receiver sends.
pub const HUGE: usize = 100 * 1024 * 1024;

/// How a hostile receiver answers.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// 200 with an empty body (a well-behaved receiver that records arrival times).
    Accepts,
    /// 429 with this `Retry-After` value.
    TooMany(&'static str),
    /// 429 with `Retry-After` as an HTTP date this far ahead of the answer.
    TooManyUntil(Duration),
    /// Reads the request and never answers (holds the connection open).
    NeverAnswers,
    /// 200 with a [`HUGE`] body, its length declared (`content-length`) or not (until close).
    Huge { declared: bool },
    /// 307 to another URL.
    Redirects(String),
    /// Reads the request and resets the connection (RST, no answer).
    Resets,
    /// Answers with bytes that are not HTTP.
    NotHttp,
}

pub struct Hostile {
    pub url: String,
    arrivals: Arc<Mutex<Vec<Instant>>>,
}

impl Hostile {
    /// Listens on a free loopback port until the test's runtime ends.
    pub async fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let seen = arrivals.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve(sock, behaviour.clone(), seen.clone()));
            }
        });
        Self { url, arrivals }
    }

    /// When each request arrived (its head and body read), in order.
    pub fn arrivals(&self) -> Vec<Instant> {
        self.arrivals.lock().unwrap().clone()
    }

    /// Waits (up to `secs`) until `count` requests arrived.
    pub async fn wait_for(&self, count: usize, secs: u64) -> Vec<Instant> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.arrivals();
            if got.len() >= count || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn serve(mut sock: TcpStream, behaviour: Behaviour, arrivals: Arc<Mutex<Vec<Instant>>>) {
    if !read_request(&mut sock).await {
        return;
    }
    arrivals.lock().unwrap().push(Instant::now());
    let short = |status: &str, extra: String| format!("HTTP/1.1 {status}\r\n{extra}content-length: 0\r\nconnection: close\r\n\r\n");
    match behaviour {
        Behaviour::Accepts => {
            let _ = sock.write_all(short("200 OK", String::new()).as_bytes()).await;
        }
        Behaviour::TooMany(value) => {
            let _ = sock.write_all(short("429 Too Many Requests", format!("retry-after: {value}\r\n")).as_bytes()).await;
        }
        Behaviour::TooManyUntil(ahead) => {
            let at = chrono::Utc::now() + chrono::Duration::from_std(ahead).unwrap();
            let date = at.format("%a, %d %b %Y %H:%M:%S GMT");
            let _ = sock.write_all(short("429 Too Many Requests", format!("retry-after: {date}\r\n")).as_bytes()).await;
        }
        Behaviour::NeverAnswers => {
            // Holds the socket until the test's runtime ends.
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Behaviour::Huge { declared } => {
            let length = if declared { format!("content-length: {HUGE}\r\n") } else { String::new() };
            let head = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{length}connection: close\r\n\r\n");
            if sock.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let chunk = vec![b' '; 1024 * 1024];
            for _ in 0..HUGE / chunk.len() {
                // The deliverer hangs up once it has read enough: that ends this too.
                if sock.write_all(&chunk).await.is_err() {
                    return;
                }
            }
        }
        Behaviour::Redirects(to) => {
            let _ = sock.write_all(short("307 Temporary Redirect", format!("location: {to}\r\n")).as_bytes()).await;
        }
        Behaviour::Resets => {
            // Linger 0: closing sends RST instead of FIN (and, with a zero linger, the
            // drop the deprecation warns of never blocks).
            #[allow(deprecated)]
            let _ = sock.set_linger(Some(Duration::ZERO));
            drop(sock);
        }
        Behaviour::NotHttp => {
            let _ = sock.write_all(b"SSH-2.0-OpenSSH_9.6\r\nthis is not an HTTP answer\r\n\r\n").await;
        }
    }
}

/// Reads one request (head, and a body of its `content-length`); false if the peer left.
async fn read_request(sock: &mut TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    true
}
