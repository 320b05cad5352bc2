use super::*;
use crate::frame::CanFrame;
use crate::profile::{self, Profile};

fn rav4() -> Profile {
    profile::load("toyota-rav4-2019-2025").unwrap()
}

/// The RAV4's body-state page (0x620, byte 0 = 0x10) with the back door
/// courtesy switch at `lid`, at `t` µs.
fn body(p: &Profile, lid: f64, t: u64) -> CanFrame {
    let f = p
        .frames
        .iter()
        .find(|f| f.signals.iter().any(|s| s.role == Role::LidOpen))
        .unwrap();
    let s = f.signals.iter().find(|s| s.role == Role::LidOpen).unwrap();
    let mut data = [0u8; 8];
    s.encode(&mut data, lid).unwrap();
    let sel = f.selector.unwrap();
    data[usize::from(sel.byte)] = sel.value;
    CanFrame::classic(f.id, &data).unwrap().at(t)
}

#[test]
fn a_becomes_step_needs_the_change_and_names_its_frame() {
    let p = rav4();
    let step = &p.relearn.as_ref().unwrap().steps[0];
    let mut w = Watch::new(&p, &step.confirm).unwrap();
    assert_eq!(w.frame(&body(&p, 1.0, 100)), None);
    assert_eq!(w.already(), Some(false));
    assert_eq!(w.frame(&body(&p, 1.0, 200)), None);
    let s = w.frame(&body(&p, 0.0, 300)).expect("the close");
    assert_eq!(s.at_us, 300);
    assert_eq!(s.from, Some(1.0));
    assert_eq!(s.value, 0.0);
    assert_eq!(s.value_name.as_deref(), Some("closed"));
    assert_eq!(s.frame, "0x620 [byte 0 = 0x10]");
    assert_eq!(s.level, Level::RelatedModel);
    assert!(s.words().contains("1 → 0 (closed)"), "{}", s.words());
}

#[test]
fn a_becomes_step_already_at_its_value_waits_for_a_change() {
    let p = rav4();
    let step = &p.relearn.as_ref().unwrap().steps[0];
    let mut w = Watch::new(&p, &step.confirm).unwrap();
    assert_eq!(w.frame(&body(&p, 0.0, 100)), None, "already closed");
    assert_eq!(w.already(), Some(true));
    assert_eq!(w.frame(&body(&p, 1.0, 200)), None, "opened");
    assert!(w.frame(&body(&p, 0.0, 300)).is_some(), "closed again");
}

#[test]
fn an_equals_step_takes_the_first_reading() {
    let p = rav4();
    let confirm = Confirm::Equals {
        role: Role::LidOpen,
        value: 0.0,
    };
    let mut w = Watch::new(&p, &confirm).unwrap();
    let s = w.frame(&body(&p, 0.0, 100)).unwrap();
    assert_eq!(s.from, None);
    assert_eq!(w.already(), None, "only a change can be already done");
}

#[test]
fn other_pages_and_frames_are_not_the_step() {
    let p = rav4();
    let mut w = Watch::lid_opens(&p);
    let mut other = body(&p, 1.0, 100);
    // Another page of 0x620 with the same bits: not the body state.
    let mut data = other.data().to_vec();
    data[0] = 0x99;
    other = CanFrame::classic(other.id, &data).unwrap().at(100);
    assert_eq!(w.frame(&body(&p, 0.0, 50)), None);
    assert_eq!(w.frame(&other), None);
    assert!(w.frame(&body(&p, 1.0, 150)).is_some());
}

#[test]
fn routine_results_read_against_pass_and_fail() {
    let r = |b: &[u8]| routine_result(0x0203, &[0x00], &[0x01], b);
    assert_eq!(
        r(&[0x71, 0x03, 0x02, 0x03, 0x00]),
        Some(RoutineResult::Pass)
    );
    assert_eq!(
        r(&[0x71, 0x03, 0x02, 0x03, 0x01, 0x07]),
        Some(RoutineResult::Fail)
    );
    assert_eq!(
        r(&[0x71, 0x03, 0x02, 0x03, 0x02]),
        Some(RoutineResult::Other)
    );
    assert_eq!(
        r(&[0x71, 0x03, 0x02, 0x03]),
        Some(RoutineResult::Other),
        "no status yet"
    );
    assert_eq!(r(&[0x71, 0x03, 0x02, 0x04, 0x00]), None, "another routine");
    assert_eq!(r(&[0x71, 0x01, 0x02, 0x03, 0x00]), None, "a start's answer");
    assert_eq!(r(&[0x71]), None, "cut short");
}

#[test]
fn rav4_rests_on_its_related_model_procedure_and_signals() {
    let p = rav4();
    let used: Vec<ItemRef> = p
        .fields()
        .filter(|f| matches!(f.role, Role::LidOpen | Role::DriverDoorLocked))
        .map(|f| f.item)
        .collect();
    let rests = rests_on(&p, &used);
    let related = rests
        .iter()
        .find(|(l, _)| *l == Level::RelatedModel)
        .map(|(_, n)| n.join("; "))
        .unwrap();
    assert!(
        related.contains("Toyota power back door reset"),
        "{related}"
    );
    assert!(related.contains("BCTY"), "{related}");
    // The lock state is known for this model: not listed below it.
    assert!(
        rests
            .iter()
            .all(|(_, n)| !n.join(" ").contains("driver door locked (")),
        "{rests:?}"
    );
    assert!(rests.iter().all(|(l, _)| *l != Level::ThisModel));
}

#[test]
fn a_role_only_in_data_replies_is_polled() {
    let kona = profile::load("hyundai-kona-2018-2023").unwrap();
    assert_eq!(
        polled_read(&kona, Role::LidOpen),
        None,
        "0x541 shows the lid"
    );
    assert_eq!(
        polled_read(&kona, Role::DriverDoorLocked),
        Some(DataKey::Did(0xBC04))
    );
}
