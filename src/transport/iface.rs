//! The one `--iface` grammar of every command that talks to a bus, and the
//! bus it opens:
//!
//! - `can0`, `vcan0`: a SocketCAN interface (Linux only);
//! - `slcan:/dev/ttyACM0`, `slcan:COM3`, with an optional `@500k` bitrate
//!   (default: the profile's bus): a Lawicel / CANable serial adapter;
//! - `elm327:/dev/ttyUSB0`, `elm327:COM4`, with an optional `@38400` serial
//!   speed (default: probe the usual speeds), or `elm327:tcp:HOST:PORT` for
//!   WiFi dongles: an ELM327 or OBDLink (STN) adapter.
//!
//! [`AnyBus`] is the [`CanBus`] every command uses, whichever was named.

use std::fmt;

use super::elm327::ElmEndpoint;
use super::serial::{self, Elm327Bus, SlcanBus};
use super::{BusError, CanBus, LinkHint, PhysicalBus};
use crate::frame::{CanFrame, IfName};

/// A parsed `--iface` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IfaceSpec {
    /// A SocketCAN interface name.
    SocketCan(String),
    /// A serial SLCAN adapter, at this CAN bitrate (None: the profile's).
    Slcan { port: String, bitrate: Option<u32> },
    /// An ELM327 / STN adapter.
    Elm327(ElmEndpoint),
}

/// Why an `--iface` value is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IfaceError {
    #[error("--iface {0:?}: {1}")]
    Invalid(String, &'static str),
    /// None of the forms.
    #[error("--iface {given:?}: expected {}", every_form())]
    Unknown { given: String },
    #[error("--iface {given:?}: {what} {value:?} is not a rate: expected digits with an optional k or M (500k, 1M, 38400)")]
    Rate {
        given: String,
        what: &'static str,
        value: String,
    },
}

/// One form of `--iface`, as the help shows it.
struct Form {
    grammar: &'static str,
    what: &'static str,
    /// A value of this form (the tests parse it).
    example: &'static str,
    /// The adapter hears every frame and sends any (raw CAN), so it can
    /// listen to the whole bus and play the car; an ELM327 cannot.
    raw: bool,
}

/// Every `--iface` form, in the order help lists them.
const FORMS: [Form; 4] = [
    Form {
        grammar: "can0, vcan0",
        what: "SocketCAN",
        example: "can0",
        raw: true,
    },
    Form {
        grammar: "slcan:PORT[@BITRATE]",
        what: "CANable, Lawicel",
        example: "slcan:/dev/ttyACM0@500k",
        raw: true,
    },
    Form {
        grammar: "elm327:PORT[@BAUD]",
        what: "ELM327/OBDLink",
        example: "elm327:/dev/ttyUSB0",
        raw: false,
    },
    Form {
        grammar: "elm327:tcp:HOST:PORT",
        what: "WiFi ELM327",
        example: "elm327:tcp:192.168.0.10:35000",
        raw: false,
    },
];

/// Every form with an example, for the error of a value that is none.
fn every_form() -> String {
    let list: Vec<String> = FORMS
        .iter()
        .map(|f| format!("{} ({}, e.g. {})", f.grammar, f.what, f.example))
        .collect();
    list.join(", ")
}

/// What a command does with the bus, which decides the `--iface` forms it
/// accepts; [`BusUse::forms`] is its help's list of them, so the two agree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BusUse {
    /// Asks modules and reads their answers (`diagnose`, `request`): any
    /// adapter.
    Tester,
    /// Hears every frame on the bus (`record`, `learn`): raw CAN only.
    Listener,
    /// Plays the car's modules (`simulate`): raw CAN only.
    Car,
}

impl BusUse {
    /// Whether a command of this use can run on `spec`.
    pub fn accepts(self, spec: &IfaceSpec) -> bool {
        self == BusUse::Tester || spec.is_raw()
    }

