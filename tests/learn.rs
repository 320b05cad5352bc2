//! `learn` at its boundaries: random layouts on the simulator (frames and
//! the guide's marks in, the role bits out), and real recordings.

mod common;

use trunkdiag::learn::guide;
use trunkdiag::learn::{LearnConfig, Learner, Mark, Outcome, Place};
use trunkdiag::sim::layout::{Act, LayoutCar, RandomLayout, Step, LAYOUT_ROLES};

const GAP_US: u64 = 6_000_000;

/// The guide's prompts as the simulated person's actions.
fn steps_of(prompts: &[guide::Prompt]) -> Vec<Step> {
    prompts
        .iter()
        .map(|p| Step {
            prompt_us: p.at_us,
            act: Act::from_mark(p.role, p.label).expect("the layout car does every guided action"),
        })
        .collect()
}

/// Learns one layout offline, as `learn --replay` would from a recording
/// of the guided session.
fn learn_layout(seed: u64) -> (RandomLayout, trunkdiag::learn::Learned) {
    let layout = RandomLayout::generate(seed);
    let prompts = guide::plan(3_000_000, GAP_US, 2);
    let end = prompts.last().map_or(0, |p| p.at_us) + GAP_US;
    let mut car = LayoutCar::new(layout.clone(), &steps_of(&prompts));
    let mut learner = Learner::new(LearnConfig::default());
    for f in car.frames(end) {
        learner.push(&f);
    }
    for p in &prompts {
        learner.mark(Mark {
            role: p.role,
            label: p.label.to_owned(),
            at_us: p.at_us,
        });
    }
    (layout, learner.finish())
}

#[test]
fn random_layouts_rank_the_role_bits_first() {
    let (mut first, mut total, mut bad_first) = (0usize, 0usize, Vec::new());
    let mut misses = Vec::new();
    for seed in 0..100u64 {
        let (layout, learned) = learn_layout(seed);
        for role in LAYOUT_ROLES {
            total += 1;
            let Some(truth) = layout.role(role) else {
                continue;
            };
            let frame = &layout.frames[truth.frame];
            let want = Place {
                page: None,
                id: frame.id,
                byte: truth.byte,
                lo: truth.bit,
                len: 1,
            };
            // Ranked first and scored high enough to be written as learned.
            let top = learned.role(role).and_then(|r| r.best()).map(|c| c.place);
            if top == Some(want) {
                first += 1;
            } else {
                misses.push(format!("seed {seed} {role}: want {want}, got {top:?}"));
            }
            // Never a counter or checksum first, learned or not.
            let first = learned
                .role(role)
                .and_then(|r| r.candidates.first())
                .map(|c| c.place);
            if let Some(top) = first {
                for f in layout.frames.iter().filter(|f| f.id == top.id) {
                    let hits_counter = f.counter.is_some_and(|(b, lo, len)| {
                        top.overlaps(&Place {
                            page: None,
                            id: f.id,
                            byte: b,
                            lo,
                            len,
                        })
                    });
                    let hits_checksum = f.checksum.is_some_and(|(b, _, _)| {
                        top.overlaps(&Place {
                            page: None,
                            id: f.id,
                            byte: b,
                            lo: 0,
                            len: 8,
                        })
                    });
                    if hits_counter || hits_checksum {
                        bad_first.push(format!("seed {seed} {role}: {top}"));
                    }
                }
            }
        }
    }
    let share = first as f64 / total as f64;
    println!(
        "random layouts: {first} of {total} role bits ranked first ({:.1}%); counters/checksums first: {}",
        share * 100.0,
        bad_first.len()
    );
    for m in &misses {
        println!("  miss: {m}");
    }
    assert!(bad_first.is_empty(), "{bad_first:#?}");
    assert!(share >= 0.95, "{share}: {misses:#?}");
}

