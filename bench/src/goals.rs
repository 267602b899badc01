//! Every goal the bench judges, in one place. The report states each beside what
//! the run measured, with the ratio and the verdict the numbers give: nothing in
//! BENCHMARKS.md says "met" unless this run's measurement is within the goal.

/// Handler p50 latency at most this many times its raw twin's (same calls, SDK alone).
pub const P50_VS_RAW: f64 = 1.10;
/// Handler p99 latency at most this many times its raw twin's.
pub const P99_VS_RAW: f64 = 1.30;
/// Handler CPU time (user + system) per retrieve, µs (issue 22: from 1 401 to 600).
pub const RETRIEVE_CPU_US: f64 = 600.0;
/// Handler instructions per retrieve, millions (issue 22: from 2.1 to 1.0).
pub const RETRIEVE_MILLION_INSTRUCTIONS: f64 = 1.0;
/// DynamoDB calls of a retrieve.
pub const RETRIEVE_CALLS: f64 = 2.0;
/// DynamoDB calls of a list page, at any tree size.
pub const LIST_PAGE_CALLS: f64 = 4.0;
/// Write units of a client create at depth 2 (measured by `make load`, docs/SCALE.md).
pub const CREATE_WRITE_UNITS: f64 = 24.0;
/// Init of a fresh function process (exec to its first `next`), ms.
pub const INIT_MS: f64 = 10.0;
/// First response of a fresh function process (exec to its response), ms.
pub const FIRST_RESPONSE_MS: f64 = 20.0;
/// The first response at least this many times faster than the Python/boto3 peer's.
pub const PEER_SPEEDUP: f64 = 20.0;
/// get-client's first response over HTTPS (through the bench's TLS proxy, with a
/// trust store as big as the system's), ms: what the first request pays on AWS.
pub const TLS_FIRST_RESPONSE_MS: f64 = 25.0;
/// A warm get-client invocation spends at least this many times less CPU (the function
/// process's own, per warm invocation) than the Python peer's.
pub const WARM_CPU_VS_PEER: f64 = 5.0;
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

/// AWS Lambda prices (arm64, us-east-1 list price); DynamoDB's and API Gateway's are
/// in `scale.rs`, beside the load run's monthly cost that uses them too.
pub const PRICE_GB_SECOND: f64 = 0.000_013_333_4;
pub const PRICE_PER_MILLION_REQUESTS: f64 = 0.20;
/// The memory size the load run's monthly cost (`scale.rs`) bills at, MB.
pub const LAMBDA_MEMORY_MB: f64 = 128.0;

/// Below this memory size Lambda gives a function the fraction M / 1769 of one vCPU.
pub const FULL_VCPU_MB: f64 = 1769.0;
/// The `MemorySize` values the memory choice weighs, MB.
pub const MEMORY_SIZES_MB: [f64; 5] = [128.0, 256.0, 512.0, 1024.0, FULL_VCPU_MB];
/// The latency goals for the memory choice: each function's modelled warm duration
/// (ms) at the `MemorySize` chosen for it is at most this; the cheapest size that
/// meets it is chosen.
pub const MEMORY_LATENCY_GOALS_MS: [(&str, f64); 3] = [("get-client", 10.0), ("create-client", 30.0), ("list-clients", 30.0)];

pub fn memory_latency_goal(function: &str) -> Option<f64> {
    MEMORY_LATENCY_GOALS_MS.iter().find(|(f, _)| function.starts_with(f)).map(|g| g.1)
}

/// A duration modelled at `memory_mb`: the waiting as measured, the CPU time stretched
/// by 1769 / M below 1769 MB (the share of a vCPU Lambda gives), ms.
pub fn modelled_ms(waiting_ms: f64, cpu_ms: f64, memory_mb: f64) -> f64 {
    waiting_ms + cpu_ms * (FULL_VCPU_MB / memory_mb).max(1.0)
}

/// What Lambda bills for a duration: rounded up to the millisecond, at least 1 ms.
pub fn billed_ms(duration_ms: f64) -> f64 {
    duration_ms.ceil().max(1.0)
}

/// Lambda's compute charge of a million invocations billed `billed_ms` each at `memory_mb`, $.
pub fn lambda_compute_per_million(billed_ms: f64, memory_mb: f64) -> f64 {
    1_000_000.0 * billed_ms / 1000.0 * (memory_mb / 1024.0) * PRICE_GB_SECOND
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_stretched_below_a_full_vcpu_and_billing_rounds_up() {
        // 1 ms waiting, 0.5 ms of CPU: at 128 MB the CPU takes 1769 / 128 times longer.
        let at_128 = modelled_ms(1.0, 0.5, 128.0);
        assert!((at_128 - (1.0 + 0.5 * 1769.0 / 128.0)).abs() < 1e-9);
        assert!((modelled_ms(1.0, 0.5, 1769.0) - 1.5).abs() < 1e-9);
        assert_eq!(billed_ms(7.01), 8.0);
        assert_eq!(billed_ms(0.2), 1.0);
        // 1 ms at 1 GB is 0.001 GB-s an invocation.
        assert!((lambda_compute_per_million(1.0, 1024.0) - 1000.0 * PRICE_GB_SECOND).abs() < 1e-12);
        assert_eq!(memory_latency_goal("get-client (Python peer)"), Some(10.0));
    }
}
