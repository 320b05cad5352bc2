//! What a serial adapter's protocol is, without the port: the [`Core`]
//! trait the SLCAN and ELM327 cores implement, what they hand back
//! ([`Output`]), and the splitting of adapter text into [`Token`]s.
//!
//! A core is sans-IO in the style of `isotp::IsoTpChannel`: bytes read from
//! the port, commands from the bus and `now_us` go in; bytes to write,
//! frames, errors, command completions and the next deadline
//! (`poll_timeout`) come out. No tokio, no clocks, no ports: the one port
//! driver (`serial`) runs every core on a real port, and unit tests feed a
//! core the bytes a clone adapter sends and check what comes out.

use std::collections::VecDeque;

use super::{AdapterError, BusError, LinkHint};
use crate::frame::CanFrame;

/// Names a command handed to a core, so its completion can be matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ticket(pub u64);

/// What a core hands back, in the order it must be acted on.
#[derive(Debug)]
pub enum Output {
    /// Bytes to write to the port.
    Write(Vec<u8>),
    /// Switch the serial port to this speed (a probe); meaningless on TCP.
    SetBaud(u32),
    /// A frame the adapter delivered, stamped with the `now_us` it came at.
    Frame(CanFrame),
    /// An error for the next `recv`; the adapter is still usable.
    Error(BusError),
    /// The command with this ticket is done (`send`/`prepare` return this).
    Done(Ticket, Result<(), BusError>),
}

/// A serial adapter's protocol as a state machine (see the module doc).
///
/// The driver calls `handle_open` once the port is open, then `handle_*`
/// as things happen; after each it drains `poll_output` until `None`,
/// acts on each output in order, and sleeps until `poll_timeout` or the
/// next bytes or command. Once `finished` is `Some`, the core is done: an
/// error there is why it stopped (the adapter is unusable), `Ok` a clean
/// close after `handle_close`.
pub trait Core: Send + 'static {
    /// What the bus asks of the adapter.
    type Command: Send + 'static;
    /// True when the adapter answers first frames with its own flow control.
    const ADAPTER_FLOW_CONTROL: bool;

    /// `slcan:PORT`, `elm327:PORT`...: the name in every message.
    fn name(&self) -> &str;
    /// The command a `send` of this frame becomes, `None` for a frame the
    /// adapter makes itself (an ELM327's flow control).
    fn command_for_frame(
        &self,
        frame: &CanFrame,
        link: Option<&LinkHint>,
    ) -> Result<Option<Self::Command>, BusError>;
    /// The command a `prepare` becomes, `None` when there is nothing to do.
    fn command_for_prepare(&self, link: Option<&LinkHint>) -> Option<Self::Command>;

    /// The port is open: start talking (reset, probe, configure).
    fn handle_open(&mut self, now_us: u64);
    fn handle_command(&mut self, ticket: Ticket, command: Self::Command, now_us: u64);
    fn handle_bytes(&mut self, bytes: &[u8], now_us: u64);
    fn handle_timeout(&mut self, now_us: u64);
    /// The bus was dropped: leave the adapter as it was found, then finish.
    fn handle_close(&mut self, now_us: u64);

    fn poll_output(&mut self) -> Option<Output>;
    fn poll_timeout(&self) -> Option<u64>;
    fn finished(&self) -> Option<Result<(), AdapterError>>;
    /// What the adapter could not do or did differently, for the report.
    fn notes(&self, now_us: u64) -> Vec<String>;
    /// What the adapter is and what its probe found (see
    /// [`CanBus::facts`](super::CanBus::facts)).
    fn facts(&self, now_us: u64) -> super::AdapterFacts;
}

/// What every core keeps the same way: the line splitter, its outputs in
/// order, and whether (and why) it has finished.
#[derive(Debug)]
pub struct Wire {
    pub lines: Lines,
    pub out: VecDeque<Output>,
    pub finished: Option<Result<(), AdapterError>>,
}

impl Wire {
    pub fn new(dialect: Dialect) -> Wire {
        Wire {
            lines: Lines::new(dialect),
            out: VecDeque::new(),
            finished: None,
        }
    }

    /// Takes `bytes` in; the tokens then come from `next_token`.
    pub fn push(&mut self, bytes: &[u8]) {
        self.lines.push(bytes);
    }

