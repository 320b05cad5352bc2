//! Capture files: candump logs, pcap and pcapng (SocketCAN link type 227,
//! or Linux cooked captures, 113), any of them gzip-compressed, read as a stream of [`CanFrame`]s.
//!
//! This module owns format detection (from content, never from the file
//! name), decompression, buffering, and turning file positions into error
//! messages (`file:line: ...`, `file: packet N: ...`). It reads in large
//! chunks with constant memory whatever the file size: a text log is cut
//! into lines in place inside one buffer (as large as a small input, grown on
//! demand up to 1 MiB), with no allocation per line.
//!
//! It does not know what the frames mean (ISO-TP, UDS) nor how they are
//! printed for a user (that is `cli`).
//!
//! Interface names: a candump log names its interfaces; a pcapng interface
//! block may (`if_name`), and frames then carry that name. Packets of a pcap,
//! or of a pcapng interface without a usable name, are given `pcap<N>` where
//! N is the pcapng interface index (0 for pcap), so they are never mistaken
//! for a real `can0`.

mod asc;
mod blf;
pub mod candump;
mod csv;
mod sink;
mod socketcan;
mod text;

/// Calendar date of a day count since 1970-01-01 (for dates in logs and reports).
pub use text::civil_from_days;
mod trc;
pub mod write;

use std::fs::File;
use std::io::{self, Chain, Cursor, Read};
use std::path::Path;

use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::TsResolution;

use crate::frame::{CanFrame, CanId, FrameKind, IfName};
use candump::{IfaceCache, LineError};
use socketcan::Link;

/// How to read a capture.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Skip malformed candump lines (counted in [`CaptureReader::bad_lines`])
    /// and undecodable pcap packets instead of failing.
    pub lenient: bool,
    /// The 4-byte SocketCAN `can_id` field of pcap/pcapng packets is stored
    /// little-endian (scapy writes it so) instead of network order.
    pub byte_swapped_ids: bool,
}

/// The container format of a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    Candump,
    Pcap,
    PcapNg,
    /// Vector ASC.
    Asc,
    /// Vector BLF.
    Blf,
    /// PEAK PCAN trace.
    Trc,
    /// SavvyCAN / GVRET CSV.
    Csv,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Candump => "candump",
            Format::Pcap => "pcap",
            Format::PcapNg => "pcapng",
            Format::Asc => "asc",
            Format::Blf => "blf",
            Format::Trc => "trc",
            Format::Csv => "csv",
        }
    }
}

/// A `# ` comment line of a candump log, kept for callers (for example a
/// note of what the mechanic did at that moment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    /// 1-based line number in the (decompressed) log.
    pub line: u64,
    /// The text without the leading `# `.
    pub text: String,
}

/// Why a capture could not be read. Every message starts with the file name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    #[error("{file}: cannot open: {source}")]
    Open {
        file: String,
        #[source]
        source: io::Error,
    },
    #[error("{file}: read failed at byte {offset}{}: {source}", if *.compressed { " of the decompressed data (corrupt or truncated gzip?)" } else { "" })]
    Read {
        file: String,
        offset: u64,
        compressed: bool,
        #[source]
        source: io::Error,
    },
    #[error("{file}: unknown capture format: expected a candump log, pcap, pcapng, Vector ASC or BLF, PCAN TRC or SavvyCAN CSV file")]
    UnknownFormat { file: String },
    /// A malformed line of an ASC, TRC or CSV log.
    #[error("{file}:{line}: {what}")]
    Record {
        file: String,
        line: u64,
        what: String,
    },
    #[error("{file}:{line}: {source}")]
    Line {
        file: String,
        line: u64,
        #[source]
        source: LineError,
    },
    #[error("{file}:{line}: expected a line of at most {max} bytes, found a longer one")]
    LineTooLong { file: String, line: u64, max: usize },
    #[error("{file}: {what}")]
    Header { file: String, what: String },
    #[error("{file}: {unit} {index}: {what}")]
    Packet {
        file: String,
        /// "packet" (pcap), "block" (pcapng) or "object" (BLF).
        unit: &'static str,
        /// 1-based packet (pcap), block (pcapng) or object (BLF) index.
        index: u64,
        what: String,
    },
}

/// Bytes inspected to detect the format.
const PEEK: usize = 64 * 1024;
/// The largest text read buffer; also the longest line accepted.
const CHUNK: usize = 1024 * 1024;
/// The smallest text read buffer (it grows by doubling up to [`CHUNK`]).
const MIN_BUF: usize = 256;
/// The text read buffer of an input longer than the format peek: large
/// reads, a size that stays in cache.
const BIG_INPUT_BUF: usize = 2 * PEEK;

type Source = Box<dyn Read + Send>;
type Peeked = Chain<Cursor<Vec<u8>>, Source>;

