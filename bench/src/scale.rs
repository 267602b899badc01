//! `docs/SCALE.md`, computed from the load run's figures (`docs/scale/latest.json`)
//! and, beside them, those saved before the sharding (`docs/scale/before.json`).
//!
//! The figures hold only what the run measured: units per request of each
//! operation alone, of the mix and of the creates into one partner, per partition
//! key; handler durations; bytes a create stores. Everything the report judges
//! (shares of a partition's limits at the target rates, verdicts, Lambda
//! concurrency, monthly cost) is computed here from them, so the before figures are
//! judged by the same rules as the current ones.

use serde_json::Value;

/// What one partition takes a second at most, whatever the table's capacity.
pub const WRITE_LIMIT: f64 = 1_000.0;
pub const READ_LIMIT: f64 = 3_000.0;
/// The target rates the run's figures are scaled to.
pub const TARGET_RPS: f64 = 5_000.0;
pub const TARGET_CREATES: f64 = 1_000.0;
/// The clients the monthly storage is priced for.
pub const CLIENTS: f64 = 10_000_000.0;
/// A month of 30 days.
pub const SECONDS_PER_MONTH: f64 = 30.0 * 86_400.0;

/// Prices assumed (us-east-1 list prices; DynamoDB on demand as priced since November 2024).
pub const PRICE_WRITE_UNITS_PER_MILLION: f64 = 0.625;
pub const PRICE_READ_UNITS_PER_MILLION: f64 = 0.125;
pub const PRICE_STORAGE_GB_MONTH: f64 = 0.25;
/// DynamoDB's storage overhead per item (and per index entry), bytes.
pub const ITEM_OVERHEAD_BYTES: f64 = 100.0;
pub const PRICE_HTTP_API_PER_MILLION: f64 = 1.00;

/// How many hot keys the report shows, and how many the figures keep.
pub const SHOWN: usize = 15;
pub const KEPT: usize = 40;

/// A partition's share of its limits at `rate` requests a second: the larger of its
/// write units' share of [`WRITE_LIMIT`] and its read units' share of [`READ_LIMIT`].
pub fn share(read_units_per_request: f64, write_units_per_request: f64, rate: f64) -> (f64, f64) {
    (read_units_per_request * rate / READ_LIMIT, write_units_per_request * rate / WRITE_LIMIT)
}

/// The verdict on a share of a limit: met at 100 % or less.
pub fn verdict(share: f64) -> String {
    if !share.is_finite() {
        "not measured".into()
    } else if share <= 1.0 {
        "met".into()
    } else {
        "**not met**".into()
    }
}

fn percent(share: f64) -> String {
    format!("{:.1} %", share * 100.0)
}

/// A partition key made readable: each `#`-separated part that names a partner of
/// the run is replaced by its role (`<big 1>`, `<big 1 sub 2>`, `<partner>`); any
/// other id, hash, email or long number by `<id>`, `<email>`, `<n>`. Short numbers
/// (counter shards) and words stay, so labels compare across runs.
pub fn label(key: &str, names: &[(String, String)]) -> String {
    let (index, rest) = match key.split_once(':') {
        Some((i, r)) if i.starts_with("gsi") => (Some(i), r),
        _ => (None, key),
    };
    let parts: Vec<String> = rest
        .split('#')
        .map(|part| {
            if let Some((_, name)) = names.iter().find(|(id, _)| id == part) {
                return name.clone();
            }
            let hex_run = part.chars().fold((0usize, 0usize), |(best, run), c| {
                let run = if c.is_ascii_hexdigit() || c == '-' { run + 1 } else { 0 };
                (best.max(run), run)
            });
            if part.contains('@') {
                "<email>".into()
            } else if part.len() >= 4 && part.chars().all(|c| c.is_ascii_digit()) {
                "<n>".into()
            } else if hex_run.0 >= 16 {
                "<id>".into()
            } else {
                part.to_owned()
            }
        })
        .collect();
    let joined = parts.join("#");
    index.map_or(joined.clone(), |i| format!("{i}:{joined}"))
}

/// Lambda concurrency at `rate` requests a second by Little's law: the rate times
/// the mean duration, each operation's share of the mix at its own duration.
pub fn concurrency(mix: &[(f64, f64)], rate: f64) -> f64 {
    mix.iter().map(|(fraction, ms)| rate * fraction * ms / 1000.0).sum()
}

/// A month's cost, dollars, of each part.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    pub writes: f64,
    pub reads: f64,
    pub storage: f64,
    pub lambda_compute: f64,
    pub lambda_requests: f64,
    pub http_api: f64,
}

impl Cost {
    pub fn total(&self) -> f64 {
        self.writes + self.reads + self.storage + self.lambda_compute + self.lambda_requests + self.http_api
    }
}

/// The monthly cost at `rate` requests a second of the mix (`write_units` and
/// `read_units` per request, `durations` as in [`concurrency`]) and `clients`
/// clients of `bytes_per_client` each.
pub fn monthly_cost(rate: f64, write_units: f64, read_units: f64, durations: &[(f64, f64)], clients: f64, bytes_per_client: f64) -> Cost {
    let requests = rate * SECONDS_PER_MONTH;
    // Lambda bills each invocation's duration rounded up to the millisecond.
    let billed_seconds: f64 = durations.iter().map(|(fraction, ms)| fraction * ms.ceil() / 1000.0).sum();
    let gb = crate::goals::LAMBDA_MEMORY_MB / 1024.0;
    Cost {
        writes: requests * write_units * PRICE_WRITE_UNITS_PER_MILLION / 1e6,
        reads: requests * read_units * PRICE_READ_UNITS_PER_MILLION / 1e6,
        storage: clients * bytes_per_client / f64::from(1u32 << 30) * PRICE_STORAGE_GB_MONTH,
        lambda_compute: requests * billed_seconds * gb * crate::goals::PRICE_GB_SECOND,
        lambda_requests: requests * crate::goals::PRICE_PER_MILLION_REQUESTS / 1e6,
        http_api: requests * PRICE_HTTP_API_PER_MILLION / 1e6,
    }
}

