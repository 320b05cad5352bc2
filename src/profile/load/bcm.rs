//! `[bcm]`: the diagnostic target (protocol, ids, addressing, the
//! exchanges the client uses, the DTC format).

use super::items::Named;
use super::*;

/// The protocols a `[bcm]` may name, by [`Protocol::as_str`].
const BCM_PROTOCOLS: [Protocol; 2] = [Protocol::Kwp, Protocol::Uds];

impl Builder {
    /// The `[bcm]` table; a missing one is a problem when a profile is built.
    pub(super) fn bcm_section(
        &mut self,
        bcm: &Section<schema::Bcm>,
        need_profile: bool,
    ) -> Option<Bcm> {
        match bcm {
            Some((fi, b)) => Some(self.bcm(*fi, b.get_ref())),
            None => {
                if need_profile {
                    self.at(0, 0..0, "expected a [bcm] table (diagnostic target)");
                }
                None
            }
        }
    }

    /// `addressing`, and with "extended" its `target_address` (required) and
    /// `source_address` (the target's by default).
    fn addressing(&mut self, fi: usize, b: &schema::Bcm) -> Addressing {
        let byte = |this: &mut Self, v: &Option<Spanned<u32>>, key: &str| -> Option<u8> {
            let v = v.as_ref()?;
            match u8::try_from(*v.get_ref()) {
                Ok(x) => Some(x),
                Err(_) => {
                    this.at(
                        fi,
                        v.span(),
                        format!(
                            "expected {key} from 0x00 to 0xFF, found 0x{:X}",
                            v.get_ref()
                        ),
                    );
                    None
                }
            }
        };
        match b
            .addressing
            .as_ref()
            .map(|a| (a.get_ref().as_str(), a.span()))
        {
            None | Some(("normal", _)) => {
                for (v, key) in [
                    (&b.target_address, "target_address"),
                    (&b.source_address, "source_address"),
                ] {
                    if let Some(v) = v {
                        self.at(fi, v.span(), format!("expected no {key} with normal addressing (it needs addressing = \"extended\")"));
                    }
                }
                Addressing::Normal
            }
            Some(("extended", span)) => {
                let target = byte(self, &b.target_address, "target_address");
                let source = byte(self, &b.source_address, "source_address");
                match target {
                    Some(target) => Addressing::Extended {
                        target,
                        source: source.unwrap_or(target),
                    },
                    None => {
                        if b.target_address.is_none() {
                            self.at(fi, span, "expected `target_address` (the address byte before each frame's N_PCI) with addressing = \"extended\"");
                        }
                        Addressing::Normal
                    }
                }
            }
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

    pub(super) fn bcm(&mut self, fi: usize, b: &schema::Bcm) -> Bcm {
        let text = b.protocol.get_ref().as_str();
        let protocol = match BCM_PROTOCOLS.into_iter().find(|p| p.as_str() == text) {
            Some(p) => p,
            None => {
                self.at(
                    fi,
                    b.protocol.span(),
                    format!("expected protocol \"kwp\" or \"uds\", found \"{text}\""),
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
            location: match addressing {
                Addressing::Normal => format!("0x{request_id} → 0x{response_id}"),
                Addressing::Extended { target, source } => {
                    format!("0x{request_id} [{target:02X}] → 0x{response_id} [{source:02X}]")
                }
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
            other => {
                self.at(fi, f.span(), format!("expected dtc_format \"kwp-2byte\", \"uds-3byte\" or \"obd\", found \"{other}\""));
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
}
