//! Batch scans: the job list (from a jobs file, or captures named on the
//! command line and found in directories), its deterministic shards, and
//! running the jobs concurrently, handing each outcome to the caller as soon
//! as it is known.
//!
//! Owns: the jobs-file format, which files in a directory are captures, the
//! `K/N` partition, the worker threads (replays are CPU-bound: one thread
//! each; live jobs on one interface share one lane so they never overlap),
//! and the cache that loads each distinct profile once per batch.
//!
//! Must NOT know about JSON, CSV, progress bars, terminals or exit codes
//! (that is `cli::batch`), nor diagnose anything itself (that is
//! `diagnose`: every job is exactly what `trunkdiag diagnose` would do).

use std::collections::HashMap;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;

use crate::capture::ReadOptions;
use crate::diagnose::live::{self, LivePlan, Unattended};
use crate::diagnose::{self, DiagnoseError, ProfileChoice, Report};
use crate::evidence::{ObservationError, Observations, SeriesLimits};
use crate::profile::Profile;
use crate::tester::Shutdown;
use crate::transport::IfaceSpec;

/// Why a batch could not start (a bad job list, not a failing job: a job
/// that fails is reported in its outcome and the batch goes on).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    #[error("cannot read the jobs file {path}: {source}")]
    ReadJobs {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("jobs file {path}: {message}")]
    JobsSyntax { path: PathBuf, message: String },
    #[error("jobs file {path}: job {number}: {message}")]
    BadJob {
        path: PathBuf,
        /// 1-based, in file order.
        number: usize,
        message: &'static str,
    },
    #[error("--shard {0:?}: expected K/N with 1 <= K <= N (e.g. 2/8)")]
    Shard(String),
}

// --------------------------------------------------------------------- jobs

/// Where a job's frames come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobSource {
    /// A capture file (replay).
    Capture(PathBuf),
    /// A SocketCAN interface (live, unattended).
    Iface(String),
}

/// One diagnosis to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// Position in the whole job list, before sharding: stable across
    /// shards, so merged results can be put back in order.
    pub index: usize,
    /// The job's name, else its capture path or interface as written.
    pub label: String,
    pub source: JobSource,
    /// A bundled profile name, a path, or `auto`.
    pub profile: String,
    /// `KEY=VALUE` observations, as `diagnose --observe` takes them.
    pub observe: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JobsFile {
    #[serde(default)]
    job: Vec<JobEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JobEntry {
    capture: Option<String>,
    iface: Option<String>,
    profile: Option<String>,
    #[serde(default)]
    observe: Vec<String>,
    name: Option<String>,
}

/// Reads a jobs file (`[[job]]` tables: `capture` or `iface`, `profile`
/// (default `auto`), `observe`, `name`). Relative capture and profile paths
/// are relative to the jobs file's directory, so a jobs file can live next
/// to its captures and be run from anywhere.
pub fn load_jobs_file(path: &Path) -> Result<Vec<Job>, BatchError> {
    let text = std::fs::read_to_string(path).map_err(|source| BatchError::ReadJobs {
        path: path.to_owned(),
        source,
    })?;
    let base = path.parent().unwrap_or(Path::new(""));
    parse_jobs(&text, path, base)
}

/// Parses jobs-file text; `path` only names the file in errors.
pub fn parse_jobs(text: &str, path: &Path, base: &Path) -> Result<Vec<Job>, BatchError> {
    let file: JobsFile = toml::from_str(text).map_err(|e| BatchError::JobsSyntax {
        path: path.to_owned(),
        message: e.message().to_owned(),
    })?;
    let mut jobs = Vec::with_capacity(file.job.len());
    for (index, entry) in file.job.into_iter().enumerate() {
        let bad = |message: &'static str| BatchError::BadJob {
            path: path.to_owned(),
            number: index + 1,
            message,
        };
        let (source, written) = match (entry.capture, entry.iface) {
            (Some(c), None) => (JobSource::Capture(base.join(&c)), c),
            (None, Some(i)) => (JobSource::Iface(i.clone()), i),
            (Some(_), Some(_)) => return Err(bad("expected either capture or iface, not both")),
            (None, None) => return Err(bad("expected capture = \"FILE\" or iface = \"IF\"")),
        };
        let profile = match entry.profile {
            Some(p) if crate::profile::is_path(&p) && Path::new(&p).is_relative() => {
                base.join(&p).display().to_string()
            }
            Some(p) => p,
            None => "auto".to_owned(),
        };
        jobs.push(Job {
            index,
            label: entry.name.unwrap_or(written),
            source,
            profile,
            observe: entry.observe,
        });
    }
    Ok(jobs)
}

