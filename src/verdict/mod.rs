//! Rules that turn an [`Evidence`](crate::evidence::Evidence) record and a
//! [`Profile`](crate::profile::Profile) into ranked verdicts.

mod cause;

pub use cause::{Cause, CAUSE_IDS};
