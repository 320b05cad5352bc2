//! The Python module `trunkdiag`: the CLI's diagnosis of a capture, its
//! capture readers, `capture signals` and the profile list, for analysis
//! code (notebooks, pandas, Dask) that would otherwise spawn the CLI and
//! parse its output.
//!
//! Owns: turning Python arguments into the library's, the library's errors
//! into typed exceptions (the CLI's message, the file and the line), and
//! letting go of the interpreter (`Python::detach`, formerly
//! `allow_threads`) around every piece of work, so Python threads diagnose
//! in parallel.
//!
//! Must NOT diagnose, decode or word anything itself: `diagnose` returns
//! the document `diagnose --json` prints, made by the same function
//! (`cli::diagnose::json_document`) and read by Python's own `json`, and
//! `signals` the lines of `capture signals --json`. A panic below is caught
//! here and raised as `InternalError`: it never unwinds into the
//! interpreter.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, TryLockError};

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyMapping};

use trunkdiag::capture::{CaptureReader, Format, ReadOptions, FORMATS};
use trunkdiag::cli::CliError;
use trunkdiag::diagnose::{CaptureSource, DiagnoseError};

create_exception!(
    trunkdiag,
    Error,
    PyException,
    "A failed run: the message is the CLI's (exit code 2); `place` is where \
     (file:line when the failure is on a line), `file` and `line` its parts \
     (None when unknown)."
);
create_exception!(
    trunkdiag,
    CaptureError,
    Error,
    "A capture that cannot be read: missing, of no known format, or \
     malformed at `place` (file:line, or file: packet N / block N / object N)."
);
create_exception!(
    trunkdiag,
    ProfileError,
    Error,
    "A profile that cannot be loaded: unknown name, unreadable file, or a \
     problem at `place` (file:line:column)."
);
create_exception!(
    trunkdiag,
    ObservationError,
    Error,
    "An observation that is not KEY=VALUE with a known key and value."
);
create_exception!(
    trunkdiag,
    InternalError,
    Error,
    "A bug in trunkdiag (it panicked on this input); please report it with \
     the input."
);

/// Where an error is, for the exception's attributes.
#[derive(Default)]
struct Place {
    file: Option<String>,
    line: Option<u64>,
    place: Option<String>,
}

/// The typed exception for a failure, its text the CLI's (`trunkdiag:
/// error: TEXT`).
fn raise(py: Python<'_>, e: &CliError) -> PyErr {
    let text = e.to_string();
    let capture = match e {
        CliError::Capture(c) | CliError::Diagnose(DiagnoseError::Capture(c)) => Some(c),
        _ => None,
    };
    let profile = match e {
        CliError::Profile(p) | CliError::Diagnose(DiagnoseError::Profile(p)) => Some(p),
        _ => None,
    };
    let (err, place) = if let Some(c) = capture {
        let place = Place {
            file: Some(c.file().to_owned()),
            line: c.line(),
            place: Some(c.place()),
        };
        (CaptureError::new_err(text), place)
    } else if let Some(p) = profile {
        (ProfileError::new_err(text), profile_place(p))
    } else if matches!(e, CliError::Observation { .. }) {
        (ObservationError::new_err(text), Place::default())
    } else {
        (Error::new_err(text), Place::default())
    };
    let value = err.value(py);
    // Attributes on a fresh exception of our own class cannot fail.
    let _ = value.setattr("file", place.file);
    let _ = value.setattr("line", place.line);
    let _ = value.setattr("place", place.place);
    err
}

fn profile_place(p: &trunkdiag::profile::ProfileError) -> Place {
    use trunkdiag::profile::ProfileError as P;
    match p {
        P::Io { path, .. } => Place {
            file: Some(path.clone()),
            line: None,
            place: Some(path.clone()),
        },
        P::Invalid { problems, .. } => match problems.first() {
            Some(first) => Place {
                file: Some(first.path.clone()),
                line: u64::try_from(first.line).ok(),
                place: Some(format!("{}:{}:{}", first.path, first.line, first.column)),
            },
            None => Place::default(),
        },
        _ => Place::default(),
    }
}

