//! `[profile]`: the id, model years and VIN patterns.

use super::*;

impl Builder {
    /// Model years and VIN patterns; a missing `[profile]` is a problem
    /// when a profile (not a layout) is being built.
    pub(super) fn identity(
        &mut self,
        identity: &Section<schema::Identity>,
        need_profile: bool,
    ) -> ((u16, u16), Vec<VinPattern>) {
        let mut years = (0u16, 0u16);
        let mut vins = Vec::new();
        if let Some((fi, id)) = identity {
            let idn = id.get_ref();
            match idn.years.get_ref().as_slice() {
                [a, b] if a <= b && *a >= 1980 => years = (*a, *b),
                _ => self.at(
                    *fi,
                    idn.years.span(),
                    "expected `years = [first, last]` with first <= last, from 1980",
                ),
            }
            let id_ok = !idn.id.get_ref().is_empty()
                && idn
                    .id
                    .get_ref()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !id_ok {
                self.at(
                    *fi,
                    idn.id.span(),
                    "expected a profile id of lowercase letters, digits and '-'",
                );
            }
            for v in &idn.vin {
                if v.wmi.get_ref().len() != 3
                    || !v.wmi.get_ref().chars().all(|c| c.is_ascii_alphanumeric())
                {
                    self.at(
                        *fi,
                        v.wmi.span(),
                        "expected a 3-character WMI (VIN positions 1-3)",
                    );
                }
                for p in &v.vds_prefix {
                    let text = p.get_ref();
                    if text.len() > 6
                        || text.is_empty()
                        || !text.chars().all(|c| c.is_ascii_alphanumeric() || c == '?')
                    {
                        self.at(
                            *fi,
                            p.span(),
                            "expected a VDS prefix of 1-6 letters or digits (VIN positions 4-9; `?` for any character)",
                        );
                    }
                }
                const YEAR_CHARS: &str = "ABCDEFGHJKLMNPRSTVWXY123456789";
                if v.year_chars.get_ref().is_empty()
                    || !v
                        .year_chars
                        .get_ref()
                        .chars()
                        .all(|c| YEAR_CHARS.contains(c))
                {
                    self.at(*fi, v.year_chars.span(), "expected model-year characters (VIN position 10: A-Y without I O Q U Z, or 1-9)");
                }
                vins.push(VinPattern {
                    wmi: v.wmi.get_ref().to_ascii_uppercase(),
                    vds_prefixes: v
                        .vds_prefix
                        .iter()
                        .map(|p| p.get_ref().to_ascii_uppercase())
                        .collect(),
                    year_chars: v.year_chars.get_ref().clone(),
                });
            }
        } else if need_profile {
            self.at(0, 0..0, "expected a [profile] table");
        }
        (years, vins)
    }
}