/// Files inside a directory that are obviously not captures: expected
/// results, notes, jobs files, tables (a `.csv` that is a SavvyCAN log is a
/// capture). Skipped silently; any other file is a job, and one that is not
/// a capture fails as one.
const SIDECAR_EXTENSIONS: [&str; 8] = ["json", "md", "txt", "toml", "csv", "yaml", "yml", "html"];

/// The capture jobs for files and directories named on the command line.
/// A directory stands for every capture in it, recursively, in sorted
/// order; hidden entries and sidecar files inside directories are skipped
/// (a file named directly is always a job). Paths that cannot be read
/// become jobs too, and fail as such.
pub fn capture_jobs(inputs: &[PathBuf], profile: &str, observe: &[String]) -> Vec<Job> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            walk(input, &mut files);
        } else {
            files.push(input.clone());
        }
    }
    files
        .into_iter()
        .enumerate()
        .map(|(index, path)| Job {
            index,
            label: path.display().to_string(),
            source: JobSource::Capture(path),
            profile: profile.to_owned(),
            observe: observe.to_vec(),
        })
        .collect()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(_) => {
            // Reported by the job that tries to read it.
            out.push(dir.to_owned());
            return;
        }
    };
    entries.sort();
    for path in entries {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if name.as_deref().is_none_or(|n| n.starts_with('.')) {
            continue;
        }
        if path.is_dir() {
            walk(&path, out);
        } else if !is_sidecar(&path) {
            out.push(path);
        }
    }
}

fn is_sidecar(path: &Path) -> bool {
    let Some(ext) = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
    else {
        return false;
    };
    // An extension a capture format also uses (`.csv`: SavvyCAN) is a
    // capture when the content is that format; other tables are sidecars.
    SIDECAR_EXTENSIONS.contains(&ext.as_str())
        && !(crate::capture::format::is_capture_extension(&ext)
            && crate::capture::CaptureReader::open(path, Default::default())
                .is_ok_and(|r| r.format().uses_extension(&ext)))
}

// -------------------------------------------------------------------- shard

/// The K-th (1-based) of N slices of a job list: job `i` belongs to shard
/// `i % N + 1`. Round-robin rather than contiguous blocks, so slow and
/// fast captures (often grouped by directory) spread over the shards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    k: usize,
    n: usize,
}

impl Shard {
    pub fn new(k: usize, n: usize) -> Option<Shard> {
        (k >= 1 && k <= n).then_some(Shard { k, n })
    }

    pub fn contains(&self, index: usize) -> bool {
        index % self.n + 1 == self.k
    }

    /// The jobs of this shard, in order.
    pub fn select(&self, jobs: Vec<Job>) -> Vec<Job> {
        jobs.into_iter()
            .filter(|j| self.contains(j.index))
            .collect()
    }
}