/// Runs `work` with the interpreter let go (other Python threads run
/// meanwhile); a panic in it becomes `InternalError`, never an unwind
/// across the FFI.
fn off_interpreter<T: Send>(
    py: Python<'_>,
    work: impl FnOnce() -> Result<T, CliError> + Send,
) -> PyResult<T> {
    let outcome = py.detach(|| catch_unwind(AssertUnwindSafe(work)));
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(raise(py, &e)),
        Err(_) => Err(InternalError::new_err(
            "internal error: trunkdiag panicked on this input (a bug; please report it with the input)",
        )),
    }
}

/// A capture argument: a path (`str` or `os.PathLike`), or the capture's
/// bytes (`bytes`, `bytearray`) with the name messages give it.
enum CaptureArg {
    File(PathBuf),
    Bytes { name: String, bytes: Arc<[u8]> },
}

impl CaptureArg {
    fn of(
        capture: &Bound<'_, PyAny>,
        format: Option<&str>,
        name: Option<String>,
    ) -> PyResult<CaptureArg> {
        let format = format.map(format_named).transpose()?;
        let bytes: Option<Vec<u8>> = if let Ok(b) = capture.cast::<PyBytes>() {
            Some(b.as_bytes().to_vec())
        } else if let Ok(b) = capture.cast::<PyByteArray>() {
            Some(b.to_vec())
        } else {
            None
        };
        let arg = match bytes {
            Some(bytes) => CaptureArg::Bytes {
                name: name.unwrap_or_else(|| "<bytes>".to_owned()),
                bytes: bytes.into(),
            },
            None => match capture.extract::<PathBuf>() {
                Ok(path) => CaptureArg::File(path),
                Err(_) => {
                    return Err(PyTypeError::new_err(
                        "capture: expected a path (str or os.PathLike) or the capture's bytes",
                    ))
                }
            },
        };
        if let Some(want) = format {
            arg.check_format(capture.py(), want)?;
        }
        Ok(arg)
    }

    fn source(&self) -> CaptureSource<'_> {
        match self {
            CaptureArg::File(path) => CaptureSource::File(path),
            CaptureArg::Bytes { name, bytes } => CaptureSource::Bytes {
                name,
                bytes: Arc::clone(bytes),
            },
        }
    }

    /// The format is found from the content, as the CLI finds it; a format
    /// named by the caller must be the one found.
    fn check_format(&self, py: Python<'_>, want: Format) -> PyResult<()> {
        let found = off_interpreter(py, || {
            Ok(self.source().open(ReadOptions::default())?.format())
        })?;
        if found == want {
            return Ok(());
        }
        let name = match self {
            CaptureArg::File(path) => path.display().to_string(),
            CaptureArg::Bytes { name, .. } => name.clone(),
        };
        let err = CaptureError::new_err(format!(
            "{name}: expected a {} capture (format={:?}), found a {} capture",
            want.info().title,
            want.name(),
            found.info().title
        ));
        let value = err.value(py);
        value.setattr("file", &name)?;
        value.setattr("line", py.None())?;
        value.setattr("place", &name)?;
        Err(err)
    }
}

fn format_named(name: &str) -> PyResult<Format> {
    Format::from_name(name).ok_or_else(|| {
        let known: Vec<&str> = FORMATS.iter().map(|f| f.name).collect();
        PyValueError::new_err(format!(
            "format={name:?}: expected one of {}",
            known.join(", ")
        ))
    })
}