fn num(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or(f64::NAN)
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

/// A scenario's keys (`mix` or `creates`) with their shares at `rate`, hottest first.
pub fn hot(figures: &Value, scenario: &str, rate: f64) -> Vec<(Value, f64, f64)> {
    let mut keys: Vec<(Value, f64, f64)> = figures[scenario]["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|k| {
            let (r, w) = share(num(k, "read_units"), num(k, "write_units"), rate);
            (k.clone(), r, w)
        })
        .collect();
    // Hottest first; keys of the same share by label, so that runs list ties alike.
    keys.sort_by(|a, b| b.1.max(b.2).total_cmp(&a.1.max(a.2)).then_with(|| text(&a.0, "label").cmp(text(&b.0, "label"))));
    keys
}

/// The hottest key of a scenario: its label and its share (the larger of read and write).
pub fn hottest(figures: &Value, scenario: &str, rate: f64) -> Option<(String, f64)> {
    hot(figures, scenario, rate).first().map(|(k, r, w)| (text(k, "label").to_owned(), r.max(*w)))
}

/// The mix as (share of requests, mean ms of the operation alone) per operation.
pub fn durations(figures: &Value) -> Vec<(f64, f64)> {
    let total = num(&figures["mix"], "requests");
    figures["mix"]["by_op"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| {
            let alone = figures["ops"].as_array().into_iter().flatten().find(|a| a["op"] == o["op"]);
            (num(o, "requests") / total, alone.map_or(f64::NAN, |a| num(a, "mean_ms")))
        })
        .collect()
}

/// The monthly cost the figures give at the targets.
pub fn cost_of(figures: &Value) -> Cost {
    monthly_cost(
        TARGET_RPS,
        num(&figures["mix"], "write_units"),
        num(&figures["mix"], "read_units"),
        &durations(figures),
        CLIENTS,
        num(&figures["creates"], "bytes_per_client"),
    )
}

