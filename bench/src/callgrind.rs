//! Where a request's instructions go: callgrind over `clientele-bench --only <op> <n>
//! <side>` of the profiling build (the release profile with symbols and line tables,
//! `[profile.profiling]` in the workspace's Cargo.toml) at two request counts, and
//! `callgrind_annotate` over each output. Each function's count at N2 minus its count
//! at N1, over N2 − N1, is its count per request: process start and set-up cancel out
//! as they do for the instructions-per-request figures.

use std::collections::HashMap;
use std::path::Path;

/// Frames that hold the whole of whatever runs under them: the process's and its
/// threads' entry points and the async runtime's loops. Left out of the table (their
/// inclusive count is all the work of their thread, not a part of the request's), and
/// named under it.
const FRAMES_LEFT_OUT: [&str; 5] = ["main", "(below main)", "start_thread", "clone", "clone3"];
const FRAME_PREFIXES_LEFT_OUT: [&str; 14] = [
    "__libc_start_",
    "std::rt::",
    "std::sys::backtrace::",
    "std::sys::thread::",
    "std::sys::pal::unix::thread::",
    "std::panicking::",
    "std::panic::",
    "std::thread::",
    "core::ops::function::",
    "tokio::runtime::runtime::Runtime::block_on",
    "tokio::runtime::park::",
    "tokio::runtime::context::",
    "tokio::runtime::scheduler::",
    "tokio::runtime::blocking::",
];

/// One function's figures, per request.
#[derive(Debug, Clone)]
pub struct Row {
    pub function: String,
    pub file: String,
    /// The binary or library it is in.
    pub object: String,
    pub inclusive: f64,
    pub own: f64,
}

/// The top functions of one side of one operation.
#[derive(Debug, Clone)]
pub struct Top {
    /// (I(N2) − I(N1)) / (N2 − N1) of the whole process, this build.
    pub per_request: f64,
    /// By inclusive count, frames left out.
    pub rows: Vec<Row>,
    /// Functions above the last row shown that are frames left out.
    pub left_out: Vec<String>,
    /// By own count (the function's own instructions, not its callees').
    pub by_own: Vec<Row>,
}

/// The bench's own frames: its request loop (`main`, `run_side`, `must`, `call`) holds
/// the handler's whole request, not a part of it.
const HARNESS_PREFIX: &str = "clientele_bench::";

fn is_left_out(row: &Row) -> bool {
    let f = row.function.as_str();
    FRAMES_LEFT_OUT.contains(&f)
        || FRAME_PREFIXES_LEFT_OUT.iter().any(|p| f.starts_with(p))
        || f.starts_with(HARNESS_PREFIX)
        // The dynamic loader's entry point, which has no symbol.
        || (f.starts_with("0x") && row.object.contains("ld-linux"))
}

