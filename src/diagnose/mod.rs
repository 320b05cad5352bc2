//! `diagnose`: picks the profile, runs one source of frames through the
//! [`Analyzer`] and the verdict rules, and assembles the [`Report`] the CLI
//! prints.
//!
//! Sources: a recorded capture ([`replay`]) and, in `live`, any
//! [`CanBus`](crate::transport::CanBus) endpoint (SocketCAN, or a virtual-bus
//! endpoint with the simulator on the other end). Every source goes through
//! the same analyzer, so a replay of a live recording gives the same verdict.
//!
//! Owns: source selection, `--profile auto` (VIN → profile), the questions
//! that would change the ranking. Must NOT know about JSON, colour or exit
//! codes (that is `cli`), nor parse frames itself (that is the analyzer).

pub mod live;

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use crate::analyzer::{Analyzer, AnalyzerStats, Vin, VinScanner};
use crate::capture::{CaptureError, CaptureReader, Census, IdSet, ReadOptions};
use crate::diag::dtc::{Dtc, UdsStatus};
use crate::diag::ids::is_diagnostic;
use crate::evidence::{Evidence, SeriesLimits};
use crate::frame::CanId;
use crate::identify::Identification;
use crate::observation::ObservationKey;
pub use crate::observation::{Observations, Question};
use crate::profile::{self, Level, Profile, ProfileError};
use crate::transport::{BusError, PhysicalBus};
use crate::verdict::{self, Verdict};

/// The profile used when nothing better is known.
pub use crate::profile::FALLBACK_PROFILE;

/// Why a diagnosis could not be run (exit code 2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiagnoseError {
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// The bus could not be opened, or failed under the run.
    #[error("bus: {0}")]
    Bus(#[from] BusError),
    /// An `--iface` value that is not an interface or adapter.
    #[error("bus: {0}")]
    Iface(#[from] crate::transport::IfaceError),
    /// The async runtime that drives the bus could not start.
    #[error("bus: cannot start the bus driver: {0}")]
    Runtime(#[source] std::io::Error),
    /// Safety: handing control back failed, so an output may still be
    /// driven. Always stops the run loudly.
    #[error("bus: could not hand everything back to the BCM: {failures}")]
    OutputsMayBeDriven {
        failures: crate::tester::RestoreFailures,
    },
    /// Ctrl-C / SIGTERM during the session: outputs were handed back and
    /// the session left.
    #[error("interrupted: outputs handed back and the session left; no verdict")]
    Interrupted,
    /// Ctrl-C / SIGTERM while the VIN was being read.
    #[error("interrupted while reading the VIN")]
    InterruptedReadingVin,
    /// Ctrl-C / SIGTERM while listening to identify the car (`auto`).
    #[error("interrupted while listening to identify the car")]
    InterruptedIdentifying,
    /// A live run for a script (`--no-prompt`, batch) heard nothing at all.
    #[error("no frame on {bus} within {} s: nothing on the bus answered; check the adapter and its connection, the bitrate, the ignition (many buses sleep with it OFF) and the OBD connector wiring", timeout.as_secs_f64())]
    Silent {
        bus: crate::frame::IfName,
        timeout: std::time::Duration,
    },
}

/// Which profile was used and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProfileChoice {
    pub id: String,
    /// `given` (by name or path) or `auto`.
    pub how: &'static str,
    /// One plain sentence: why this profile.
    pub reason: String,
    pub vin: Option<String>,
    /// What the bus itself matched (`--profile auto`): the ranked
    /// candidates and the decision, also when a VIN chose the profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identified: Option<crate::identify::Identification>,
}

/// Where the frames came from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SourceInfo {
    /// `replay`, `live` or `sim`.
    pub kind: &'static str,
    /// File, interface or scenario name.
    pub name: String,
    /// Capture format (replay only).
    pub format: Option<&'static str>,
    pub frames: u64,
    /// Malformed lines skipped with `--lenient`.
    pub skipped_lines: u64,
    pub analyzer: AnalyzerStats,
    /// What the run did or could not do, in plain words.
    pub notes: Vec<String>,
    /// A live run's adapter: what it is and what its probe found (the
    /// preflight's adapter part); `None` for replays and the simulator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adapter: Option<crate::transport::AdapterFacts>,
}