/// Reads up to `n` bytes (fewer only at end of input).
fn read_up_to(r: &mut dyn Read, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(n);
    r.take(n as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// What the first bytes say the content is.
fn detect(head: &[u8]) -> Option<Format> {
    match head.get(..4) {
        Some([0xA1, 0xB2, 0xC3, 0xD4] | [0xD4, 0xC3, 0xB2, 0xA1])
        | Some([0xA1, 0xB2, 0x3C, 0x4D] | [0x4D, 0x3C, 0xB2, 0xA1]) => return Some(Format::Pcap),
        Some([0x0A, 0x0D, 0x0D, 0x0A]) => return Some(Format::PcapNg),
        Some(b"LOGG") => return Some(Format::Blf),
        _ => {}
    }
    if let Some(text) = detect_text(head) {
        return Some(text);
    }
    // Text: the first line that is neither blank nor a comment decides. A
    // head of only comments and blank lines is an (empty so far) log.
    let mut lines = head.split(|c| *c == b'\n').peekable();
    while let Some(line) = lines.next() {
        let is_last = lines.peek().is_none();
        let trimmed: &[u8] = match line.iter().position(|c| !c.is_ascii_whitespace()) {
            Some(p) => line.get(p..).unwrap_or_default(),
            None => continue,
        };
        if trimmed.starts_with(b"#") {
            continue;
        }
        // A cut-off last line of a full peek may still be a comment or a
        // frame; only a leading '(' counts as evidence either way.
        if line.first() == Some(&b'(') {
            return Some(Format::Candump);
        }
        if is_last && head.len() == PEEK && !line.contains(&0) {
            return Some(Format::Candump);
        }
        return None;
    }
    Some(Format::Candump)
}

/// ASC, TRC or CSV from their first line that is not blank: a TRC starts
/// with `;` header lines, a SavvyCAN CSV with its column names, an ASC with
/// `date`, `base`, `//` or `Begin Triggerblock`.
fn detect_text(head: &[u8]) -> Option<Format> {
    let first = head
        .split(|c| *c == b'\n')
        .map(<[u8]>::trim_ascii)
        .find(|l| !l.is_empty())?;
    let starts = |p: &str| {
        first
            .get(..p.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(p.as_bytes()))
    };
    if first.starts_with(b";") {
        Some(Format::Trc)
    } else if starts("Time Stamp,") {
        Some(Format::Csv)
    } else if starts("date ") || starts("base ") || starts("//") || starts("begin triggerblock") {
        Some(Format::Asc)
    } else {
        None
    }
}

/// The 11-bit ids whose frames a consumer wants whole (for the analyzer:
/// the diagnostic pair and the profile's broadcasts).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdSet {
    bits: [u64; 32],
}

impl IdSet {
    pub fn new() -> IdSet {
        IdSet::default()
    }

    /// Adds `id` (ids above 0x7FF are ignored: they are not 11-bit).
    pub fn insert(&mut self, id: u16) {
        if let Some(word) = self.bits.get_mut(usize::from(id >> 6)) {
            *word |= 1 << (id & 63);
        }
    }

    #[inline]
    pub fn contains(&self, id: u16) -> bool {
        self.bits
            .get(usize::from(id >> 6))
            .is_some_and(|w| w & (1 << (id & 63)) != 0)
    }
}

/// What [`CaptureReader::next_frame_of`] counted instead of handing out:
/// frames of 11-bit ids not in the wanted set, per id, with their earliest
/// and latest timestamps (min and max: a log of several interfaces is not
/// always in time order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Census {
    per_id: Vec<IdCount>,
    /// The latest timestamp counted since the last [`Census::take_latest`].
    latest: Option<u64>,
}

/// One 11-bit id's count; `first_us > last_us` while `frames == 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct IdCount {
    frames: u64,
    first_us: u64,
    last_us: u64,
}

const NO_FRAMES: IdCount = IdCount {
    frames: 0,
    first_us: u64::MAX,
    last_us: 0,
};

/// An 11-bit id's line in a [`Census`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CensusEntry {
    pub id: u16,
    pub frames: u64,
    /// Earliest and latest timestamp of those frames.
    pub first_us: u64,
    pub last_us: u64,
}

impl Default for Census {
    fn default() -> Census {
        Census {
            per_id: vec![NO_FRAMES; 0x800],
            latest: None,
        }
    }
}

impl Census {
    #[inline]
    fn count(&mut self, id: u16, ts: u64) {
        if let Some(c) = self.per_id.get_mut(usize::from(id)) {
            c.frames += 1;
            c.first_us = c.first_us.min(ts);
            c.last_us = c.last_us.max(ts);
        }
        self.latest = Some(self.latest.map_or(ts, |l| l.max(ts)));
    }

    /// Frames counted for `id`.
    pub fn frames(&self, id: u16) -> u64 {
        self.per_id.get(usize::from(id)).map_or(0, |c| c.frames)
    }

    /// Frames counted, all ids.
    pub fn total(&self) -> u64 {
        self.per_id.iter().map(|c| c.frames).sum()
    }

    /// The ids with at least one frame counted, in id order.
    pub fn entries(&self) -> impl Iterator<Item = CensusEntry> + '_ {
        (0u16..).zip(&self.per_id).filter_map(|(id, c)| {
            (c.frames > 0).then_some(CensusEntry {
                id,
                frames: c.frames,
                first_us: c.first_us,
                last_us: c.last_us,
            })
        })
    }

    /// The latest timestamp among the frames counted since the last call
    /// (`None` when none were). A consumer that reacts to time passing (a
    /// request's deadline) sees, before each frame handed out, how far the
    /// bus went in the frames it did not get.
    #[inline]
    pub fn take_latest(&mut self) -> Option<u64> {
        self.latest.take()
    }
}

/// A stream of frames from one capture file.
pub struct CaptureReader {
    name: String,
    format: Format,
    compressed: bool,
    opts: ReadOptions,
    inner: Inner,
    /// After an error in strict mode the reader stops: a frame stream with a
    /// hole in it would mislead the analyses behind it.
    failed: bool,
    /// The time of the last frame handed out, and how often a frame's time
    /// was earlier than the one before (two buses merged into one log).
    last_us: u64,
    steps_back: u64,
    /// The last pcap/pcapng frame (a candump stream keeps its own).
    current: CanFrame,
}

enum Inner {
    Candump(Box<CandumpStream>),
    Pcap(Box<PcapStream>),
    PcapNg(Box<PcapNgStream>),
    Text(Box<TextStream>),
    Blf(Box<blf::BlfStream>),
}

