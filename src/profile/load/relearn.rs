//! `[relearn]`: the make's procedure to re-initialise a power liftgate or
//! trunk, as steps a person does, each confirmed by a value the profile
//! already reads (or a UDS routine's result).

use super::items::{Named, Sourced};
use super::*;

/// The longest a step may be watched: a person at the car, not a soak test.
const STEP_TIMEOUT_MAX_S: f64 = 600.0;

/// A relearn entry is an item like any other, on no bus of its own (it
/// confirms through items that have theirs).
struct RelearnEntry<'a> {
    source: &'a Option<Spanned<String>>,
    level: &'a Spanned<String>,
}

const NO_BUS: Option<Spanned<String>> = None;

impl Sourced for RelearnEntry<'_> {
    fn source(&self) -> &Option<Spanned<String>> {
        self.source
    }
    fn level(&self) -> &Spanned<String> {
        self.level
    }
    fn bus(&self) -> &Option<Spanned<String>> {
        &NO_BUS
    }
}

impl Builder {
    /// The procedure and its steps; each step's role must be one the
    /// profile reads, a routine needs a UDS body module.
    pub(super) fn relearn(
        &mut self,
        fi: usize,
        r: Spanned<schema::Relearn>,
        reads: &[DataRead],
        frames: &[BroadcastFrame],
        bcm: Option<&Bcm>,
    ) -> Option<Relearn> {
        let span = r.span();
        let r = r.into_inner();
        let roles_present: HashSet<Role> = reads
            .iter()
            .flat_map(|d| d.fields.iter())
            .chain(frames.iter().flat_map(|f| f.signals.iter()))
            .map(|f| f.role)
            .collect();
        if r.procedure.get_ref().trim().is_empty() {
            self.at(
                fi,
                r.procedure.span(),
                "expected the procedure's name, found an empty string",
            );
        }
        if r.step.is_empty() {
            self.at(fi, span.clone(), "expected at least one [[relearn.step]]");
        }
        let entry = RelearnEntry {
            source: &r.source,
            level: &r.level,
        };
        let named = Named {
            name: r.procedure.get_ref().clone(),
            location: format!("relearn, {} step(s)", r.step.len()),
            kind: ItemKind::Relearn,
            role: None,
            bus: None,
        };
        let item = self.item(fi, r.procedure.span(), named, &entry);
        let mut steps = Vec::new();
        for (n, s) in r.step.iter().enumerate() {
            if let Some(step) = self.relearn_step(fi, n + 1, s, &roles_present, bcm) {
                steps.push(step);
            }
        }
        // The gate's working is checked at the end: by the lid opening, or
        // by a routine's pass.
        let routine = steps
            .iter()
            .any(|s| matches!(s.confirm, Confirm::Routine { .. }));
        if !roles_present.contains(&Role::LidOpen) && !routine {
            self.at(
                fi,
                span,
                "expected a field or signal with role `lid_open` (or a routine step): the relearn ends by checking that the lid opens",
            );
        }
        Some(Relearn {
            procedure: r.procedure.into_inner(),
            item,
            steps,
        })
    }

    fn relearn_step(
        &mut self,
        fi: usize,
        n: usize,
        s: &Spanned<schema::RelearnStep>,
        roles_present: &HashSet<Role>,
        bcm: Option<&Bcm>,
    ) -> Option<RelearnStep> {
        let s = s.get_ref();
        for (text, what) in [(&s.action, "do"), (&s.if_not, "if_not")] {
            if text.get_ref().trim().is_empty() {
                self.at(
                    fi,
                    text.span(),
                    format!("expected `{what}` of relearn step {n} in plain words, found an empty string"),
                );
            }
        }
        let t = *s.timeout_s.get_ref();
        if !(t > 0.0 && t <= STEP_TIMEOUT_MAX_S) {
            self.at(
                fi,
                s.timeout_s.span(),
                format!("expected timeout_s of relearn step {n} above 0 and at most {STEP_TIMEOUT_MAX_S}, found {t}"),
            );
        }
        let confirm = self.confirm(fi, n, &s.confirm, roles_present, bcm);
        let location = confirm
            .as_ref()
            .map_or_else(|| "no confirmation".to_owned(), Confirm::words);
        let entry = RelearnEntry {
            source: &s.source,
            level: &s.level,
        };
        let named = Named {
            name: format!("relearn step {n}"),
            location,
            kind: ItemKind::Relearn,
            role: confirm.as_ref().and_then(Confirm::role),
            bus: None,
        };
        let item = self.item(fi, s.action.span(), named, &entry);
        Some(RelearnStep {
            action: s.action.get_ref().clone(),
            confirm: confirm?,
            timeout_us: (t.clamp(0.0, STEP_TIMEOUT_MAX_S) * 1e6) as u64,
            if_not: s.if_not.get_ref().clone(),
            item,
        })
    }

