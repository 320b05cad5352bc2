//! Criterion benches of the replay path: candump and pcap parsing (throughput
//! in bytes of capture), candump, ASC, TRC and CSV parsing of the same
//! frames (throughput in frames), passive ISO-TP reassembly (throughput in frames),
//! and the whole replay diagnosis (capture bytes to verdict).
//! All on the deterministic capture of `benches/common/gen.rs`, at a size
//! that fits criterion's many iterations (the 2-million-frame comparison with
//! peers is `scripts/bench`).

use std::hint::black_box;
use std::io::Cursor;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use trunkdiag::analyzer::Analyzer;
use trunkdiag::capture::format::sink;
use trunkdiag::capture::{CaptureReader, Census, Format, IdSet, ReadOptions};
use trunkdiag::diagnose::feed_capture;
use trunkdiag::evidence::Observations;
use trunkdiag::frame::{CanFrame, CanId};
use trunkdiag::isotp::{Addressing, Reassembler};

#[path = "common/gen.rs"]
mod gen;

const FRAMES: u64 = 200_000;

fn candump_log() -> Vec<u8> {
    let mut log = Vec::new();
    gen::generate(FRAMES, &mut log).expect("writing to memory");
    log
}

fn read_all(bytes: &[u8]) -> u64 {
    let mut r = CaptureReader::from_reader(
        "bench.log",
        Box::new(Cursor::new(bytes.to_vec())),
        ReadOptions::default(),
    )
    .expect("a capture");
    let mut n = 0;
    while let Some(f) = r.next_frame_ref().expect("a well-formed capture") {
        n += black_box(f.timestamp_us) & 1;
    }
    n
}

/// The analyzer's way: whole frames of the BCM pair and the trunk
/// broadcast only, the rest counted per id.
fn read_filtered(bytes: &[u8]) -> u64 {
    let mut wanted = IdSet::new();
    for id in [0x745, 0x765, 0x60D] {
        wanted.insert(id);
    }
    let mut census = Census::default();
    let mut r = CaptureReader::from_reader(
        "bench.log",
        Box::new(Cursor::new(bytes.to_vec())),
        ReadOptions::default(),
    )
    .expect("a capture");
    let mut n = 0;
    while let Some(f) = r
        .next_frame_of(&wanted, &mut census)
        .expect("a well-formed capture")
    {
        n += black_box(f.timestamp_us) & 1;
    }
    n + census.total()
}

fn frames_of(log: &[u8]) -> Vec<CanFrame> {
    CaptureReader::from_reader(
        "bench.log",
        Box::new(Cursor::new(log.to_vec())),
        ReadOptions::default(),
    )
    .expect("a capture")
    .collect::<Result<_, _>>()
    .expect("a well-formed capture")
}

/// The same frames as a pcap with the SocketCAN link type.
fn pcap_of(frames: &[CanFrame]) -> Vec<u8> {
    let header = PcapHeader {
        datalink: pcap_file::DataLink::CAN_SOCKETCAN,
        ..PcapHeader::default()
    };
    let mut w = PcapWriter::with_header(Vec::new(), header).expect("a pcap header");
    for f in frames {
        let mut data = [0u8; 16];
        data[..4].copy_from_slice(&f.id.raw().to_be_bytes());
        data[4] = f.len() as u8;
        data[8..8 + f.len()].copy_from_slice(f.data());
        let packet = PcapPacket::new(Duration::from_micros(f.timestamp_us), 16, &data[..]);
        w.write_packet(&packet).expect("writing to memory");
    }
    w.into_writer()
}

fn parsing(c: &mut Criterion) {
    let log = candump_log();
    let frames = frames_of(&log);
    let pcap = pcap_of(&frames);
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Bytes(log.len() as u64));
    g.bench_function("candump", |b| b.iter(|| read_all(black_box(&log))));
    g.bench_function("candump_filtered", |b| {
        b.iter(|| read_filtered(black_box(&log)))
    });
    g.throughput(Throughput::Bytes(pcap.len() as u64));
    g.bench_function("pcap", |b| b.iter(|| read_all(black_box(&pcap))));
    g.finish();
}

/// The same frames written in `format` by trunkdiag's own writer.
fn written_as(frames: &[CanFrame], format: Format) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = sink(format, &mut out).expect("writing to memory");
        for f in frames {
            w.frame(f).expect("writing to memory");
        }
        w.finish().expect("writing to memory");
    }
    out
}

/// Per frame, the text formats against candump on the same frames (issue
/// 12: ASC and TRC within 3x of candump); throughput in frames.
fn formats(c: &mut Criterion) {
    let log = candump_log();
    let frames = frames_of(&log);
    let asc = written_as(&frames, Format::Asc);
    let trc = written_as(&frames, Format::Trc);
    let csv = written_as(&frames, Format::Csv);
    let mut g = c.benchmark_group("formats");
    g.throughput(Throughput::Elements(frames.len() as u64));
    g.bench_function("candump", |b| b.iter(|| read_all(black_box(&log))));
    g.bench_function("asc", |b| b.iter(|| read_all(black_box(&asc))));
    g.bench_function("trc", |b| b.iter(|| read_all(black_box(&trc))));
    g.bench_function("csv", |b| b.iter(|| read_all(black_box(&csv))));
    g.finish();
}

fn reassembly(c: &mut Criterion) {
    let frames = frames_of(&candump_log());
    let mut g = c.benchmark_group("isotp");
    g.throughput(Throughput::Elements(frames.len() as u64));
    g.bench_function("reassemble_bcm_pair", |b| {
        b.iter(|| {
            let mut r = Reassembler::new();
            r.follow_pair(
                CanId::Standard(0x745),
                CanId::Standard(0x765),
                Addressing::Normal,
            );
            let mut messages = 0usize;
            for f in &frames {
                if let Some(m) = r.feed(f) {
                    messages += m.payload.len();
                }
                while let Some(m) = r.next_pending() {
                    messages += m.payload.len();
                }
            }
            messages + r.finish().len()
        })
    });
    g.finish();
}

/// The replay diagnosis of `log` to a verdict: the fast path
/// (`feed_capture`, what `diagnose --replay` runs) or every frame built and
/// fed (the simple path it must equal).
fn diagnose(log: &[u8], profile: &trunkdiag::profile::Profile, fast: bool) -> usize {
    let mut r = CaptureReader::from_reader(
        "bench.log",
        Box::new(Cursor::new(log.to_vec())),
        ReadOptions::default(),
    )
    .expect("a capture");
    let mut a = Analyzer::new(profile);
    if fast {
        feed_capture(&mut r, &mut a).expect("a well-formed capture");
    } else {
        while let Some(f) = r.next_frame().expect("a well-formed capture") {
            a.feed(&f);
        }
    }
    let (ev, _) = a.finish(Observations::default());
    trunkdiag::verdict::diagnose(profile, &ev).len()
}

fn replay(c: &mut Criterion) {
    let log = candump_log();
    let profile = trunkdiag::profile::load("nissan-altima-2013-2018").expect("a bundled profile");
    let mut g = c.benchmark_group("replay");
    g.throughput(Throughput::Bytes(log.len() as u64));
    g.bench_function("diagnose", |b| {
        b.iter(|| diagnose(black_box(&log), &profile, true))
    });
    g.bench_function("diagnose_every_frame_fed", |b| {
        b.iter(|| diagnose(black_box(&log), &profile, false))
    });
    g.finish();
}

criterion_group!(benches, parsing, formats, reassembly, replay);
criterion_main!(benches);