impl CaptureReader {
    /// Opens a capture file, detecting compression and format from content.
    pub fn open(path: &Path, opts: ReadOptions) -> Result<CaptureReader, CaptureError> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|source| CaptureError::Open {
            file: name.clone(),
            source,
        })?;
        CaptureReader::from_reader(&name, Box::new(file), opts)
    }

    /// Reads a capture from any byte stream; `name` is used in messages.
    pub fn from_reader(
        name: &str,
        mut r: Box<dyn Read + Send>,
        opts: ReadOptions,
    ) -> Result<CaptureReader, CaptureError> {
        let read_err = |compressed: bool| {
            move |source| CaptureError::Read {
                file: name.to_string(),
                offset: 0,
                compressed,
                source,
            }
        };
        let magic = read_up_to(&mut r, 2).map_err(read_err(false))?;
        let compressed = magic == [0x1F, 0x8B];
        let rejoined: Source = Box::new(Cursor::new(magic).chain(r));
        let mut source: Source = if compressed {
            // Multi-member: `cat a.gz b.gz` and bgzip-style files are one log.
            Box::new(flate2::read::MultiGzDecoder::new(rejoined))
        } else {
            rejoined
        };
        let head = read_up_to(&mut source, PEEK).map_err(read_err(compressed))?;
        let format = detect(&head).ok_or_else(|| CaptureError::UnknownFormat {
            file: name.to_string(),
        })?;
        let stream: Peeked = Cursor::new(head).chain(source);
        let header_err = |what: String| CaptureError::Header {
            file: name.to_string(),
            what,
        };
        let inner = match format {
            Format::Candump => Inner::Candump(Box::new(CandumpStream::new(stream))),
            Format::Pcap => {
                let reader = PcapReader::new(stream)
                    .map_err(|e| header_err(format!("expected a pcap file header: {e}")))?;
                let header = reader.header();
                let link = Link::from_datalink(header.datalink).ok_or_else(|| {
                    header_err(format!(
                        "expected link type 227 (SocketCAN) or 113 (Linux cooked), found {}",
                        u32::from(header.datalink)
                    ))
                })?;
                Inner::Pcap(Box::new(PcapStream {
                    reader,
                    link,
                    nanos: header.ts_resolution == TsResolution::NanoSecond,
                    index: 0,
                    iface: pcap_iface(0),
                    bad: 0,
                }))
            }
            Format::PcapNg => {
                let reader = PcapNgReader::new(stream).map_err(|e| {
                    header_err(format!("expected a pcapng section header block: {e}"))
                })?;
                Inner::PcapNg(Box::new(PcapNgStream {
                    reader,
                    index: 1,
                    interfaces: Vec::new(),
                    bad: 0,
                }))
            }
            Format::Asc => Inner::Text(Box::new(TextStream::new(
                stream,
                TextParser::Asc(Box::default()),
            ))),
            Format::Trc => Inner::Text(Box::new(TextStream::new(
                stream,
                TextParser::Trc(Box::default()),
            ))),
            Format::Csv => Inner::Text(Box::new(TextStream::new(
                stream,
                TextParser::Csv(Box::default()),
            ))),
            Format::Blf => Inner::Blf(Box::new(blf::BlfStream::new(stream).map_err(header_err)?)),
        };
        Ok(CaptureReader {
            name: name.to_string(),
            format,
            compressed,
            opts,
            inner,
            failed: false,
            last_us: 0,
            steps_back: 0,
            current: candump::empty_frame(),
        })
    }

    /// The next frame; `Ok(None)` at the end of the capture. In lenient mode
    /// malformed lines/packets are skipped; otherwise the first one is an
    /// error and the reader ends there.
    #[inline]
    pub fn next_frame(&mut self) -> Result<Option<CanFrame>, CaptureError> {
        Ok(self.next_frame_ref()?.copied())
    }

    /// [`next_frame`](Self::next_frame) without the copy: the frame stays
    /// where the reader built it, valid until the next call. For consumers
    /// that look at most frames only briefly (census, filters), a frame
    /// copied out per call is a measurable share of a replay.
    #[inline]
    pub fn next_frame_ref(&mut self) -> Result<Option<&CanFrame>, CaptureError> {
        if self.failed {
            return Ok(None);
        }
        let result = match &mut self.inner {
            Inner::Candump(s) => s.next_frame(&self.name, self.opts, self.compressed, None),
            Inner::Pcap(s) => s
                .next_frame(&self.name, self.opts)
                .map(|f| f.map(|f| self.current = f).is_some()),
            Inner::PcapNg(s) => s
                .next_frame(&self.name, self.opts)
                .map(|f| f.map(|f| self.current = f).is_some()),
            Inner::Text(s) => s.next_frame(&self.name, self.opts, self.compressed),
            Inner::Blf(s) => s
                .next_frame(&self.name, self.opts)
                .map(|f| f.map(|f| self.current = f).is_some()),
        };
        match result {
            Ok(true) => {
                self.note_time(self.frame_built().timestamp_us);
                Ok(Some(self.frame_built()))
            }
            Ok(false) => Ok(None),
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }

    /// The next frame that is not a frame of an 11-bit id outside `wanted`;
    /// those are counted in `census` instead (error frames and 29-bit ids are
    /// always handed out). Same errors, annotations and line numbers as
    /// [`next_frame`](Self::next_frame): a skipped line is checked as fully
    /// as a read one, only its frame is not built, which on a saturated bus
    /// where the analyzer wants a few ids is most of the work.
    pub fn next_frame_of(
        &mut self,
        wanted: &IdSet,
        census: &mut Census,
    ) -> Result<Option<&CanFrame>, CaptureError> {
        if let Inner::Candump(s) = &mut self.inner {
            if self.failed {
                return Ok(None);
            }
            return match s.next_frame(
                &self.name,
                self.opts,
                self.compressed,
                Some((wanted, census)),
            ) {
                Ok(true) => {
                    self.note_time(self.frame_built().timestamp_us);
                    Ok(Some(self.frame_built()))
                }
                Ok(false) => Ok(None),
                Err(e) => {
                    self.failed = true;
                    Err(e)
                }
            };
        }
        loop {
            let skip = match self.next_frame_ref()? {
                None => return Ok(None),
                Some(f) => match (f.id, f.kind) {
                    (_, FrameKind::Error) => None,
                    (CanId::Standard(id), _) if !wanted.contains(id) => Some((id, f.timestamp_us)),
                    _ => None,
                },
            };
            match skip {
                Some((id, ts)) => census.count(id, ts),
                None => return Ok(Some(&self.current)),
            }
        }
    }

    /// Where the last frame read was built.
    #[inline]
    fn frame_built(&self) -> &CanFrame {
        match &self.inner {
            Inner::Candump(s) => &s.frame,
            Inner::Text(s) => &s.frame,
            _ => &self.current,
        }
    }

    /// Notes a frame's time: the first step backwards is warned about once
    /// (frames stay in file order, never sorted), the others counted.
    #[inline]
    fn note_time(&mut self, ts: u64) {
        if ts < self.last_us {
            self.steps_back += 1;
            if self.steps_back == 1 {
                tracing::warn!(
                    "{}: a frame's time steps back {} us from the one before (merged buses?); \
                     frames are kept in file order",
                    self.name,
                    self.last_us - ts
                );
            }
        }
        self.last_us = ts;
    }

    /// How many frames handed out so far had an earlier time than the one
    /// before them.
    pub fn steps_back(&self) -> u64 {
        self.steps_back
    }

    /// The `# ` comment lines seen so far (candump logs only).
    pub fn annotations(&self) -> &[Annotation] {
        match &self.inner {
            Inner::Candump(s) => &s.annotations,
            _ => &[],
        }
    }

    /// Lines (text formats), packets (pcap, pcapng) or objects (BLF)
    /// skipped in lenient mode.
    pub fn bad_lines(&self) -> u64 {
        match &self.inner {
            Inner::Candump(s) => s.bad_lines,
            Inner::Pcap(s) => s.bad,
            Inner::PcapNg(s) => s.bad,
            Inner::Text(s) => s.bad_lines,
            Inner::Blf(s) => s.bad,
        }
    }

    pub fn format(&self) -> Format {
        self.format
    }

    pub fn compressed(&self) -> bool {
        self.compressed
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Iterator for CaptureReader {
    type Item = Result<CanFrame, CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_frame().transpose()
    }
}

/// Cuts a text capture into lines inside one reused buffer (no allocation
/// per line), counting them for error messages.
struct LineBuf {
    src: Peeked,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    line: u64,
    /// Bytes consumed before `buf[0]`, for read-error offsets.
    consumed: u64,
}

impl LineBuf {
    /// A buffer sized to the input: an input that fit in the format peek
    /// (all of it is in `src`'s head) gets a buffer just larger than itself,
    /// a longer one [`BIG_INPUT_BUF`]; a line that does not fit doubles it,
    /// up to [`CHUNK`]. A small capture (a fuzzer's input, a test's) then
    /// costs no megabyte per reader.
    fn new(src: Peeked) -> LineBuf {
        let head = src.get_ref().0.get_ref().len();
        let size = if head < PEEK {
            (head + 1).max(MIN_BUF)
        } else {
            BIG_INPUT_BUF
        };
        LineBuf {
            src,
            buf: vec![0; size],
            start: 0,
            end: 0,
            eof: false,
            line: 0,
            consumed: 0,
        }
    }

    /// Moves the unread tail to the front and reads more after it.
    fn refill(&mut self, name: &str, compressed: bool) -> Result<(), CaptureError> {
        self.buf.copy_within(self.start..self.end, 0);
        self.consumed += self.start as u64;
        self.end -= self.start;
        self.start = 0;
        loop {
            let Some(space) = self.buf.get_mut(self.end..) else {
                return Ok(());
            };
            if space.is_empty() {
                return Ok(());
            }
            match self.src.read(space) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(CaptureError::Read {
                        file: name.to_string(),
                        offset: self.consumed + self.end as u64,
                        compressed,
                        source,
                    })
                }
            }
        }
    }

    /// The next line (without its `\n`) and its 1-based number; `None` at
    /// the end of the input.
    #[inline]
    fn next_line(
        &mut self,
        name: &str,
        compressed: bool,
    ) -> Result<Option<(u64, &[u8])>, CaptureError> {
        loop {
            let pending = self.buf.get(self.start..self.end).unwrap_or_default();
            let (from, to, next_start) = match memchr::memchr(b'\n', pending) {
                Some(p) => (self.start, self.start + p, self.start + p + 1),
                None if self.eof => {
                    if pending.is_empty() {
                        return Ok(None);
                    }
                    (self.start, self.end, self.end)
                }
                None => {
                    if self.start == 0 && self.end == self.buf.len() {
                        // A line longer than the buffer: grow it, up to the
                        // longest line accepted.
                        if self.buf.len() >= CHUNK {
                            return Err(CaptureError::LineTooLong {
                                file: name.to_string(),
                                line: self.line + 1,
                                max: CHUNK,
                            });
                        }
                        self.buf.resize((self.buf.len() * 2).min(CHUNK), 0);
                    }
                    self.refill(name, compressed)?;
                    continue;
                }
            };
            self.line += 1;
            self.start = next_start;
            return Ok(Some((
                self.line,
                self.buf.get(from..to).unwrap_or_default(),
            )));
        }
    }
}

