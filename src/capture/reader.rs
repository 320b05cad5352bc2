//! [`CaptureReader`]: one stream of frames whatever the format, a
//! dispatch over the format's reader; it stops at the first error in
//! strict mode (a stream with a hole in it would mislead the analyses
//! behind it), counts steps back in time, and hands out frames by
//! reference or filtered by id.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::blf;
use super::candump;
use super::census::{Census, IdSet};
use super::error::CaptureError;
use super::format::Format;
use super::lines::{Annotation, CandumpStream, TextParser, TextStream};
use super::open::{open, Peeked, ReadOptions};
use super::parse_error::HeaderError;
use super::pcap::{PcapNgStream, PcapStream};
use crate::frame::{CanFrame, CanId, FrameKind};

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

impl Inner {
    /// The reader of `format` over `stream`, after its file header.
    fn new(format: Format, stream: Peeked) -> Result<Inner, HeaderError> {
        Ok(match format {
            Format::Candump => Inner::Candump(Box::new(CandumpStream::new(stream))),
            Format::Pcap => Inner::Pcap(Box::new(PcapStream::new(stream)?)),
            Format::PcapNg => Inner::PcapNg(Box::new(PcapNgStream::new(stream)?)),
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
            Format::Blf => Inner::Blf(Box::new(blf::BlfStream::new(stream)?)),
        })
    }
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
        r: Box<dyn Read + Send>,
        opts: ReadOptions,
    ) -> Result<CaptureReader, CaptureError> {
        let (stream, compressed, format) = open(name, r)?;
        let inner = Inner::new(format, stream).map_err(|source| CaptureError::Header {
            file: name.to_string(),
            source,
        })?;
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
        self.hand_out(result)
    }

    /// The frame just built when `read` says there is one; after an error
    /// the reader stays ended.
    #[inline]
    fn hand_out(
        &mut self,
        read: Result<bool, CaptureError>,
    ) -> Result<Option<&CanFrame>, CaptureError> {
        match read {
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
            let read = s.next_frame(
                &self.name,
                self.opts,
                self.compressed,
                Some((wanted, census)),
            );
            return self.hand_out(read);
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
                // Where this format builds its frames: a text log's own
                // slot, not the binary formats' `current`.
                None => return Ok(Some(self.frame_built())),
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
