//! `--report FILE.html`: one self-contained page a mechanic can hand to the
//! owner. The verdict and the other candidates, a timeline drawn in SVG, the
//! trouble codes, the evidence lines, next steps cheapest first, how to get
//! in now, the safety lines and what the verdict rests on.
//!
//! Everything comes from the same [`Report`] (and so the same evidence
//! record) as the text and JSON output: nothing is analysed a second time.
//! No scripts, no network, no external fonts: inline CSS and SVG, real text
//! throughout, and colour is never the only cue (every mark has a shape and a
//! word). The page stays small at any capture length: the timeline draws at
//! most one segment change per pixel column of each lane.

use std::fmt::Write as _;

use crate::diagnose::Report;
use crate::evidence::{Change, ItemSeries, ReleaseAttempt, Seen};
use crate::profile::{ReleaseInput, Role};
use crate::verdict::{outcome, Confidence, Outcome, Verdict};

/// Timeline width in SVG units; also the number of columns a lane is drawn in.
const WIDTH: f64 = 960.0;
/// Left margin for the lane names.
const LABEL_W: f64 = 150.0;
const LANE_H: f64 = 34.0;
const TOP: f64 = 44.0;
/// Presses drawn and listed one by one; beyond this the page says how many
/// more there were (a bus whose request bit chatters must not make a page
/// of megabytes).
const MAX_PRESSES: usize = 100;
/// Evidence lines listed; the rest are counted.
const MAX_LINES: usize = 60;

/// The lanes, in drawing order: role, name, binary (or analog with its unit).
const LANES: [(Role, &str, Option<&str>); 9] = [
    (Role::FobTrunkRequest, "fob request", None),
    (Role::CabinTrunkRequest, "cabin switch", None),
    (Role::TrunkRequest, "bus trunk request", None),
    (Role::OpenerOutput, "opener output", None),
    (Role::LidOpen, "lid open", None),
    (Role::Lockout, "lockout (valet)", None),
    (Role::IgnitionOn, "ignition ON", None),
    (Role::SpeedKmh, "speed", Some("km/h")),
    (Role::BatteryVoltage, "battery", Some("V")),
];

/// The page for one report. `generated` is the date and time to print.
pub fn render(report: &Report, generated: &str) -> String {
    let mut h = String::with_capacity(32 * 1024);
    let top = report.top();
    let title = top.map_or_else(
        || "trunkdiag report".to_owned(),
        |v| format!("trunkdiag: {}", v.id),
    );
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n",
        esc(&title)
    );
    header(&mut h, report, generated);
    if let Some(v) = top {
        verdict(&mut h, v);
    }
    others(&mut h, report);
    timeline(&mut h, report);
    presses(&mut h, report);
    dtcs(&mut h, report);
    if let Some(v) = top {
        evidence(&mut h, v);
        // What the run could not do or did differently (frames dropped, a
        // refused active test and the gate behind it, listen-only): the
        // same notes the text and JSON reports carry.
        list(
            &mut h,
            "notes",
            "Notes on this run",
            &report.source.notes,
            false,
        );
        list(
            &mut h,
            "next",
            "Next steps, cheapest first",
            &v.next_steps,
            true,
        );
        list(
            &mut h,
            "access",
            &format!("How to get into the {} now", report.lid.as_str()),
            &v.access_now,
            false,
        );
        rests_on(&mut h, report, v);
        list(&mut h, "safety", "Safety", &v.safety, false);
    }
    h.push_str("</main>\n</body>\n</html>\n");
    h
}

/// The opening of a page (head, inline CSS, `<main>`) titled `title`:
/// what every trunkdiag page shares (`relearn --report` builds on it).
pub(crate) fn page_start(title: &str) -> String {
    let mut h = String::with_capacity(16 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n",
        esc(title)
    );
    h
}

/// The closing of a page begun with [`page_start`].
pub(crate) fn page_end(h: &mut String) {
    h.push_str("</main>\n</body>\n</html>\n");
}