/// Reads a candump log line by line.
struct CandumpStream {
    lines: LineBuf,
    iface: IfaceCache,
    /// Where each line's frame is built.
    frame: CanFrame,
    annotations: Vec<Annotation>,
    bad_lines: u64,
}

impl CandumpStream {
    fn new(src: Peeked) -> CandumpStream {
        CandumpStream {
            lines: LineBuf::new(src),
            iface: IfaceCache::default(),
            frame: candump::empty_frame(),
            annotations: Vec::new(),
            bad_lines: 0,
        }
    }

    /// Reads up to the next frame, built in `self.frame`; `Ok(false)` at the
    /// end of the log.
    #[inline]
    fn next_frame(
        &mut self,
        name: &str,
        opts: ReadOptions,
        compressed: bool,
        mut filter: Option<(&IdSet, &mut Census)>,
    ) -> Result<bool, CaptureError> {
        loop {
            let Some((line_no, line)) = self.lines.next_line(name, compressed)? else {
                return Ok(false);
            };
            match line.first() {
                Some(b'(') => {
                    // The common shape: the header read once, then the line
                    // counted (an id nobody wants) or its frame built.
                    if let Some((ts, id, digits)) = candump::common_header(line, &self.iface) {
                        match &mut filter {
                            Some((wanted, census)) if !wanted.contains(id) => {
                                if candump::common_digits_ok(digits) {
                                    census.count(id, ts);
                                    continue;
                                }
                            }
                            _ => {
                                if candump::common_frame(
                                    ts,
                                    id,
                                    digits,
                                    &self.iface,
                                    &mut self.frame,
                                ) {
                                    return Ok(true);
                                }
                            }
                        }
                    }
                    match candump::parse_line_into(line, &mut self.iface, &mut self.frame) {
                        Ok(true) => {
                            if let (Some((wanted, census)), CanId::Standard(id)) =
                                (&mut filter, self.frame.id)
                            {
                                if !self.frame.is_error() && !wanted.contains(id) {
                                    census.count(id, self.frame.timestamp_us);
                                    continue;
                                }
                            }
                            return Ok(true);
                        }
                        Ok(false) => {}
                        Err(source) if !opts.lenient => {
                            return Err(CaptureError::Line {
                                file: name.to_string(),
                                line: line_no,
                                source,
                            })
                        }
                        Err(_) => self.bad_lines += 1,
                    }
                }
                Some(b'#') => {
                    let text = line.get(1..).unwrap_or_default();
                    let text = text.strip_prefix(b" ").unwrap_or(text);
                    let text = text.strip_suffix(b"\r").unwrap_or(text);
                    self.annotations.push(Annotation {
                        line: line_no,
                        text: String::from_utf8_lossy(text).into_owned(),
                    });
                }
                // Anything else is skipped, as canplayer skips it.
                _ => {}
            }
        }
    }
}

