//! What a request costs on AWS, modelled from this run's figures, and the
//! `MemorySize` each function is given.
//!
//! Lambda bills a function's duration at its memory size. Below 1 769 MB a function
//! gets the fraction M / 1769 of one vCPU, so its CPU time stretches by 1769 / M while
//! its waiting (for DynamoDB, for the Runtime API) does not: the modelled duration at
//! M is `waiting + CPU × 1769 / M`, with the waiting the warm wall time minus the warm
//! CPU time of the function process (both measured per warm invocation), and the
//! billed duration is that rounded up to 1 ms. The cheapest size whose modelled
//! duration meets the function's latency goal (`goals::MEMORY_LATENCY_GOALS_MS`) is
//! chosen.

use serde_json::{Value, json};

use crate::goals;
use crate::scale::{PRICE_HTTP_API_PER_MILLION, PRICE_READ_UNITS_PER_MILLION, PRICE_WRITE_UNITS_PER_MILLION};

/// A function's figures the model takes.
#[derive(Debug, Clone, Copy)]
pub struct Model {
    /// Mean wall time of a warm invocation (event handed over to response), ms.
    pub wall_ms: f64,
    /// The process's CPU time per warm invocation, ms.
    pub cpu_ms: f64,
    /// Peak resident memory, MB: a size below it is not one the function can run at.
    pub rss_mb: f64,
    /// The first response of a fresh process over TLS (median), ms.
    pub cold_first_ms: f64,
}

impl Model {
    /// Waiting per warm invocation: wall time minus CPU time, at least 0, ms.
    pub fn waiting_ms(&self) -> f64 {
        (self.wall_ms - self.cpu_ms).max(0.0)
    }
}

/// One memory size for one function.
#[derive(Debug, Clone, Copy)]
pub struct Candidate {
    pub memory_mb: f64,
    /// At least the peak RSS.
    pub fits: bool,
    pub modelled_ms: f64,
    pub billed_ms: f64,
    /// Lambda's compute charge per million warm invocations, $.
    pub compute: f64,
    /// The first response over TLS with all of it taken as CPU (the worst case), ms.
    pub cold_ms: f64,
    pub meets: bool,
}

/// The memory choice of one function.
#[derive(Debug, Clone)]
pub struct Choice {
    pub function: String,
    pub goal_ms: f64,
    pub model: Model,
    pub candidates: Vec<Candidate>,
    pub chosen: Candidate,
    /// Whether the chosen size meets the goal (else no size that fits does, and the one
    /// of the shortest modelled duration is taken).
    pub met: bool,
    /// The first-response goal the worst-case cold figure is set beside, ms.
    pub cold_goal_ms: f64,
}

/// The cheapest size that fits and meets `goal_ms`; if none does, the fastest that fits.
/// The cold first response does not take part in the choice (its model is a worst
/// case); it is shown beside it, against `cold_goal_ms`.
pub fn choose(function: &str, goal_ms: f64, cold_goal_ms: f64, model: Model) -> Choice {
    let candidates: Vec<Candidate> = goals::MEMORY_SIZES_MB
        .iter()
        .map(|&m| {
            let modelled = goals::modelled_ms(model.waiting_ms(), model.cpu_ms, m);
            let billed = goals::billed_ms(modelled);
            Candidate {
                memory_mb: m,
                fits: m >= model.rss_mb,
                modelled_ms: modelled,
                billed_ms: billed,
                compute: goals::lambda_compute_per_million(billed, m),
                cold_ms: goals::modelled_ms(0.0, model.cold_first_ms, m),
                meets: modelled <= goal_ms,
            }
        })
        .collect();
    let cheapest = candidates.iter().filter(|c| c.fits && c.meets).min_by(|a, b| a.compute.total_cmp(&b.compute).then(a.memory_mb.total_cmp(&b.memory_mb)));
    let (chosen, met) = match cheapest {
        Some(c) => (*c, true),
        None => {
            let fastest = candidates
                .iter()
                .filter(|c| c.fits)
                .min_by(|a, b| a.modelled_ms.total_cmp(&b.modelled_ms).then(a.compute.total_cmp(&b.compute)))
                .or(candidates.last())
                .copied()
                .expect("at least one memory size");
            (fastest, false)
        }
    };
    Choice { function: function.to_owned(), goal_ms, model, candidates, chosen, met, cold_goal_ms }
}