impl FromStr for Shard {
    type Err = BatchError;
    fn from_str(s: &str) -> Result<Shard, BatchError> {
        let bad = || BatchError::Shard(s.to_owned());
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let k = k.trim().parse().map_err(|_| bad())?;
        let n = n.trim().parse().map_err(|_| bad())?;
        Shard::new(k, n).ok_or_else(bad)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

// ---------------------------------------------------------------------- run

/// How every job runs.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Worker threads (at least 1).
    pub workers: usize,
    /// Replay jobs.
    pub read: ReadOptions,
    /// Live jobs: how long to listen for presses.
    pub listen: Duration,
    /// Live jobs: how long to wait for the bus and the BCM.
    pub timeout: Duration,
}

/// One finished job.
#[derive(Debug)]
pub struct JobOutcome {
    pub index: usize,
    pub label: String,
    /// The profile used, else (the job failed before choosing one) the
    /// profile asked for.
    pub profile: String,
    /// The report, or what made the job fail.
    pub result: Result<Report, JobError>,
}

/// Why one job failed (the batch goes on; the outcome carries it).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    #[error("observe {text:?}: {source}")]
    Observation {
        text: String,
        #[source]
        source: ObservationError,
    },
    #[error(transparent)]
    Diagnose(#[from] DiagnoseError),
    /// The job's profile could not be chosen; every job asking for the same
    /// profile shares this one failure.
    #[error("{0}")]
    Profile(Arc<DiagnoseError>),
    /// A bug: the diagnosis panicked; the batch goes on.
    #[error("internal error: the diagnosis panicked (a bug; please report it with this input)")]
    Panicked,
}

/// Runs the jobs on `opts.workers` threads and calls `on_done` on the
/// calling thread for each job as it finishes (so the caller is the one
/// writer of results). When `on_done` fails the batch stops after the jobs
/// already running and the error is returned.
pub fn run<E>(
    jobs: &[Job],
    opts: &RunOptions,
    mut on_done: impl FnMut(JobOutcome) -> Result<(), E>,
) -> Result<(), E> {
    let lanes = lanes(jobs);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let cache = ProfileCache::default();
    let workers = opts.workers.clamp(1, lanes.len().max(1));
    let (tx, rx) = mpsc::channel::<JobOutcome>();
    std::thread::scope(|s| {
        for _ in 0..workers {
            let tx = tx.clone();
            let (lanes, next, stop, cache) = (&lanes, &next, &stop, &cache);
            s.spawn(move || {
                while let Some(lane) = lanes.get(next.fetch_add(1, Ordering::Relaxed)) {
                    for job in lane {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        if tx.send(run_guarded(job, opts, cache)).is_err() {
                            return;
                        }
                    }
                }
            });
        }
        drop(tx);
        for outcome in rx.iter() {
            if let Err(e) = on_done(outcome) {
                stop.store(true, Ordering::Relaxed);
                return Err(e);
            }
        }
        Ok(())
    })
}

/// Units of work, in job order: each replay job alone; all live jobs on one
/// interface together, in order, so one worker runs them one after the
/// other and two never talk to the same BCM at once.
fn lanes(jobs: &[Job]) -> Vec<Vec<&Job>> {
    let mut lanes: Vec<Vec<&Job>> = Vec::new();
    let mut by_iface: HashMap<&str, usize> = HashMap::new();
    for job in jobs {
        match &job.source {
            JobSource::Capture(_) => lanes.push(vec![job]),
            JobSource::Iface(i) => match by_iface.get(i.as_str()) {
                Some(&lane) => {
                    if let Some(l) = lanes.get_mut(lane) {
                        l.push(job);
                    }
                }
                None => {
                    by_iface.insert(i, lanes.len());
                    lanes.push(vec![job]);
                }
            },
        }
    }
    lanes
}

/// A panic is a bug, but one bad capture must not take the batch down with
/// it: it becomes that job's error.
fn run_guarded(job: &Job, opts: &RunOptions, cache: &ProfileCache) -> JobOutcome {
    let result = catch_unwind(AssertUnwindSafe(|| run_job(job, opts, cache)))
        .unwrap_or_else(|_| Err(JobFailure::early(JobError::Panicked)));
    match result {
        Ok(report) => JobOutcome {
            index: job.index,
            label: job.label.clone(),
            profile: report.profile.id.clone(),
            result: Ok(report),
        },
        Err(JobFailure { profile, error }) => JobOutcome {
            index: job.index,
            label: job.label.clone(),
            profile: profile.unwrap_or_else(|| job.profile.clone()),
            result: Err(error),
        },
    }
}

/// A job's failure, with the profile id when one was chosen before it.
struct JobFailure {
    profile: Option<String>,
    error: JobError,
}

impl JobFailure {
    /// A failure before any profile was chosen.
    fn early(error: impl Into<JobError>) -> JobFailure {
        JobFailure {
            profile: None,
            error: error.into(),
        }
    }
}

type JobResult = Result<Report, JobFailure>;

fn run_job(job: &Job, opts: &RunOptions, cache: &ProfileCache) -> JobResult {
    let mut observations = Observations::default();
    for text in &job.observe {
        observations.apply(text).map_err(|source| {
            let text = text.clone();
            JobFailure::early(JobError::Observation { text, source })
        })?;
    }
    match &job.source {
        JobSource::Capture(path) => diagnose::replay_choosing(
            &path.as_path().into(),
            opts.read,
            &job.profile,
            observations,
            SeriesLimits::BOUNDED,
            &|| cache.fingerprints(),
            &mut |vin, ident| cache.choose(&job.profile, vin, ident),
        )
        .map(|(_, report)| report)
        .map_err(|(step, e)| match step {
            diagnose::ReplayStep::Opening => JobFailure::early(e),
            diagnose::ReplayStep::Choosing => JobFailure::early(JobError::Profile(Arc::new(e))),
            diagnose::ReplayStep::Replaying(profile) => JobFailure {
                profile: Some(profile),
                error: e.into(),
            },
        }),
        JobSource::Iface(iface) => {
            live_job(iface, &job.profile, observations, opts).map_err(JobFailure::early)
        }
    }
}

/// An unattended live diagnosis (nobody is asked anything; no active test),
/// on its own single-threaded runtime.
fn live_job(
    iface: &str,
    profile: &str,
    observations: Observations,
    opts: &RunOptions,
) -> Result<Report, DiagnoseError> {
    let spec = IfaceSpec::parse(iface)?;
    let bus = crate::diagnose::bus_to_open(profile);
    let plan = LivePlan {
        listen: opts.listen,
        timeout: opts.timeout,
        actuate: false,
        observations,
        fail_on_silence: true,
        told: None,
        listen_only: false,
        assume_stopped: false,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(DiagnoseError::Runtime)?;
    rt.block_on(async {
        live::run(
            || spec.open(bus),
            spec.name(),
            ("live", iface.to_owned()),
            profile,
            &plan,
            &mut Unattended { yes: false },
            None,
            Shutdown::on_signals(),
        )
        .await
    })
    .map(|(_, report)| report)
}

/// A profile chosen for a (spec, VIN), or why it could not be.
/// Profiles already loaded in this batch, by name or path, and the
/// fingerprints `auto` matches captures against (made once): each job
/// chooses its own profile (its VIN, its bus) from them.
#[derive(Default)]
struct ProfileCache {
    loaded: Mutex<HashMap<String, Arc<Profile>>>,
    fingerprints: std::sync::OnceLock<Vec<crate::identify::Fingerprint>>,
}

impl ProfileCache {
    fn fingerprints(&self) -> &[crate::identify::Fingerprint] {
        self.fingerprints.get_or_init(crate::identify::fingerprints)
    }

    fn choose(
        &self,
        spec: &str,
        vin: Option<&str>,
        ident: Option<&crate::identify::Identification>,
    ) -> Result<(Arc<Profile>, ProfileChoice), DiagnoseError> {
        diagnose::choose_profile_with(spec, vin, ident, &mut |s| self.load(s))
    }

    /// A profile loaded once per batch; one that fails to load fails every
    /// job that asks for it, with the same message.
    fn load(&self, spec: &str) -> Result<Arc<Profile>, crate::profile::ProfileError> {
        if let Some(hit) = self
            .loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(spec)
        {
            return Ok(Arc::clone(hit));
        }
        let p = Arc::new(crate::profile::load(spec)?);
        self.loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(spec.to_owned(), Arc::clone(&p));
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jobs_of(text: &str) -> Result<Vec<Job>, BatchError> {
        parse_jobs(text, Path::new("jobs.toml"), Path::new("/base"))
    }

    #[test]
    fn jobs_file_fields_defaults_and_relative_paths() {
        let jobs = jobs_of(
            r#"
            [[job]]
            capture = "captures/a.log"
            profile = "nissan-altima-2013-2018"
            observe = ["click=no"]
            name = "bay 3"

            [[job]]
            iface = "can0"

            [[job]]
            capture = "/abs/b.log"
            profile = "mine/p.toml"
            "#,
        )
        .unwrap();
        assert_eq!(jobs.len(), 3);
        assert_eq!(jobs[0].label, "bay 3");
        assert_eq!(
            jobs[0].source,
            JobSource::Capture(PathBuf::from("/base/captures/a.log"))
        );
        assert_eq!(jobs[0].observe, ["click=no"]);
        assert_eq!(jobs[1].label, "can0");
        assert_eq!(jobs[1].profile, "auto");
        assert_eq!(jobs[1].source, JobSource::Iface("can0".into()));
        assert_eq!(jobs[2].label, "/abs/b.log");
        assert_eq!(jobs[2].profile, "/base/mine/p.toml");
        assert_eq!(jobs.iter().map(|j| j.index).collect::<Vec<_>>(), [0, 1, 2]);
    }

    #[test]
    fn bad_jobs_files_name_the_job_and_what_was_expected() {
        for (text, want) in [
            ("[[job]]\nprofile = \"x\"\n", "job 1: expected capture"),
            (
                "[[job]]\ncapture = \"a\"\n[[job]]\ncapture = \"a\"\niface = \"can0\"\n",
                "job 2: expected either capture or iface",
            ),
            (
                "[[job]]\ncapture = \"a\"\nbogus = 1\n",
                "unknown field `bogus`",
            ),
            ("[[job]\n", "jobs.toml"),
        ] {
            let e = jobs_of(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
        assert!(jobs_of("").unwrap().is_empty());
    }

    #[test]
    fn shard_parsing() {
        assert_eq!("2/8".parse::<Shard>().unwrap(), Shard { k: 2, n: 8 });
        assert_eq!("1/1".parse::<Shard>().unwrap().to_string(), "1/1");
        for bad in ["0/4", "5/4", "1/0", "1", "a/b", "1/2/3", "-1/2", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        /// Every job is in exactly one shard, and each shard keeps job order.
        #[test]
        fn shards_partition_the_job_list(len in 0usize..200, n in 1usize..20) {
            let jobs: Vec<Job> = (0..len).map(|i| Job {
                index: i,
                label: i.to_string(),
                source: JobSource::Capture(PathBuf::from(i.to_string())),
                profile: "auto".into(),
                observe: vec![],
            }).collect();
            let mut seen = vec![0u32; len];
            for k in 1..=n {
                let part = Shard::new(k, n).unwrap().select(jobs.clone());
                proptest::prop_assert!(part.windows(2).all(|w| w[0].index < w[1].index));
                for j in part { seen[j.index] += 1; }
            }
            proptest::prop_assert!(seen.iter().all(|&c| c == 1));
        }
    }

    #[test]
    fn live_jobs_on_one_interface_share_a_lane_in_order() {
        let jobs = jobs_of(
            r#"
            [[job]]
            iface = "can0"
            name = "a"
            [[job]]
            capture = "x.log"
            [[job]]
            iface = "can1"
            [[job]]
            iface = "can0"
            name = "b"
            "#,
        )
        .unwrap();
        let lanes: Vec<Vec<usize>> = lanes(&jobs)
            .iter()
            .map(|l| l.iter().map(|j| j.index).collect())
            .collect();
        assert_eq!(lanes, vec![vec![0, 3], vec![1], vec![2]]);
    }

    #[test]
    fn directories_expand_sorted_and_recursively_without_sidecars() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("b/c")).unwrap();
        for f in [
            "z.log",
            "a.pcap",
            "a.expect.json",
            "README.md",
            ".hidden.log",
            "b/c/x.log.gz",
            "b/notes.txt",
            "b/odd",
        ] {
            std::fs::write(d.join(f), "").unwrap();
        }
        let named = d.join("README.md");
        let jobs = capture_jobs(&[d.to_owned(), named.clone()], "auto", &[]);
        let got: Vec<PathBuf> = jobs
            .iter()
            .map(|j| match &j.source {
                JobSource::Capture(p) => p.strip_prefix(d).unwrap().to_owned(),
                JobSource::Iface(_) => unreachable!(),
            })
            .collect();
        let want: Vec<PathBuf> = ["a.pcap", "b/c/x.log.gz", "b/odd", "z.log", "README.md"]
            .iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(got, want);
    }
}