/// The line syntax of a text capture other than candump.
enum TextParser {
    Asc(Box<asc::AscParser>),
    Trc(Box<trc::TrcParser>),
    Csv(Box<csv::CsvParser>),
}

/// Reads an ASC, TRC or CSV log line by line.
struct TextStream {
    lines: LineBuf,
    parser: TextParser,
    /// Where each line's frame is built.
    frame: CanFrame,
    bad_lines: u64,
}

impl TextStream {
    fn new(src: Peeked, parser: TextParser) -> TextStream {
        TextStream {
            lines: LineBuf::new(src),
            parser,
            frame: candump::empty_frame(),
            bad_lines: 0,
        }
    }

    /// Reads up to the next frame, built in `self.frame`; `Ok(false)` at the
    /// end of the log.
    #[inline]
    fn next_frame(
        &mut self,
        name: &str,
        opts: ReadOptions,
        compressed: bool,
    ) -> Result<bool, CaptureError> {
        loop {
            let Some((line_no, line)) = self.lines.next_line(name, compressed)? else {
                return Ok(false);
            };
            let parsed = match &mut self.parser {
                TextParser::Asc(p) => p.parse(line, &mut self.frame),
                TextParser::Trc(p) => p.parse(line, &mut self.frame),
                TextParser::Csv(p) => p.parse(line, &mut self.frame),
            };
            match parsed {
                Ok(true) => return Ok(true),
                Ok(false) => {}
                Err(what) if !opts.lenient => {
                    return Err(CaptureError::Record {
                        file: name.to_string(),
                        line: line_no,
                        what,
                    })
                }
                Err(_) => self.bad_lines += 1,
            }
        }
    }
}

/// The name given to frames of a pcap / unnamed pcapng interface `n`.
fn pcap_iface(n: usize) -> IfName {
    IfName::new(&format!("pcap{n}")).unwrap_or_default()
}

struct PcapStream {
    reader: PcapReader<Peeked>,
    link: Link,
    nanos: bool,
    /// Packets read so far (the 1-based index of the last one).
    index: u64,
    iface: IfName,
    bad: u64,
}

/// The message of a pcap-file error with its cause (the crate's own
/// message alone says "Error reading bytes").
fn pcap_error_text(e: &pcap_file::PcapError) -> String {
    match e {
        pcap_file::PcapError::IoError(io) if io.kind() == io::ErrorKind::UnexpectedEof => {
            "expected more bytes, the file ends inside this record (truncated?)".to_string()
        }
        pcap_file::PcapError::IoError(io) => format!("read failed (corrupt gzip?): {io}"),
        other => format!("expected a well-formed record: {other}"),
    }
}

impl PcapStream {
    fn next_frame(
        &mut self,
        name: &str,
        opts: ReadOptions,
    ) -> Result<Option<CanFrame>, CaptureError> {
        loop {
            let Some(raw) = self.reader.next_raw_packet() else {
                return Ok(None);
            };
            self.index += 1;
            let index = self.index;
            let packet_err = |what: String| CaptureError::Packet {
                file: name.to_string(),
                unit: "packet",
                index,
                what,
            };
            // A broken record header leaves no way to find the next record:
            // fatal even when lenient.
            let raw = raw.map_err(|e| packet_err(pcap_error_text(&e)))?;
            let (frac_us, frac_ok) = if self.nanos {
                (raw.ts_frac / 1000, raw.ts_frac < 1_000_000_000)
            } else {
                (raw.ts_frac, raw.ts_frac < 1_000_000)
            };
            let decoded = if frac_ok {
                socketcan::decode_link(self.link, &raw.data, opts.byte_swapped_ids)
            } else {
                Err(format!(
                    "expected a sub-second timestamp part below one second, found {}",
                    raw.ts_frac
                ))
            };
            match decoded {
                Ok(None) => {}
                Ok(Some(frame)) => {
                    let ts = u64::from(raw.ts_sec) * 1_000_000 + u64::from(frac_us);
                    return Ok(Some(frame.at(ts).on(self.iface)));
                }
                Err(what) if !opts.lenient => return Err(packet_err(what)),
                Err(_) => self.bad += 1,
            }
        }
    }
}

/// What a pcapng interface description block says about its packets.
struct NgInterface {
    /// `None` for link types that carry no CAN frames.
    link: Option<Link>,
    iface: IfName,
    /// Timestamp units per second (`if_tsresol`, default 10^6).
    units_per_s: u64,
    /// `if_tsoffset`, seconds.
    offset_s: u64,
}

impl NgInterface {
    fn from_block(
        idb: &pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock<'_>,
        n: usize,
    ) -> Result<NgInterface, String> {
        use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption as Opt;
        let mut iface = pcap_iface(n);
        let mut units_per_s = 1_000_000;
        let mut offset_s = 0;
        for opt in &idb.options {
            match opt {
                Opt::IfName(s) => {
                    if let Some(name) = IfName::new(s) {
                        iface = name;
                    }
                }
                Opt::IfTsResol(r) => {
                    let exp = u32::from(r & 0x7F);
                    let units = if r & 0x80 == 0 {
                        10u64.checked_pow(exp)
                    } else {
                        2u64.checked_pow(exp)
                    };
                    units_per_s = units.filter(|u| *u > 0).ok_or_else(|| {
                        format!("expected an if_tsresol of at most 10^19 or 2^63, found {r:#04X}")
                    })?;
                }
                Opt::IfTsOffset(s) => offset_s = *s,
                _ => {}
            }
        }
        Ok(NgInterface {
            link: Link::from_datalink(idb.linktype),
            iface,
            units_per_s,
            offset_s,
        })
    }

    fn micros(&self, raw: u64) -> u64 {
        let us = u128::from(raw) * 1_000_000 / u128::from(self.units_per_s);
        u64::try_from(us)
            .unwrap_or(u64::MAX)
            .saturating_add(self.offset_s.saturating_mul(1_000_000))
    }
}

struct PcapNgStream {
    reader: PcapNgReader<Peeked>,
    /// Blocks read so far, the section header included.
    index: u64,
    interfaces: Vec<NgInterface>,
    bad: u64,
}