    /// The accepted forms in words, for the `--iface` help.
    pub fn forms(self) -> String {
        let list: Vec<String> = FORMS
            .iter()
            .filter(|f| self == BusUse::Tester || f.raw)
            .map(|f| format!("{} ({})", f.grammar, f.what))
            .collect();
        let (last, rest) = list
            .split_last()
            .map_or(("", &[][..]), |(l, r)| (l.as_str(), r));
        let mut text = rest.join(", ");
        if !text.is_empty() {
            text.push_str(" or ");
        }
        text.push_str(last);
        match self {
            BusUse::Tester => text,
            BusUse::Listener => {
                text + "; not an ELM327, which hears the bus only between its own requests"
            }
            BusUse::Car => text + "; not an ELM327, which sends only its own requests",
        }
    }
}

impl IfaceSpec {
    /// Parses an `--iface` value.
    pub fn parse(s: &str) -> Result<IfaceSpec, IfaceError> {
        let invalid = |why| IfaceError::Invalid(s.to_owned(), why);
        if let Some(rest) = s.strip_prefix("slcan:") {
            let (port, bitrate) = split_rate(s, rest, "bitrate")?;
            if port.is_empty() {
                return Err(invalid(
                    "expected slcan:PORT, e.g. slcan:/dev/ttyACM0 or slcan:COM3",
                ));
            }
            return Ok(IfaceSpec::Slcan { port, bitrate });
        }
        if let Some(rest) = s.strip_prefix("elm327:") {
            if let Some(addr) = rest.strip_prefix("tcp:") {
                let ok = addr
                    .rsplit_once(':')
                    .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
                if !ok {
                    return Err(invalid(
                        "expected elm327:tcp:HOST:PORT, e.g. elm327:tcp:192.168.0.10:35000",
                    ));
                }
                return Ok(IfaceSpec::Elm327(ElmEndpoint::Tcp(addr.to_owned())));
            }
            let (port, baud) = split_rate(s, rest, "serial speed")?;
            if port.is_empty() {
                return Err(invalid(
                    "expected elm327:PORT, e.g. elm327:/dev/ttyUSB0 or elm327:COM4",
                ));
            }
            return Ok(IfaceSpec::Elm327(ElmEndpoint::Serial { port, baud }));
        }
        if s.contains(':') || s.contains('/') {
            return Err(IfaceError::Unknown {
                given: s.to_owned(),
            });
        }
        if IfName::new(s).is_none() {
            return Err(invalid(
                "is not a SocketCAN interface name (1 to 15 characters, no spaces)",
            ));
        }
        Ok(IfaceSpec::SocketCan(s.to_owned()))
    }

    /// Whether the adapter hears every frame and sends any (raw CAN); an
    /// ELM327 does ISO-TP itself and listens only between its requests.
    pub fn is_raw(&self) -> bool {
        !matches!(self, IfaceSpec::Elm327(_))
    }

    /// The interface name stamped on the frames (and in recordings).
    pub fn name(&self) -> IfName {
        let n = match self {
            IfaceSpec::SocketCan(n) => n.as_str(),
            IfaceSpec::Slcan { .. } => "slcan",
            IfaceSpec::Elm327(_) => "elm327",
        };
        IfName::new(n).unwrap_or_default()
    }

    /// What a recording's header says about the medium.
    pub fn describe(&self) -> String {
        match self {
            IfaceSpec::SocketCan(n) => format!("{n} (SocketCAN)"),
            IfaceSpec::Slcan { port, .. } => format!(
                "{port} (SLCAN serial adapter; the frames it delivered, as SocketCAN would)"
            ),
            IfaceSpec::Elm327(e) => format!(
                "{e} (ELM327/STN adapter: the frames it printed, its own requests as single \
                 frames; it does ISO-TP and flow control itself and hears broadcasts only \
                 while monitoring between requests)"
            ),
        }
    }

    /// Opens the bus for `bus`, the profile's (its bitrate when the spec
    /// names none, and its kind of wire): SLCAN sets the bitrate and
    /// refuses single-wire CAN, an ELM327 picks its protocol from both,
    /// SocketCAN takes the interface as it was set up (the kernel cannot
    /// tell a single-wire transceiver, so nothing is refused there).
    pub fn open(&self, bus: PhysicalBus) -> Result<AnyBus, BusError> {
        self.open_as(bus, false)
    }

