//! The summary over the rounds: the median and the range of each figure and each ratio,
//! as a table and as `RESULT` lines.
//!
//! A ratio is taken within each round (Confab's figure over the echo's of the same round)
//! before the median is, so that the drift of the machine between rounds cancels out.

use std::time::Duration;

use super::{Options, Round};
use crate::traffic::Outcome;

/// One figure of a scenario, as the table and the `RESULT` line name it.
struct Metric {
    /// Its key in the `RESULT` line.
    key: &'static str,
    /// Its name in the table; `{unit}` stands for the scenario's unit.
    label: &'static str,
    /// Its value in a run.
    value: fn(&Outcome) -> f64,
    /// How the table writes it.
    format: fn(f64) -> String,
}

const METRICS: [Metric; 3] = [
    Metric {
        key: "rate",
        label: "{unit}/s",
        value: Outcome::rate,
        format: whole,
    },
    Metric {
        key: "p50_ms",
        label: "p50 ms",
        value: |o| millis(o.latency.p50),
        format: hundredths,
    },
    Metric {
        key: "p99_ms",
        label: "p99 ms",
        value: |o| millis(o.latency.p99),
        format: hundredths,
    },
];

/// A duration in milliseconds.
pub(super) fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `a / b` to three significant digits, or `-` when `b` is zero.
pub(super) fn ratio_text(a: f64, b: f64) -> String {
    ratio(a, b).map_or_else(|| "-".to_owned(), significant)
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    let r = a / b;
    (b > 0.0 && r.is_finite()).then_some(r)
}

fn significant(x: f64) -> String {
    match x {
        x if x >= 100.0 => format!("{x:.0}"),
        x if x >= 10.0 => format!("{x:.1}"),
        x if x >= 1.0 => format!("{x:.2}"),
        x => format!("{x:.3}"),
    }
}

fn whole(x: f64) -> String {
    format!("{x:.0}")
}

fn hundredths(x: f64) -> String {
    format!("{x:.2}")
}

/// The median, smallest and largest of some values.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Spread {
    median: f64,
    min: f64,
    max: f64,
}

impl Spread {
    /// The spread of `values`; `None` when there are none.
    fn of(values: impl IntoIterator<Item = f64>) -> Option<Spread> {
        let mut values: Vec<f64> = values.into_iter().collect();
        values.sort_by(f64::total_cmp);
        let (min, max) = (*values.first()?, *values.last()?);
        let middle = values.len() / 2;
        let median = if values.len() % 2 == 1 {
            values[middle]
        } else {
            (values[middle - 1] + values[middle]) / 2.0
        };
        Some(Spread { median, min, max })
    }

    /// `median (min-max)`, each written with `format`.
    fn text(&self, format: fn(f64) -> String) -> String {
        format!(
            "{} ({}-{})",
            format(self.median),
            format(self.min),
            format(self.max)
        )
    }

    /// `key=median key_min=min key_max=max`.
    fn fields(&self, key: &str, decimals: usize) -> String {
        format!(
            "{key}={:.decimals$} {key}_min={:.decimals$} {key}_max={:.decimals$}",
            self.median, self.min, self.max
        )
    }
}

/// The spread of `values`, as table text, or `-` when there are none.
fn cell(values: &[f64], format: fn(f64) -> String) -> String {
    Spread::of(values.iter().copied()).map_or_else(|| "-".to_owned(), |s| s.text(format))
}

/// The spread of `values` as `RESULT` fields, or `key=-` when there are none.
fn fields(values: &[f64], key: &str, decimals: usize) -> String {
    Spread::of(values.iter().copied())
        .map_or_else(|| format!("{key}=-"), |s| s.fields(key, decimals))
}

/// Prints the table and the `RESULT` lines.
pub(super) fn print(options: &Options, rounds: &[Round]) {
    println!(
        "summary over {} rounds: median (min-max); ratios are taken within each round",
        rounds.len()
    );
    println!(
        "  {:<6} {:<14} {:<26} {:<26} Confab/echo",
        "", "", "echo", "Confab"
    );
    let pairs: Vec<(&Outcome, &Outcome)> =
        rounds.iter().map(|r| (&r.pairs, &r.echo_pairs)).collect();
    let group: Vec<(&Outcome, &Outcome)> =
        rounds.iter().map(|r| (&r.group, &r.relay_group)).collect();
    let pairs_line = comparison("pairs", "messages", &pairs);
    let group_line = comparison("group", "deliveries", &group);
    let half: Vec<&Outcome> = rounds.iter().filter_map(|r| r.half.as_ref()).collect();
    let half_line = (!half.is_empty()).then(|| half_rate(options, &half));

    let refused =
        |scenario: &[&Outcome]| -> u64 { scenario.iter().map(|o| o.refusals.total()).sum() };
    let all: Vec<&Outcome> = rounds.iter().flat_map(Round::outcomes).collect();
    let complete = rounds
        .iter()
        .filter(|r| r.outcomes().all(Outcome::complete))
        .count();
    println!(
        "  refused sends, all rounds: pairs {}, half rate {}, group {}; altered texts {}; \
         complete rounds {complete} of {}",
        refused(&pairs.iter().map(|p| p.0).collect::<Vec<_>>()),
        refused(&half),
        refused(&group.iter().map(|g| g.0).collect::<Vec<_>>()),
        all.iter().map(|o| o.altered).sum::<u64>(),
        rounds.len()
    );
    if complete < rounds.len() {
        println!(
            "  warning: {} rounds were not complete (refused sends, problems or the deadline, \
             see above): their figures do not measure the whole load",
            rounds.len() - complete
        );
    }
    println!("{pairs_line}");
    println!("{group_line}");
    if let Some(line) = half_line {
        println!("{line}");
    }
}