/// An index page for a batch's reports: [file name, job name, verdict id, confidence].
pub fn index(rows: &[[String; 4]], generated: &str) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>trunkdiag batch reports</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n\
         <h1>trunkdiag batch reports</h1>\n<p class=\"meta\">Generated {}. {} job(s).</p>\n\
         <table>\n<thead><tr><th scope=\"col\">Job</th><th scope=\"col\">Verdict</th>\
         <th scope=\"col\">Confidence</th></tr></thead>\n<tbody>\n",
        esc(generated),
        rows.len()
    );
    for [file, job, id, conf] in rows {
        let _ = writeln!(
            h,
            "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td></tr>",
            esc(file),
            esc(job),
            esc(id),
            esc(conf)
        );
    }
    h.push_str("</tbody>\n</table>\n</main>\n</body>\n</html>\n");
    h
}

fn header(h: &mut String, r: &Report, generated: &str) {
    let ev = &r.evidence;
    let _ = write!(
        h,
        "<header>\n<h1>Why the trunk won't open</h1>\n<dl class=\"meta\">\n\
         <dt>Vehicle profile</dt><dd>{} ({})</dd>\n",
        esc(&r.profile.id),
        esc(&r.profile.reason)
    );
    if let Some(vin) = &r.profile.vin {
        let _ = writeln!(h, "<dt>VIN</dt><dd>{}</dd>", esc(vin));
    }
    let recorded = ev
        .first_us
        .filter(|&t| t > 946_684_800_000_000) // after 2000: an epoch time, not virtual
        .map(date_time);
    let _ = writeln!(
        h,
        "<dt>Source</dt><dd>{} {}{}</dd>",
        esc(r.source.kind),
        esc(&r.source.name),
        r.source
            .format
            .map(|f| format!(" ({} frames, {})", r.source.frames, esc(f)))
            .unwrap_or_else(|| format!(" ({} frames)", r.source.frames))
    );
    if let Some(t) = recorded {
        let _ = writeln!(h, "<dt>Recorded</dt><dd>{t}</dd>");
    }
    let _ = write!(
        h,
        "<dt>Report made</dt><dd>{}</dd>\n</dl>\n</header>\n",
        esc(generated)
    );
}

fn conf_word(c: Confidence) -> &'static str {
    match c {
        Confidence::High => "high",
        Confidence::Medium => "medium",
        Confidence::Low => "low",
    }
}

fn verdict(h: &mut String, v: &Verdict) {
    let (class, word) = if v.is_fault() {
        ("fault", "Fault found")
    } else {
        ("ok", "No fault found")
    };
    let _ = write!(
        h,
        "<section class=\"verdict {class}\" aria-labelledby=\"verdict-h\">\n\
         <h2 id=\"verdict-h\">{word}: <span class=\"id\">{}</span> \
         <span class=\"conf\">({} confidence)</span></h2>\n<p class=\"summary\">{}</p>\n",
        esc(v.id.id()),
        conf_word(v.confidence),
        esc(&v.summary)
    );
    if !v.explanation.is_empty() {
        let _ = writeln!(h, "<p>{}</p>", esc(&v.explanation));
    }
    for r in &v.rests_on {
        let class = if r.level == crate::profile::Level::Placeholder {
            " class=\"warn\""
        } else {
            ""
        };
        let _ = writeln!(
            h,
            "<p{class}>Rests on items <strong>{}</strong>: {}</p>",
            esc(r.words),
            esc(&r.items.join("; "))
        );
    }
    h.push_str("</section>\n");
}

fn others(h: &mut String, r: &Report) {
    if r.verdicts.len() < 2 {
        return;
    }
    h.push_str(
        "<section aria-labelledby=\"others-h\">\n<h2 id=\"others-h\">Other possible causes, most likely first</h2>\n<table>\n\
         <thead><tr><th scope=\"col\">Cause</th><th scope=\"col\">Confidence</th><th scope=\"col\">What it means</th></tr></thead>\n<tbody>\n",
    );
    for v in r.verdicts.iter().skip(1) {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(v.id.id()),
            conf_word(v.confidence),
            esc(&v.summary)
        );
    }
    h.push_str("</tbody>\n</table>\n</section>\n");
}

/// Seconds since the first frame, as the text report prints them.
fn secs(t: u64, t0: u64) -> String {
    let d = t.saturating_sub(t0);
    format!("{}.{:03} s", d / 1_000_000, (d % 1_000_000) / 1000)
}

