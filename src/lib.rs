//! trunkdiag: why won't this trunk open? Answered from the car's CAN bus.
//!
//! See ARCHITECTURE.md for the map of modules and their boundaries.
#![forbid(unsafe_code)]

pub mod analyzer;
pub mod batch;
pub mod capture;
pub mod cause;
pub mod cli;
pub mod conversation;
pub mod diag;
pub mod diagnose;
pub mod evidence;
pub mod frame;
pub mod hex;
pub mod identify;
pub mod isotp;
pub mod learn;
pub mod observation;
pub mod preflight;
pub mod profile;
pub mod relearn;
pub mod seconds;
pub mod sim;
pub mod tester;
pub mod transport;
pub mod verdict;