/// Prints the rows of one scenario against its baseline; returns its `RESULT` line.
fn comparison(name: &str, unit: &str, runs: &[(&Outcome, &Outcome)]) -> String {
    let mut result = format!("RESULT scenario=compare-{name} runs={}", runs.len());
    for (i, metric) in METRICS.iter().enumerate() {
        let confab: Vec<f64> = runs.iter().map(|(c, _)| (metric.value)(c)).collect();
        let echo: Vec<f64> = runs.iter().map(|(_, e)| (metric.value)(e)).collect();
        let ratios: Vec<f64> = confab
            .iter()
            .zip(&echo)
            .filter_map(|(&c, &e)| ratio(c, e))
            .collect();
        println!(
            "  {:<6} {:<14} {:<26} {:<26} {}",
            if i == 0 { name } else { "" },
            metric.label.replace("{unit}", unit),
            cell(&echo, metric.format),
            cell(&confab, metric.format),
            cell(&ratios, significant)
        );
        let key = metric.key;
        let decimals = if key == "rate" { 1 } else { 2 };
        let ratio_key = format!("{}_ratio", key.trim_end_matches("_ms"));
        result.push_str(&format!(
            " {} {} {}",
            fields(&echo, &format!("echo_{key}"), decimals),
            fields(&confab, &format!("confab_{key}"), decimals),
            fields(&ratios, &ratio_key, 4)
        ));
    }
    let refused: u64 = runs.iter().map(|(c, _)| c.refusals.total()).sum();
    let altered: u64 = runs.iter().map(|(c, _)| c.altered).sum();
    let complete = runs
        .iter()
        .filter(|(c, e)| c.complete() && e.complete())
        .count();
    result.push_str(&format!(
        " refused={refused} altered={altered} complete_runs={complete}"
    ));
    result
}

/// Prints the rows of the half-rate runs; returns their `RESULT` line.
fn half_rate(options: &Options, runs: &[&Outcome]) -> String {
    let asked: Vec<f64> = runs.iter().filter_map(|o| o.target_rate).collect();
    let reached: Vec<f64> = runs.iter().map(|o| o.rate()).collect();
    let p99: Vec<f64> = runs.iter().map(|o| millis(o.latency.p99)).collect();
    let met = p99.iter().filter(|&&p| p <= options.target_p99_ms).count();
    println!("  pairs at half the rate each round reached:");
    println!("  {:<6} {:<14} {}", "", "asked msg/s", cell(&asked, whole));
    println!(
        "  {:<6} {:<14} {}",
        "",
        "reached msg/s",
        cell(&reached, whole)
    );
    println!(
        "  {:<6} {:<14} {}   target {} ms: met in {met} of {} rounds",
        "",
        "p99 ms",
        cell(&p99, hundredths),
        options.target_p99_ms,
        runs.len()
    );
    let refused: u64 = runs.iter().map(|o| o.refusals.total()).sum();
    let complete = runs.iter().filter(|o| o.complete()).count();
    format!(
        "RESULT scenario=compare-half-rate runs={} {} {} {} target_p99_ms={:.2} met_runs={met} \
         refused={refused} complete_runs={complete}",
        runs.len(),
        fields(&asked, "target_rate", 1),
        fields(&reached, "rate", 1),
        fields(&p99, "p99_ms", 2),
        options.target_p99_ms,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_of_odd_and_even_counts() {
        let odd = Spread::of([3.0, 1.0, 2.0]).expect("values");
        assert_eq!(
            odd,
            Spread {
                median: 2.0,
                min: 1.0,
                max: 3.0
            }
        );
        let even = Spread::of([4.0, 1.0, 2.0, 3.0]).expect("values");
        assert_eq!(even.median, 2.5);
        assert_eq!(Spread::of([]), None);
        assert_eq!(odd.text(whole), "2 (1-3)");
        assert_eq!(odd.fields("rate", 1), "rate=2.0 rate_min=1.0 rate_max=3.0");
    }

    #[test]
    fn ratios() {
        assert_eq!(ratio_text(1400.0, 60000.0), "0.023");
        assert_eq!(ratio_text(35.8, 0.7), "51.1");
        assert_eq!(ratio_text(1.0, 0.0), "-");
    }
}