fn input_word(i: ReleaseInput) -> &'static str {
    match i {
        ReleaseInput::Fob => "fob",
        ReleaseInput::Cabin => "cabin switch",
        ReleaseInput::Bus => "bus request",
        ReleaseInput::ActiveTest => "active test",
    }
}

/// The outcome in words and the mark's shape name (never colour alone).
fn outcome_word(o: Outcome) -> (&'static str, &'static str) {
    match o {
        Outcome::Opened => ("lid opened", "opened"),
        Outcome::AlreadyOpen => ("lid was already open", "already-open"),
        Outcome::Refused => ("BCM did not drive the opener", "refused"),
        Outcome::Stuck => ("opener driven, lid stayed shut", "stuck"),
        Outcome::StuckUnwatched => ("lid stayed shut (output not watched)", "stuck"),
        Outcome::Unknown => ("lid switch not watched", "unknown"),
    }
}

/// The symbol drawn for an outcome: a character a reader can tell apart
/// without colour.
fn outcome_symbol(o: Outcome) -> &'static str {
    match o {
        Outcome::Opened => "✓",
        Outcome::AlreadyOpen => "○",
        Outcome::Refused => "✕",
        Outcome::Stuck | Outcome::StuckUnwatched => "■",
        Outcome::Unknown => "?",
    }
}