/// A DTC as the report shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DtcLine {
    pub code: Dtc,
    pub status: Option<u8>,
    /// Status bit names (UDS layout; the project's BCMs use it).
    pub status_bits: Vec<&'static str>,
    /// The profile's meaning, else the generic letter-code meaning.
    pub meaning: String,
    /// The cause id the profile maps it to.
    pub cause: Option<String>,
    pub advice: Option<String>,
    /// How much the profile's meaning is known (`None`: the code is not
    /// in the profile, the meaning is the generic letter-code one).
    pub level: Option<Level>,
    pub t_us: u64,
}

/// Everything one run found: what the CLI prints, as text or JSON.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub profile: ProfileChoice,
    /// Trunk or liftgate: how the report names the lid.
    pub lid: crate::profile::Lid,
    pub source: SourceInfo,
    /// Ranked: first = most likely.
    pub verdicts: Vec<Verdict>,
    pub dtcs: Vec<DtcLine>,
    pub evidence: Evidence,
    pub observations: Observations,
}

impl Report {
    /// Builds the report from finished evidence.
    pub fn new(
        profile: &Profile,
        choice: ProfileChoice,
        source: SourceInfo,
        evidence: Evidence,
    ) -> Report {
        let verdicts = verdict::diagnose(profile, &evidence);
        let dtcs = evidence.dtcs.iter().map(|d| dtc_line(profile, d)).collect();
        Report {
            profile: choice,
            lid: profile.lid,
            source,
            verdicts,
            dtcs,
            observations: evidence.observations.clone(),
            evidence,
        }
    }

    /// The most likely verdict (the rules always give at least one).
    pub fn top(&self) -> Option<&Verdict> {
        self.verdicts.first()
    }

    /// True when the top verdict is a fault (anything but `no-fault-found`).
    pub fn is_fault(&self) -> bool {
        self.top().is_none_or(Verdict::is_fault)
    }

    /// Re-ranks with more observations (answers to [`questions`]).
    pub fn with_observations(mut self, profile: &Profile, observations: Observations) -> Report {
        self.evidence.observations = observations.clone();
        self.evidence.finish();
        self.verdicts = verdict::diagnose(profile, &self.evidence);
        self.observations = observations;
        self
    }
}

fn dtc_line(profile: &Profile, d: &crate::evidence::DtcRecord) -> DtcLine {
    let meaning = profile.dtc_meaning_of(d.code);
    let generic = d.code.description();
    DtcLine {
        code: d.code,
        status: d.status,
        status_bits: d.status.map(|s| UdsStatus(s).names()).unwrap_or_default(),
        meaning: meaning.map_or(generic, |m| m.meaning.clone()),
        cause: meaning.and_then(|m| m.cause.clone()),
        advice: meaning.and_then(|m| m.advice.clone()),
        level: meaning.map(|m| m.level),
        t_us: d.t_us,
    }
}

// ------------------------------------------------------------------ profile

/// The bus a live run under `profile_spec` opens its adapter for (a serial
/// adapter needs it before it can listen): the profile's default bus, its
/// bitrate and kind of wire, or high-speed 500 kbit/s for `auto` and for a
/// profile that does not load (which then fails with its own message where
/// it is loaded for the run).
pub fn bus_to_open(profile_spec: &str) -> PhysicalBus {
    let fallback = PhysicalBus::high_speed(500_000);
    match profile_spec {
        "auto" => fallback,
        spec => crate::profile::load(spec).map_or(fallback, |p| physical_bus(&p)),
    }
}

/// A profile's default bus as an adapter is opened for it.
pub fn physical_bus(p: &Profile) -> PhysicalBus {
    p.default_bus()
        .map_or(PhysicalBus::high_speed(p.bitrate), |b| {
            PhysicalBus::new(b.bitrate, b.kind)
        })
}

/// Loads the profile named on the command line; `auto` picks it from the
/// VIN, else from what the bus matched (`ident`), else the fallback.
pub fn choose_profile(
    spec: &str,
    vin: Option<&str>,
    ident: Option<&Identification>,
) -> Result<(Profile, ProfileChoice), DiagnoseError> {
    let (p, choice) = choose_profile_with(spec, vin, ident, &mut |s| {
        profile::load(s).map(std::sync::Arc::new)
    })?;
    Ok((std::sync::Arc::unwrap_or_clone(p), choice))
}