impl PcapNgStream {
    fn next_frame(
        &mut self,
        name: &str,
        opts: ReadOptions,
    ) -> Result<Option<CanFrame>, CaptureError> {
        loop {
            let Some(block) = self.reader.next_block() else {
                return Ok(None);
            };
            self.index += 1;
            let index = self.index;
            let block_err = |what: String| CaptureError::Packet {
                file: name.to_string(),
                unit: "block",
                index,
                what,
            };
            let block = block.map_err(|e| block_err(pcap_error_text(&e)))?;
            // (interface, raw timestamp, packet bytes)
            let (iface_no, raw_ts, data) = match &block {
                Block::SectionHeader(_) => {
                    // A new section starts a new interface numbering.
                    self.interfaces.clear();
                    continue;
                }
                Block::InterfaceDescription(idb) => {
                    let n = self.interfaces.len();
                    self.interfaces
                        .push(NgInterface::from_block(idb, n).map_err(block_err)?);
                    continue;
                }
                // pcap-file hands the raw 64-bit timestamp over as if it
                // were nanoseconds; the interface says what unit it is.
                Block::EnhancedPacket(epb) => (
                    epb.interface_id as usize,
                    u64::try_from(epb.timestamp.as_nanos()).unwrap_or(u64::MAX),
                    &epb.data,
                ),
                Block::Packet(pb) => (usize::from(pb.interface_id), pb.timestamp, &pb.data),
                // Simple packets carry no timestamp and belong to interface 0.
                Block::SimplePacket(spb) => (0, 0, &spb.data),
                _ => continue,
            };
            let Some(interface) = self.interfaces.get(iface_no) else {
                return Err(block_err(format!(
                    "expected a packet of one of the {} interfaces described so far, found interface {iface_no}",
                    self.interfaces.len()
                )));
            };
            // Other link types (Ethernet next to CAN in one capture) are not ours.
            let Some(link) = interface.link else {
                continue;
            };
            match socketcan::decode_link(link, data, opts.byte_swapped_ids) {
                Ok(None) => {}
                Ok(Some(frame)) => {
                    return Ok(Some(frame.at(interface.micros(raw_ts)).on(interface.iface)))
                }
                Err(what) if !opts.lenient => return Err(block_err(what)),
                Err(_) => self.bad += 1,
            }
        }
    }
}