/// Learns from a shared recording with these marks (seconds from the first
/// frame), as `learn --replay FILE --event ...` does.
fn learn_capture(rel: &str, events: &[&str]) -> Option<trunkdiag::learn::Learned> {
    let path = common::shared_data(rel)?;
    let mut learner = Learner::new(LearnConfig::default());
    let reader = trunkdiag::capture::CaptureReader::open(&path, Default::default()).unwrap();
    for f in reader {
        learner.push(&f.unwrap());
    }
    let origin = learner.first_frame_us().unwrap();
    for e in events {
        learner.mark(Mark::parse(e, origin).unwrap());
    }
    Some(learner.finish())
}

/// GT350 key-on: the ignition moment is when 0x3B3's first byte leaves 0x10
/// (0.211 s after the first frame). With that one mark the ignition field
/// (opendbc `Ignition_Status`, 0x3B3 bits 7..4, Off=1 -> Run=4) scores 1,
/// and so do the lock status on 0x331 and dozens of places the key wakes
/// up: they tie, and nothing is learned.
#[test]
fn gt350_key_on_with_one_mark_ties_the_0x3b3_ignition_field_with_others() {
    let Some(learned) = learn_capture("real/ford-gt350/keyon.log", &["ignition_on=1@0.211"]) else {
        return;
    };
    let r = learned.role(trunkdiag::profile::Role::IgnitionOn).unwrap();
    let Outcome::Tied { places } = &r.outcome else {
        panic!("expected a tie: {:#?}", r.candidates);
    };
    assert!(r.best().is_none());
    let field = places
        .iter()
        .find(|p| p.id.raw() == 0x3B3 && p.byte == 0)
        .expect("the ignition field is among the tied places");
    assert_eq!(
        field.mask() & !0xF0,
        0,
        "{field} lies outside Ignition_Status"
    );
    assert_eq!(field.mask() & 0x50, 0x50, "{field} misses a moving bit");
    assert!(places.iter().any(|p| p.id.raw() == 0x331), "{places:#?}");
    // No two named places share a bit: each stands for its own group.
    for (i, a) in places.iter().enumerate() {
        assert!(places.iter().skip(i + 1).all(|b| !a.overlaps(b)), "{a}");
    }
    println!("GT350 key-on, one mark: {} places tie", places.len());
}

/// The command line on the same one-mark log: it says the places tie, names
/// the ignition field among them, asks for another mark, and the draft it
/// writes has no ignition item (and still passes `profiles check`).
#[test]
fn learn_on_a_one_mark_key_on_log_says_tie_and_writes_no_ignition_item() {
    let Some(log) = common::shared_data("real/ford-gt350/keyon.log") else {
        return;
    };
    let (stdout, text) = learn_cli(&log, &["ignition_on=1@0.211"], &[]);
    assert!(
        stdout.contains("ignition_on (1 mark): NOT learned: ") && stdout.contains(" places tie"),
        "{stdout}"
    );
    assert!(stdout.contains("0x3B3 byte A bits 4-6"), "{stdout}");
    assert!(stdout.contains("add another mark"), "{stdout}");
    assert!(!text.contains("role = \"ignition_on\""), "{text}");
    assert!(text.contains("# ignition_on is not written"), "{text}");
}

/// G35 without ECU: accessory at 1.339 s, ON at 1.390 s. 0x60D byte B goes
/// 00 -> 02 -> 06: bits 1 and 2 come first, as one 2-bit field.
#[test]
fn g35_ignition_puts_0x60d_byte_b_bits_1_and_2_first() {
    let Some(learned) = learn_capture(
        "real/nissan-350z-g35/g35-noecu.trc",
        &["ignition_on=accessory@1.339", "ignition_on=on@1.390"],
    ) else {
        return;
    };
    let r = learned.role(trunkdiag::profile::Role::IgnitionOn).unwrap();
    let top = r.best().expect("learned");
    assert_eq!(
        (
            top.place.id.raw(),
            top.place.byte,
            top.place.lo,
            top.place.len
        ),
        (0x60D, 1, 1, 2),
        "{:#?}",
        r.candidates
    );
    assert_eq!(top.evidence.values.get("accessory"), Some(&1));
    assert_eq!(top.evidence.values.get("on"), Some(&3));
}