/// [`choose_profile`] with the profiles loaded by `load` (a batch loads
/// each once): a VIN always wins over a fingerprint; a VIN and a
/// fingerprint that disagree are both said.
pub fn choose_profile_with(
    spec: &str,
    vin: Option<&str>,
    ident: Option<&Identification>,
    load: &mut dyn FnMut(&str) -> Result<std::sync::Arc<Profile>, profile::ProfileError>,
) -> Result<(std::sync::Arc<Profile>, ProfileChoice), DiagnoseError> {
    if spec != "auto" {
        let p = load(spec)?;
        let choice = ProfileChoice {
            id: p.id.clone(),
            how: "given",
            reason: "given with --profile".to_owned(),
            vin: vin.map(str::to_owned),
            identified: None,
        };
        return Ok((p, choice));
    }
    let identified = ident.cloned();
    if let Some(vin) = vin {
        for source in profile::candidates() {
            let Ok(p) = load(&source) else {
                continue;
            };
            if p.matches_vin(vin) {
                let mut reason = format!(
                    "VIN {vin} matches profile {} ({} {} {}-{}: manufacturer code, model line and model year)",
                    p.id, p.make, p.model, p.years.0, p.years.1
                );
                if let Some(other) = ident
                    .and_then(Identification::profile)
                    .filter(|o| *o != p.id)
                {
                    reason.push_str(&format!(
                        "; the bus matches {other} instead ({}): the VIN wins, check which car this is",
                        ident.map(Identification::words).unwrap_or_default()
                    ));
                }
                let choice = ProfileChoice {
                    id: p.id.clone(),
                    how: "auto",
                    reason,
                    vin: Some(vin.to_owned()),
                    identified,
                };
                return Ok((p, choice));
            }
        }
    }
    let no_vin = match vin {
        Some(vin) => format!("VIN {vin} matches no vehicle profile"),
        None => "no VIN".to_owned(),
    };
    if let Some((id, ident)) = ident.and_then(|i| Some((i.profile()?, i))) {
        let p = load(id)?;
        let choice = ProfileChoice {
            id: p.id.clone(),
            how: "auto",
            reason: format!("{no_vin}; {}", ident.words()),
            vin: vin.map(str::to_owned),
            identified,
        };
        return Ok((p, choice));
    }
    let p = load(FALLBACK_PROFILE)?;
    let mut reason = format!(
        "{no_vin}: using {FALLBACK_PROFILE} (DTCs and voltage only, no trunk data); name a profile with --profile to check the trunk"
    );
    if let Some(i) = ident {
        reason.push_str(&format!("; {}", i.words()));
        let named: Vec<&str> = i
            .candidates
            .iter()
            .take(3)
            .map(|c| c.profile.as_str())
            .collect();
        if !named.is_empty() && !matches!(i.decision, crate::identify::Decision::Make { .. }) {
            reason.push_str(&format!(" (closest: {})", named.join(", ")));
        }
    }
    Ok((
        p,
        ProfileChoice {
            id: FALLBACK_PROFILE.to_owned(),
            how: "auto",
            reason,
            vin: vin.map(str::to_owned),
            identified,
        },
    ))
}

/// What the opening seconds of a capture match ([`crate::identify`]):
/// reads only the window identification needs.
pub fn capture_identification(
    capture: &CaptureSource<'_>,
    opts: ReadOptions,
    fingerprints: &[crate::identify::Fingerprint],
) -> Result<Identification, DiagnoseError> {
    Ok(capture_opening(capture, opts, fingerprints)?.1)
}

/// The opening window of a capture (what identification reads: 5 s or
/// 50,000 frames): what the bus matches, and a VIN if one is read in it.
pub fn capture_opening(
    capture: &CaptureSource<'_>,
    opts: ReadOptions,
    fingerprints: &[crate::identify::Fingerprint],
) -> Result<(Option<Vin>, Identification), DiagnoseError> {
    let mut reader = capture.open(opts)?;
    let mut heard = crate::identify::Heard::default();
    let mut scan = VinScanner::new();
    while let Some(frame) = reader.next_frame_ref()? {
        heard.push(frame);
        scan.feed(frame);
        if heard.full() {
            break;
        }
    }
    Ok((
        scan.vin().cloned(),
        crate::identify::identify(fingerprints, &heard),
    ))
}