fn hot_table(figures: &Value, scenario: &str, rate: f64, per: &str) -> String {
    let mut md = format!(
        "| # | key (label) | raw key | reads / {per} | writes / {per} | read units / {per} | write units / {per} | read units/s | share of {READ_LIMIT:.0} | write units/s | share of {WRITE_LIMIT:.0} | verdict |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    );
    for (i, (k, r, w)) in hot(figures, scenario, rate).iter().take(SHOWN).enumerate() {
        md.push_str(&format!(
            "| {} | `{}` | `{}` | {:.3} | {:.3} | {:.3} | {:.3} | {:.0} | {} | {:.0} | {} | {} |\n",
            i + 1,
            text(k, "label"),
            text(k, "key"),
            num(k, "reads"),
            num(k, "writes"),
            num(k, "read_units"),
            num(k, "write_units"),
            num(k, "read_units") * rate,
            percent(*r),
            num(k, "write_units") * rate,
            percent(*w),
            verdict(r.max(*w))
        ));
    }
    md
}

/// The verdict line of a scenario: whether every key stays within its limits.
fn summary(figures: &Value, scenario: &str, rate: f64, what: &str) -> String {
    let over: Vec<(Value, f64, f64)> = hot(figures, scenario, rate).into_iter().filter(|(_, r, w)| r.max(*w) > 1.0).collect();
    match hottest(figures, scenario, rate) {
        None => format!("- {what}: not measured."),
        Some((key, s)) if over.is_empty() => format!("- {what}: **met**; the hottest key, `{key}`, is at {} of its limit.", percent(s)),
        Some((key, s)) => format!(
            "- {what}: **not met**: {} keys over their limit; the hottest, `{key}`, at {} ({:.1} times what one partition takes).",
            over.len(),
            percent(s),
            s
        ),
    }
}

fn money(d: f64) -> String {
    let whole = format!("{:.0}", d.round());
    let mut out = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("${out}")
}

fn cost_rows(c: &Cost) -> [(&'static str, f64); 7] {
    [
        ("DynamoDB writes (on demand)", c.writes),
        ("DynamoDB reads (on demand)", c.reads),
        ("DynamoDB storage", c.storage),
        ("Lambda compute", c.lambda_compute),
        ("Lambda requests", c.lambda_requests),
        ("HTTP API requests", c.http_api),
        ("**total**", c.total()),
    ]
}

/// The report: the current figures and, when given, the before figures beside them.
/// The goal for a client create at depth 2, in write units (the performance issue).
pub const CREATE_WRITE_UNITS: f64 = 24.0;

/// Why an item of this key shape is written: the guarantee of API.md (or the feature)
/// that needs it.
fn reason(shape: &str) -> &'static str {
    let (index, key) = shape.split_once(':').map_or((None, shape), |(i, k)| (Some(i), k));
    let head = key.split('#').next().unwrap_or_default();
    match (index, head) {
        (None, "CLIENT") => "the client record",
        (None, "NUMBER") => "claim on the client's `number` (the integer-id dialects' id), kept after a delete so a number never names another client",
        (None, "UNIQUE") if key.starts_with("UNIQUE#EMAIL") => "claim: one client per email, race-proof (409 `email_taken`), reusable once deleted",
        (None, "UNIQUE") if key.starts_with("UNIQUE#CLIENTNAME") => "claim: a name once per partner, race-proof (409 `name_taken`)",
        (None, "UNIQUE") if key.starts_with("UNIQUE#USERNAME") => "claim: one client per username, race-proof (409 `username_taken`)",
        (None, "UNIQUE") => "claim on a unique value",
        (None, "CLIENTKEY") => "the client's own API key by its hash (found by the key alone; only the hash is stored)",
        (None, "CLIENTS") if key.starts_with("CLIENTS#ALL") => "list entry for the platform admin's view: a page at any size is one Query per shard",
        (None, "CLIENTS") => "list entry under each partner of the client's path: any subtree's page costs the same at any size",
        (Some("gsi1"), "CLIENTS") => "the list by status: `status=` pages at any size",
        (Some("gsi3"), "CLIENTS") => "the lists by status and suspension: `suspended=` pages at any size (by suspension alone, the three statuses' lists merged)",
        (Some("gsi2"), "CLIENTS") => "the lists by suspension (written before they were merged from the status-and-suspension lists)",
        (Some("gsi4"), "CLIENTS") => "the name index: `q=` costs in proportion to its matches",
        (None, "COUNT") if key.starts_with("COUNT#EVENTS") => "the scope's counters (`total` without counting; 8 shards a scope against hot keys): its events' (total, per type) and, in the same item and update, its clients' (`c.*`: total, per status and suspension)",
        (None, "COUNT") => "a list's counters",
        (None, "EVENT") => "the event, in the write's own transaction: every change has its event, and the stream takes it to webhook delivery",
        (None, "EVENTS") => "event list entry per scope: `GET /v1/events` of each partner of the path and the admin",
        (Some("gsi1"), "EVENTS") => "events by type: the `type` filter",
        (None, "CLIENTEVENTS") => "the client's history entry: `GET /v1/events?clientId=`",
        (None, "CLIENTGONE") => "tombstone: the tree a deleted client was in, which alone may still read its history and revoked licenses",
        (None, "USAGE") => "the period's usage counter: quotas hold under races; the period in the key makes resets free",
        (None, "LICENSE" | "CLIENTLICENSES" | "LICENSEKEY" | "CLIENTDOMAIN") => "the client's licenses, revoked with it",
        (None, "IDEM") => "idempotency record",
        _ => "",
    }
}

/// Why an item is needed, as API.md states it (or not).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Basis {
    /// API.md's text asks for what it delivers.
    Contract,
    /// It serves an API.md route at a page's cost where the contract names no cost.
    Design,
    /// It serves a feature beyond the contract.
    Addition,
}

impl Basis {
    fn label(self) -> &'static str {
        match self {
            Self::Contract => "API.md asks for it",
            Self::Design => "the design's: a page's cost where API.md names none",
            Self::Addition => "an addition to the contract",
        }
    }
}

/// What an item of this key shape is for, grouped by the guarantee that needs it.
fn need(shape: &str) -> Option<(&'static str, Basis)> {
    let (index, key) = shape.split_once(':').map_or((None, shape), |(i, k)| (Some(i), k));
    let head = key.split('#').next().unwrap_or_default();
    Some(match (index, head) {
        (None, "CLIENT") => ("the client record (API.md §3)", Basis::Contract),
        (None, "UNIQUE" | "CLIENTKEY") => (
            "names, emails, usernames and key hashes unique under races: a claim each, in the record's transaction (API.md §3, §6)",
            Basis::Contract,
        ),
        (None, "NUMBER") => ("`number`, unique and never reused: the integer id of the dialects that show one (API.md §3, DIALECTS.md)", Basis::Contract),
        (None, "EVENT") => ("the change's event, in the same transaction as the change (API.md §5)", Basis::Contract),
        (None | Some("gsi1" | "gsi4"), "CLIENTS") if key.starts_with("CLIENTS#ALL") => (
            "the platform admin's whole list, by status and by name, at a page's cost (API.md promises that of a partner's pages)",
            Basis::Design,
        ),
        (None | Some("gsi1"), "CLIENTS") => (
            "a page of any partner's subtree, optionally by `status`, at the same cost at any size (API.md, Lists), in the write's one transaction (§5a): an entry under each partner of the path, and its status index",
            Basis::Contract,
        ),
        (Some("gsi4"), "CLIENTS") => ("`q=` at a cost in proportion to its matches, never to the partner's size (API.md, Lists): the name index of each partner's entry", Basis::Contract),
        (None, "COUNT") => ("`total` from counters updated in the write's transaction (API.md §6)", Basis::Contract),
        (None | Some("gsi1"), "EVENTS") => ("`GET /v1/events` of each scope, and by `type`, at a page's cost (API.md §5 names the route and its filter, not their cost)", Basis::Design),
        (Some("gsi2" | "gsi3"), "CLIENTS") => ("`suspended=` pages at a page's cost (API.md, Lists, asks this of `status` alone)", Basis::Design),
        (None, "CLIENTEVENTS") => ("a client's history, `GET /v1/events?clientId=`", Basis::Addition),
        _ => return None,
    })
}

