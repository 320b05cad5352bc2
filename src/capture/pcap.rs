//! pcap and pcapng captures, read with the `pcap-file` crate: records and
//! blocks in, SocketCAN frames out (decoded by [`super::socketcan`]),
//! timestamps scaled by the interface's resolution and offset.

use std::io;

use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::TsResolution;

use super::error::{CaptureError, PacketUnit};
use super::open::Peeked;
use super::open::ReadOptions;
use super::parse_error::{HeaderError, PacketError};
use super::socketcan::{self, Link};
use crate::frame::{CanFrame, IfName};

/// The name given to frames of a pcap / unnamed pcapng interface `n`.
fn pcap_iface(n: usize) -> IfName {
    IfName::new(&format!("pcap{n}")).unwrap_or_default()
}

pub(crate) struct PcapStream {
    reader: PcapReader<Peeked>,
    link: Link,
    nanos: bool,
    /// Packets read so far (the 1-based index of the last one).
    index: u64,
    iface: IfName,
    pub(crate) bad: u64,
}

/// A pcap-file error with its cause named (the crate's own message alone
/// says "Error reading bytes").
fn packet_error(e: pcap_file::PcapError) -> PacketError {
    match e {
        pcap_file::PcapError::IoError(io) if io.kind() == io::ErrorKind::UnexpectedEof => {
            PacketError::Truncated(io)
        }
        pcap_file::PcapError::IoError(io) => PacketError::Read(io),
        other => PacketError::Malformed(other),
    }
}

/// The error of record `index` (a pcap packet, a pcapng block) of `file`.
fn record_error(
    file: &str,
    unit: PacketUnit,
    index: u64,
) -> impl Fn(PacketError) -> CaptureError + '_ {
    move |source| CaptureError::Packet {
        file: file.to_string(),
        unit,
        index,
        source,
    }
}

/// A decoded packet as the read goes on: its frame, nothing (not a CAN
/// frame, or undecodable and counted in `bad` when lenient), or the error.
fn settle(
    decoded: Result<Option<CanFrame>, PacketError>,
    opts: ReadOptions,
    bad: &mut u64,
) -> Result<Option<CanFrame>, PacketError> {
    match decoded {
        Err(_) if opts.lenient => {
            *bad += 1;
            Ok(None)
        }
        other => other,
    }
}

impl PcapStream {
    /// Reads the file header.
    pub(crate) fn new(stream: Peeked) -> Result<PcapStream, HeaderError> {
        let reader = PcapReader::new(stream).map_err(HeaderError::Pcap)?;
        let header = reader.header();
        let link = Link::from_datalink(header.datalink)
            .ok_or(HeaderError::LinkType(u32::from(header.datalink)))?;
        Ok(PcapStream {
            nanos: header.ts_resolution == TsResolution::NanoSecond,
            reader,
            link,
            index: 0,
            iface: pcap_iface(0),
            bad: 0,
        })
    }

    pub(crate) fn next_frame(
        &mut self,
        name: &str,
        opts: ReadOptions,
    ) -> Result<Option<CanFrame>, CaptureError> {
        loop {
            let Some(raw) = self.reader.next_raw_packet() else {
                return Ok(None);
            };
            self.index += 1;
            let packet_err = record_error(name, PacketUnit::Packet, self.index);
            // A broken record header leaves no way to find the next record:
            // fatal even when lenient.
            let raw = raw.map_err(|e| packet_err(packet_error(e)))?;
            let (frac_us, frac_ok) = if self.nanos {
                (raw.ts_frac / 1000, raw.ts_frac < 1_000_000_000)
            } else {
                (raw.ts_frac, raw.ts_frac < 1_000_000)
            };
            let decoded = if frac_ok {
                socketcan::decode_link(self.link, &raw.data, opts.byte_swapped_ids)
            } else {
                Err(PacketError::SubSecond(raw.ts_frac))
            };
            if let Some(frame) = settle(decoded, opts, &mut self.bad).map_err(packet_err)? {
                let ts = u64::from(raw.ts_sec) * 1_000_000 + u64::from(frac_us);
                return Ok(Some(frame.at(ts).on(self.iface)));
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
    ) -> Result<NgInterface, PacketError> {
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
                    units_per_s = units.filter(|u| *u > 0).ok_or(PacketError::TsResol(*r))?;
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

pub(crate) struct PcapNgStream {
    reader: PcapNgReader<Peeked>,
    /// Blocks read so far, the section header included.
    index: u64,
    interfaces: Vec<NgInterface>,
    pub(crate) bad: u64,
}

impl PcapNgStream {
    /// Reads the section header block.
    pub(crate) fn new(stream: Peeked) -> Result<PcapNgStream, HeaderError> {
        Ok(PcapNgStream {
            reader: PcapNgReader::new(stream).map_err(HeaderError::PcapNg)?,
            index: 1,
            interfaces: Vec::new(),
            bad: 0,
        })
    }

    pub(crate) fn next_frame(
        &mut self,
        name: &str,
        opts: ReadOptions,
    ) -> Result<Option<CanFrame>, CaptureError> {
        loop {
            let Some(block) = self.reader.next_block() else {
                return Ok(None);
            };
            self.index += 1;
            let block_err = record_error(name, PacketUnit::Block, self.index);
            let block = block.map_err(|e| block_err(packet_error(e)))?;
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
                return Err(block_err(PacketError::Interface {
                    described: self.interfaces.len(),
                    found: iface_no,
                }));
            };
            // Other link types (Ethernet next to CAN in one capture) are not ours.
            let Some(link) = interface.link else {
                continue;
            };
            let decoded = socketcan::decode_link(link, data, opts.byte_swapped_ids);
            if let Some(frame) = settle(decoded, opts, &mut self.bad).map_err(&block_err)? {
                return Ok(Some(frame.at(interface.micros(raw_ts)).on(interface.iface)));
            }
        }
    }
}