// ------------------------------------------------------------------ replay

/// A recorded capture to replay: a file, or bytes already in memory (what
/// the Python binding is handed, or a capture fetched from an object store),
/// with the name its messages and the report's `source.name` use.
#[derive(Clone, Debug)]
pub enum CaptureSource<'a> {
    File(&'a Path),
    Bytes { name: &'a str, bytes: Arc<[u8]> },
}

impl CaptureSource<'_> {
    /// A reader from the start of the capture (`auto` opens it twice: its
    /// opening window, then the diagnosis).
    pub fn open(&self, opts: ReadOptions) -> Result<CaptureReader, CaptureError> {
        match self {
            CaptureSource::File(path) => CaptureReader::open(path, opts),
            CaptureSource::Bytes { name, bytes } => CaptureReader::from_reader(
                name,
                Box::new(std::io::Cursor::new(Arc::clone(bytes))),
                opts,
            ),
        }
    }
}

impl<'a> From<&'a Path> for CaptureSource<'a> {
    fn from(path: &'a Path) -> Self {
        CaptureSource::File(path)
    }
}

/// Diagnoses a recorded capture.
pub fn replay(
    capture: &CaptureSource<'_>,
    opts: ReadOptions,
    profile_spec: &str,
    observations: Observations,
    series: SeriesLimits,
) -> Result<(Profile, Report), DiagnoseError> {
    let fingerprints = std::sync::OnceLock::new();
    let (profile, report) = replay_choosing(
        capture,
        opts,
        profile_spec,
        observations,
        series,
        &|| fingerprints.get_or_init(crate::identify::fingerprints),
        &mut |vin, ident| choose_profile(profile_spec, vin, ident).map(|(p, c)| (Arc::new(p), c)),
    )
    .map_err(|(_, e)| e)?;
    Ok((Arc::unwrap_or_clone(profile), report))
}

/// Turns the VIN and what the bus matched into the profile to use
/// ([`choose_profile_with`] over some loader).
pub type Chooser<'a> = dyn FnMut(
        Option<&str>,
        Option<&Identification>,
    ) -> Result<(Arc<Profile>, ProfileChoice), DiagnoseError>
    + 'a;

/// Where a replay that chose its own profile failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplayStep {
    /// Reading the opening window (identification, the VIN).
    Opening,
    /// Choosing or loading the profile.
    Choosing,
    /// Replaying with this profile.
    Replaying(String),
}

/// Chooses the profile for `spec` (`choose` gets the VIN and what the bus
/// matched; `auto` only) and replays the capture with it, in one pass
/// where it can:
///
/// - a given profile: one pass;
/// - `auto`: the opening window names the car (its fingerprint, and a VIN
///   read in it); the replay then watches the diagnostic traffic for a VIN
///   as it goes. A VIN found later that chooses another profile (a VIN
///   always wins) replays the capture again with that one; one that
///   chooses the same profile only words the choice. Before, `auto` read
///   the whole capture once for the VIN and again for the diagnosis.
///
/// The report is what choosing with the capture's VIN up front gives.
pub fn replay_choosing<'f>(
    capture: &CaptureSource<'_>,
    opts: ReadOptions,
    spec: &str,
    observations: Observations,
    series: SeriesLimits,
    fingerprints: &dyn Fn() -> &'f [crate::identify::Fingerprint],
    choose: &mut Chooser<'_>,
) -> Result<(Arc<Profile>, Report), (ReplayStep, DiagnoseError)> {
    let replaying = |p: &Profile| {
        let id = p.id.clone();
        move |e| (ReplayStep::Replaying(id), e)
    };
    if spec != "auto" {
        let (p, c) = choose(None, None).map_err(|e| (ReplayStep::Choosing, e))?;
        let report =
            replay_with(capture, opts, &p, c, observations, series).map_err(replaying(&p))?;
        return Ok((p, report));
    }
    let (vin, ident) =
        capture_opening(capture, opts, fingerprints()).map_err(|e| (ReplayStep::Opening, e))?;
    let (p, c) = choose(vin.as_ref().map(Vin::as_str), Some(&ident))
        .map_err(|e| (ReplayStep::Choosing, e))?;
    if vin.is_some() {
        let report =
            replay_with(capture, opts, &p, c, observations, series).map_err(replaying(&p))?;
        return Ok((p, report));
    }
    let mut scan = VinScanner::new();
    let mut report = replay_scanning(
        capture,
        opts,
        &p,
        c,
        observations.clone(),
        series,
        Some(&mut scan),
    )
    .map_err(replaying(&p))?;
    let Some(late) = scan.vin() else {
        return Ok((p, report));
    };
    let (p2, c2) =
        choose(Some(late.as_str()), Some(&ident)).map_err(|e| (ReplayStep::Choosing, e))?;
    if p2.id == p.id {
        report.profile = c2;
        return Ok((p, report));
    }
    let report =
        replay_with(capture, opts, &p2, c2, observations, series).map_err(replaying(&p2))?;
    Ok((p2, report))
}