/// `{"click": "yes", "lid-closed": True}` as `--observe` texts, in order
/// (`True`/`False` are yes/no).
fn observe_texts(observe: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<String>> {
    let Some(observe) = observe else {
        return Ok(Vec::new());
    };
    let mapping = observe
        .cast::<PyMapping>()
        .map_err(|_| PyTypeError::new_err("observe: expected a dict of KEY: VALUE"))?;
    let mut texts = Vec::new();
    for item in mapping.items()?.iter() {
        let (key, value): (String, Bound<'_, PyAny>) = item.extract()?;
        let value = match value.extract::<bool>() {
            Ok(true) => "yes".to_owned(),
            Ok(false) => "no".to_owned(),
            Err(_) => value.str()?.to_string(),
        };
        texts.push(format!("{key}={value}"));
    }
    Ok(texts)
}

fn read_options(lenient: bool, byte_swapped_ids: bool) -> ReadOptions {
    ReadOptions {
        lenient,
        byte_swapped_ids,
    }
}

fn json_value<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import("json")?.call_method1("loads", (text,))
}

/// Diagnoses a capture, as `trunkdiag diagnose --replay CAPTURE --json
/// --no-prompt` does, and returns the same document as a dict.
///
/// `capture`: a path, or the capture's bytes (`name` is what messages and
/// `source.name` call them; `format`, when given, must be the format found
/// in the content). `profile`: a bundled name, a .toml path, or "auto"
/// (from the capture's VIN). `observe`: what was seen, as `--observe`
/// takes it, e.g. `{"click": "no", "key-blade-opens": "yes"}`.
///
/// Raises CaptureError, ProfileError or ObservationError with the CLI's
/// message and where.
#[pyfunction]
#[pyo3(signature = (capture, profile = "auto", observe = None, *, format = None, name = None, lenient = false, byte_swapped_ids = false, full_series = false))]
#[allow(clippy::too_many_arguments)]
fn diagnose<'py>(
    py: Python<'py>,
    capture: &Bound<'py, PyAny>,
    profile: &str,
    observe: Option<&Bound<'py, PyAny>>,
    format: Option<&str>,
    name: Option<String>,
    lenient: bool,
    byte_swapped_ids: bool,
    full_series: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let arg = CaptureArg::of(capture, format, name)?;
    let observe = observe_texts(observe)?;
    let opts = read_options(lenient, byte_swapped_ids);
    let text = off_interpreter(py, || {
        let observations = trunkdiag::cli::diagnose::observations(&observe)?;
        let (_, report) = trunkdiag::cli::diagnose::replay_report(
            &arg.source(),
            opts,
            profile,
            observations,
            full_series,
        )?;
        Ok(trunkdiag::cli::diagnose::json_document(&report)?)
    })?;
    json_value(py, &text)
}

/// Frames read ahead with the interpreter let go, handed out one by one.
const READ_AHEAD: usize = 4096;

/// A frame as Python gets it: `(time, id, extended, data)`.
type PyFrame<'py> = (f64, u32, bool, Bound<'py, PyBytes>);

/// One frame read ahead.
struct Frame {
    t_us: u64,
    id: u32,
    extended: bool,
    data: Vec<u8>,
}

struct Frames {
    reader: Option<CaptureReader>,
    ready: VecDeque<Frame>,
    /// The error that ended the reader, raised once the frames before it
    /// are handed out.
    failed: Option<CliError>,
}

impl Frames {
    /// Reads up to `READ_AHEAD` frames.
    fn fill(&mut self) -> Result<(), CliError> {
        let Some(reader) = self.reader.as_mut() else {
            return Ok(());
        };
        while self.ready.len() < READ_AHEAD {
            match reader.next_frame_ref() {
                Ok(Some(f)) => self.ready.push_back(Frame {
                    t_us: f.timestamp_us,
                    id: f.id.raw(),
                    extended: f.id.is_extended(),
                    data: f.data().to_vec(),
                }),
                Ok(None) => {
                    self.reader = None;
                    break;
                }
                Err(e) => {
                    self.reader = None;
                    self.failed = Some(e.into());
                    break;
                }
            }
        }
        Ok(())
    }
}

/// The frames of a capture, in file order: `(time, id, extended, data)`
/// with time in seconds (float; the capture's own clock, since the UNIX
/// epoch for recordings), the CAN id, whether it is a 29-bit id, and the
/// payload bytes (empty for remote frames). Every format the CLI reads,
/// plain or gzip-compressed. A malformed record raises CaptureError (with
/// its place) after the frames before it.
#[pyclass(module = "trunkdiag")]
struct FrameReader {
    frames: Mutex<Frames>,
    #[pyo3(get)]
    format: &'static str,
}

