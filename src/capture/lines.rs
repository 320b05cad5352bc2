//! Text captures read line by line: [`LineBuf`] cuts the input into lines
//! inside one reused buffer (as large as a small input, grown on demand up
//! to [`CHUNK`], no allocation per line) and counts them for messages;
//! [`CandumpStream`] and [`TextStream`] turn lines into frames, the
//! candump one with its fast path for the common line shape and the
//! filter of [`super::CaptureReader::next_frame_of`].

use std::io::{self, Read};

use super::candump::{self, IfaceCache};
use super::census::{Census, IdSet};
use super::error::CaptureError;
use super::format::Format;
use super::open::{Peeked, ReadOptions, PEEK};
use super::{asc, csv, trc};
use crate::frame::{CanFrame, CanId};

/// The largest text read buffer; also the longest line accepted.
pub(crate) const CHUNK: usize = 1024 * 1024;
/// The smallest text read buffer (it grows by doubling up to [`CHUNK`]).
pub(crate) const MIN_BUF: usize = 256;
/// The text read buffer of an input longer than the format peek: large
/// reads, a size that stays in cache.
const BIG_INPUT_BUF: usize = 2 * PEEK;

/// A `# ` comment line of a candump log, kept for callers (for example a
/// note of what the mechanic did at that moment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    /// 1-based line number in the (decompressed) log.
    pub line: u64,
    /// The text without the leading `# `.
    pub text: String,
}

/// Cuts a text capture into lines inside one reused buffer (no allocation
/// per line), counting them for error messages.
pub(crate) struct LineBuf {
    src: Peeked,
    pub(crate) buf: Vec<u8>,
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
    pub(crate) fn new(src: Peeked) -> LineBuf {
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
pub(crate) struct CandumpStream {
    lines: LineBuf,
    iface: IfaceCache,
    /// Where each line's frame is built.
    pub(crate) frame: CanFrame,
    pub(crate) annotations: Vec<Annotation>,
    pub(crate) bad_lines: u64,
}

impl CandumpStream {
    pub(crate) fn new(src: Peeked) -> CandumpStream {
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
    pub(crate) fn next_frame(
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
pub(crate) enum TextParser {
    Asc(Box<asc::AscParser>),
    Trc(Box<trc::TrcParser>),
    Csv(Box<csv::CsvParser>),
}

impl TextParser {
    fn format(&self) -> Format {
        match self {
            TextParser::Asc(_) => Format::Asc,
            TextParser::Trc(_) => Format::Trc,
            TextParser::Csv(_) => Format::Csv,
        }
    }
}

/// Reads a text log other than candump line by line.
pub(crate) struct TextStream {
    lines: LineBuf,
    parser: TextParser,
    /// Where each line's frame is built.
    pub(crate) frame: CanFrame,
    pub(crate) bad_lines: u64,
}

impl TextStream {
    pub(crate) fn new(src: Peeked, parser: TextParser) -> TextStream {
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
    pub(crate) fn next_frame(
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
                Err(source) if !opts.lenient => {
                    return Err(CaptureError::Record {
                        file: name.to_string(),
                        line: line_no,
                        format: self.parser.format(),
                        source,
                    })
                }
                Err(_) => self.bad_lines += 1,
            }
        }
    }
}