/// The VIN the capture carries anywhere, if any (the whole capture's
/// diagnostic traffic; `auto` replays watch for it as they go instead).
pub fn capture_vin(
    capture: &CaptureSource<'_>,
    opts: ReadOptions,
) -> Result<Option<Vin>, DiagnoseError> {
    let mut scan = VinScanner::new();
    let mut reader = capture.open(opts)?;
    // The VIN travels on the diagnostic ids only: the rest is counted by
    // the reader, not built.
    let mut census = Census::default();
    while let Some(frame) = reader.next_frame_of(&diagnostic_ids(), &mut census)? {
        if scan.feed(frame) {
            break;
        }
    }
    Ok(scan.vin().cloned())
}

/// The 11-bit ids a VIN is read on ([`crate::diag::ids::STANDARD`]).
fn diagnostic_ids() -> IdSet {
    let mut diagnostic = IdSet::new();
    for id in crate::diag::ids::STANDARD {
        diagnostic.insert(id);
    }
    diagnostic
}

/// Diagnoses a recorded capture with a profile already chosen (a batch
/// loads each distinct profile once, not once per capture).
pub fn replay_with(
    capture: &CaptureSource<'_>,
    opts: ReadOptions,
    profile: &Profile,
    choice: ProfileChoice,
    observations: Observations,
    series: SeriesLimits,
) -> Result<Report, DiagnoseError> {
    replay_scanning(capture, opts, profile, choice, observations, series, None)
}

/// [`replay_with`], the diagnostic traffic also fed to `vin` when given.
fn replay_scanning(
    capture: &CaptureSource<'_>,
    opts: ReadOptions,
    profile: &Profile,
    choice: ProfileChoice,
    observations: Observations,
    series: SeriesLimits,
    vin: Option<&mut VinScanner>,
) -> Result<Report, DiagnoseError> {
    let mut reader = capture.open(opts)?;
    let mut analyzer = Analyzer::new(profile);
    analyzer.set_series_limits(series);
    feed_capture_scanning(&mut reader, &mut analyzer, vin)?;
    let (evidence, stats) = analyzer.finish(observations);
    let mut notes = Vec::new();
    if evidence.frames_seen == 0 {
        notes.push("the capture holds no frames".to_owned());
    }
    notes.extend(off_connector_note(profile));
    match profile.bcm() {
        Some(bcm) if evidence.reachability.diag_requests == 0 => notes.push(format!(
            "no diagnostic request to the BCM (0x{}) is in the capture: DTCs and BCM data were not read",
            bcm.request_id
        )),
        _ => {}
    }
    let mut choice = choice;
    if choice.vin.is_none() {
        choice.vin = stats.vin.clone().map(String::from);
    }
    let source = SourceInfo {
        kind: "replay",
        name: reader.name().to_owned(),
        format: Some(reader.format().name()),
        frames: evidence.frames_seen,
        skipped_lines: reader.bad_lines(),
        analyzer: stats,
        notes,
        adapter: None,
    };
    Ok(Report::new(profile, choice, source, evidence))
}

/// Runs a whole capture through `analyzer`. The reader builds only the
/// frames of the ids the analyzer wants whole (the BCM's pair, the
/// broadcasts: on a saturated bus a few percent of the frames) and counts
/// the others per id; the analyzer gets those counts, and before each frame
/// how far the bus went in between. The evidence is exactly what feeding
/// every frame gives (a test compares the two on every bundled capture).
pub fn feed_capture(
    reader: &mut CaptureReader,
    analyzer: &mut Analyzer<'_>,
) -> Result<(), CaptureError> {
    feed_capture_scanning(reader, analyzer, None)
}