/// A create's write units grouped by what needs them, and what API.md's text alone needs
/// against the goal.
fn create_needs(k: &Value) -> String {
    let mut groups: Vec<(String, Option<Basis>, f64)> = Vec::new();
    for i in k["items"].as_array().into_iter().flatten() {
        let key = text(i, "key");
        let (what, basis) = need(key).map_or_else(|| (format!("other: `{key}`"), None), |(w, b)| (w.to_owned(), Some(b)));
        match groups.iter_mut().find(|(w, _, _)| *w == what) {
            Some(g) => g.2 += num(i, "write_units"),
            None => groups.push((what, basis, num(i, "write_units"))),
        }
    }
    let mut md = String::from(
        "#### What a create's units are for\n\nThe rows above grouped by the guarantee that needs them (the items under each scope count once per scope: three at depth 2).\n\n| what needs it | basis | write units / request |\n|---|---|---|\n",
    );
    for (what, basis, units) in &groups {
        md.push_str(&format!("| {what} | {} | {units:.1} |\n", basis.map_or("not classified", Basis::label)));
    }
    let sum = |b: Basis| groups.iter().filter(|g| g.1 == Some(b)).map(|g| g.2).sum::<f64>();
    let (contract, design, addition) = (sum(Basis::Contract), sum(Basis::Design), sum(Basis::Addition));
    let other: f64 = groups.iter().filter(|g| g.1.is_none()).map(|g| g.2).sum();
    md.push_str(&format!(
        "\nThe rows API.md asks for come to {contract:.1} of these units, as this design delivers them; the design's own pages at a page's cost where API.md names none, {design:.1}; additions to the contract, {addition:.1}{}. ",
        if other > 0.0 { format!("; not classified, {other:.1}") } else { String::new() }
    ));
    md.push_str(&if contract <= CREATE_WRITE_UNITS {
        format!("The contract's rows alone are within the goal of {CREATE_WRITE_UNITS:.0}: the rest is what it costs to keep the others.\n\n")
    } else {
        format!(
            "The contract's rows alone are {:.2} of the goal of {CREATE_WRITE_UNITS:.0}: no create at depth 2 meets it with every guarantee of API.md kept as this design keeps them (an entry and its indexes under each partner of the path, and every item in the write's one transaction, API.md §5a, where DynamoDB charges each write twice); meeting it needs one of those guarantees given up or delivered another way.\n\n",
            contract / CREATE_WRITE_UNITS
        )
    });
    md
}

/// The table of every item each kind of write stores (from `writes` of the figures).
fn writes_section(now: &Value) -> String {
    let Some(kinds) = now["writes"].as_array() else {
        return "\n## Write units item by item\n\nNot measured in this run (its figures have no `writes`).\n".into();
    };
    let mut md = String::from(
        "\n## Write units item by item\n\nEach kind of write alone, through the real handlers, for clients at depth 2 (under a sub-partner of a large partner: three scopes, `ALL`, the partner and the sub-partner): every item its requests wrote, charged as DynamoDB would (a write is 1 unit a KB of the item, rounded up, twice in a transaction; a put that carries an index's keys also writes that index, once, at the size of what it projects), grouped by the shape of the key. Per request: how many writes of that shape, their mean size, their units. What the model leaves out is under Method (an update or delete is charged by its key and values, not by the stored item's size, and an index entry it removes is not counted).\n\n",
    );
    for k in kinds {
        md.push_str(&format!(
            "### {} ({} requests): {:.1} write units a request\n\n| key | in a transaction | writes / request | bytes (mean) | write units / request | why it is written |\n|---|---|---|---|---|---|\n",
            text(k, "kind"),
            k["requests"],
            num(k, "write_units")
        ));
        for i in k["items"].as_array().into_iter().flatten() {
            let key = text(i, "key");
            md.push_str(&format!(
                "| `{key}` | {} | {:.2} | {:.0} | {:.2} | {} |\n",
                if i["transaction"].as_bool() == Some(true) { "yes" } else { "no" },
                num(i, "writes"),
                num(i, "bytes"),
                num(i, "write_units"),
                reason(key)
            ));
        }
        md.push('\n');
        if text(k, "kind") == "create" {
            md.push_str(&create_needs(k));
        }
    }
    md
}

/// The verdict on a create's write units, from the item-by-item table.
fn create_units_verdict(now: &Value) -> String {
    let create = now["writes"].as_array().into_iter().flatten().find(|k| text(k, "kind") == "create");
    match create {
        Some(k) => {
            let units = num(k, "write_units");
            let met = if units <= CREATE_WRITE_UNITS { "**met**" } else { "**not met**" };
            format!("- A client create at depth 2 for at most {CREATE_WRITE_UNITS:.0} write units: {met}; it writes {units:.1} (Write units item by item).")
        }
        None => format!("- A client create at depth 2 for at most {CREATE_WRITE_UNITS:.0} write units: not measured in this run."),
    }
}