    fn confirm(
        &mut self,
        fi: usize,
        n: usize,
        c: &Spanned<schema::Confirm>,
        roles_present: &HashSet<Role>,
        bcm: Option<&Bcm>,
    ) -> Option<Confirm> {
        let span = c.span();
        let c = c.get_ref();
        let shape = "expected confirm = { role = \"...\", becomes = N }, { role = \"...\", equals = N } or { routine = 0xNNNN, pass = \"..\", fail = \"..\" }";
        match (&c.role, &c.routine) {
            (Some(role), None) => {
                if c.pass.is_some() || c.fail.is_some() {
                    self.at(
                        fi,
                        span,
                        format!("{shape}: `pass` and `fail` go with a routine (step {n})"),
                    );
                    return None;
                }
                let r = match Role::from_name(role.get_ref()) {
                    Some(r) => r,
                    None => {
                        self.at(
                            fi,
                            role.span(),
                            format!(
                                "expected a role for relearn step {n}, found \"{}\"",
                                role.get_ref()
                            ),
                        );
                        return None;
                    }
                };
                if !roles_present.contains(&r) {
                    self.at(
                        fi,
                        role.span(),
                        format!("expected a data field or signal with role `{r}` in this profile: relearn step {n} is confirmed by it"),
                    );
                }
                match (&c.becomes, &c.equals) {
                    (Some(v), None) => Some(Confirm::Becomes {
                        role: r,
                        value: *v.get_ref(),
                    }),
                    (None, Some(v)) => Some(Confirm::Equals {
                        role: r,
                        value: *v.get_ref(),
                    }),
                    _ => {
                        self.at(
                            fi,
                            span,
                            format!("{shape}: exactly one of `becomes` and `equals` (step {n})"),
                        );
                        None
                    }
                }
            }
            (None, Some(id)) => {
                if c.becomes.is_some() || c.equals.is_some() {
                    self.at(fi, span, format!("{shape}: a routine has `pass` and `fail`, not `becomes` or `equals` (step {n})"));
                    return None;
                }
                let raw = *id.get_ref();
                let Ok(id16) = u16::try_from(raw) else {
                    self.at(
                        fi,
                        id.span(),
                        format!("expected a routine identifier from 0x0000 to 0xFFFF, found {raw}"),
                    );
                    return None;
                };
                if bcm.is_none_or(|b| b.protocol != Protocol::Uds) {
                    self.at(fi, id.span(), format!("expected a UDS [bcm]: relearn step {n} runs a UDS routine (31 01 {id16:04X}) on the body module"));
                }
                let (Some(pass), Some(fail)) = (&c.pass, &c.fail) else {
                    self.at(
                        fi,
                        span,
                        format!("{shape}: a routine needs both `pass` and `fail` (step {n})"),
                    );
                    return None;
                };
                let pass_b = self.hex(fi, pass);
                let fail_b = self.hex(fi, fail);
                if !pass_b.is_empty()
                    && (pass_b.starts_with(&fail_b) || fail_b.starts_with(&pass_b))
                {
                    self.at(
                        fi,
                        fail.span(),
                        format!(
                            "expected `fail` to differ from `pass` in its first bytes (step {n})"
                        ),
                    );
                }
                Some(Confirm::Routine {
                    id: id16,
                    pass: pass_b,
                    fail: fail_b,
                })
            }
            _ => {
                self.at(
                    fi,
                    span,
                    format!("{shape}: exactly one of `role` and `routine` (step {n})"),
                );
                None
            }
        }
    }
}
