//! The rules' conditions, one file per part of the car they look at. Each
//! is a function over the [`Facts`](super::facts::Facts) that hands back
//! its [`Support`](super::facts::Support) when it fires; the table in
//! [`super::table`] names them.

mod aftermarket;
mod bcm;
mod bus;
mod dtc;
mod fob;
mod lid;
mod refusal;

pub(in crate::verdict) use aftermarket::*;
pub(in crate::verdict) use bcm::*;
pub(in crate::verdict) use bus::*;
pub(in crate::verdict) use dtc::*;
pub(in crate::verdict) use fob::*;
pub(in crate::verdict) use lid::*;
pub(in crate::verdict) use refusal::*;