    /// The next complete token; none once finished (nothing after the end
    /// is read).
    pub fn next_token(&mut self) -> Option<Token> {
        match self.finished {
            Some(_) => None,
            None => self.lines.take(),
        }
    }

    /// Text for the port.
    pub fn write(&mut self, text: &str) {
        self.out.push_back(Output::Write(text.as_bytes().to_vec()));
    }

    /// Done, if not already: the first end is the one that counts.
    pub fn finish(&mut self, end: Result<(), AdapterError>) {
        self.finished.get_or_insert(end);
    }
}

/// One unit of adapter output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// A line without its terminator, trimmed (never empty).
    Line(String),
    /// The ELM327's `>` prompt: it is ready for a command.
    Prompt,
    /// An SLCAN bell (0x07): the command failed.
    Bell,
    /// A bare carriage return (SLCAN's "OK").
    Ok,
    /// More than [`MAX_LINE`] bytes without a terminator (a wrong serial
    /// speed): the start of them; those bytes are dropped.
    Garbage(String),
}

/// Adapter lines longer than this are garbage.
pub const MAX_LINE: usize = 512;

/// The two dialects of adapter text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// `>` is the prompt and empty lines are dropped.
    Elm,
    /// A bare CR is an OK and 0x07 a bell.
    Slcan,
}

/// Splits adapter output into [`Token`]s: bytes in with `push`, tokens
/// out with `take`. A token is taken out only once complete, so how the
/// bytes were chunked never changes the tokens.
#[derive(Debug)]
pub struct Lines {
    buf: VecDeque<u8>,
    dialect: Dialect,
}

impl Lines {
    pub fn new(dialect: Dialect) -> Lines {
        Lines {
            buf: VecDeque::new(),
            dialect,
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend(bytes);
    }

    /// Drops everything buffered.
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    fn is_end(&self, b: u8) -> bool {
        match b {
            b'\r' | b'\n' => true,
            b'>' => self.dialect == Dialect::Elm,
            0x07 => self.dialect == Dialect::Slcan,
            _ => false,
        }
    }

    /// The next complete token already buffered.
    pub fn take(&mut self) -> Option<Token> {
        loop {
            let end = self.buf.iter().position(|&b| self.is_end(b));
            if end.unwrap_or(self.buf.len()) > MAX_LINE {
                // Cut at the same place however the bytes came in.
                let junk: Vec<u8> = self.buf.drain(..=MAX_LINE).take(40).collect();
                return Some(Token::Garbage(String::from_utf8_lossy(&junk).into_owned()));
            }
            let pos = end?;
            let raw: Vec<u8> = self.buf.drain(..pos).collect();
            let line = String::from_utf8_lossy(&raw).trim().to_owned();
            let term = self.buf.front().copied().unwrap_or(b'\r');
            let tail = match term {
                b'>' => Some(Token::Prompt),
                0x07 => Some(Token::Bell),
                _ => None,
            };
            if !line.is_empty() {
                // A `>` or a bell right after text ends the line; it is
                // then seen again, alone, on the next call.
                if tail.is_none() {
                    self.buf.pop_front();
                }
                return Some(Token::Line(line));
            }
            self.buf.pop_front();
            match tail {
                Some(t) => return Some(t),
                None if self.dialect == Dialect::Slcan && term == b'\r' => return Some(Token::Ok),
                None => continue,
            }
        }
    }
}

/// Runs a core on virtual time in tests: what it wrote, delivered and
/// completed is kept, and a closure can play the adapter.
#[cfg(test)]
pub(crate) struct Drive<C: Core> {
    pub core: C,
    pub now: u64,
    /// Every write, as text, in order.
    pub written: Vec<String>,
    pub bauds: Vec<u32>,
    pub frames: Vec<CanFrame>,
    pub errors: Vec<BusError>,
    pub done: Vec<(Ticket, Result<(), BusError>)>,
    next_ticket: u64,
}

#[cfg(test)]
impl<C: Core> Drive<C> {
    pub fn new(mut core: C) -> Drive<C> {
        core.handle_open(0);
        let mut d = Drive {
            core,
            now: 0,
            written: Vec::new(),
            bauds: Vec::new(),
            frames: Vec::new(),
            errors: Vec::new(),
            done: Vec::new(),
            next_ticket: 0,
        };
        d.pump();
        d
    }