/// Every size of every function, the chosen one marked.
pub fn memory_table(choices: &[Choice]) -> String {
    let mut md = String::from(
        "| function | latency goal (ms) | MemorySize (MB) | vCPU share | modelled warm duration (ms) | billed (ms) | Lambda compute $ per 1M | meets the goal | first response over TLS, all as CPU (worst case, ms) | |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for c in choices {
        for k in &c.candidates {
            let mark = if k.memory_mb == c.chosen.memory_mb {
                if c.met { "**chosen**" } else { "**chosen** (no size meets the goal: the fastest)" }
            } else if !k.fits {
                "below the peak RSS"
            } else {
                ""
            };
            md.push_str(&format!(
                "| {} | {:.0} | {:.0} | {:.2} | {:.2} | {:.0} | {:.4} | {} | {:.1} | {mark} |\n",
                c.function,
                c.goal_ms,
                k.memory_mb,
                (k.memory_mb / goals::FULL_VCPU_MB).min(1.0),
                k.modelled_ms,
                k.billed_ms,
                k.compute,
                if k.meets { "yes" } else { "no" },
                k.cold_ms
            ));
        }
    }
    md
}

/// The figures each choice was made from.
pub fn model_table(choices: &[Choice]) -> String {
    let mut md = String::from(
        "| function | warm wall ms (mean) | CPU ms per warm invocation | waiting ms (wall − CPU) | peak RSS MB | chosen MemorySize (MB) | modelled warm duration there (ms) | latency goal (ms) | first response over TLS ms (median, full core) | worst case at the chosen size (ms) | first-response goal (ms) | smallest size whose worst case is within it |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for c in choices {
        let cold_within = c.candidates.iter().find(|k| k.fits && k.cold_ms <= c.cold_goal_ms).map_or("none".to_owned(), |k| format!("{:.0} MB", k.memory_mb));
        md.push_str(&format!(
            "| {} | {:.2} | {:.3} | {:.2} | {:.1} | {:.0} | {:.2} | {:.0} | {:.1} | {:.1} | {:.0} | {cold_within} |\n",
            c.function,
            c.model.wall_ms,
            c.model.cpu_ms,
            c.model.waiting_ms(),
            c.model.rss_mb,
            c.chosen.memory_mb,
            c.chosen.modelled_ms,
            c.goal_ms,
            c.model.cold_first_ms,
            c.chosen.cold_ms,
            c.cold_goal_ms
        ));
    }
    md
}

/// `bench/memory.json`: each function's chosen `MemorySize`, MB.
pub fn memory_json(choices: &[Choice]) -> Value {
    let mut o = serde_json::Map::new();
    for c in choices {
        o.insert(c.function.clone(), json!(c.chosen.memory_mb as u64));
    }
    Value::Object(o)
}

/// The `MemorySize` of the function that serves an operation of `make load`'s mix: a
/// measured function's own choice, and for every other API function the largest of
/// theirs (what infra/routes.py gives it).
pub fn memory_for_load_op(op: &str, ours: &[Choice]) -> Option<f64> {
    let of = |f: &str| ours.iter().find(|c| c.function == f).map(|c| c.chosen.memory_mb);
    match op {
        "retrieve" => of("get-client"),
        "create" | "create, into the partner itself" => of("create-client"),
        o if o.starts_with("list page") => of("list-clients"),
        _ => ours.iter().map(|c| c.chosen.memory_mb).reduce(f64::max),
    }
}

/// Lambda's charge for a load run's mix, modelled operation by operation.
#[derive(Debug, Clone)]
pub struct MixLambda {
    /// Compute $ per million requests of the mix.
    pub compute: f64,
    /// Billed ms per request, the mix's mean.
    pub billed_ms: f64,
    /// The smallest and largest MemorySize its operations' functions get, MB.
    pub memory: (f64, f64),
}

