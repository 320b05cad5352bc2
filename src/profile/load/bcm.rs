//! `[bcm]`: the diagnostic target (protocol, ids, addressing, the
//! exchanges the client uses, the DTC format).

use super::items::Named;
use super::*;

/// The protocols a `[bcm]` may name, by [`Protocol::as_str`].
const BCM_PROTOCOLS: [Protocol; 3] = [Protocol::Kwp, Protocol::Uds, Protocol::Gmlan];

impl Builder {
    /// The `[bcm]` table. A profile without one reads broadcasts only: for
    /// a car whose body module's address is not published, guessing one
    /// would present a guess as fact.
    pub(super) fn bcm_section(&mut self, bcm: &Section<schema::Bcm>) -> Option<Bcm> {
        bcm.as_ref().map(|(fi, b)| self.bcm(*fi, b.get_ref()))
    }

    pub(super) fn bcm(&mut self, fi: usize, b: &schema::Bcm) -> Bcm {
        let text = b.protocol.get_ref().as_str();
        let protocol = match BCM_PROTOCOLS.into_iter().find(|p| p.as_str() == text) {
            Some(p) => p,
            None => {
                self.at(
                    fi,
                    b.protocol.span(),
                    format!("expected protocol \"kwp\", \"uds\" or \"gmlan\", found \"{text}\""),
                );
                Protocol::Uds
            }
        };
        let addressing = self.addressing(fi, b);
        let request_id = self.can_id(fi, &b.request_id, false);
        let response_id = self.can_id(fi, &b.response_id, false);
        if request_id == response_id {
            self.at(
                fi,
                b.response_id.span(),
                "expected a response id different from the request id",
            );
        }
        let name = b.name.clone().unwrap_or_else(|| "BCM".to_owned());
        let named = Named {
            name: format!("{name} diagnostic ids"),
            location: {
                let (to, from) = addressing.labels();
                format!("0x{request_id}{to} → 0x{response_id}{from}")
            },
            kind: ItemKind::Addressing,
            role: None,
            bus: None,
        };
        let addressing_item = self.item(fi, b.request_id.span(), named, b);
        // Its exchanges and data reads are on the bus it answers on.
        let bus = self
            .items
            .get(usize::from(addressing_item.0))
            .map(|i| i.bus.clone())
            .unwrap_or_default();
        self.bcm_bus = Some(bus.clone());
        let [session, keep_alive, dtc_read, dtc_clear, part_number] = [
            (&b.session, "session start"),
            (&b.keep_alive, "keep-alive"),
            (&b.dtc_read, "DTC read"),
            (&b.dtc_clear, "DTC clear"),
            (&b.part_number, "part number"),
        ]
        .map(|(e, name)| e.as_ref().map(|e| self.exchange(fi, name, e)));
        let dtc_format = b.dtc_format.as_ref().and_then(|f| match f.get_ref().as_str() {
            "kwp-2byte" => Some(DtcFormat::Kwp2Byte),
            "uds-3byte" => Some(DtcFormat::Uds3Byte),
            "obd" => Some(DtcFormat::Obd),
            "gmlan-uudt" => Some(DtcFormat::GmlanUudt),
            other => {
                self.at(fi, f.span(), format!("expected dtc_format \"kwp-2byte\", \"uds-3byte\", \"obd\" or \"gmlan-uudt\", found \"{other}\""));
                None
            }
        });
        if dtc_read.is_some() && dtc_format.is_none() && b.dtc_format.is_none() {
            self.at(
                fi,
                b.protocol.span(),
                "expected `dtc_format` when [bcm.dtc_read] is given",
            );
        }
        let keep_alive_period_ms = b.keep_alive_period_ms.as_ref().map(|p| {
            if !(100..=10_000).contains(p.get_ref()) {
                self.at(
                    fi,
                    p.span(),
                    "expected keep_alive_period_ms from 100 to 10000",
                );
            }
            *p.get_ref()
        });
        if keep_alive.is_some() && keep_alive_period_ms.is_none() {
            self.at(
                fi,
                b.protocol.span(),
                "expected `keep_alive_period_ms` when [bcm.keep_alive] is given",
            );
        }
        Bcm {
            name,
            protocol,
            request_id,
            response_id,
            addressing,
            answers: b.answers,
            addressing_item,
            bus,
            session,
            keep_alive,
            keep_alive_period_ms,
            dtc_read,
            dtc_format,
            dtc_clear,
            part_number,
        }
    }

    /// `addressing`, `target_address` and `source_address`: normal takes
    /// no address byte, extended needs `target_address`; each is 0..=255.
    fn addressing(&mut self, fi: usize, b: &schema::Bcm) -> Addressing {
        let mut byte = |key: &str, v: &Option<Spanned<i64>>| {
            v.as_ref().map(|v| match u8::try_from(*v.get_ref()) {
                Ok(x) => (x, v.span()),
                Err(_) => {
                    self.at(
                        fi,
                        v.span(),
                        format!("expected {key} from 0 to 255 (0xFF), found {}", v.get_ref()),
                    );
                    (0, v.span())
                }
            })
        };
        let target = byte("target_address", &b.target_address);
        let source = byte("source_address", &b.source_address);
        match b
            .addressing
            .as_ref()
            .map(|a| (a.get_ref().as_str(), a.span()))
        {
            None | Some(("normal", _)) => {
                for (key, given) in [("target_address", &target), ("source_address", &source)] {
                    if let Some((_, span)) = given {
                        self.at(
                            fi,
                            span.clone(),
                            format!("expected no {key} with normal addressing (it takes `addressing = \"extended\"`)"),
                        );
                    }
                }
                Addressing::Normal
            }
            Some(("extended", span)) => match target {
                Some((target, _)) => Addressing::Extended {
                    target,
                    source: source.map_or(target, |(s, _)| s),
                },
                None => {
                    self.at(
                        fi,
                        span,
                        "expected `target_address` (the byte before the N_PCI, e.g. 0x40) with addressing = \"extended\"",
                    );
                    Addressing::Normal
                }
            },
            Some((other, span)) => {
                self.at(
                    fi,
                    span,
                    format!("expected addressing \"normal\" or \"extended\", found \"{other}\""),
                );
                Addressing::Normal
            }
        }
    }
}