pub fn render(now: &Value, before: Option<&Value>) -> String {
    let mix = &now["mix"];
    let creates = &now["creates"];
    let p = &now["params"];
    let mut md = format!(
        "# Scale\n\nWritten by `make load` on {} at commit `{}` ({} cores, DynamoDB Local in memory on the same machine). Every figure and verdict below is computed from that run's measurements (`docs/scale/latest.json`); how, and what the estimates leave out, is under Method.\n\n",
        text(now, "generated"),
        text(now, "commit"),
        now["cores"]
    );
    md.push_str(&format!(
        "The run: {} partners ({} very large ones taking {:.0} % of the traffic, with {} sub-partners each; every {}th other partner has a sub-partner), {} concurrent callers for {:.0} s making {} requests ({:.0} a second here) through the real handlers; then creates only, into one large partner, {} concurrent callers for {:.0} s ({} creates); and each operation alone, {} requests each. No request failed.\n\n",
        p["partners"], p["big"], num(p, "big_share") * 100.0, p["big_subs"], p["sub_every"], p["tasks"], num(mix, "seconds"), mix["requests"],
        num(mix, "requests") / num(mix, "seconds"), p["tasks"], num(creates, "seconds"), creates["requests"], p["op_requests"]
    ));
    if let Some(width) = p["width"].as_u64() {
        md.push_str(&format!(
            "List widths: a scope's lists start one partition wide and double when DynamoDB throttles a write to them (`shared/src/store/lists.rs`). DynamoDB Local never throttles, so the run sets the busy scopes (the platform's `ALL` and each very large partner's tree) to {width} partitions before their first write, the width throttles widen them to at these rates; every other scope stays one wide. The shares below are of that steady state: until a scope has widened (each doubling takes effect a minute after a throttled write, so 1 to 4 takes at least two), DynamoDB refuses part of its writes (503, `Retry-After`, after up to 3 s of retries).\n\n"
        ));
    }
    md.push_str("## Verdicts\n\n");
    md.push_str(&summary(now, "mix", TARGET_RPS, &format!("No partition over its limit with the mix at {TARGET_RPS:.0} requests a second")));
    md.push('\n');
    md.push_str(&summary(now, "creates", TARGET_CREATES, &format!("No partition over its limit at {TARGET_CREATES:.0} creates a second into one partner")));
    md.push('\n');
    md.push_str(&create_units_verdict(now));
    md.push_str("\n\n## Units per operation\n\nEach operation alone, its requests one after another on a large partner; units of every partition it touched, over the requests. Duration: the handler's, in process, mean; CPU: this process's user and system time over the requests (the handler's, and the caller's small share; DynamoDB Local is another process), which `make bench` uses to price the mix's Lambda. Both come from a second pass of the same requests with the capacity count off (it parses every request and answer, which no deployed function does).\n\n| operation | route | requests | read units / request | write units / request | mean handler ms | CPU ms / request |\n|---|---|---|---|---|---|---|\n");
    for o in now["ops"].as_array().into_iter().flatten() {
        md.push_str(&format!(
            "| {} | `{}` | {} | {:.2} | {:.2} | {:.2} | {} |\n",
            text(o, "op"),
            text(o, "route"),
            o["requests"],
            num(o, "read_units"),
            num(o, "write_units"),
            num(o, "mean_ms"),
            o["cpu_ms"].as_f64().map_or("not measured".to_owned(), |c| format!("{c:.2}"))
        ));
    }
    md.push_str(&format!(
        "| **the mix** | (below) | {} | {:.2} | {:.2} | | |\n",
        mix["requests"],
        num(mix, "read_units"),
        num(mix, "write_units")
    ));
    md.push_str(&writes_section(now));
    md.push_str(&format!(
        "\n## Hottest partition keys, the mix at {TARGET_RPS:.0} requests a second\n\nPer request of the mix (all operations, all partners), each key's accesses and units; scaled to {TARGET_RPS:.0} requests a second of the same mix, its units a second and their share of one partition's limits ({WRITE_LIMIT:.0} write units, {READ_LIMIT:.0} read units a second). Verdict: met at 100 % or less of both.\n\n"
    ));
    md.push_str(&hot_table(now, "mix", TARGET_RPS, "request"));
    md.push_str(&format!(
        "\n## Hottest partition keys, {TARGET_CREATES:.0} creates a second into one partner\n\nCreates only, all into one large partner (its own clients, no sub-partner named); per create, each key's accesses and units, scaled to {TARGET_CREATES:.0} creates a second.\n\n"
    ));
    md.push_str(&hot_table(now, "creates", TARGET_CREATES, "create"));
    let d = durations(now);
    md.push_str(&format!(
        "\n## Lambda concurrency at {TARGET_RPS:.0} requests a second\n\nLittle's law: concurrency = arrival rate × mean duration, per operation at its share of the mix and its mean handler duration alone (in process, against DynamoDB Local).\n\n| operation | share of the mix | requests/s | mean ms | concurrent executions |\n|---|---|---|---|---|\n"
    ));
    for (o, (fraction, ms)) in mix["by_op"].as_array().into_iter().flatten().zip(&d) {
        md.push_str(&format!(
            "| {} | {} | {:.0} | {:.2} | {:.1} |\n",
            text(o, "op"),
            percent(*fraction),
            TARGET_RPS * fraction,
            ms,
            concurrency(&[(*fraction, *ms)], TARGET_RPS)
        ));
    }
    md.push_str(&format!("| **all** | 100 % | {TARGET_RPS:.0} | | **{:.1}** |\n", concurrency(&d, TARGET_RPS)));
    let c = cost_of(now);
    md.push_str(&format!(
        "\n## Monthly cost at {} clients and {TARGET_RPS:.0} requests a second\n\nA 30-day month of the mix at {TARGET_RPS:.0} requests a second ({:.3} billion requests). Prices assumed (us-east-1 list prices): DynamoDB on demand (as priced since November 2024) ${PRICE_WRITE_UNITS_PER_MILLION} per million write request units and ${PRICE_READ_UNITS_PER_MILLION} per million read request units, storage ${PRICE_STORAGE_GB_MONTH} per GB-month (GB of 2^30 bytes); Lambda arm64 at {:.0} MB, ${} per GB-second, ${:.2} per million requests, each invocation billed at its operation's mean duration rounded up to the millisecond (measured in process on a full core: a floor, since below 1 769 MB Lambda stretches CPU time by 1769/MB; `make bench`'s cost table models that, operation by operation, at each function's MemorySize); HTTP API ${PRICE_HTTP_API_PER_MILLION:.2} per million requests (the first 300 million's price, kept for all). No free tier, no reserved capacity, no data transfer, no CloudWatch logs.\n\nStorage: {:.0} bytes a client ({:.1} items and index entries each, {ITEM_OVERHEAD_BYTES:.0} bytes of DynamoDB's overhead each included), measured from the items a create writes, its event and the event's list entries included (the events of later changes, kept too, are not).\n\n| part | $ a month |\n|---|---|\n",
        money(CLIENTS).trim_start_matches('$'),
        TARGET_RPS * SECONDS_PER_MONTH / 1e9,
        crate::goals::LAMBDA_MEMORY_MB,
        crate::goals::PRICE_GB_SECOND,
        crate::goals::PRICE_PER_MILLION_REQUESTS,
        num(creates, "bytes_per_client"),
        num(creates, "items_per_client")
    ));
    for (part, dollars) in cost_rows(&c) {
        md.push_str(&format!("| {part} | {} |\n", money(dollars)));
    }
    md.push_str(&before_after(now, before));
    md.push_str(METHOD);
    md
}