/// Lambda for the mix of a `make load` run (`figures`, as docs/scale/latest.json holds
/// it): each operation's in-process figures when run alone (wall and CPU per request:
/// waiting = wall − CPU) modelled at its function's MemorySize like a measured function,
/// billed, priced, and weighted by the operation's share of the mix's requests. Err says
/// why it cannot be (figures from a run that did not record CPU, a size not chosen).
pub fn mix_lambda(figures: &Value, ours: &[Choice]) -> Result<MixLambda, String> {
    let ops = figures["ops"].as_array().ok_or("the run has no operations alone")?;
    let by_op = figures["mix"]["by_op"].as_array().ok_or("the run has no mix")?;
    let total: f64 = by_op.iter().filter_map(|o| o["requests"].as_f64()).sum();
    if total <= 0.0 {
        return Err("the mix made no requests".into());
    }
    let (mut compute, mut billed, mut memory) = (0.0, 0.0, (f64::MAX, 0.0_f64));
    for o in by_op {
        let name = o["op"].as_str().ok_or("an operation without a name")?;
        let share = o["requests"].as_f64().unwrap_or(0.0) / total;
        if share == 0.0 {
            continue;
        }
        let alone = ops.iter().find(|a| a["op"].as_str() == Some(name)).ok_or(format!("{name} was not run alone"))?;
        let wall = alone["mean_ms"].as_f64().ok_or(format!("{name}: no wall time"))?;
        let cpu = alone["cpu_ms"].as_f64().ok_or(format!("{name}: no CPU figure (a run from before `make load` recorded CPU)"))?;
        let m = memory_for_load_op(name, ours).ok_or("no MemorySize was chosen in this run")?;
        let b = goals::billed_ms(goals::modelled_ms((wall - cpu).max(0.0), cpu, m));
        compute += share * goals::lambda_compute_per_million(b, m);
        billed += share * b;
        memory = (memory.0.min(m), memory.1.max(m));
    }
    Ok(MixLambda { compute, billed_ms: billed, memory })
}

/// One row of the cost table.
pub struct Row {
    pub operation: String,
    /// The function process that serves it, and its choice (None: not run as a process).
    pub lambda: Option<Choice>,
    /// A mix's Lambda, modelled from a load run (when `lambda` is None).
    pub mix: Option<MixLambda>,
    /// Why there is no Lambda figure, when there is none.
    pub no_lambda: String,
    /// DynamoDB read and write units per request, and where they come from.
    pub units: Option<(f64, f64)>,
    pub units_from: String,
}

fn dynamo(units: (f64, f64)) -> f64 {
    units.0 * PRICE_READ_UNITS_PER_MILLION + units.1 * PRICE_WRITE_UNITS_PER_MILLION
}