    /// Takes the outputs; returns the writes among them.
    pub fn pump(&mut self) -> Vec<String> {
        let mut new = Vec::new();
        while let Some(out) = self.core.poll_output() {
            match out {
                Output::Write(b) => new.push(String::from_utf8_lossy(&b).into_owned()),
                Output::SetBaud(b) => self.bauds.push(b),
                Output::Frame(f) => self.frames.push(f),
                Output::Error(e) => self.errors.push(e),
                Output::Done(t, r) => self.done.push((t, r)),
            }
        }
        self.written.extend(new.iter().cloned());
        new
    }

    pub fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        self.core.handle_bytes(bytes, self.now);
        self.pump()
    }

    pub fn command(&mut self, c: C::Command) -> Ticket {
        let t = Ticket(self.next_ticket);
        self.next_ticket += 1;
        self.core.handle_command(t, c, self.now);
        self.pump();
        t
    }

    /// Lets `us` microseconds pass, firing every deadline on the way.
    pub fn wait(&mut self, us: u64) -> Vec<String> {
        let until = self.now + us;
        let mut new = Vec::new();
        while let Some(at) = self.core.poll_timeout().filter(|at| *at <= until) {
            self.now = self.now.max(at);
            self.core.handle_timeout(self.now);
            new.extend(self.pump());
        }
        self.now = until;
        new
    }

    /// Plays the adapter: each write gets `reply`'s bytes (if any), until
    /// the core writes nothing more.
    pub fn play(&mut self, writes: Vec<String>, reply: &mut dyn FnMut(&str) -> Option<String>) {
        let mut queue: VecDeque<String> = writes.into();
        let mut rounds = 0;
        while let Some(w) = queue.pop_front() {
            rounds += 1;
            assert!(rounds < 10_000, "the core and the script talk forever");
            if let Some(r) = reply(&w) {
                queue.extend(self.feed(r.as_bytes()));
            }
        }
    }

    pub fn errors_text(&self) -> String {
        self.errors.iter().map(|e| format!("{e}\n")).collect()
    }

    /// Feeds each piece of `noise`, then lets `waits[i]` pass; before the
    /// piece, `command(self, i)` may hand the core a command.
    pub fn shake(
        &mut self,
        noise: &[Vec<u8>],
        waits: &[u64],
        mut command: impl FnMut(&Self, usize) -> Option<C::Command>,
    ) {
        for (i, piece) in noise.iter().enumerate() {
            if let Some(c) = command(self, i) {
                self.command(c);
            }
            self.feed(piece);
            self.wait(waits.get(i).copied().unwrap_or(0));
        }
    }

    /// Feeds `bytes` in pieces cut at `cuts` (see [`cut_points`]).
    pub fn feed_cut(&mut self, bytes: &[u8], cuts: &[usize]) {
        for w in cuts.windows(2) {
            self.feed(bytes.get(w[0]..w[1]).unwrap_or_default());
        }
    }

    /// What every run keeps: no deadline handed back that was already
    /// handled (the driver would spin), every command completed at most
    /// once. `Some` says what broke.
    pub fn broken(&self) -> Option<String> {
        if let Some(at) = self.core.poll_timeout().filter(|at| *at <= self.now) {
            return Some(format!("deadline {at} handed back at {}", self.now));
        }
        let mut tickets: Vec<u64> = self.done.iter().map(|(t, _)| t.0).collect();
        let n = tickets.len();
        tickets.sort_unstable();
        tickets.dedup();
        (tickets.len() != n).then(|| format!("a command completed twice: {:?}", self.done))
    }
}

/// Pieces of arbitrary bytes, for "never panics" properties.
#[cfg(test)]
pub(crate) fn noise() -> impl proptest::strategy::Strategy<Value = Vec<Vec<u8>>> {
    use proptest::prelude::*;
    proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..40)
}

/// Adapter output made of `words` (whole answers), text matching
/// `pattern` (frame lines) and short printable noise, as one byte string.
#[cfg(test)]
pub(crate) fn talk(
    words: &'static [&'static str],
    pattern: &'static str,
) -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    use proptest::prelude::*;
    let piece = prop_oneof![
        proptest::sample::select(words).prop_map(str::to_owned),
        proptest::string::string_regex(pattern).expect("a valid pattern"),
        proptest::string::string_regex("[ -~]{0,12}").expect("a valid pattern"),
    ];
    proptest::collection::vec(piece, 0..30).prop_map(|p| p.concat().into_bytes())
}