/// The before figures beside the current ones, each computed by the same rules.
fn before_after(now: &Value, before: Option<&Value>) -> String {
    let mut md = String::from("\n## Before and after the sharding\n\n");
    let Some(before) = before else {
        md.push_str("`docs/scale/before.json` is absent: there are no before figures to show beside these.\n");
        return md;
    };
    if before["generated"] == now["generated"] && before["commit"] == now["commit"] {
        md.push_str("This run is the one saved as `docs/scale/before.json` (the code before sharding): both columns show it.\n\n");
    }
    md.push_str(&format!(
        "Before: `docs/scale/before.json`, run on {} at commit `{}`. Now: this run.\n\n| figure | before | now |\n|---|---|---|\n",
        text(before, "generated"),
        text(before, "commit")
    ));
    let hottest_cell = |f: &Value, scenario: &str, rate: f64| match hottest(f, scenario, rate) {
        Some((key, s)) => format!("`{key}` {} ({})", percent(s), verdict(s)),
        None => "not measured".into(),
    };
    md.push_str(&format!("| hottest key, the mix at {TARGET_RPS:.0}/s | {} | {} |\n", hottest_cell(before, "mix", TARGET_RPS), hottest_cell(now, "mix", TARGET_RPS)));
    md.push_str(&format!(
        "| hottest key, {TARGET_CREATES:.0} creates/s into one partner | {} | {} |\n",
        hottest_cell(before, "creates", TARGET_CREATES),
        hottest_cell(now, "creates", TARGET_CREATES)
    ));
    let over = |f: &Value, scenario: &str, rate: f64| hot(f, scenario, rate).iter().filter(|(_, r, w)| r.max(*w) > 1.0).count();
    md.push_str(&format!("| keys over their limit, the mix | {} | {} |\n", over(before, "mix", TARGET_RPS), over(now, "mix", TARGET_RPS)));
    md.push_str(&format!("| keys over their limit, creates into one partner | {} | {} |\n", over(before, "creates", TARGET_CREATES), over(now, "creates", TARGET_CREATES)));
    for (name, scenario, key) in [
        ("read units / request of the mix", "mix", "read_units"),
        ("write units / request of the mix", "mix", "write_units"),
        ("write units / create", "creates", "write_units"),
        ("bytes stored / client", "creates", "bytes_per_client"),
    ] {
        md.push_str(&format!("| {name} | {:.2} | {:.2} |\n", num(&before[scenario], key), num(&now[scenario], key)));
    }
    for o in now["ops"].as_array().into_iter().flatten() {
        let b = before["ops"].as_array().into_iter().flatten().find(|b| b["op"] == o["op"]);
        let cell = |v: Option<&Value>, key: &str| v.map_or("-".to_owned(), |v| format!("{:.2}", num(v, key)));
        md.push_str(&format!(
            "| {}: read / write units, mean ms | {} / {}, {} | {} / {}, {} |\n",
            text(o, "op"),
            cell(b, "read_units"),
            cell(b, "write_units"),
            cell(b, "mean_ms"),
            cell(Some(o), "read_units"),
            cell(Some(o), "write_units"),
            cell(Some(o), "mean_ms")
        ));
    }
    md.push_str(&format!(
        "| Lambda concurrency at {TARGET_RPS:.0}/s | {:.1} | {:.1} |\n",
        concurrency(&durations(before), TARGET_RPS),
        concurrency(&durations(now), TARGET_RPS)
    ));
    md.push_str(&format!("| monthly cost | {} | {} |\n", money(cost_of(before).total()), money(cost_of(now).total())));
    for (scenario, rate, what) in [("mix", TARGET_RPS, format!("the mix at {TARGET_RPS:.0}/s")), ("creates", TARGET_CREATES, format!("{TARGET_CREATES:.0} creates/s into one partner"))] {
        md.push_str(&format!("\nThe {SHOWN} hottest keys, {what} (share of the limit, the larger of read and write):\n\n| # | before | share | now | share |\n|---|---|---|---|---|\n"));
        let (b, n) = (hot(before, scenario, rate), hot(now, scenario, rate));
        for i in 0..SHOWN.min(b.len().max(n.len())) {
            let cell = |keys: &[(Value, f64, f64)]| {
                keys.get(i).map_or(("".to_owned(), "".to_owned()), |(k, r, w)| (format!("`{}`", text(k, "label")), percent(r.max(*w))))
            };
            let ((bl, bs), (nl, ns)) = (cell(&b), cell(&n));
            md.push_str(&format!("| {} | {bl} | {bs} | {nl} | {ns} |\n", i + 1));
        }
    }
    md
}