#[pymethods]
impl FrameReader {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<PyFrame<'py>>> {
        // Waiting for the lock while attached would deadlock with a thread
        // that holds it detached: two threads on one reader is an error.
        let mut guard = match self.frames.try_lock() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => {
                return Err(PyRuntimeError::new_err(
                    "this capture's frames are being read by another thread",
                ))
            }
        };
        if guard.ready.is_empty() {
            let frames: &mut Frames = &mut guard;
            off_interpreter(py, || frames.fill())?;
        }
        match guard.ready.pop_front() {
            Some(f) => Ok(Some((
                f.t_us as f64 / 1e6,
                f.id,
                f.extended,
                PyBytes::new(py, &f.data),
            ))),
            None => match guard.failed.take() {
                Some(e) => Err(raise(py, &e)),
                None => Ok(None),
            },
        }
    }
}

/// The frames of a capture (see FrameReader), as `trunkdiag capture cat`
/// reads them. `capture`: a path, or bytes (with `format` and `name` as
/// for diagnose).
#[pyfunction]
#[pyo3(signature = (capture, *, format = None, name = None, lenient = false, byte_swapped_ids = false))]
fn read_capture(
    py: Python<'_>,
    capture: &Bound<'_, PyAny>,
    format: Option<&str>,
    name: Option<String>,
    lenient: bool,
    byte_swapped_ids: bool,
) -> PyResult<FrameReader> {
    let arg = CaptureArg::of(capture, format, name)?;
    let opts = read_options(lenient, byte_swapped_ids);
    let reader = off_interpreter(py, || Ok(arg.source().open(opts)?))?;
    Ok(FrameReader {
        format: reader.format().name(),
        frames: Mutex::new(Frames {
            reader: Some(reader),
            ready: VecDeque::new(),
            failed: None,
        }),
    })
}

/// Every value and change of the profile's signals in a capture: the
/// lines of `trunkdiag capture signals CAPTURE --profile PROFILE --json`,
/// as a list of dicts (t, at, id, signal, role, value, value_name, unit,
/// previous, level).
#[pyfunction]
#[pyo3(signature = (capture, profile, *, format = None, name = None, lenient = false, byte_swapped_ids = false))]
fn signals<'py>(
    py: Python<'py>,
    capture: &Bound<'py, PyAny>,
    profile: &str,
    format: Option<&str>,
    name: Option<String>,
    lenient: bool,
    byte_swapped_ids: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let arg = CaptureArg::of(capture, format, name)?;
    let opts = read_options(lenient, byte_swapped_ids);
    let text = off_interpreter(py, || {
        let profile = trunkdiag::profile::load(profile)?;
        let mut reader = arg.source().open(opts)?;
        let mut lines = Vec::new();
        trunkdiag::cli::signals::each_change(&mut reader, &profile, |l| {
            lines.push(l);
            Ok::<(), CliError>(())
        })?;
        Ok(serde_json::to_string(&lines)?)
    })?;
    json_value(py, &text)
}

/// The profiles `trunkdiag profiles list --json` lists (bundled, then
/// those in TRUNKDIAG_PROFILES), as a list of dicts.
#[pyfunction]
fn profiles(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let text = off_interpreter(py, || {
        Ok(serde_json::to_string(&trunkdiag::profile::list())?)
    })?;
    json_value(py, &text)
}

/// Why won't this trunk open? trunkdiag's diagnosis of CAN captures: the
/// same library and the same JSON document as the `trunkdiag` CLI.
#[pymodule]
#[pyo3(name = "trunkdiag")]
fn trunkdiag_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("Error", py.get_type::<Error>())?;
    m.add("CaptureError", py.get_type::<CaptureError>())?;
    m.add("ProfileError", py.get_type::<ProfileError>())?;
    m.add("ObservationError", py.get_type::<ObservationError>())?;
    m.add("InternalError", py.get_type::<InternalError>())?;
    m.add_class::<FrameReader>()?;
    m.add_function(wrap_pyfunction!(diagnose, m)?)?;
    m.add_function(wrap_pyfunction!(read_capture, m)?)?;
    m.add_function(wrap_pyfunction!(signals, m)?)?;
    m.add_function(wrap_pyfunction!(profiles, m)?)?;
    let formats: Vec<&str> = FORMATS.iter().map(|f| f.name).collect();
    m.add("FORMATS", formats)?;
    Ok(())
}
