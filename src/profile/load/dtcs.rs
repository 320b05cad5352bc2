//! `[[cause]]` and `[[dtc]]`: causes the profile adds, and what its
//! trouble codes mean.

use super::*;
use crate::cause::CAUSE_IDS;
use crate::diag::Dtc;

impl Builder {
    /// The causes the profile adds; a built-in cause id may not be redefined.
    pub(super) fn causes(&mut self, parts: &mut [Part]) -> Vec<ExtraCause> {
        let mut causes = Vec::new();
        for (fi, part) in parts.iter_mut() {
            for c in std::mem::take(&mut part.cause) {
                if CAUSE_IDS.contains(&c.id.get_ref().as_str()) {
                    self.at(*fi, c.id.span(), format!("expected a new cause id; `{}` is a built-in cause and may not be redefined", c.id.get_ref()));
                }
                causes.push(ExtraCause {
                    id: c.id.get_ref().clone(),
                    summary: c.summary,
                    next_steps: c.next_steps,
                });
            }
        }
        causes
    }

    /// The DTC meanings; each code once, each cause known.
    pub(super) fn dtcs(&mut self, parts: &mut [Part], causes: &[ExtraCause]) -> Vec<DtcMeaning> {
        let mut dtcs = Vec::new();
        let mut dtc_codes = HashSet::new();
        for (fi, part) in parts.iter_mut() {
            for d in std::mem::take(&mut part.dtc) {
                let code = match d.code.get_ref().parse::<Dtc>() {
                    Ok(code) if is_dtc_code(d.code.get_ref()) => Some(code),
                    _ => {
                        self.at(*fi, d.code.span(), format!("expected a DTC letter code like \"B2562\" or \"U3003:16\", found \"{}\"", d.code.get_ref()));
                        None
                    }
                };
                if !dtc_codes.insert(d.code.get_ref().to_ascii_uppercase()) {
                    self.at(
                        *fi,
                        d.code.span(),
                        format!(
                            "expected each DTC once; {} is defined twice",
                            d.code.get_ref()
                        ),
                    );
                }
                if let Some(c) = &d.cause {
                    let known = CAUSE_IDS.contains(&c.get_ref().as_str())
                        || causes.iter().any(|x: &ExtraCause| &x.id == c.get_ref());
                    if !known {
                        self.at(*fi, c.span(), format!("expected a cause id (built in: {}; or a [[cause]] of this profile), found \"{}\"", CAUSE_IDS.join(", "), c.get_ref()));
                    }
                }
                let what = format!("DTC {}", d.code.get_ref());
                let level = self.level(*fi, &d.level, &d.source, &what);
                let source = self.source_text(*fi, &d.source);
                self.bus_of(*fi, &d.bus, None);
                // A code that does not parse is a problem above: the
                // profile does not load.
                let Some(code) = code else { continue };
                dtcs.push(DtcMeaning {
                    code,
                    meaning: d.meaning,
                    cause: d.cause.map(|c| c.into_inner()),
                    advice: d.advice,
                    source,
                    level,
                });
            }
        }
        dtcs
    }
}
