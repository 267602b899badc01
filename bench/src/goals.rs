//! Every goal the bench judges, in one place. The report states each beside what
//! the run measured, with the ratio and the verdict the numbers give: nothing in
//! BENCHMARKS.md says "met" unless this run's measurement is within the goal.

/// Handler p50 latency at most this many times its raw twin's (same calls, SDK alone).
pub const P50_VS_RAW: f64 = 1.10;
/// Handler p99 latency at most this many times its raw twin's.
pub const P99_VS_RAW: f64 = 1.30;
/// Handler CPU time (user + system) per retrieve, µs.
pub const RETRIEVE_CPU_US: f64 = 300.0;
/// Init of a fresh function process (exec to its first `next`), ms.
pub const INIT_MS: f64 = 10.0;
/// First response of a fresh function process (exec to its response), ms.
pub const FIRST_RESPONSE_MS: f64 = 20.0;
/// The first response at least this many times faster than the Python/boto3 peer's.
pub const PEER_SPEEDUP: f64 = 20.0;
/// Peak resident memory of a function process, MB.
pub const PEAK_RSS_MB: f64 = 16.0;
/// Release binary size, MB.
pub const BINARY_MB: f64 = 8.0;
/// Every list shape at the large size within this many times its time at 100 clients (p50 and p99).
pub const SCALING: f64 = 1.2;

/// The hottest partition key's share of one partition's limits (1 000 write units,
/// 3 000 read units a second) at the load run's target rates, at most this.
pub const PARTITION_SHARE: f64 = 1.0;

/// The fewest sequential DynamoDB round trips each measured operation can need; the
/// goal is a measured depth at most this.
pub const FLOORS: &[(&str, usize, &str)] = &[
    ("retrieve", 2, "key grant, then partner chain and client together"),
    ("create", 3, "key grant, partner chain, the transaction"),
    ("update", 3, "key grant, then partner chain and current client together, then the transaction"),
    ("list page", 3, "key grant, then partner chain, Query and total together, then the page's clients"),
    ("by-username", 3, "key grant, then partner chain and username claim together, then the client"),
    ("lookup", 3, "key grant, then partner chain and key claim together, then the client"),
    ("dialect retrieve", 2, "key grant, then partner chain and client together (the id derives from the number)"),
];

pub fn floor(op: &str) -> usize {
    FLOORS.iter().find(|(o, ..)| *o == op).map_or(0, |f| f.1)
}

/// A judged goal: "met" or "**not met**", with measured / goal.
pub fn at_most(measured: f64, goal: f64) -> String {
    verdict(measured <= goal, measured / goal)
}

/// A goal that asks for at least `goal`.
pub fn at_least(measured: f64, goal: f64) -> String {
    verdict(measured >= goal, measured / goal)
}

fn verdict(met: bool, ratio: f64) -> String {
    if !ratio.is_finite() {
        return "not measured".into();
    }
    if met { format!("met ({ratio:.2} of goal)") } else { format!("**not met** ({ratio:.2} of goal)") }
}

/// One line of the goals table.
pub struct Line {
    pub goal: String,
    pub measured: String,
    pub verdict: String,
}

#[derive(Default)]
pub struct Verdicts(pub Vec<Line>);

impl Verdicts {
    pub fn add(&mut self, goal: impl Into<String>, measured: impl Into<String>, verdict: String) {
        self.0.push(Line { goal: goal.into(), measured: measured.into(), verdict });
    }

    pub fn table(&self) -> String {
        let met = self.0.iter().filter(|l| l.verdict.starts_with("met")).count();
        let mut s = format!("{met} of {} goals met.\n\n| goal | measured | verdict |\n|---|---|---|\n", self.0.len());
        for l in &self.0 {
            s.push_str(&format!("| {} | {} | {} |\n", l.goal, l.measured, l.verdict));
        }
        s
    }
}

/// AWS Lambda prices the cost table assumes (arm64, us-east-1 list price).
pub const PRICE_GB_SECOND: f64 = 0.000_013_333_4;
pub const PRICE_PER_MILLION_REQUESTS: f64 = 0.20;
/// The memory size the cost table bills at, MB (the smallest Lambda offers).
pub const LAMBDA_MEMORY_MB: f64 = 128.0;

/// Cost of a million requests of `duration_ms` each, billed rounded up to 1 ms, at `memory_mb`.
pub fn cost_per_million(duration_ms: f64, memory_mb: f64) -> f64 {
    let billed_s = duration_ms.ceil() / 1000.0;
    1_000_000.0 * billed_s * (memory_mb / 1024.0) * PRICE_GB_SECOND + PRICE_PER_MILLION_REQUESTS
}
