//! Writing frames in the formats other tools open: the rows of the format
//! table that have a writer (candump is the default). Each writer is a
//! [`FrameSink`]; `capture::format::sink` picks one.

use std::borrow::Cow;
use std::io::{self, Write};
use std::time::Duration;

use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::PcapNgWriter;

use super::asc::AscWriter;
use super::candump::CandumpWriter;
use super::sink::Channels;
pub use super::sink::FrameSink;
use super::trc::TrcWriter;
use crate::frame::{CanFrame, Direction};

// The writers of the format table's rows.

pub(crate) fn candump<'a>(out: Box<dyn Write + 'a>) -> io::Result<Box<dyn FrameSink + 'a>> {
    Ok(Box::new(CandumpWriter::new(out)))
}

pub(crate) fn asc<'a>(out: Box<dyn Write + 'a>) -> io::Result<Box<dyn FrameSink + 'a>> {
    Ok(Box::new(AscWriter::new(out)))
}

pub(crate) fn trc<'a>(out: Box<dyn Write + 'a>) -> io::Result<Box<dyn FrameSink + 'a>> {
    Ok(Box::new(TrcWriter::new(out)))
}

pub(crate) fn csv<'a>(out: Box<dyn Write + 'a>) -> io::Result<Box<dyn FrameSink + 'a>> {
    Ok(Box::new(CsvWriter::new(out)))
}

pub(crate) fn pcapng<'a>(out: Box<dyn Write + 'a>) -> io::Result<Box<dyn FrameSink + 'a>> {
    Ok(Box::new(PcapNgSink::new(out)?))
}

impl<W: Write> FrameSink for CandumpWriter<W> {
    fn comment(&mut self, text: &str) -> io::Result<()> {
        CandumpWriter::comment(self, text)
    }
    fn frame(&mut self, f: &CanFrame) -> io::Result<()> {
        CandumpWriter::frame(self, f)
    }
    fn finish(&mut self) -> io::Result<()> {
        self.flush()
    }
}

/// SavvyCAN / GVRET CSV: `Time Stamp,ID,Extended,Dir,Bus,LEN,D1..D8` with
/// the time in microseconds, buses numbered from 0 in order of appearance.
/// CAN FD payloads get as many data columns as bytes; remote and error
/// frames have no form here and are left out (counted).
pub struct CsvWriter<W: Write> {
    out: W,
    header: bool,
    channels: Channels,
    left_out: u64,
    line: String,
}

impl<W: Write> CsvWriter<W> {
    pub fn new(out: W) -> CsvWriter<W> {
        CsvWriter {
            out,
            header: false,
            channels: Channels::new(0),
            left_out: 0,
            line: String::with_capacity(128),
        }
    }

    fn header(&mut self) -> io::Result<()> {
        if !self.header {
            self.header = true;
            self.out
                .write_all(b"Time Stamp,ID,Extended,Dir,Bus,LEN,D1,D2,D3,D4,D5,D6,D7,D8\n")?;
        }
        Ok(())
    }
}

impl<W: Write> FrameSink for CsvWriter<W> {
    fn comment(&mut self, _text: &str) -> io::Result<()> {
        Ok(())
    }

    fn frame(&mut self, f: &CanFrame) -> io::Result<()> {
        use std::fmt::Write as _;
        self.header()?;
        if !f.is_data() {
            self.left_out += 1;
            return Ok(());
        }
        let bus = self.channels.of(f.iface);
        let l = &mut self.line;
        l.clear();
        let _ = write!(
            l,
            "{},{:08X},{},{},{bus},{}",
            f.timestamp_us,
            f.id.raw(),
            f.id.is_extended(),
            if f.direction == Some(Direction::Tx) {
                "Tx"
            } else {
                "Rx"
            },
            f.len()
        );
        for b in f.data() {
            let _ = write!(l, ",{b:02X}");
        }
        l.push('\n');
        self.out.write_all(l.as_bytes())
    }

    fn finish(&mut self) -> io::Result<()> {
        self.header()?;
        self.out.flush()
    }

    fn left_out(&self) -> u64 {
        self.left_out
    }
}

/// pcapng with one interface description (link type 227, `if_name`,
/// nanosecond resolution) per interface, in order of appearance.
pub struct PcapNgSink<W: Write> {
    out: PcapNgWriter<W>,
    channels: Channels,
    packet: Vec<u8>,
}

impl<W: Write> PcapNgSink<W> {
    pub fn new(out: W) -> io::Result<PcapNgSink<W>> {
        Ok(PcapNgSink {
            out: PcapNgWriter::new(out).map_err(pcap_io)?,
            channels: Channels::new(0),
            packet: Vec::with_capacity(72),
        })
    }
}

fn pcap_io(e: pcap_file::PcapError) -> io::Error {
    match e {
        pcap_file::PcapError::IoError(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

impl<W: Write> FrameSink for PcapNgSink<W> {
    fn comment(&mut self, _text: &str) -> io::Result<()> {
        Ok(())
    }

    fn frame(&mut self, f: &CanFrame) -> io::Result<()> {
        let (iface, new) = self.channels.of_new(f.iface);
        if new {
            let mut options = vec![InterfaceDescriptionOption::IfTsResol(9)];
            if !f.iface.as_str().is_empty() {
                options.push(InterfaceDescriptionOption::IfName(Cow::Owned(
                    f.iface.as_str().to_string(),
                )));
            }
            self.out
                .write_pcapng_block(InterfaceDescriptionBlock {
                    linktype: pcap_file::DataLink::CAN_SOCKETCAN,
                    snaplen: 0,
                    options,
                })
                .map_err(pcap_io)?;
        }
        super::socketcan::encode(f, &mut self.packet);
        self.out
            .write_pcapng_block(EnhancedPacketBlock {
                interface_id: iface,
                timestamp: Duration::from_micros(f.timestamp_us),
                original_len: self.packet.len() as u32,
                data: Cow::Borrowed(&self.packet),
                options: vec![],
            })
            .map_err(pcap_io)?;
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.get_mut().flush()
    }
}