    /// Opens the bus as [`IfaceSpec::open`] does, listen-only when asked:
    /// an SLCAN adapter's channel opened with `L` (its controller sends
    /// nothing, not even an acknowledgement); a SocketCAN socket as it is
    /// (listen-only is the interface's setting, `ip link set can0 type can
    /// listen-only on`; the caller's [`super::ListenOnly`] keeps every send
    /// off it); an ELM327 refused, since it hears the bus only after being
    /// told where to send requests, and this code base never monitors
    /// with it without talking.
    pub fn open_as(&self, bus: PhysicalBus, listen_only: bool) -> Result<AnyBus, BusError> {
        match self {
            IfaceSpec::SocketCan(n) => open_socketcan(n),
            IfaceSpec::Slcan { port, bitrate } => {
                let bus = PhysicalBus {
                    bitrate: bitrate.unwrap_or(bus.bitrate),
                    ..bus
                };
                Ok(AnyBus::Slcan(serial::open_slcan(
                    port,
                    bus,
                    self.name(),
                    listen_only,
                )?))
            }
            IfaceSpec::Elm327(e) if listen_only => {
                Err(BusError::unsupported(super::Unsupported::ElmListenOnly {
                    adapter: e.to_string(),
                }))
            }
            IfaceSpec::Elm327(e) => Ok(AnyBus::Elm327(serial::open_elm327(e, bus, self.name())?)),
        }
    }
}

impl fmt::Display for IfaceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IfaceSpec::SocketCan(n) => f.write_str(n),
            IfaceSpec::Slcan { port, bitrate } => {
                write!(f, "slcan:{port}")?;
                bitrate.map_or(Ok(()), |b| write!(f, "@{b}"))
            }
            IfaceSpec::Elm327(e) => write!(f, "{e}"),
        }
    }
}

impl std::str::FromStr for IfaceSpec {
    type Err = IfaceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IfaceSpec::parse(s)
    }
}

#[cfg(all(target_os = "linux", feature = "socketcan"))]
fn open_socketcan(name: &str) -> Result<AnyBus, BusError> {
    super::SocketCanBus::open(name).map(AnyBus::SocketCan)
}

#[cfg(not(all(target_os = "linux", feature = "socketcan")))]
fn open_socketcan(name: &str) -> Result<AnyBus, BusError> {
    Err(BusError::Interface {
        iface: name.to_owned(),
        problem: super::InterfaceProblem::NotCompiled,
    })
}

/// `PORT[@RATE]` → (PORT, RATE).
fn split_rate(
    given: &str,
    rest: &str,
    what: &'static str,
) -> Result<(String, Option<u32>), IfaceError> {
    match rest.rsplit_once('@') {
        None => Ok((rest.to_owned(), None)),
        Some((port, rate)) => {
            let value = parse_rate(rate).ok_or_else(|| IfaceError::Rate {
                given: given.to_owned(),
                what,
                value: rate.to_owned(),
            })?;
            Ok((port.to_owned(), Some(value)))
        }
    }
}