/// [`feed_capture`], and the diagnostic traffic (the frames
/// [`capture_vin`] reads) fed to `vin` as well. Those ids are then built
/// for the analyzer too instead of counted, which gives it the same
/// evidence (building any id is the same as counting it).
fn feed_capture_scanning(
    reader: &mut CaptureReader,
    analyzer: &mut Analyzer<'_>,
    mut vin: Option<&mut VinScanner>,
) -> Result<(), CaptureError> {
    let mut wanted = IdSet::new();
    for id in analyzer.wanted_standard_ids() {
        wanted.insert(id);
    }
    if vin.is_some() {
        for id in crate::diag::ids::STANDARD {
            wanted.insert(id);
        }
    }
    let mut census = Census::default();
    // `# press` lines: presses the person told the tool about, fed as they
    // come between the frames.
    let mut told = 0;
    let mut tell = |reader: &CaptureReader, analyzer: &mut Analyzer<'_>| {
        for a in reader.annotations().get(told..).unwrap_or_default() {
            analyzer.comment(&a.text);
        }
        told = reader.annotations().len();
    };
    while let Some(frame) = reader.next_frame_of(&wanted, &mut census)? {
        if let Some(t) = census.take_latest() {
            analyzer.time_seen(t);
        }
        if let Some(scan) = vin.as_deref_mut().filter(|_| is_diagnostic(frame.id)) {
            scan.feed(frame);
        }
        analyzer.feed(frame);
        tell(reader, analyzer);
    }
    if let Some(t) = census.take_latest() {
        analyzer.time_seen(t);
    }
    tell(reader, analyzer);
    for e in census.entries() {
        analyzer.counted(CanId::Standard(e.id), e.frames, e.first_us, e.last_us);
    }
    Ok(())
}

// ---------------------------------------------------------------- questions

/// The questions, not yet answered, whose answers would reorder or narrow
/// the leading verdicts (observations narrow the sets the bus cannot
/// separate).
pub fn questions(report: &Report) -> Vec<Question> {
    let o = &report.observations;
    // A fob press the tool saw answers "did you press the fob" by itself.
    let fob_press_seen = report
        .evidence
        .release_attempts
        .iter()
        .any(|a| a.input == profile::ReleaseInput::Fob);
    // The rules say which observations would change each leading verdict.
    let keys: Vec<ObservationKey> = report
        .verdicts
        .iter()
        .take(4)
        .flat_map(|v| v.asks().iter().copied())
        .filter(|k| *k != ObservationKey::FobPressed || !fob_press_seen)
        .collect();
    ObservationKey::ALL
        .into_iter()
        .filter(|k| keys.contains(k) && !k.is_answered(o))
        .map(ObservationKey::question)
        .map(|mut q| {
            if report.lid != profile::Lid::Trunk {
                q.text = report.lid.words(&q.text).into();
            }
            q
        })
        .collect()
}

/// What a run at the OBD connector cannot hear: the frames of buses the
/// profile places behind a gateway, and what the tool reads instead. `None`
/// when every frame's bus is at the connector.
pub fn off_connector_note(profile: &Profile) -> Option<String> {
    let off = profile.buses_off_connector();
    if off.is_empty() {
        return None;
    }
    let parts: Vec<String> = off
        .iter()
        .map(|(bus, words)| {
            let shown: Vec<&str> = words.iter().copied().filter(|w| *w != "other").collect();
            format!(
                "the {} frames are on the \"{}\" bus",
                and_list(&shown),
                bus.name
            )
        })
        .collect();
    let instead = match profile.bcm() {
        Some(b) => format!(
            "not at the OBD connector: reading the {} over {} instead (a tap on that bus shows the frames)",
            b.name,
            b.protocol.label()
        ),
        None => "not at the OBD connector: a tap on that bus is needed to see them".to_owned(),
    };
    Some(format!("{}, {instead}", parts.join("; ")))
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(words: &[&str]) -> String {
    match words {
        [] => "body".to_owned(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

pub use crate::evidence::{parse_told_press, told_press_line};