/// Up to 12 places to cut a byte string.
#[cfg(test)]
pub(crate) fn cuts() -> impl proptest::strategy::Strategy<Value = Vec<proptest::sample::Index>> {
    use proptest::prelude::*;
    proptest::collection::vec(any::<proptest::sample::Index>(), 0..12)
}

/// Runs `start()` twice, feeding `bytes` whole to one and cut at `cuts` to
/// the other, for "chunking changes nothing" properties.
#[cfg(test)]
pub(crate) fn whole_and_cut<C: Core>(
    start: impl Fn() -> Drive<C>,
    bytes: &[u8],
    cuts: &[proptest::sample::Index],
) -> (Drive<C>, Drive<C>) {
    let mut whole = start();
    whole.feed(bytes);
    let mut cut = start();
    cut.feed_cut(bytes, &cut_points(bytes.len(), cuts));
    (whole, cut)
}

/// Where to cut `len` bytes: 0, `len` and one point per index, sorted.
#[cfg(test)]
pub(crate) fn cut_points(len: usize, at: &[proptest::sample::Index]) -> Vec<usize> {
    let mut cuts: Vec<usize> = at.iter().map(|i| i.index(len + 1)).collect();
    cuts.extend([0, len]);
    cuts.sort_unstable();
    cuts
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all(lines: &mut Lines, bytes: &[u8]) -> Vec<Token> {
        lines.push(bytes);
        std::iter::from_fn(|| lines.take()).collect()
    }

    #[test]
    fn elm_output_splits_into_lines_and_prompts() {
        let mut r = Lines::new(Dialect::Elm);
        assert_eq!(
            all(&mut r, b"ELM327 v1.5\r\r>765 02 50 C0\r\r>"),
            vec![
                Token::Line("ELM327 v1.5".into()),
                Token::Prompt,
                Token::Line("765 02 50 C0".into()),
                Token::Prompt
            ]
        );
        // A partial line waits for the rest.
        assert_eq!(all(&mut r, b"7E8 06 4"), vec![]);
        assert_eq!(
            all(&mut r, b"1 00\r>"),
            vec![Token::Line("7E8 06 41 00".into()), Token::Prompt]
        );
    }

    #[test]
    fn slcan_output_has_oks_and_bells() {
        let mut r = Lines::new(Dialect::Slcan);
        assert_eq!(
            all(&mut r, b"\rz\r\x07t7650250C0\r"),
            vec![
                Token::Ok,
                Token::Line("z".into()),
                Token::Bell,
                Token::Line("t7650250C0".into())
            ]
        );
    }

    #[test]
    fn a_line_too_long_is_garbage_once() {
        let mut r = Lines::new(Dialect::Elm);
        let tokens = all(&mut r, &[b'U'; MAX_LINE + 3]);
        assert_eq!(tokens, vec![Token::Garbage("U".repeat(40))]);
        // The two bytes past the cut start the next line.
        assert_eq!(all(&mut r, b"\r"), vec![Token::Line("UU".into())]);
        assert_eq!(
            all(&mut r, b"OK\r>"),
            vec![Token::Line("OK".into()), Token::Prompt]
        );
    }

    fn dialect() -> impl Strategy<Value = Dialect> {
        prop_oneof![Just(Dialect::Elm), Just(Dialect::Slcan)]
    }

    /// Bytes adapters send, often enough to form tokens.
    fn adapter_bytes() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                4 => proptest::sample::select(b"0123456789ABCDEFtTz ".to_vec()),
                2 => proptest::sample::select(b"\r\n>\x07".to_vec()),
                1 => any::<u8>(),
            ],
            0..700,
        )
    }

    proptest! {
        #[test]
        fn tokens_do_not_depend_on_how_the_bytes_were_chunked(
            d in dialect(),
            bytes in adapter_bytes(),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..20),
        ) {
            let mut whole = Lines::new(d);
            let want = all(&mut whole, &bytes);
            let mut chunked = Lines::new(d);
            let mut got = Vec::new();
            for w in cut_points(bytes.len(), &cuts).windows(2) {
                got.extend(all(&mut chunked, &bytes[w[0]..w[1]]));
            }
            prop_assert_eq!(got, want);
        }

        #[test]
        fn never_panics_and_never_yields_empty_lines(d in dialect(), bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let mut r = Lines::new(d);
            for t in all(&mut r, &bytes) {
                prop_assert_ne!(t, Token::Line(String::new()));
            }
        }
    }
}
