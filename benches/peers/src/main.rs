//! `peers gen FRAMES OUT [dense]`: writes the deterministic benchmark
//! capture (the sparse workload, or the dense one).
//! `peers socketcan-dump FILE`: parses FILE with the socketcan crate's
//! `dump::Reader` and prints the frame count (parse only, the baseline the
//! issue compares trunkdiag with).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

#[path = "../../common/gen.rs"]
mod gen;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["gen", frames, out] => generate(frames, out, gen::Workload::Sparse),
        ["gen", frames, out, "dense"] => generate(frames, out, gen::Workload::Dense),
        ["socketcan-dump", file] => socketcan_dump(file),
        _ => Err("usage: peers gen FRAMES OUT [dense] | peers socketcan-dump FILE".to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("peers: {e}");
            ExitCode::FAILURE
        }
    }
}

fn generate(frames: &str, out: &str, workload: gen::Workload) -> Result<(), String> {
    let frames: u64 = frames
        .parse()
        .map_err(|e| format!("expected a frame count, found {frames:?}: {e}"))?;
    let file = File::create(out).map_err(|e| format!("{out}: {e}"))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    match workload {
        gen::Workload::Sparse => gen::generate(frames, &mut w),
        dense => gen::generate_workload(frames, dense, &mut w),
    }
    .map_err(|e| format!("{out}: {e}"))?;
    w.flush().map_err(|e| format!("{out}: {e}"))
}

fn socketcan_dump(file: &str) -> Result<(), String> {
    let mut reader =
        socketcan::dump::Reader::from_file(file).map_err(|e| format!("{file}: {e}"))?;
    let mut frames = 0u64;
    // Keep something of each record alive so the parse is not optimised out.
    let mut last_us = 0u64;
    while let Some(rec) = reader
        .next_record()
        .map_err(|e| format!("{file}: record {}: {e}", frames + 1))?
    {
        frames += 1;
        last_us = rec.t_us;
    }
    println!("{frames} frames, last at {last_us} us");
    Ok(())
}
