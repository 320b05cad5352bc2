//! `[[gate]]` (formerly `[[release_condition]]`): the release's enable
//! conditions, what the BCM refuses a release in.

use super::items::Named;
use super::*;

impl Builder {
    /// Every release condition; its role must be carried by some field.
    pub(super) fn release_conditions(
        &mut self,
        parts: &mut [Part],
        reads: &[DataRead],
        frames: &[BroadcastFrame],
    ) -> Vec<ReleaseCondition> {
        let roles_present: HashSet<Role> = reads
            .iter()
            .flat_map(|r: &DataRead| r.fields.iter())
            .chain(
                frames
                    .iter()
                    .flat_map(|f: &BroadcastFrame| f.signals.iter()),
            )
            .map(|f| f.role)
            .collect();
        let mut release_conditions = Vec::new();
        for (fi, part) in parts.iter_mut() {
            let gates = std::mem::take(&mut part.gate);
            for c in gates
                .into_iter()
                .chain(std::mem::take(&mut part.release_condition))
            {
                if let Some(rc) = self.condition(*fi, &c, &roles_present) {
                    release_conditions.push(rc);
                }
            }
        }
        release_conditions
    }

    pub(super) fn condition(
        &mut self,
        fi: usize,
        c: &schema::Condition,
        roles_present: &HashSet<Role>,
    ) -> Option<ReleaseCondition> {
        let role = Role::from_name(c.role.get_ref());
        match role {
            None => self.at(fi, c.role.span(), format!("expected a role, found \"{}\"", c.role.get_ref())),
            Some(r) if !roles_present.contains(&r) => self.at(
                fi,
                c.role.span(),
                format!("expected a data field or signal with role `{r}` in this profile: the condition refers to it"),
            ),
            _ => {}
        }
        let test = match (c.when.get_ref().as_str(), &c.value) {
            ("above", Some(v)) => Some(ConditionTest::Above {
                value: *v.get_ref(),
            }),
            ("below", Some(v)) => Some(ConditionTest::Below {
                value: *v.get_ref(),
            }),
            ("set", None) => Some(ConditionTest::Set),
            ("not", Some(v)) => Some(ConditionTest::Not {
                value: *v.get_ref(),
            }),
            ("above" | "below" | "not", None) => {
                let msg = format!("expected `value` with when = \"{}\"", c.when.get_ref());
                self.at(fi, c.when.span(), msg);
                None
            }
            ("set", Some(v)) => {
                self.at(fi, v.span(), "expected no `value` with when = \"set\"");
                None
            }
            (other, _) => {
                self.at(
                    fi,
                    c.when.span(),
                    format!("expected when = \"above\", \"below\", \"set\" or \"not\", found \"{other}\""),
                );
                None
            }
        };
        let mut inputs = Vec::new();
        match &c.inputs {
            None => inputs.extend([ReleaseInput::Fob, ReleaseInput::Cabin, ReleaseInput::Bus]),
            Some(list) => {
                for i in list {
                    match ReleaseInput::from_name(i.get_ref()) {
                        Some(x) => inputs.push(x),
                        None => self.at(
                            fi,
                            i.span(),
                            format!(
                                "expected an input (fob, cabin, bus, active_test), found \"{}\"",
                                i.get_ref()
                            ),
                        ),
                    }
                }
            }
        }
        let location = match &test {
            Some(ConditionTest::Above { value }) => format!("{} above {value}", c.role.get_ref()),
            Some(ConditionTest::Below { value }) => format!("{} below {value}", c.role.get_ref()),
            Some(ConditionTest::Not { value }) => format!("{} not {value}", c.role.get_ref()),
            _ => format!("{} set", c.role.get_ref()),
        };
        let named = Named {
            name: c.name.get_ref().clone(),
            location,
            kind: ItemKind::Condition,
            role,
            bus: None,
        };
        let item = self.item(fi, c.name.span(), named, c);
        Some(ReleaseCondition {
            role: role?,
            test: test?,
            inputs,
            text: c.text.clone(),
            item,
        })
    }
}