/// `500k`, `1M`, `38400`, `83.3k`.
pub fn parse_rate(s: &str) -> Option<u32> {
    let (num, mult) = match s.strip_suffix(['k', 'K']) {
        Some(n) => (n, 1_000.0),
        None => match s.strip_suffix('M') {
            Some(n) => (n, 1_000_000.0),
            None => (s, 1.0),
        },
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let v: f64 = num.parse().ok()?;
    let r = (v * mult).round();
    (r >= 1.0 && r <= f64::from(u32::MAX)).then_some(r as u32)
}

/// Whichever bus `--iface` named.
#[derive(Debug)]
#[non_exhaustive]
pub enum AnyBus {
    #[cfg(all(target_os = "linux", feature = "socketcan"))]
    SocketCan(super::SocketCanBus),
    Slcan(SlcanBus),
    Elm327(Elm327Bus),
}

macro_rules! each {
    ($self:expr, $b:ident => $e:expr) => {
        match $self {
            #[cfg(all(target_os = "linux", feature = "socketcan"))]
            AnyBus::SocketCan($b) => $e,
            AnyBus::Slcan($b) => $e,
            AnyBus::Elm327($b) => $e,
        }
    };
}

impl CanBus for AnyBus {
    async fn send(&mut self, frame: &CanFrame) -> Result<(), BusError> {
        each!(self, b => b.send(frame).await)
    }
    async fn recv(&mut self) -> Result<CanFrame, BusError> {
        each!(self, b => b.recv().await)
    }
    fn now_us(&self) -> u64 {
        each!(self, b => b.now_us())
    }
    async fn prepare(&mut self) -> Result<(), BusError> {
        each!(self, b => b.prepare().await)
    }
    fn configure_link(&mut self, hint: &LinkHint) {
        each!(self, b => b.configure_link(hint))
    }
    fn adapter_flow_control(&self) -> bool {
        each!(self, b => b.adapter_flow_control())
    }
    fn notes(&self) -> Vec<String> {
        each!(self, b => b.notes())
    }
    fn facts(&self) -> super::AdapterFacts {
        each!(self, b => b.facts())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_parses() {
        assert_eq!(
            IfaceSpec::parse("can0").unwrap(),
            IfaceSpec::SocketCan("can0".into())
        );
        assert_eq!(
            IfaceSpec::parse("slcan:/dev/ttyACM0@500k").unwrap(),
            IfaceSpec::Slcan {
                port: "/dev/ttyACM0".into(),
                bitrate: Some(500_000)
            }
        );
        assert_eq!(
            IfaceSpec::parse("slcan:COM3").unwrap(),
            IfaceSpec::Slcan {
                port: "COM3".into(),
                bitrate: None
            }
        );
        assert_eq!(
            IfaceSpec::parse("elm327:COM4@38400").unwrap(),
            IfaceSpec::Elm327(ElmEndpoint::Serial {
                port: "COM4".into(),
                baud: Some(38400)
            })
        );
        assert_eq!(
            IfaceSpec::parse("elm327:tcp:192.168.0.10:35000").unwrap(),
            IfaceSpec::Elm327(ElmEndpoint::Tcp("192.168.0.10:35000".into()))
        );
        assert_eq!(parse_rate("1M"), Some(1_000_000));
        assert_eq!(parse_rate("83.3k"), Some(83_300));
    }

    #[test]
    fn bad_forms_say_what_was_expected() {
        for (s, want) in [
            ("slcan:", "expected slcan:PORT"),
            ("slcan:/dev/ttyACM0@fast", "is not a rate"),
            ("elm327:tcp:host", "expected elm327:tcp:HOST:PORT"),
            (
                "usb:/dev/x",
                "expected can0, vcan0 (SocketCAN, e.g. can0), slcan:PORT",
            ),
            ("a-name-longer-than-15", "1 to 15 characters"),
        ] {
            let e = IfaceSpec::parse(s).unwrap_err().to_string();
            assert!(e.contains(want), "{s}: {e}");
        }
    }

    #[test]
    fn the_help_of_each_use_lists_exactly_the_forms_it_accepts() {
        for form in &FORMS {
            let spec = IfaceSpec::parse(form.example).unwrap();
            assert_eq!(spec.is_raw(), form.raw, "{}", form.example);
            for u in [BusUse::Tester, BusUse::Listener, BusUse::Car] {
                let listed = u.forms().contains(form.grammar);
                assert_eq!(listed, u.accepts(&spec), "{u:?} and {}", form.example);
            }
        }
        assert_eq!(
            BusUse::Listener.forms(),
            "can0, vcan0 (SocketCAN) or slcan:PORT[@BITRATE] (CANable, Lawicel); not an \
             ELM327, which hears the bus only between its own requests"
        );
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "can0",
            "slcan:/dev/ttyACM0@500000",
            "elm327:COM4@38400",
            "elm327:tcp:h:35000",
        ] {
            assert_eq!(IfaceSpec::parse(s).unwrap().to_string(), s);
        }
    }
}