const METHOD: &str = "
## Method

**Counting.** The DynamoDB client of the handlers' store in the run carries an SDK interceptor (`Heat`, in `shared/src/store/access.rs`, beside the key-policy check and reading requests the same way) that, while the run has it started, reads every request as DynamoDB receives it and its answer, and adds to each partition it touches, per second, the accesses and the capacity units DynamoDB would charge there. A partition is a table partition key value, or an index's (`gsiN:` and the value). It counts what the request costs, not what DynamoDB Local's speed allows, so the figures per request do not depend on this machine; only the requests a second made here do, and the report scales units per request to the target rates instead.

**Units** (estimated by DynamoDB's documented rules; item sizes by its sizing rules: names and values in bytes, not the JSON):
- A write: 1 write unit per KB of the item, rounded up, on its partition; 2 in a transaction. A put that carries an index's keys also writes that index's partition, 1 unit per KB of what the index projects (charged as a standard write). An update or a delete is sized by its key and the values it sets, since the stored item is not in the request: at least 1 unit (2 in a transaction); a counter's update is that small. A transaction's condition check is counted as 2 write units on its partition.
- A read: 1 read unit per 4 KB, rounded up, of what the answer holds: per item for `GetItem`, `BatchGetItem` and `TransactGetItems` (twice, transactional), per call for `Query` (scaled up by the items read over those returned when a filter dropped some); half for an eventually consistent read, which every index query is. A key not found costs the minimum.
- Left out: a put that moves an index entry to another partition also deletes it from the old one (one more index write there), and an update or delete of an item with index keys changes the index too; neither shows in the request. Failed conditional writes are charged like successful ones. Retries are charged each time.

**Scaling.** A key's share at the target is its units per request of the scenario times the target rate, over one partition's limit (1 000 write units, 3 000 read units a second); the verdict is met at 100 % or less. This assumes the target traffic has the run's mix: the same operations in the same proportions, and the same concentration on the large partners. DynamoDB splits a hot partition's items by sort key when it can (adaptive capacity), but never beyond one partition key's limit for items that share a key and must stay ordered, which is what a list partition is.

**Concurrency and cost** use each operation's mean handler duration measured alone, in process, against DynamoDB Local on this machine (real DynamoDB answers in single-digit milliseconds too; Lambda's own overhead per invocation is not in it).
";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_share_is_units_per_request_times_the_rate_over_the_limit() {
        let (r, w) = share(0.3, 0.4, 5_000.0);
        assert!((r - 0.5).abs() < 1e-9 && (w - 2.0).abs() < 1e-9, "{r} {w}");
        assert_eq!(verdict(1.0), "met");
        assert_eq!(verdict(1.000_1), "**not met**");
        assert_eq!(verdict(f64::NAN), "not measured");
    }

    #[test]
    fn keys_are_labelled_by_role_so_that_runs_compare() {
        let names = vec![("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".to_owned(), "<big 1>".to_owned())];
        assert_eq!(label("CLIENTS#0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", &names), "CLIENTS#<big 1>");
        assert_eq!(label("gsi1:CLIENTS#0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b#st#demo", &names), "gsi1:CLIENTS#<big 1>#st#demo");
        assert_eq!(label("CLIENT#0190ffff-c3d4-7e5f-8a9b-0c1d2e3f4a5b", &names), "CLIENT#<id>");
        assert_eq!(label("COUNT#CLIENTS#ALL#3", &names), "COUNT#CLIENTS#ALL#3");
        assert_eq!(label("NUMBER#CLIENT#48213377", &names), "NUMBER#CLIENT#<n>");
        assert_eq!(label("UNIQUE#EMAIL#e-1@example.com", &names), "UNIQUE#EMAIL#<email>");
        assert_eq!(label("KEYHASH#9f86d081884c7d659a2feaa0c55ad015", &names), "KEYHASH#<id>");
    }

    #[test]
    fn concurrency_weighs_each_operations_duration_by_its_share() {
        assert!((concurrency(&[(0.5, 10.0), (0.5, 30.0)], 5_000.0) - 100.0).abs() < 1e-9);
    }

    #[test]
    fn the_monthly_cost_prices_each_part_at_its_stated_price() {
        let c = monthly_cost(5_000.0, 2.0, 4.0, &[(1.0, 9.2)], 10_000_000.0, f64::from(1u32 << 30) / 10_000_000.0);
        let requests = 5_000.0 * 2_592_000.0;
        assert!((c.writes - requests * 2.0 * 0.625 / 1e6).abs() < 1e-6);
        assert!((c.reads - requests * 4.0 * 0.125 / 1e6).abs() < 1e-6);
        assert!((c.storage - 0.25).abs() < 1e-9, "one GB");
        // 9.2 ms is billed as 10 ms, at 128 MB.
        assert!((c.lambda_compute - requests * 0.010 * 0.125 * 0.000_013_333_4).abs() < 1e-6);
        assert!((c.http_api - requests / 1e6).abs() < 1e-6);
        assert!((c.total() - (c.writes + c.reads + c.storage + c.lambda_compute + c.lambda_requests + c.http_api)).abs() < 1e-9);
    }

    #[test]
    fn a_creates_units_are_summed_by_what_needs_them_and_judged_on_the_contracts_alone() {
        let item = |key: &str, units: f64| json!({ "key": key, "transaction": true, "writes": 1.0, "bytes": 100.0, "write_units": units });
        let create = |claim: f64| {
            json!({ "kind": "create", "requests": 2, "write_units": 0.0, "items": [
                item("CLIENT#<id>", 2.0), item("UNIQUE#EMAIL#<email>", claim), item("CLIENTKEY#<sha256>", claim),
                item("gsi3:CLIENTS#ALL#st#demo#su#false#<shard>", 1.0), item("CLIENTEVENTS#<id>", 2.0), item("EVENTS#ALL#<shard>", 2.0),
                item("CLIENTS#<id>#<shard>", 0.0), item("CLIENTS#ALL#<shard>", 0.0),
                item("WIDGET#<id>", 3.0),
            ] })
        };
        let md = create_needs(&create(2.0));
        // The two claims are one guarantee: one row, their units summed.
        assert!(md.contains("a claim each, in the record's transaction (API.md §3, §6) | API.md asks for it | 4.0 |"), "{md}");
        assert!(md.contains("| not classified | 3.0 |"), "{md}");
        // The admin's whole list is the design's; a partner's is the contract's.
        assert!(md.contains("(API.md promises that of a partner's pages) | the design's: a page's cost where API.md names none | 0.0 |"), "{md}");
        assert!(md.contains("and its status index | API.md asks for it | 0.0 |"), "{md}");
        assert!(md.contains("The rows API.md asks for come to 6.0 of these units, as this design delivers them; the design's own pages at a page's cost where API.md names none, 3.0; additions to the contract, 2.0; not classified, 3.0."), "{md}");
        assert!(md.contains("The contract's rows alone are within the goal of 24"), "{md}");
        let md = create_needs(&create(20.0));
        assert!(md.contains("The rows API.md asks for come to 42.0"), "{md}");
        assert!(md.contains("The contract's rows alone are 1.75 of the goal of 24: no create at depth 2 meets it"), "{md}");
    }

    fn figures(all_share: f64, commit: &str) -> Value {
        // CLIENTS#ALL written `all_share` of the limit at 5 000 requests a second.
        let units = all_share * WRITE_LIMIT / TARGET_RPS;
        json!({
            "generated": "2026-12-02 10:00 UTC", "commit": commit, "cores": 2, "params": {},
            "ops": [{ "op": "create", "route": "POST /v1/clients", "requests": 10, "read_units": 5.0, "write_units": 20.0, "mean_ms": 8.0 }],
            "mix": { "requests": 100, "seconds": 10.0, "read_units": 3.0, "write_units": 4.0, "by_op": [{ "op": "create", "requests": 100 }],
                     "keys": [{ "key": "CLIENTS#ALL", "label": "CLIENTS#ALL", "reads": 0.1, "writes": 1.0, "read_units": 0.0, "write_units": units },
                              { "key": "CLIENT#x", "label": "CLIENT#<id>", "reads": 0.01, "writes": 0.01, "read_units": 0.01, "write_units": 0.01 }] },
            "creates": { "requests": 10, "seconds": 1.0, "write_units": 20.0, "bytes_per_client": 2000.0, "items_per_client": 12.0,
                         "keys": [{ "key": "CLIENTS#p", "label": "CLIENTS#<big 1>", "reads": 0.0, "writes": 1.0, "read_units": 0.0, "write_units": 0.5 }] },
        })
    }

    #[test]
    fn the_report_judges_the_hottest_key_and_shows_before_beside_now() {
        let before = figures(2.5, "aaa");
        let now = figures(0.8, "bbb");
        let md = render(&now, Some(&before));
        assert!(md.contains("`CLIENTS#ALL`, is at 80.0 % of its limit"), "{md}");
        assert!(md.contains("| hottest key, the mix at 5000/s | `CLIENTS#ALL` 250.0 % (**not met**) | `CLIENTS#ALL` 80.0 % (met) |"), "{md}");
        // 1 000 creates a second at 0.5 write units each: half the limit.
        assert!(md.contains("`CLIENTS#<big 1>`, is at 50.0 %"), "{md}");
        assert!(md.contains("| **all** | 100 % | 5000 | | **40.0** |"), "{md}");
        let alone = render(&before, None);
        assert!(alone.contains("**not met**: 1 keys over their limit; the hottest, `CLIENTS#ALL`, at 250.0 %"), "{alone}");
        assert!(alone.contains("`docs/scale/before.json` is absent"));
        assert!(render(&before, Some(&before)).contains("This run is the one saved as `docs/scale/before.json`"));
    }

    #[test]
    fn dollars_are_grouped_by_thousands() {
        assert_eq!(money(1_234_567.4), "$1,234,567");
        assert_eq!(money(999.6), "$1,000");
        assert_eq!(money(12.0), "$12");
    }
}