/// Per million requests of each operation: Lambda, API Gateway, DynamoDB.
pub fn cost_table(rows: &[Row]) -> String {
    let mut md = String::from(
        "| operation | served by | MemorySize (MB) | billed ms | Lambda compute $ | Lambda requests $ | API Gateway $ | read units / request | write units / request | units from | DynamoDB $ | total $ per 1M requests |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let (served, memory, billed, compute, requests) = match &r.lambda {
            Some(c) => (
                c.function.clone(),
                format!("{:.0}", c.chosen.memory_mb),
                format!("{:.0}", c.chosen.billed_ms),
                Some(c.chosen.compute),
                Some(goals::PRICE_PER_MILLION_REQUESTS),
            ),
            None => match &r.mix {
                Some(m) => (
                    "each operation's own function, modelled from the load run's figures of each operation alone (in process: wall and CPU per request), weighted by its share of the mix".to_owned(),
                    if m.memory.0 == m.memory.1 { format!("{:.0}", m.memory.0) } else { format!("{:.0}–{:.0}", m.memory.0, m.memory.1) },
                    format!("{:.1} (mean)", m.billed_ms),
                    Some(m.compute),
                    Some(goals::PRICE_PER_MILLION_REQUESTS),
                ),
                None => (r.no_lambda.clone(), "-".into(), "-".into(), None, None),
            },
        };
        let money = |v: Option<f64>| v.map_or("not measured".to_owned(), |v| format!("{v:.4}"));
        let (ru, wu, db) = match r.units {
            Some(u) => (format!("{:.2}", u.0), format!("{:.2}", u.1), Some(dynamo(u))),
            None => ("not measured".into(), "not measured".into(), None),
        };
        let total = match (compute, requests, db) {
            (Some(c), Some(q), Some(d)) => format!("**{:.4}**", c + q + PRICE_HTTP_API_PER_MILLION + d),
            (None, _, Some(d)) => format!("not measured (no Lambda figure); API Gateway + DynamoDB alone {:.4}", PRICE_HTTP_API_PER_MILLION + d),
            _ => "not measured".into(),
        };
        md.push_str(&format!(
            "| {} | {served} | {memory} | {billed} | {} | {} | {:.4} | {ru} | {wu} | {} | {} | {total} |\n",
            r.operation,
            money(compute),
            money(requests),
            PRICE_HTTP_API_PER_MILLION,
            r.units_from,
            money(db)
        ));
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mix_is_priced_operation_by_operation_at_each_functions_size() {
        let ours = vec![
            choose("get-client", 10.0, 25.0, Model { wall_ms: 2.5, cpu_ms: 0.5, rss_mb: 9.0, cold_first_ms: 12.0 }),
            choose("list-clients", 10.0, 25.0, Model { wall_ms: 3.0, cpu_ms: 1.0, rss_mb: 9.0, cold_first_ms: 12.0 }),
        ];
        assert_eq!(memory_for_load_op("retrieve", &ours), Some(128.0));
        assert_eq!(memory_for_load_op("list page, admin (platform-wide)", &ours), Some(256.0));
        assert_eq!(memory_for_load_op("record usage", &ours), Some(256.0), "the largest of the measured ones");
        let figures = json!({
            "ops": [
                { "op": "retrieve", "mean_ms": 2.5, "cpu_ms": 0.5 },
                { "op": "record usage", "mean_ms": 4.0, "cpu_ms": 1.0 },
            ],
            "mix": { "by_op": [ { "op": "retrieve", "requests": 300 }, { "op": "record usage", "requests": 100 } ] },
        });
        let m = mix_lambda(&figures, &ours).expect("priced");
        // retrieve: 2 + 0.5 × 1769/128 = 8.9 → 9 ms at 128 MB; usage: 3 + 1 × 1769/256 = 9.9 → 10 ms at 256 MB.
        let expect = 0.75 * goals::lambda_compute_per_million(9.0, 128.0) + 0.25 * goals::lambda_compute_per_million(10.0, 256.0);
        assert!((m.compute - expect).abs() < 1e-12, "{} vs {expect}", m.compute);
        assert!((m.billed_ms - 9.25).abs() < 1e-9);
        assert_eq!(m.memory, (128.0, 256.0));
        // A run from before CPU was recorded cannot be priced, and says so.
        let old = json!({ "ops": [ { "op": "retrieve", "mean_ms": 2.5 } ], "mix": { "by_op": [ { "op": "retrieve", "requests": 1 } ] } });
        assert!(mix_lambda(&old, &ours).unwrap_err().contains("CPU"));
    }

    #[test]
    fn the_cheapest_size_that_meets_the_goal_is_chosen() {
        // 2 ms waiting, 0.5 ms CPU: 128 MB models 2 + 0.5 × 13.82 = 8.9 ms, within 10.
        let c = choose("get-client", 10.0, 25.0, Model { wall_ms: 2.5, cpu_ms: 0.5, rss_mb: 9.0, cold_first_ms: 12.0 });
        assert!(c.met);
        assert_eq!(c.chosen.memory_mb, 128.0);
        assert_eq!(c.chosen.billed_ms, 9.0);
        // 1 ms of CPU: 128 MB models 15.8 ms, 256 MB 8.9 ms.
        let c = choose("get-client", 10.0, 25.0, Model { wall_ms: 3.0, cpu_ms: 1.0, rss_mb: 9.0, cold_first_ms: 12.0 });
        assert_eq!(c.chosen.memory_mb, 256.0);
        // A process that needs 300 MB cannot run at 256.
        let c = choose("get-client", 10.0, 25.0, Model { wall_ms: 3.0, cpu_ms: 1.0, rss_mb: 300.0, cold_first_ms: 12.0 });
        assert_eq!(c.chosen.memory_mb, 512.0);
        // Waiting alone over the goal: no size meets it, the fastest is taken.
        let c = choose("get-client", 10.0, 25.0, Model { wall_ms: 12.0, cpu_ms: 0.1, rss_mb: 9.0, cold_first_ms: 12.0 });
        assert!(!c.met);
        assert_eq!(c.chosen.memory_mb, goals::FULL_VCPU_MB);
    }
}