fn timeline(h: &mut String, r: &Report) {
    let ev = &r.evidence;
    h.push_str("<section aria-labelledby=\"timeline-h\">\n<h2 id=\"timeline-h\">Timeline</h2>\n");
    let (Some(t0), Some(t1)) = (ev.first_us, ev.last_us) else {
        h.push_str("<p>No frame was received, so there is nothing to draw.</p>\n</section>\n");
        return;
    };
    let span = t1.saturating_sub(t0).max(1);
    let lanes: Vec<(Role, &str, Option<&str>, Vec<&ItemSeries>)> = LANES
        .iter()
        .map(|&(role, name, unit)| (role, name, unit, ev.series_of(role).collect::<Vec<_>>()))
        .filter(|l| !l.3.is_empty())
        .collect();
    let height = TOP + LANE_H * lanes.len() as f64 + 30.0;
    let plot_w = WIDTH - LABEL_W - 10.0;
    let x = |t: u64| LABEL_W + plot_w * (t.saturating_sub(t0) as f64 / span as f64);
    let _ = write!(
        h,
        "<figure>\n<svg class=\"timeline\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" \
         aria-label=\"What the bus showed over {0}: {1} press(es); one lane per signal the profile reads\" \
         xmlns=\"http://www.w3.org/2000/svg\">\n\
         <title>What the bus showed over {0}</title>\n\
         <desc>{1} press(es); one lane per signal the profile reads; shaded bands are the watch window after each press.</desc>\n",
        secs(t1, t0),
        ev.release_attempts.len()
    );
    // Watch windows and press marks behind and above the lanes.
    let window = ev.window_us();
    for (i, a) in ev.release_attempts.iter().take(MAX_PRESSES).enumerate() {
        let (x0, x1) = (x(a.t_us), x(a.t_us.saturating_add(window).min(t1)));
        let _ = writeln!(
            h,
            "<rect class=\"window\" x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"><title>watch window of press {}</title></rect>",
            TOP - 6.0,
            (x1 - x0).max(1.0),
            LANE_H * lanes.len() as f64 + 6.0,
            i + 1
        );
    }
    let mut counted = 0;
    for (li, (_, name, unit, series)) in lanes.iter().enumerate() {
        let y = TOP + LANE_H * li as f64;
        let gaps = summarised(series);
        counted += gaps;
        let name = if gaps > 0 {
            format!("{name} ≈")
        } else {
            (*name).to_owned()
        };
        let _ = writeln!(
            h,
            "<g class=\"lane\"><text class=\"lane-name\" x=\"4\" y=\"{:.1}\">{}</text>\
             <line class=\"base\" x1=\"{LABEL_W}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/>",
            y + LANE_H * 0.6,
            esc(&name),
            WIDTH - 10.0,
            y + LANE_H - 6.0,
            y + LANE_H - 6.0
        );
        match unit {
            None => binary_lane(h, series, t0, span, plot_w, y),
            Some(u) => analog_lane(h, series, t0, span, plot_w, y, u),
        }
        h.push_str("</g>\n");
    }
    for (i, a) in ev.release_attempts.iter().take(MAX_PRESSES).enumerate() {
        let o = outcome(a);
        let (word, class) = outcome_word(o);
        let px = x(a.t_us);
        let _ = writeln!(
            h,
            "<g class=\"press {class}\" data-press=\"{n}\" data-input=\"{inp}\" data-outcome=\"{class}\">\
             <line x1=\"{px:.1}\" x2=\"{px:.1}\" y1=\"{y0:.1}\" y2=\"{y1:.1}\"/>\
             <text x=\"{px:.1}\" y=\"{ty:.1}\" text-anchor=\"middle\">{n} {sym}</text>\
             <title>press {n}: {inp} at {at}: {word}</title></g>",
            n = i + 1,
            inp = input_word(a.input),
            y0 = TOP - 8.0,
            y1 = TOP + LANE_H * lanes.len() as f64,
            ty = TOP - 14.0,
            sym = outcome_symbol(o),
            at = secs(a.t_us, t0),
        );
    }
    let axis_y = TOP + LANE_H * lanes.len() as f64 + 18.0;
    for k in 0..=4 {
        let t = t0 + span / 4 * k;
        let anchor = match k {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        let _ = write!(
            h,
            "<text class=\"axis\" x=\"{:.1}\" y=\"{axis_y:.1}\" text-anchor=\"{anchor}\">{}</text>",
            x(t),
            secs(t, t0)
        );
    }
    h.push_str("\n</svg>\n<figcaption>Filled bars: the signal is set (request, output, lid open, lockout, ignition). \
        Lines: measured values. Numbered marks: each press, with ✓ lid opened, ○ lid already open, ✕ BCM did not drive the opener, \
        ■ lid stayed shut, ? not watched. Shaded bands: the watch window after each press.");
    if counted > 0 {
        let _ = write!(
            h,
            " ≈: away from the presses the record keeps counts, not every change; {counted} change(s) are counted there and not drawn (`--full-series` keeps them)."
        );
    }
    h.push_str("</figcaption>\n</figure>\n</section>\n");
}

/// What the record kept of a series: the first changes of the capture (its
/// sample) and every change near a press, in time order. Elsewhere the
/// record keeps counts, so the lane shows the last known value there.
fn points(s: &ItemSeries) -> Vec<Change> {
    let mut p: Vec<Change> = s.sample.iter().chain(s.changes.iter()).copied().collect();
    p.sort_by_key(|c| c.t_us);
    p.dedup_by_key(|c| c.t_us);
    p
}

/// Changes the record counted but did not keep, over a lane's series.
fn summarised(series: &[&ItemSeries]) -> u64 {
    series
        .iter()
        .map(|s| s.changes_seen.saturating_sub(points(s).len() as u64))
        .sum()
}

/// Columns a lane is quantised to: at most one state change per column.
fn columns(plot_w: f64) -> usize {
    (plot_w / 2.0) as usize
}

/// For each column, whether any series of the lane is set in it.
fn set_columns(series: &[&ItemSeries], t0: u64, span: u64, n: usize) -> Vec<bool> {
    let mut cols = vec![false; n];
    let col = |t: u64| ((t.saturating_sub(t0) as f64 / span as f64) * n as f64) as usize;
    for s in series {
        let pts = points(s);
        let mut iter = pts.iter().peekable();
        while let Some(c) = iter.next() {
            if c.value == 0.0 {
                continue;
            }
            let end = iter.peek().map_or(s.last_us, |n| n.t_us);
            let (a, b) = (col(c.t_us).min(n - 1), col(end).min(n - 1));
            for v in cols.iter_mut().take(b + 1).skip(a) {
                *v = true;
            }
        }
    }
    cols
}

fn binary_lane(h: &mut String, series: &[&ItemSeries], t0: u64, span: u64, plot_w: f64, y: f64) {
    let n = columns(plot_w).max(1);
    let cols = set_columns(series, t0, span, n);
    let cw = plot_w / n as f64;
    let mut i = 0;
    while i < n {
        if !cols[i] {
            i += 1;
            continue;
        }
        let start = i;
        while i < n && cols[i] {
            i += 1;
        }
        let _ = write!(
            h,
            "<rect class=\"on\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"/>",
            LABEL_W + cw * start as f64,
            y + 6.0,
            (cw * (i - start) as f64).max(1.0),
            LANE_H - 12.0
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn analog_lane(
    h: &mut String,
    series: &[&ItemSeries],
    t0: u64,
    span: u64,
    plot_w: f64,
    y: f64,
    unit: &str,
) {
    let vals = series
        .iter()
        .flat_map(|s| s.changes.iter().map(|c| c.value));
    let (lo, hi) = vals.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, u), v| {
        (l.min(v), u.max(v))
    });
    if !lo.is_finite() {
        return;
    }
    let range = (hi - lo).max(1e-9);
    let n = columns(plot_w).max(1);
    let cw = plot_w / n as f64;
    for s in series {
        // One point per column: the last value in it.
        let mut pts: Vec<(usize, f64)> = Vec::new();
        for c in &points(s) {
            let col = ((c.t_us.saturating_sub(t0) as f64 / span as f64) * n as f64) as usize;
            match pts.last_mut() {
                Some(p) if p.0 == col => p.1 = c.value,
                _ => pts.push((col.min(n - 1), c.value)),
            }
        }
        let end_col = ((s.last_us.saturating_sub(t0) as f64 / span as f64) * n as f64) as usize;
        if let Some(&(_, v)) = pts.last() {
            pts.push((end_col.min(n - 1), v));
        }
        let mut path = String::new();
        for (i, (col, v)) in pts.iter().enumerate() {
            let px = LABEL_W + cw * *col as f64;
            let py = y + LANE_H - 8.0 - (v - lo) / range * (LANE_H - 16.0);
            let _ = write!(path, "{}{px:.1},{py:.1}", if i == 0 { "M" } else { " H" });
            if i > 0 {
                let _ = write!(path, " V{py:.1}");
            }
        }
        let _ = write!(h, "<path class=\"analog\" d=\"{path}\"/>");
    }
    let _ = write!(
        h,
        "<text class=\"range\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{lo:.1}–{hi:.1} {}</text>",
        WIDTH - 12.0,
        y + 12.0,
        esc(unit)
    );
}

fn presses(h: &mut String, r: &Report) {
    let ev = &r.evidence;
    if ev.release_attempts.is_empty() {
        h.push_str("<p>No trunk press was seen while the tool watched.</p>\n");
        return;
    }
    let t0 = ev.first_us.unwrap_or(0);
    h.push_str(
        "<section aria-labelledby=\"presses-h\">\n<h2 id=\"presses-h\">Each press</h2>\n<table>\n\
         <thead><tr><th scope=\"col\">#</th><th scope=\"col\">Input</th><th scope=\"col\">At</th>\
         <th scope=\"col\">Opener output</th><th scope=\"col\">Outcome</th></tr></thead>\n<tbody>\n",
    );
    for (i, a) in ev.release_attempts.iter().take(MAX_PRESSES).enumerate() {
        let o = outcome(a);
        let _ = writeln!(
            h,
            "<tr class=\"press-row\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} {}</td></tr>",
            i + 1,
            input_word(a.input),
            secs(a.t_us, t0),
            output_word(a, t0),
            outcome_symbol(o),
            outcome_word(o).0
        );
    }
    h.push_str("</tbody>\n</table>\n");
    more(
        h,
        ev.release_attempts.len(),
        "press(es) not drawn or listed",
    );
    h.push_str("</section>\n");
}

/// "… and N more" when a list was cut.
fn more(h: &mut String, total: usize, what: &str) {
    let shown = total.min(MAX_PRESSES);
    if total > shown {
        let _ = writeln!(h, "<p>… and {} more {what}.</p>", total - shown);
    }
}

fn output_word(a: &ReleaseAttempt, t0: u64) -> String {
    match (a.output_driven, a.output_at_us) {
        (Seen::Yes, Some(t)) => format!("driven at {}", secs(t, t0)),
        (Seen::Yes, None) => "driven".to_owned(),
        (Seen::No, _) => "never driven".to_owned(),
        (Seen::NotMonitored, _) => "not watched".to_owned(),
    }
}

fn dtcs(h: &mut String, r: &Report) {
    h.push_str("<section aria-labelledby=\"dtc-h\">\n<h2 id=\"dtc-h\">Trouble codes</h2>\n");
    if !r.evidence.dtc_read.answered {
        h.push_str("<p>The trouble codes were not read.</p>\n</section>\n");
        return;
    }
    if r.dtcs.is_empty() {
        h.push_str("<p>The BCM reported no trouble codes.</p>\n</section>\n");
        return;
    }
    h.push_str(
        "<table>\n<thead><tr><th scope=\"col\">Code</th><th scope=\"col\">Status</th>\
         <th scope=\"col\">Meaning</th><th scope=\"col\">Known from</th></tr></thead>\n<tbody>\n",
    );
    for d in &r.dtcs {
        let status = d
            .status
            .map(|s| format!("0x{s:02X} {}", d.status_bits.join(", ")))
            .unwrap_or_else(|| "–".to_owned());
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&d.code.to_string()),
            esc(&status),
            esc(&d.meaning),
            d.level.map_or("generic meaning of the code", |l| l.label())
        );
    }
    h.push_str("</tbody>\n</table>\n</section>\n");
}

