//! A real HTTP receiver on loopback for webhook tests: records every request and
//! answers with the statuses it is told to, in order (then 200).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The local stack has one webhook poller. A test that kills it first waits until
/// no receiver is open, so it never kills an attempt another test waits for (a
/// killed attempt is only retried when its 60-second lease runs out). Receivers
/// never wait for one another, so a test may open several.
static POLLER: Mutex<Poller> = Mutex::new(Poller { receivers: 0, killing: false });

struct Poller {
    receivers: usize,
    killing: bool,
}

/// Sole use of the poller, for a test that kills it: held until dropped.
pub struct PollerExclusive;

impl Drop for PollerExclusive {
    fn drop(&mut self) {
        POLLER.lock().unwrap().killing = false;
    }
}

pub async fn poller_exclusive() -> PollerExclusive {
    loop {
        {
            let mut p = POLLER.lock().unwrap();
            if p.receivers == 0 && !p.killing {
                p.killing = true;
                return PollerExclusive;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One open receiver, counted while it lives.
struct Open;

impl Open {
    async fn acquire() -> Self {
        loop {
            {
                let mut p = POLLER.lock().unwrap();
                if !p.killing {
                    p.receivers += 1;
                    return Open;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        POLLER.lock().unwrap().receivers -= 1;
    }
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("webhook bodies are JSON")
    }

    /// Whether the Standard Webhooks signature is right for `secret`.
    pub fn signed_with(&self, secret: &str) -> bool {
        let (Some(id), Some(ts), Some(sig)) =
            (self.headers.get("webhook-id"), self.headers.get("webhook-timestamp"), self.headers.get("webhook-signature"))
        else {
            return false;
        };
        let key = base64::engine::general_purpose::STANDARD.decode(secret.trim_start_matches("whsec_")).expect("base64 secret");
        let message = format!("{id}.{ts}.{}", self.body);
        let expected = hmac_sha256(&key, message.as_bytes());
        sig.split(' ').any(|s| s == format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(&expected)))
    }
}

/// HMAC-SHA256, written out so the test checks signatures independently of the code under test.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let inner: Vec<u8> = k.iter().map(|b| b ^ 0x36).chain(message.iter().copied()).collect();
    let inner_hash = Sha256::digest(&inner);
    let outer: Vec<u8> = k.iter().map(|b| b ^ 0x5c).chain(inner_hash.iter().copied()).collect();
    Sha256::digest(&outer).to_vec()
}

/// The answers still to give, in order: a status and an optional extra header line.
type Script = Arc<Mutex<VecDeque<(u16, Option<String>)>>>;

pub struct Receiver {
    pub url: String,
    got: Arc<Mutex<Vec<Received>>>,
    script: Script,
    /// While set, requests are taken in and recorded but not answered.
    held: Arc<std::sync::atomic::AtomicBool>,
    _open: Option<Open>,
}

impl Receiver {
    /// Starts listening on a free loopback port; while it lives, nobody kills the poller.
    pub async fn start() -> Self {
        let open = Open::acquire().await;
        Self { _open: Some(open), ..Self::listen().await }
    }

    /// A receiver for the test that holds [`poller_exclusive`].
    pub async fn start_unguarded() -> Self {
        Self::listen().await
    }

    async fn listen() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let script: Script = Arc::new(Mutex::new(VecDeque::new()));
        let held = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (g, sc, h) = (got.clone(), script.clone(), held.clone());
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let (g, sc, h) = (g.clone(), sc.clone(), h.clone());
                tokio::spawn(async move {
                    let Some(req) = read_request(&mut sock).await else { return };
                    g.lock().unwrap().push(req);
                    while h.load(std::sync::atomic::Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    let (status, extra) = sc.lock().unwrap().pop_front().unwrap_or((200, None));
                    let extra = extra.map(|h| format!("{h}\r\n")).unwrap_or_default();
                    let resp = format!("HTTP/1.1 {status} X\r\n{extra}content-length: 2\r\nconnection: close\r\n\r\nok");
                    let _ = sock.write_all(resp.as_bytes()).await;
                });
            }
        });
        Self { url, got, script, held, _open: None }
    }

    /// From now on, requests are recorded but not answered until [`Receiver::release`].
    pub fn hold(&self) {
        self.held.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Answers the held requests (whose senders are still there) and all later ones.
    pub fn release(&self) {
        self.held.store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// The next requests get these statuses (with an optional extra header line).
    pub fn answer(&self, statuses: &[(u16, Option<&str>)]) {
        self.script.lock().unwrap().extend(statuses.iter().map(|(s, h)| (*s, h.map(str::to_owned))));
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits (up to `secs`) until `count` requests arrived for which `pred` holds.
    pub async fn wait_for(&self, count: usize, secs: u64, pred: impl Fn(&Received) -> bool) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let got: Vec<Received> = self.received().into_iter().filter(|r| pred(r)).collect();
            if got.len() >= count || tokio::time::Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<Received> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
    let headers: HashMap<String, String> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned())))
        .collect();
    let len: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    while buf.len() < header_end + len {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[header_end..(header_end + len).min(buf.len())]).to_string();
    Some(Received { headers, body })
}