/// The deterministic benchmark capture generator, for tests comparing the
/// fast path with the simple one on a large realistic log.
#[cfg(test)]
#[path = "../../benches/common/gen.rs"]
mod bench_gen;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{CanId, Direction, FrameKind};
    use proptest::prelude::*;
    use std::io::Write;

    fn reader(bytes: Vec<u8>, opts: ReadOptions) -> Result<CaptureReader, CaptureError> {
        CaptureReader::from_reader("mem.log", Box::new(Cursor::new(bytes)), opts)
    }

    fn all(bytes: Vec<u8>, opts: ReadOptions) -> Result<Vec<CanFrame>, CaptureError> {
        reader(bytes, opts)?.collect()
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    const LOG: &[u8] =
        b"# start\n(1.000000) can0 641#0210030000000000\n(2.000000) can0 651#065003\n";

    #[test]
    fn reads_plain_gzip_and_multi_member_gzip_alike() {
        let plain = all(LOG.to_vec(), ReadOptions::default()).unwrap();
        assert_eq!(plain.len(), 2);
        let r = reader(gz(LOG), ReadOptions::default()).unwrap();
        assert!(r.compressed());
        assert_eq!(r.collect::<Result<Vec<_>, _>>().unwrap(), plain);
        let two = [gz(LOG), gz(LOG)].concat();
        assert_eq!(all(two, ReadOptions::default()).unwrap().len(), 4);
    }

    #[test]
    fn keeps_comments_with_their_line_numbers() {
        let mut r = reader(LOG.to_vec(), ReadOptions::default()).unwrap();
        while r.next_frame().unwrap().is_some() {}
        assert_eq!(
            r.annotations(),
            &[Annotation {
                line: 1,
                text: "start".into()
            }]
        );
    }

    #[test]
    fn lines_longer_than_the_largest_buffer_are_an_error() {
        let mut log = b"(1.0) can0 123#\n# ".to_vec();
        log.resize(CHUNK + 100, b'x');
        let err = all(log, ReadOptions::default()).unwrap_err().to_string();
        assert!(
            err.starts_with("mem.log:2: expected a line of at most"),
            "{err}"
        );
    }

    #[test]
    fn a_line_longer_than_the_first_buffer_grows_it() {
        // A comment line of 300 KiB in a log larger than the format peek:
        // longer than the buffer a large input starts with.
        let mut log = b"(1.0) can0 123#\n# ".to_vec();
        log.resize(300 * 1024, b'x');
        log.extend_from_slice(b"\n(2.0) can0 456#11\n");
        let frames = all(log, ReadOptions::default()).unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames.get(1).map(|f| f.id), Some(CanId::Standard(0x456)));
    }

    #[test]
    fn a_small_input_gets_a_buffer_of_its_size() {
        for log in [&b""[..], LOG, &LOG.repeat(200)] {
            let src: Peeked = Cursor::new(log.to_vec()).chain(Box::new(io::empty()) as Source);
            let lines = LineBuf::new(src);
            assert_eq!(lines.buf.len(), (log.len() + 1).max(MIN_BUF));
        }
        // A log that fills its buffer exactly, without a last newline,
        // still reads whole (the spare byte sees the end of the input).
        let long = LOG.repeat(200);
        let cut = long.strip_suffix(b"\n").unwrap_or(&long).to_vec();
        assert_eq!(all(cut, ReadOptions::default()).unwrap().len(), 400);
    }

    #[test]
    fn lines_crossing_buffer_refills_are_read_whole() {
        let line = b"(1795248560.598478) vcan0 18DAF110#0210030000000000\n";
        let n = 3 * CHUNK / line.len() + 7;
        let log: Vec<u8> = line.iter().copied().cycle().take(n * line.len()).collect();
        let frames = all(log, ReadOptions::default()).unwrap();
        assert_eq!(frames.len(), n);
        assert!(frames.iter().all(|f| f.id == CanId::Extended(0x18DA_F110)));
    }

    #[test]
    fn truncated_gzip_names_the_file_and_offset() {
        let mut z = gz(&LOG.repeat(2000));
        z.truncate(z.len() / 2);
        let err = all(z, ReadOptions::default()).unwrap_err().to_string();
        assert!(err.starts_with("mem.log: read failed at byte "), "{err}");
        assert!(err.contains("gzip"), "{err}");
    }

    /// A pcapng written by pcap-file: interface name and a 1 ns resolution
    /// must reach the frames.
    #[test]
    fn reads_pcapng_with_interface_name_and_resolution() {
        use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
        use pcap_file::pcapng::blocks::interface_description::{
            InterfaceDescriptionBlock, InterfaceDescriptionOption as Opt,
        };
        use pcap_file::pcapng::PcapNgWriter;
        use std::borrow::Cow;
        use std::time::Duration;
        let mut w = PcapNgWriter::new(Vec::new()).unwrap();
        w.write_pcapng_block(InterfaceDescriptionBlock {
            linktype: pcap_file::DataLink::CAN_SOCKETCAN,
            snaplen: 0,
            options: vec![Opt::IfName(Cow::Borrowed("vcan3")), Opt::IfTsResol(9)],
        })
        .unwrap();
        w.write_pcapng_block(InterfaceDescriptionBlock {
            linktype: pcap_file::DataLink::CAN_SOCKETCAN,
            snaplen: 0,
            options: vec![],
        })
        .unwrap();
        let classic = [0, 0, 6, 0x41, 2, 0, 0, 0, 0x3E, 0x00, 0, 0, 0, 0, 0, 0];
        for (iface, ts) in [(0u32, 1_500_000_123u64), (1, 2_000_001)] {
            w.write_pcapng_block(EnhancedPacketBlock {
                interface_id: iface,
                timestamp: Duration::from_nanos(ts),
                original_len: 16,
                data: Cow::Borrowed(&classic[..]),
                options: vec![],
            })
            .unwrap();
        }
        let bytes = w.into_inner();
        let r = reader(bytes, ReadOptions::default()).unwrap();
        assert_eq!(r.format(), Format::PcapNg);
        let frames: Vec<CanFrame> = r.collect::<Result<_, _>>().unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].iface.as_str(), "vcan3");
        assert_eq!(frames[0].timestamp_us, 1_500_000);
        assert_eq!(frames[1].iface.as_str(), "pcap1");
        assert_eq!(frames[1].timestamp_us, 2_000_001);
        assert_eq!(frames[0].data(), &[0x3E, 0x00]);
        assert_eq!(frames[0].kind, FrameKind::Classic { len8_dlc: None });
        assert_eq!(frames[0].direction, None::<Direction>);
    }

    #[test]
    fn detects_formats_from_content() {
        assert_eq!(
            reader(Vec::new(), ReadOptions::default()).unwrap().format(),
            Format::Candump
        );
        assert_eq!(all(Vec::new(), ReadOptions::default()).unwrap(), vec![]);
        assert_eq!(
            all(b"# only\n\n".to_vec(), ReadOptions::default()).unwrap(),
            vec![]
        );
        let err = reader(vec![0x00, 0x01, 0xFE, 0x42, 0x17], ReadOptions::default())
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            err,
            "mem.log: unknown capture format: expected a candump log, pcap, pcapng, Vector ASC or BLF, PCAN TRC or SavvyCAN CSV file"
        );
        for (head, format) in [
            (&b";$FILEVERSION=1.1\n"[..], Format::Trc),
            (b"\r\nTime Stamp,ID,Extended,Bus,LEN,D1\n", Format::Csv),
            (b"date Thu Nov 9 08:29:27.123 pm 2023\n", Format::Asc),
            (b"// a comment\nbase hex\n", Format::Asc),
        ] {
            assert_eq!(
                reader(head.to_vec(), ReadOptions::default())
                    .unwrap()
                    .format(),
                format
            );
        }
        let err = reader(vec![0xD4, 0xC3, 0xB2, 0xA1, 2, 0], ReadOptions::default())
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.starts_with("mem.log: expected a pcap file header"),
            "{err}"
        );
    }

    fn pcap_header(link: u32) -> Vec<u8> {
        let mut h = vec![0xD4, 0xC3, 0xB2, 0xA1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        h.extend(65535u32.to_le_bytes());
        h.extend(link.to_le_bytes());
        h
    }

    #[test]
    fn truncated_pcap_names_the_packet() {
        let mut p = pcap_header(227);
        for _ in 0..3 {
            p.extend([1, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 16, 0, 0, 0]);
            p.extend([0, 0, 1, 0x23, 1, 0, 0, 0, 0xAA, 0, 0, 0, 0, 0, 0, 0]);
        }
        p.truncate(p.len() - 5);
        let mut r = reader(p, ReadOptions::default()).unwrap();
        assert!(r.next_frame().unwrap().is_some());
        assert!(r.next_frame().unwrap().is_some());
        let err = r.next_frame().unwrap_err().to_string();
        assert!(
            err.starts_with("mem.log: packet 3: expected more bytes"),
            "{err}"
        );
        assert_eq!(r.next_frame().unwrap(), None, "a failed reader stays ended");
    }

    use super::bench_gen as gen;

    #[test]
    fn steps_back_in_time_are_counted_and_frames_kept_in_order() {
        let log =
            b"(2.00) can0 123#01\n(1.50) can1 124#02\n(1.60) can1 124#03\n(1.55) can0 123#04\n";
        let mut r = reader(log.to_vec(), ReadOptions::default()).unwrap();
        let mut times = Vec::new();
        while let Some(f) = r.next_frame().unwrap() {
            times.push(f.timestamp_us);
        }
        assert_eq!(times, [2_000_000, 1_500_000, 1_600_000, 1_550_000]);
        assert_eq!(r.steps_back(), 2);
    }

    /// The frames of a log read the simple way: `parse_line` on each line.
    fn simple_path(log: &[u8]) -> Vec<CanFrame> {
        log.split(|c| *c == b'\n')
            .filter_map(|line| candump::parse_line(line).unwrap())
            .collect()
    }

    #[test]
    fn fast_path_gives_the_frames_parse_line_gives_on_every_fixture() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/capture");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("log") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            // Fixtures with malformed lines are compared in lenient mode:
            // both paths skip the same lines.
            let opts = ReadOptions {
                lenient: true,
                ..ReadOptions::default()
            };
            let expected: Vec<CanFrame> = bytes
                .split(|c| *c == b'\n')
                .filter_map(|line| candump::parse_line(line).ok().flatten())
                .collect();
            assert_eq!(all(bytes, opts).unwrap(), expected, "{}", path.display());
            seen += 1;
        }
        assert!(seen >= 3, "expected the candump fixtures, found {seen}");
    }

    #[test]
    fn fast_path_gives_the_frames_parse_line_gives_on_a_generated_capture() {
        let mut log = Vec::new();
        gen::generate(60_000, &mut log).unwrap();
        let frames = all(log.clone(), ReadOptions::default()).unwrap();
        assert_eq!(frames.len(), 60_000);
        assert_eq!(frames, simple_path(&log));
    }

    /// `next_frame_of` against `next_frame` filtered by hand: the same
    /// wanted frames, the others counted, the same error at the same line.
    fn check_filtered(log: Vec<u8>, wanted_ids: &[u16], opts: ReadOptions) {
        let mut wanted = IdSet::new();
        for id in wanted_ids {
            wanted.insert(*id);
        }
        let mut expected_census = Census::default();
        // Each frame handed out, with the latest timestamp skipped before it.
        let mut expected = Vec::new();
        let mut skipped_latest: Option<u64> = None;
        let mut r = reader(log.clone(), opts).unwrap();
        let expected_end = loop {
            match r.next_frame() {
                Ok(Some(f)) => match f.id {
                    CanId::Standard(id) if !f.is_error() && !wanted.contains(id) => {
                        expected_census.count(id, f.timestamp_us);
                        skipped_latest = skipped_latest.max(Some(f.timestamp_us));
                    }
                    _ => expected.push((skipped_latest.take(), f)),
                },
                Ok(None) => break None,
                Err(e) => break Some(e.to_string()),
            }
        };
        let mut census = Census::default();
        let mut got = Vec::new();
        let mut r2 = reader(log, opts).unwrap();
        let got_end = loop {
            match r2.next_frame_of(&wanted, &mut census) {
                Ok(Some(f)) => {
                    let f = *f;
                    got.push((census.take_latest(), f));
                }
                Ok(None) => break None,
                Err(e) => break Some(e.to_string()),
            }
        };
        assert_eq!(got, expected);
        assert_eq!(census.take_latest(), skipped_latest);
        expected_census.take_latest();
        assert_eq!(census, expected_census);
        let total: u64 = census.entries().map(|e| e.frames).sum();
        assert_eq!(total, census.total());
        assert_eq!(got_end, expected_end);
        assert_eq!(r2.annotations(), r.annotations());
        assert_eq!(r2.bad_lines(), r.bad_lines());
    }

    #[test]
    fn filtered_reading_hands_out_wanted_frames_and_counts_the_rest() {
        let mut log = Vec::new();
        gen::generate(30_000, &mut log).unwrap();
        check_filtered(log.clone(), &[0x745, 0x765, 0x60D], ReadOptions::default());
        check_filtered(log, &[], ReadOptions::default());
        let mixed = b"# note\n(1.000000) can0 123#11\n(0000000002.000000) can0 123#1122\n\
            (0000000002.000001) can0 456#R\n(0000000002.000002) can0 12345678#00\n\
            (0000000002.000003) can0 20000004#0004000000000000\n(0000000002.000004) can0 123#1G\n\
            (0000000002.000005) can0 456#01\n"
            .to_vec();
        for lenient in [false, true] {
            let opts = ReadOptions {
                lenient,
                ..ReadOptions::default()
            };
            check_filtered(mixed.clone(), &[0x456], opts);
            check_filtered(mixed.clone(), &[0x123], opts);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
        /// Lines near the common shape (other interfaces, lengths, ids,
        /// case, trailing fields, blanks): the reader gives what parse_line
        /// gives, frame or error.
        #[test]
        fn fast_path_agrees_with_parse_line_near_the_common_shape(
            lines in proptest::collection::vec((
                "\\(17[0-9]{8}\\.[0-9]{6}\\)",
                prop_oneof![Just(" can0 "), Just(" vcan1 "), Just("  can0 "), Just(" can0  "), Just("\tcan0 ")],
                "[0-9A-Fa-f]{2,4}#[0-9A-Fa-fR_#.]{0,18}",
                prop_oneof![Just(""), Just(" T"), Just(" R"), Just("\r"), Just(" ")],
            ), 1..40),
        ) {
            let log: Vec<u8> = lines
                .iter()
                .flat_map(|(ts, ifc, fr, tail)| format!("{ts}{ifc}{fr}{tail}\n").into_bytes())
                .collect();
            let expected: Vec<Result<Option<CanFrame>, LineError>> = log
                .split(|c| *c == b'\n')
                .map(candump::parse_line)
                .collect();
            let mut r = reader(log, ReadOptions::default()).unwrap();
            for want in expected.into_iter().filter(|w| !matches!(w, Ok(None))) {
                match (r.next_frame(), want) {
                    (Ok(Some(got)), Ok(Some(want))) => prop_assert_eq!(got, want),
                    (Err(CaptureError::Line { source, .. }), Err(want)) => {
                        prop_assert_eq!(source, want);
                        break;
                    }
                    (got, want) => prop_assert!(false, "{got:?} vs {want:?}"),
                }
            }
        }

        #[test]
        fn any_bytes_never_panic(
            prefix in prop_oneof![
                Just(Vec::new()),
                Just(b"(1.0) can0 123#\n".to_vec()),
                Just(pcap_header(227)),
                Just(pcap_header(113)),
                Just(b";$FILEVERSION=2.1\n".to_vec()),
                Just(b";$FILEVERSION=1.1\n     1)  16.4  Rx  0215  2  ".to_vec()),
                Just(b"date Thu Nov 9 08:29:27.123 pm 2023\nbase hex  timestamps absolute\n0.1 1 123 Rx d ".to_vec()),
                Just(b"0.1 CANFD 1 Rx 123 1 0 ".to_vec()),
                Just(b"Time Stamp,ID,Extended,Bus,LEN,D1,D2\n".to_vec()),
                Just(blf::tests::blf_file(&[blf::tests::can_message_object(5, 1, 0x123, &[1])])),
                Just(blf::tests::blf_file(&[])),
                Just(vec![0x0A, 0x0D, 0x0D, 0x0A, 0x1C, 0, 0, 0, 0x4D, 0x3C, 0x2B, 0x1A, 1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1C, 0, 0, 0]),
            ],
            body in proptest::collection::vec(any::<u8>(), 0..400),
            zip: bool,
            lenient: bool,
            swapped: bool,
        ) {
            let mut bytes = [prefix, body].concat();
            if zip {
                bytes = gz(&bytes);
            }
            let opts = ReadOptions { lenient, byte_swapped_ids: swapped };
            if let Ok(r) = reader(bytes, opts) {
                for f in r.take(1000) {
                    let _ = f;
                }
            }
        }
    }
}
