//! The reader as a whole: formats, gzip, buffering, filtering, errors
//! with their positions, and the fast candump path against the simple one.

use std::io::{self, Cursor, Read};
use std::path::Path;

use super::candump::{self, LineError};
use super::lines::{LineBuf, CHUNK, MIN_BUF};
use super::open::{Peeked, Source};
use super::*;
use crate::frame::{CanFrame, CanId, Direction, FrameKind};
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

const LOG: &[u8] = b"# start\n(1.000000) can0 641#0210030000000000\n(2.000000) can0 651#065003\n";

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
        format!(
            "mem.log: unknown capture format: expected {}",
            format::expected_list()
        )
    );
    assert!(err.ends_with(" or SavvyCAN CSV file"), "{err}");
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
    let log = b"(2.00) can0 123#01\n(1.50) can1 124#02\n(1.60) can1 124#03\n(1.55) can0 123#04\n";
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

/// `next_frame_of` handed out the frame of the reader's pcap slot for ASC,
/// TRC and CSV logs, whose frames are built in the text stream: a stale or
/// empty frame for every wanted id of a replayed text log.
#[test]
fn filtered_reading_of_text_formats_hands_out_the_frames_read() {
    let mut log = Vec::new();
    gen::generate(3_000, &mut log).unwrap();
    let frames = all(log, ReadOptions::default()).unwrap();
    for format in [Format::Asc, Format::Trc, Format::Csv] {
        let mut out = Vec::new();
        {
            let mut w = format::sink(format, &mut out).unwrap();
            for f in &frames {
                w.frame(f).unwrap();
            }
            w.finish().unwrap();
        }
        assert_eq!(
            reader(out.clone(), ReadOptions::default())
                .unwrap()
                .format(),
            format
        );
        check_filtered(out.clone(), &[0x745, 0x765, 0x60D], ReadOptions::default());
        check_filtered(out, &[], ReadOptions::default());
    }
}

/// The error keeps the place and the format, and the reader's own error
/// (with the I/O error below it) as its source chain.
#[test]
fn errors_keep_the_place_and_the_reader_s_cause_as_source() {
    use std::error::Error as _;
    let asc = b"date Thu Nov 9 08:29:27.123 pm 2023\n0.1 1 123 Rx d 4 00 01\n".to_vec();
    let err = all(asc, ReadOptions::default()).unwrap_err();
    match &err {
        CaptureError::Record {
            file,
            line,
            format,
            source,
        } => {
            assert_eq!((file.as_str(), *line, *format), ("mem.log", 2, Format::Asc));
            assert_eq!(
                *source,
                RecordError::DataBytes {
                    expected: 4,
                    found: 2
                }
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.to_string(), "mem.log:2: expected 4 data bytes, found 2");
    assert_eq!(
        err.source().map(|s| s.to_string()).as_deref(),
        Some("expected 4 data bytes, found 2")
    );

    let mut p = pcap_header(227);
    p.extend([1, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 16, 0, 0, 0, 0, 0]);
    let err = all(p, ReadOptions::default()).unwrap_err();
    assert!(
        matches!(
            &err,
            CaptureError::Packet {
                unit: PacketUnit::Packet,
                index: 1,
                source: PacketError::Truncated(_),
                ..
            }
        ),
        "{err:?}"
    );
    let io = err
        .source()
        .and_then(|s| s.source())
        .expect("the I/O error");
    assert!(io.downcast_ref::<io::Error>().is_some(), "{io:?}");
}
