//! `[[bus]]` (or the old single `[bus]`): each bus's name, kind
//! (high-speed, or GM's single-wire CAN at 33333 bit/s on pin 1), bitrate,
//! CAN FD flag, OBD-II connector pins and provenance. The first is the
//! default.

use super::*;
use crate::frame::SINGLE_WIRE_BITRATE;

/// The name of the one bus an old-style `[bus]` table describes.
pub(crate) const DEFAULT_BUS: &str = "hs-can";

impl Builder {
    /// Every bus, the default first (one default bus when absent).
    pub(super) fn buses(&mut self, bus: &Section<schema::Buses>, need_profile: bool) -> Vec<Bus> {
        let Some((fi, section)) = bus else {
            if need_profile {
                self.at(
                    0,
                    0..0,
                    "expected [[bus]] tables (name, kind, bitrate, fd, pins, level, source)",
                );
            }
            return Vec::new();
        };
        let fi = *fi;
        let tables: Vec<(&schema::Bus, Range<usize>, bool)> = match section.get_ref() {
            schema::Buses::One(b) => vec![(&**b, section.span(), true)],
            schema::Buses::Many(v) => v.iter().map(|b| (b.get_ref(), b.span(), false)).collect(),
        };
        if tables.is_empty() && need_profile {
            self.at(fi, section.span(), "expected at least one [[bus]] table");
        }
        // Names first, so that items may name any bus of the profile.
        let names: Vec<String> = tables
            .iter()
            .map(|(b, _, one)| match &b.name {
                Some(n) => n.get_ref().clone(),
                None if *one => DEFAULT_BUS.to_owned(),
                None => String::new(),
            })
            .collect();
        self.bus_names = names.clone();
        let mut out = Vec::new();
        for ((b, span, one), name) in tables.into_iter().zip(names) {
            if name.trim().is_empty() {
                self.at(
                    fi,
                    span.clone(),
                    "expected a `name` for this [[bus]] (e.g. \"hs-can\", \"ms-can\")",
                );
            } else if out.iter().any(|x: &Bus| x.name == name) {
                self.at(
                    fi,
                    span.clone(),
                    format!("expected each bus name once; \"{name}\" is given twice"),
                );
            }
            let kind = match &b.kind {
                None => BusKind::HighSpeed,
                Some(k) => BusKind::from_name(k.get_ref()).unwrap_or_else(|| {
                    self.at(
                        fi,
                        k.span(),
                        format!(
                            "expected a bus `kind` (high-speed, single-wire), found {:?}",
                            k.get_ref()
                        ),
                    );
                    BusKind::HighSpeed
                }),
            };
            let br = *b.bitrate.get_ref();
            if kind == BusKind::SingleWire {
                if br != SINGLE_WIRE_BITRATE {
                    self.at(
                        fi,
                        b.bitrate.span(),
                        format!(
                            "expected bitrate = {SINGLE_WIRE_BITRATE} for a single-wire bus \
                             (GM LS-GMLAN runs at 33.3 kbit/s), found {br}"
                        ),
                    );
                }
                if b.fd {
                    let at = b.kind.as_ref().map_or(span.clone(), |k| k.span());
                    self.at(
                        fi,
                        at,
                        "expected no `fd = true` on a single-wire bus: it is classic CAN only",
                    );
                }
            } else if !(10_000..=1_000_000).contains(&br) {
                self.at(
                    fi,
                    b.bitrate.span(),
                    format!("expected a bitrate from 10000 to 1000000 bit/s, found {br}"),
                );
            }
            let mut pins = Vec::new();
            if let Some(p) = &b.pins {
                for &pin in p.get_ref() {
                    match u8::try_from(pin) {
                        Ok(v) if (1..=16).contains(&v) => pins.push(v),
                        _ => self.at(
                            fi,
                            p.span(),
                            format!("expected OBD-II connector pins from 1 to 16, found {pin}"),
                        ),
                    }
                }
                // An error, not a guess: the pins are where the person puts
                // the adapter, and single-wire CAN at the OBD-II connector
                // is pin 1 only (no pins: the bus is not at the connector).
                let given = p.get_ref();
                if kind == BusKind::SingleWire && !given.is_empty() && given.as_slice() != [1] {
                    self.at(
                        fi,
                        p.span(),
                        format!(
                            "expected pins = [1] for a single-wire bus (LS-GMLAN is on OBD-II \
                             pin 1; leave `pins` out when it is not at the connector), found {given:?}"
                        ),
                    );
                }
            }
            let what = format!("bus \"{name}\"");
            let level = match &b.level {
                Some(l) => self.level(fi, l, &b.source, &what),
                None if one => Level::Placeholder,
                None => {
                    self.at(fi, span.clone(), format!("expected a `level` for {what} (this-model, related-model, placeholder or learned)"));
                    Level::Placeholder
                }
            };
            // `pins = []` says the bus is not at the connector (behind a
            // gateway); no `pins` says nothing about where it is.
            let off_connector = b.pins.as_ref().is_some_and(|p| p.get_ref().is_empty());
            let mut bus = Bus {
                name: name.clone(),
                kind,
                bitrate: br,
                fd: b.fd,
                pins,
                off_connector,
                item: ItemRef(0),
            };
            let kind_text = match kind {
                BusKind::HighSpeed => String::new(),
                BusKind::SingleWire => kind.label().to_owned(),
            };
            let location = [kind_text, bus.bitrate_text(), bus.pins_text()]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(", ");
            let info = ItemInfo {
                name: format!("{name} bus"),
                location,
                kind: ItemKind::Bus,
                role: None,
                level,
                source: self.source_text(fi, &b.source),
                bus: name,
            };
            bus.item = self.push_item(fi, span, info);
            out.push(bus);
        }
        out
    }
}