fn bin() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_trunkdiag"))
}

/// `learn --replay CAPTURE --event ... EXTRA --write DRAFT`, which must
/// succeed, then `profiles check DRAFT`, which must pass: the standard output
/// and the draft's text.
fn learn_cli(capture: &std::path::Path, events: &[&str], extra: &[&str]) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let draft = dir.path().join("draft.toml");
    let mut cmd = bin();
    cmd.args(["learn", "--replay"]).arg(capture);
    for e in events {
        cmd.args(["--event", e]);
    }
    let out = cmd.args(extra).arg("--write").arg(&draft).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let check = bin()
        .args(["profiles", "check"])
        .arg(&draft)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    (stdout, std::fs::read_to_string(&draft).unwrap())
}

/// The command line: the draft it writes passes `profiles check`, names the
/// learned level and source, and the roles not learned come with how.
#[test]
fn learn_writes_a_draft_profiles_check_accepts() {
    let Some(trc) = common::shared_data("real/nissan-350z-g35/g35-noecu.trc") else {
        return;
    };
    let (stdout, text) = learn_cli(
        &trc,
        &["ignition_on=accessory@1.339", "ignition_on=on@1.390"],
        &["--vin", "JNKCV51E03M000000"],
    );
    assert!(stdout.contains("0x60D byte B bits 1-2"), "{stdout}");
    assert!(stdout.contains("lid_open: record a capture"), "{stdout}");
    assert!(
        text.contains("learned on this car: VIN JNKCV51E03M000000"),
        "{text}"
    );

    // A bad mark names itself and exits 2.
    let bad = bin()
        .args(["learn", "--replay"])
        .arg(&trc)
        .args(["--event", "trunk=1@2"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no role `trunk`"));
}

/// A guided live session of `rounds` on a virtual bus (paused tokio clock)
/// with the node `make_node(t0)` makes on it, `t0` being the bus's start:
/// what was learned and the prompts given.
fn live_on_a_virtual_bus<N, F>(rounds: usize, make_node: F) -> (trunkdiag::learn::Learned, String)
where
    N: trunkdiag::sim::SimNode + Send + 'static,
    F: FnOnce(u64) -> N,
{
    use trunkdiag::cli::learn::{live_session, LivePlan};
    use trunkdiag::frame::IfName;
    use trunkdiag::sim::{self, DEFAULT_EPOCH_US};
    use trunkdiag::transport::VirtualBus;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let plan = LivePlan {
        baseline: std::time::Duration::from_secs(5),
        gap: std::time::Duration::from_micros(GAP_US),
        rounds,
    };
    rt.block_on(async {
        let bus = VirtualBus::new(DEFAULT_EPOCH_US);
        let mut node = make_node(bus.now_us());
        let mut car_end = bus.endpoint(IfName::new("vcan0").unwrap());
        let task = tokio::spawn(async move { sim::run(&mut node, &mut car_end, None).await });
        let mut me = bus.endpoint(IfName::new("vcan0").unwrap());
        let mut learner = Learner::new(LearnConfig::default());
        let mut out = Vec::new();
        live_session(&mut me, &plan, &mut learner, &mut out)
            .await
            .unwrap();
        drop(me);
        task.await.unwrap().unwrap();
        (learner.finish(), String::from_utf8(out).unwrap())
    })
}

/// Live: the guided session on a virtual bus, with a random-layout car on
/// it whose person acts on the prompts; every role bit ranks first.
#[test]
fn live_guide_on_a_virtual_bus_learns_the_layout() {
    for seed in [1000u64, 1001, 1002] {
        let layout = RandomLayout::generate(seed);
        let (learned, prompts) = live_on_a_virtual_bus(2, |t0| {
            // The person acts on the same prompts the session gives.
            let prompts = guide::plan(5_000_000 + GAP_US, GAP_US, 2);
            let end = prompts.last().unwrap().at_us + 2 * GAP_US;
            LayoutCar::new(layout.clone(), &steps_of(&prompts)).into_node(t0, end)
        });
        assert!(
            prompts.contains("NOW: press the fob's trunk button"),
            "{prompts}"
        );
        assert!(prompts.contains("  3..."), "{prompts}");
        for role in LAYOUT_ROLES {
            let truth = layout.role(role).unwrap();
            let want = Place {
                page: None,
                id: layout.frames[truth.frame].id,
                byte: truth.byte,
                lo: truth.bit,
                len: 1,
            };
            let top = learned.role(role).and_then(|r| r.best()).map(|c| c.place);
            assert_eq!(
                top,
                Some(want),
                "seed {seed} {role}: {:#?}",
                learned.role(role)
            );
        }
    }
}

/// The layout's true positions as a profile: the car the simulator plays.
fn truth_profile(layout: &RandomLayout) -> String {
    let mut t = String::from(
        "[profile]\nid = \"layout-truth\"\nmake = \"sim\"\nmodel = \"random layout\"\nyears = [2020, 2020]\n\n\
         [[bus]]\nname = \"hs-can\"\nbitrate = 500000\nlevel = \"placeholder\"\n\n\
         [bcm]\nprotocol = \"uds\"\nrequest_id = 0x7E0\nresponse_id = 0x7E8\nlevel = \"placeholder\"\n\n",
    );
    for (i, f) in layout.frames.iter().enumerate() {
        let roles: Vec<_> = layout.roles.iter().filter(|r| r.frame == i).collect();
        if roles.is_empty() {
            continue;
        }
        t += &format!("[[frame]]\nid = 0x{:X}\nname = \"F{i}\"\n\n", f.id.raw());
        for r in roles {
            let inv = if r.inverted {
                "scale = -1.0\noffset = 1.0\n"
            } else {
                ""
            };
            t += &format!(
                "[[frame.signal]]\nname = \"{0}\"\nrole = \"{0}\"\nbits = \"{1}|1@1+\"\n{inv}level = \"placeholder\"\n\n",
                r.role,
                r.start()
            );
        }
    }
    // The car refuses the release while the lockout is set.
    t += "[[release_condition]]\nname = \"lockout\"\nrole = \"lockout\"\nwhen = \"set\"\ntext = \"the opener is disabled while the lockout is set\"\nlevel = \"placeholder\"\n";
    t
}

/// A profile learned from a random layout, used by `diagnose` on a
/// simulated car built from the same layout, gives the scenario's verdict
/// and says it rests on learned items.
#[test]
fn diagnose_with_a_learned_profile_gives_the_scenario_verdict() {
    let (layout, learned) = learn_layout(7);
    let dir = tempfile::tempdir().unwrap();
    let info = trunkdiag::learn::DraftInfo {
        id: "learned-seven".into(),
        vin: None,
        date: "2026-11-30".into(),
        year: 2026,
        bitrate: 500_000,
        from: "the simulator".into(),
    };
    let learned_path = dir.path().join("learned.toml");
    std::fs::write(
        &learned_path,
        trunkdiag::learn::draft_profile(&learned, &info),
    )
    .unwrap();
    let truth_path = dir.path().join("truth.toml");
    std::fs::write(&truth_path, truth_profile(&layout)).unwrap();
    // (scenario, seconds listened, the verdict, a line the evidence gives)
    let runs = [
        (
            "valet-lockout",
            "10",
            "valet-lockout",
            "lockout flag seen set (learned lockout",
        ),
        ("no-fault-found", "20", "no-fault-found", "cabin press at"),
    ];
    for (scenario, listen, verdict, line) in runs {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_trunkdiag"))
            .args([
                "diagnose",
                "--no-prompt",
                "--listen",
                listen,
                "--sim",
                scenario,
                "--sim-car",
            ])
            .arg(&truth_path)
            .arg("--profile")
            .arg(&learned_path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&format!("Verdict: {verdict} ")),
            "{scenario}:\n{text}"
        );
        assert!(text.contains(line), "{scenario}:\n{text}");
        assert!(
            text.contains("learned on this car: learned"),
            "{scenario}:\n{text}"
        );
    }
}

/// A bus node that plays frames made up front.
struct Playback(std::collections::VecDeque<trunkdiag::frame::CanFrame>);

impl trunkdiag::sim::SimNode for Playback {
    fn handle_frame(&mut self, _now_us: u64, _frame: &trunkdiag::frame::CanFrame) {}
    fn handle_timeout(&mut self, _now_us: u64) {}
    fn poll_transmit(&mut self, now_us: u64) -> Option<trunkdiag::frame::CanFrame> {
        if self.0.front()?.timestamp_us <= now_us {
            self.0.pop_front()
        } else {
            None
        }
    }
    fn poll_timeout(&self) -> Option<u64> {
        self.0.front().map(|f| f.timestamp_us)
    }
}

/// Live: a car whose ignition bit has a twin in another frame (a gateway's
/// copy) that follows every action. After the planned round the places
/// tie, so the guide asks for the ignition again, twice; they still tie,
/// and the result says so rather than picking one.
#[test]
fn live_guide_asks_again_while_the_best_places_tie() {
    use trunkdiag::frame::{CanFrame, CanId};
    use trunkdiag::profile::Role;

    let (learned, out) = live_on_a_virtual_bus(1, |t0| {
        // The prompts the session will give: the round, then the ignition
        // twice more (each "again" starts one gap after the last prompt).
        let mut prompts = guide::plan(t0 + 5_000_000 + GAP_US, GAP_US, 1);
        for _ in 0..2 {
            let last = prompts.last().unwrap().at_us;
            prompts.extend(guide::again(&[Role::IgnitionOn], last + GAP_US, GAP_US));
        }
        let end = prompts.last().unwrap().at_us + 2 * GAP_US;
        let ignition: Vec<(u64, bool)> = prompts
            .iter()
            .filter(|p| p.role == Role::IgnitionOn)
            .map(|p| (p.at_us + 200_000, p.label == "1"))
            .collect();
        let mut frames = std::collections::VecDeque::new();
        let mut t = t0 + 50_000;
        while t < end {
            let on = ignition
                .iter()
                .rev()
                .find(|(at, _)| *at <= t)
                .is_none_or(|c| c.1);
            let bit = u8::from(on);
            for (id, data) in [(0x200, [0x40, bit << 3, 0, 0]), (0x300, [bit, 0x11, 0, 0])] {
                frames.push_back(
                    CanFrame::classic(CanId::standard(id).unwrap(), &data)
                        .unwrap()
                        .at(t),
                );
            }
            t += 100_000;
        }
        Playback(frames)
    });
    assert_eq!(out.matches("ignition_on: 2 places tie").count(), 2, "{out}");
    assert_eq!(out.matches("NOW: turn the ignition on").count(), 3, "{out}");
    let r = learned.role(Role::IgnitionOn).unwrap();
    assert_eq!(r.marks, 6);
    let Outcome::Tied { places } = &r.outcome else {
        panic!("expected a tie: {:#?}", r.candidates);
    };
    let ids: Vec<u32> = places.iter().map(|p| p.id.raw()).collect();
    assert_eq!(ids.len(), 2, "{places:#?}");
    assert!(ids.contains(&0x200) && ids.contains(&0x300), "{places:#?}");
    assert!(r.best().is_none());
}