/// `callgrind_annotate`'s table of `file:function [object]` → instructions.
async fn annotate(file: &Path, inclusive: bool) -> Result<HashMap<String, f64>, String> {
    let out = tokio::process::Command::new(crate::which("callgrind_annotate").ok_or("callgrind_annotate is not installed")?)
        .arg(format!("--inclusive={}", if inclusive { "yes" } else { "no" }))
        .args(["--threshold=100", "--show-percs=no", "--auto=no"])
        .arg(file)
        .output()
        .await
        .map_err(|e| format!("callgrind_annotate: {e}"))?;
    if !out.status.success() {
        return Err(format!("callgrind_annotate failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let mut counts = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let line = line.trim();
        let Some((number, rest)) = line.split_once(char::is_whitespace) else { continue };
        if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit() || c == ',') {
            continue;
        }
        let rest = rest.trim();
        if rest == "PROGRAM TOTALS" || !rest.contains(':') {
            continue;
        }
        let n: f64 = number.replace(',', "").parse().map_err(|e| format!("{line}: {e}"))?;
        *counts.entry(rest.to_owned()).or_default() += n;
    }
    if counts.is_empty() {
        return Err("callgrind_annotate listed no function".into());
    }
    Ok(counts)
}

/// The `k` functions of most inclusive instructions per request, frames left out.
pub async fn top(valgrind: &str, exe: &Path, op: &str, side: &str, (n1, n2): (usize, usize), k: usize) -> Result<Top, String> {
    if n2 <= n1 {
        return Err(format!("BENCH_CALLGRIND_N2 ({n2}) must be above BENCH_CALLGRIND_N1 ({n1})"));
    }
    let mut totals = Vec::new();
    let mut inclusive = Vec::new();
    let mut own = Vec::new();
    for n in [n1, n2] {
        let file = std::env::temp_dir().join(format!("clientele-bench-callgrind-{}-{n}.out", std::process::id()));
        let out = tokio::process::Command::new(valgrind)
            .arg("--tool=callgrind")
            .arg(format!("--callgrind-out-file={}", file.display()))
            .arg(exe)
            .args(["--only", op, &n.to_string(), side])
            .output()
            .await
            .map_err(|e| format!("valgrind: {e}"))?;
        if !out.status.success() {
            return Err(format!("callgrind of {op} {side} failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        let err = String::from_utf8_lossy(&out.stderr);
        let collected = err.lines().find_map(|l| l.split("Collected :").nth(1)).and_then(|v| v.trim().parse::<f64>().ok()).ok_or("callgrind reported no total")?;
        totals.push(collected);
        let result = async { Ok::<_, String>((annotate(&file, true).await?, annotate(&file, false).await?)) }.await;
        let _ = std::fs::remove_file(&file);
        let (i, o) = result?;
        inclusive.push(i);
        own.push(o);
    }
    let per = (n2 - n1) as f64;
    let diff = |maps: &[HashMap<String, f64>], key: &str| (maps[1].get(key).copied().unwrap_or(0.0) - maps[0].get(key).copied().unwrap_or(0.0)) / per;
    let mut rows: Vec<Row> = inclusive[1]
        .keys()
        .map(|key| {
            // `file:function [object]`: the object is this binary or a library.
            let (name, object) = key.rsplit_once(" [").filter(|(_, o)| o.ends_with(']')).map_or((key.as_str(), ""), |(n, o)| (n, o.trim_end_matches(']')));
            let (file, function) = name.split_once(':').unwrap_or(("???", name));
            Row { function: function.to_owned(), file: file.to_owned(), object: object.to_owned(), inclusive: diff(&inclusive, key), own: diff(&own, key) }
        })
        .collect();
    let mut by_own = rows.clone();
    by_own.sort_by(|a, b| b.own.total_cmp(&a.own).then_with(|| a.function.cmp(&b.function)));
    by_own.truncate(k);
    rows.sort_by(|a, b| b.inclusive.total_cmp(&a.inclusive).then_with(|| a.function.cmp(&b.function)));
    let mut shown = Vec::new();
    let mut left_out = Vec::new();
    for r in rows {
        if shown.len() == k {
            break;
        }
        if is_left_out(&r) {
            left_out.push(r.function);
        } else {
            shown.push(r);
        }
    }
    Ok(Top { per_request: (totals[1] - totals[0]) / per, rows: shown, left_out, by_own })
}

/// The table, with the build and the method it comes from.
pub fn table(t: &Top, release: Option<f64>, (n1, n2): (usize, usize)) -> String {
    let release = release.map_or("not measured".to_owned(), |r| format!("{r:.0}"));
    let cell = |s: &str| {
        let s = s.replace('|', "\\|").replace('`', "'");
        if s.chars().count() > 180 { format!("{}…", s.chars().take(180).collect::<String>()) } else { s }
    };
    let mut md = format!(
        "From the **profiling** build (`--profile profiling`: the release profile with `debug = \"line-tables-only\"` and `strip = false`, so that callgrind names functions): `callgrind_annotate --inclusive=yes` (and `--inclusive=no` for the own column) over the callgrind output of {n1} and of {n2} requests; each function's count at {n2} minus its count at {n1}, over {}, is its count per request (set-up cancels out). The whole process per request in this build: {:.0} instructions (the release build's, in the table above: {release}). Inclusive: the function and everything it called; share: of the whole process's instructions per request. A function that calls itself, or sits in a cycle, can be counted more than once in its own inclusive figure.\n\n",
        n2 - n1,
        t.per_request
    );
    md.push_str("| # | function | file | inclusive instructions/request | share | own instructions/request |\n|---|---|---|---|---|---|\n");
    let file_of = |r: &Row| Path::new(&r.file).file_name().map_or(r.file.clone(), |f| f.to_string_lossy().into_owned());
    for (i, r) in t.rows.iter().enumerate() {
        md.push_str(&format!(
            "| {} | `{}` | {} | {:.0} | {:.1} % | {:.0} |\n",
            i + 1,
            cell(&r.function),
            cell(&file_of(r)),
            r.inclusive,
            100.0 * r.inclusive / t.per_request,
            r.own
        ));
    }
    if !t.left_out.is_empty() {
        // Each name once, in the table's order (one function can fill several rows: one per
        // file its lines come from).
        let mut names: Vec<String> = Vec::new();
        for name in t.left_out.iter().map(|f| format!("`{}`", cell(f))) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        md.push_str(&format!(
            "\nLeft out of this table above its last row, {} rows ({} functions) that hold a whole request or a whole thread's work rather than a part of it (the bench's own request loop, `clientele_bench::…`; the process's and its threads' entry points; the runtime's loops; `FnOnce` shims; `bench/src/callgrind.rs` lists them): {}.\n",
            t.left_out.len(),
            names.len(),
            names.join(", ")
        ));
    }
    md.push_str("\nThe same runs, by the function's own instructions (its callees' not included), per request:\n\n| # | function | file | own instructions/request | share | inclusive instructions/request |\n|---|---|---|---|---|---|\n");
    for (i, r) in t.by_own.iter().enumerate() {
        md.push_str(&format!(
            "| {} | `{}` | {} | {:.0} | {:.1} % | {:.0} |\n",
            i + 1,
            cell(&r.function),
            cell(&file_of(r)),
            r.own,
            100.0 * r.own / t.per_request,
            r.inclusive
        ));
    }
    md
}