fn evidence(h: &mut String, v: &Verdict) {
    let mut lines: Vec<String> = v.evidence.clone();
    if lines.len() > MAX_LINES {
        let n = lines.len() - MAX_LINES;
        lines.truncate(MAX_LINES);
        lines.push(format!(
            "… and {n} more evidence line(s), in the JSON report"
        ));
    }
    list(h, "evidence", "Evidence", &lines, false);
}

pub(crate) fn list(h: &mut String, id: &str, title: &str, items: &[String], ordered: bool) {
    if items.is_empty() {
        return;
    }
    let tag = if ordered { "ol" } else { "ul" };
    let _ = writeln!(
        h,
        "<section aria-labelledby=\"{id}-h\">\n<h2 id=\"{id}-h\">{}</h2>\n<{tag}>",
        esc(title)
    );
    for i in items {
        let _ = writeln!(h, "<li>{}</li>", esc(i));
    }
    let _ = writeln!(h, "</{tag}>\n</section>");
}

fn rests_on(h: &mut String, r: &Report, v: &Verdict) {
    let used = &r.evidence.items_used;
    if used.is_empty() {
        return;
    }
    h.push_str(
        "<section aria-labelledby=\"rests-h\">\n<h2 id=\"rests-h\">What this rests on</h2>\n",
    );
    let _ = writeln!(
        h,
        "<p>The verdict <strong>{}</strong> rests on {} vehicle data item(s) of the profile.</p>",
        esc(v.id.id()),
        used.len()
    );
    for level in crate::profile::Level::ALL {
        let group: Vec<_> = used.iter().filter(|u| u.level == level).collect();
        if group.is_empty() {
            continue;
        }
        let title = crate::verdict::text::level_heading(level);
        let names: Vec<String> = group
            .iter()
            .map(|u| {
                format!(
                    "{} <span class=\"src\">({})</span>",
                    esc(&u.label),
                    esc(&u.source)
                )
            })
            .collect();
        let _ = writeln!(
            h,
            "<h3>{}</h3>\n<p class=\"items\">{}</p>",
            esc(title),
            names.join("; ")
        );
    }
    h.push_str("</section>\n");
}

/// HTML text escaping.
pub(crate) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

/// `2026-11-30 13:34:37 UTC` from microseconds since the UNIX epoch.
pub fn date_time(us: u64) -> String {
    super::record::utc(us / 1_000_000)
}

/// The time now, for "report made".
pub fn now() -> String {
    let us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    date_time(us)
}

const CSS: &str = "
:root{color-scheme:light}
body{margin:0;font:16px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;color:#111;background:#fff}
main{max-width:60rem;margin:0 auto;padding:1rem}
h1{font-size:1.5rem;margin:.2rem 0 .6rem}
h2{font-size:1.15rem;margin:1.2rem 0 .4rem;border-bottom:1px solid #bbb}
h3{font-size:1rem;margin:.6rem 0 .2rem}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.1rem .8rem;margin:0}
dl.meta dt{font-weight:600}
dl.meta dd{margin:0}
.verdict{border:3px solid #444;border-radius:6px;padding:.6rem .9rem;margin-top:1rem}
.verdict.fault{border-color:#a4000f;border-style:double;border-width:5px}
.verdict.ok{border-color:#1b5e20}
.verdict h2{border:0;margin-top:0}
.summary{font-weight:600}
.warn{background:#fff4ce;border-left:4px solid #7a5a00;padding:.3rem .6rem}
table{border-collapse:collapse;width:100%}
th,td{border:1px solid #999;padding:.25rem .45rem;text-align:left;vertical-align:top}
th{background:#eee}
figure{margin:0}
svg.timeline{width:100%;height:auto;display:block}
svg .lane-name,svg .axis,svg .range{font-size:12px;fill:#111}
svg .base{stroke:#777;stroke-width:1}
svg .on{fill:#1f4e9c}
svg .analog{fill:none;stroke:#1f4e9c;stroke-width:2}
svg .window{fill:#1f4e9c;fill-opacity:.10}
svg .press line{stroke:#111;stroke-width:1.5;stroke-dasharray:4 2}
svg .press text{font-size:13px;font-weight:700;fill:#111}
svg .press.refused line,svg .press.stuck line{stroke:#a4000f}
figcaption{font-size:.9rem;margin-top:.3rem}
.src{color:#333;font-size:.9rem}
@media (max-width:40rem){body{font-size:15px}main{padding:.5rem}}
@media print{@page{size:A4;margin:10mm}body{font-size:8pt;line-height:1.25}main{max-width:none;padding:0}
h1{font-size:13pt;margin:0 0 2pt}h2{font-size:10pt;margin:6pt 0 2pt}h3{font-size:8.5pt;margin:3pt 0 1pt}
p,ul,ol{margin:2pt 0}li{margin:0}th,td{padding:1pt 3pt}.verdict{padding:3pt 6pt;margin-top:4pt}
svg.timeline{max-height:70mm}figcaption{font-size:7pt}
figure,table,.verdict{break-inside:avoid}h2{break-after:avoid}}
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_from_epoch_microseconds() {
        assert_eq!(date_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(date_time(1_700_000_000_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(date_time(951_782_400_000_000), "2000-02-29 00:00:00 UTC");
    }

    /// 2,000,000 frames whose lid, speed and battery bits change on every
    /// frame still give a page far below 200 kB: lanes are drawn per column.
    #[test]
    fn a_two_million_frame_capture_gives_a_small_page() {
        use crate::analyzer::Analyzer;
        use crate::diagnose::{ProfileChoice, SourceInfo};
        use crate::frame::{CanFrame, CanId};
        let profile = crate::profile::load("nissan-altima-2013-2018").unwrap();
        let mut an = Analyzer::new(&profile);
        let t0 = 1_700_000_000_000_000u64;
        for i in 0..2_000_000u64 {
            let b = (i & 0xFF) as u8;
            let (id, data) = match i % 4 {
                0 => (0x60D, [b & 0x80, 0x04, 0, b & 0x20, 0, 0, 0, 0]),
                1 => (0x6F6, [90 + (b & 0x3F), 0, 0, 0, 0, 0, 0, 0]),
                2 => (0x284, [0, 0, 0, 0, b, b, 0, 0]),
                _ => (0x180, [b; 8]),
            };
            let f = CanFrame::classic(CanId::Standard(id), &data)
                .unwrap()
                .at(t0 + i * 500);
            an.feed(&f);
        }
        let (ev, stats) = an.finish(Default::default());
        let choice = ProfileChoice {
            id: profile.id.clone(),
            how: "given",
            reason: "test".into(),
            vin: None,
            identified: None,
        };
        let source = SourceInfo {
            kind: "replay",
            name: "dense.log".into(),
            format: Some("candump"),
            frames: 2_000_000,
            skipped_lines: 0,
            analyzer: stats,
            notes: Vec::new(),
            adapter: None,
        };
        let report = Report::new(&profile, choice, source, ev);
        let page = render(&report, "now");
        eprintln!("page for 2,000,000 dense frames: {} bytes", page.len());
        assert!(page.len() < 200_000, "{} bytes", page.len());
        assert!(page.contains("<svg"), "no timeline");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
