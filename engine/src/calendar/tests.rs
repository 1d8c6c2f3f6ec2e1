use super::*;
use chrono::Days;
use proptest::prelude::*;

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn due(from: &str, means: Option<Means>, length: Option<(u32, Unit)>) -> NaiveDate {
    Calendar::fwb()
        .deadline(d(from), means, length.map(|(n, u)| Length::new(n, u)))
        .unwrap()
        .due
}

/// (from, means, length, expected due date, article).
type Case = (
    &'static str,
    Option<Means>,
    Option<(u32, Unit)>,
    &'static str,
    &'static str,
);

// Each case was counted by hand on a printed 2026-2028 calendar; the comment gives the count.
#[test]
fn hand_checked_deadlines() {
    use Unit::*;
    let cases: &[Case] = &[
        // Fri 18 Dec; 21-24 (4), 25 Noël, 28-31 (8), 1 Jan Nouvel An, 4 (9), 5 (10).
        (
            "2026-12-18",
            None,
            Some((10, WorkingDays)),
            "2027-01-05",
            "issue contract",
        ),
        (
            "2026-09-20",
            None,
            Some((10, CalendarDays)),
            "2026-09-30",
            "issue contract",
        ),
        // 31 Jan + 1 month = 28 Feb 2027, a Sunday -> Monday 1 March.
        (
            "2027-01-31",
            None,
            Some((1, Months)),
            "2027-03-01",
            "issue contract",
        ),
        // Wed 1 Apr; Thu 2 (1), Fri 3 (2), Mon 6 Lundi de Pâques, Tue 7 (3).
        (
            "2026-04-01",
            Some(Means::RegisteredLetter),
            None,
            "2026-04-07",
            "Art. 39",
        ),
        // 1 Apr 2028 is a Saturday -> Monday 3 April.
        (
            "2026-04-01",
            None,
            Some((2, Years)),
            "2028-04-03",
            "issue contract",
        ),
        // Art. 39-40: letter sent Tue 22 Dec 2026 takes effect Mon 28 Dec (23, 24, 28);
        // twenty working days later: 29-31 (3), 4-8 Jan (8), 11-15 (13), 18-22 (18), 25, 26.
        (
            "2026-12-22",
            Some(Means::RegisteredLetter),
            Some((20, WorkingDays)),
            "2027-01-26",
            "Art. 40",
        ),
        // Art. 79: ten calendar days from Sun 11 Jul 2027 end on 21 July, Fête nationale.
        (
            "2027-07-11",
            None,
            Some((10, CalendarDays)),
            "2027-07-22",
            "Art. 79",
        ),
        // Art. 40, two months from 31 Dec 2026: 28 Feb 2027 (clamped), a Sunday -> 1 March.
        (
            "2026-12-31",
            None,
            Some((2, Months)),
            "2027-03-01",
            "Art. 40",
        ),
        // 27 September 2027 is a Monday and the Fête de la Fédération.
        (
            "2027-09-17",
            None,
            Some((10, CalendarDays)),
            "2027-09-28",
            "Art. 22",
        ),
        // Art. 138 §2: hearing Thu 5 Nov 2026; 6 (1), 9 (2), 10 (3), 11 Armistice, 12 (4),
        // 13 (5), 16-20 (10).
        (
            "2026-11-05",
            None,
            Some((10, WorkingDays)),
            "2026-11-20",
            "Art. 138",
        ),
        // Letter sent Thu 25 Mar 2027: Fri 26 (1), Mon 29 Lundi de Pâques, Tue 30 (2), Wed 31 (3).
        (
            "2027-03-25",
            Some(Means::RegisteredLetter),
            None,
            "2027-03-31",
            "Art. 138",
        ),
        // 29 Feb 2028 + 1 year: 28 Feb 2029, a Wednesday.
        (
            "2028-02-29",
            None,
            Some((1, Years)),
            "2029-02-28",
            "Art. 22",
        ),
        // Wed 5 May 2027 + 1 working day skips Ascension (Thu 6 May).
        (
            "2027-05-05",
            None,
            Some((1, WorkingDays)),
            "2027-05-07",
            "Art. 1 12°",
        ),
        // Hand delivery on Mon 20 Jul 2026: effect the same day, ten calendar days -> Thu 30.
        (
            "2026-07-20",
            Some(Means::HandDelivered),
            Some((10, CalendarDays)),
            "2026-07-30",
            "Art. 69",
        ),
        // Art. 139 §2 1°: six months from 1 Nov 2026 end on Sat 1 May 2027 (Fête du Travail)
        // -> Sun 2 -> Mon 3 May.
        (
            "2026-11-01",
            None,
            Some((6, Months)),
            "2027-05-03",
            "Art. 139",
        ),
        // Whit Monday 2027 is 17 May: Fri 14 May + 1 working day -> Tue 18 May.
        (
            "2027-05-14",
            None,
            Some((1, WorkingDays)),
            "2027-05-18",
            "Art. 1 12°",
        ),
        // Art. 139 §2 3°: 80 calendar days from 3 Sep 2026 -> 22 Nov 2026, a Sunday -> 23.
        (
            "2026-09-03",
            None,
            Some((80, CalendarDays)),
            "2026-11-23",
            "Art. 139",
        ),
    ];
    for (from, means, length, expected, article) in cases {
        assert_eq!(
            due(from, *means, *length),
            d(expected),
            "{article}: from {from} {means:?} {length:?}"
        );
    }
}

#[test]
fn explanation_names_every_step() {
    let cal = Calendar::fwb();
    let dl = cal
        .deadline(
            d("2026-12-18"),
            None,
            Some(Length::new(10, Unit::WorkingDays)),
        )
        .unwrap();
    let names: Vec<_> = dl
        .holidays_skipped
        .iter()
        .map(|h| (h.date.to_string(), french::day_off(&h.reason)))
        .collect();
    assert_eq!(
        names,
        [
            ("2026-12-25".into(), "Noël (jour férié légal)".to_string()),
            (
                "2027-01-01".into(),
                "Nouvel An (jour férié légal)".to_string()
            ),
        ]
    );
    assert!(dl.moved.is_none());
    let text = dl.explain_fr().join("\n");
    assert!(text.contains("10 jours ouvrables"), "{text}");
    assert!(text.contains("art. 22, 1°"), "{text}");
    assert!(text.contains("mardi 5 janvier 2027"), "{text}");

    // A calendar-day count ending on 1 January 2027 (a Friday) moves to Monday 4 January.
    let dl = cal
        .deadline(
            d("2026-12-22"),
            None,
            Some(Length::new(10, Unit::CalendarDays)),
        )
        .unwrap();
    assert_eq!(dl.due, d("2027-01-04"));
    let moved = dl.moved.as_ref().unwrap();
    assert_eq!(moved.from, d("2027-01-01"));
    assert_eq!(moved.skipped.len(), 3);
    let text = dl.explain_fr().join("\n");
    assert!(
        text.contains("2027-01-01 Nouvel An (jour férié légal) → 2027-01-04"),
        "{text}"
    );
    assert!(
        text.contains("2027-01-02 samedi, 2027-01-03 dimanche"),
        "{text}"
    );
}

#[test]
fn month_clamping_is_recorded() {
    let dl = Calendar::fwb()
        .deadline(d("2027-01-31"), None, Some(Length::new(1, Unit::Months)))
        .unwrap();
    assert_eq!(dl.raw_end, d("2027-02-28"));
    assert_eq!(dl.clamped_from_day, Some(31));
    assert_eq!(dl.due, d("2027-03-01"));
    let text = dl.explain_fr().join("\n");
    assert!(
        text.contains("Le 31 n'existe pas en février 2027"),
        "{text}"
    );
    assert!(text.contains("2027-02-28 dimanche → 2027-03-01"), "{text}");
}

#[test]
fn expiry_instant_is_midnight_in_brussels() {
    let cal = Calendar::fwb();
    // Winter (UTC+1) and summer (UTC+2).
    let winter = cal.deadline(
        d("2026-12-18"),
        None,
        Some(Length::new(10, Unit::WorkingDays)),
    );
    assert_eq!(
        winter.unwrap().expires_at().to_rfc3339(),
        "2027-01-05T23:00:00+00:00"
    );
    let summer = cal.deadline(
        d("2026-07-20"),
        None,
        Some(Length::new(10, Unit::CalendarDays)),
    );
    assert_eq!(
        summer.unwrap().expires_at().to_rfc3339(),
        "2026-07-30T22:00:00+00:00"
    );
}

#[test]
fn refusals_name_the_problem() {
    let cal = Calendar::fwb();
    assert_eq!(
        cal.deadline(d("1899-12-31"), None, Some(Length::new(1, Unit::Months))),
        Err(CalendarError::YearOutOfRange {
            date: d("1899-12-31")
        })
    );
    assert_eq!(
        cal.deadline(d("2026-01-01"), None, Some(Length::new(0, Unit::Months))),
        Err(CalendarError::ZeroLength { unit: Unit::Months })
    );
    assert!(matches!(
        cal.deadline(d("2026-01-01"), None, Some(Length::new(51, Unit::Years))),
        Err(CalendarError::LengthTooLong { max: 50, .. })
    ));
    // The longest deadline from the last supported day still fits in the table.
    for unit in [
        Unit::WorkingDays,
        Unit::CalendarDays,
        Unit::Months,
        Unit::Years,
    ] {
        let dl = cal.deadline(
            d("2200-12-31"),
            Some(Means::RegisteredLetter),
            Some(Length::new(Length::max(unit), unit)),
        );
        assert!(dl.is_ok(), "{unit}: {dl:?}");
    }
}

#[test]
fn closures_are_working_days_no_more() {
    let yaml = "closures:\n  - date: 2027-05-07\n    label: Pont de l'Ascension\n";
    let cal = Calendar::with_closures("c.yaml", parse_closures("c.yaml", yaml).unwrap()).unwrap();
    assert!(!cal.is_working_day(d("2027-05-07")));
    assert!(Calendar::fwb().is_working_day(d("2027-05-07")));
    let dl = cal
        .deadline(
            d("2027-05-05"),
            None,
            Some(Length::new(1, Unit::WorkingDays)),
        )
        .unwrap();
    assert_eq!(dl.due, d("2027-05-10"));
    assert_eq!(
        dl.holidays_skipped
            .iter()
            .map(|h| h.date)
            .collect::<Vec<_>>(),
        [d("2027-05-06"), d("2027-05-07")]
    );
    let listed = cal.holidays(2027);
    assert!(
        listed
            .iter()
            .any(|h| h.kind == HolidayKind::Closure && &*h.name == "Pont de l'Ascension")
    );
}

#[test]
fn closure_files_are_checked() {
    let err = |yaml: &str| {
        let parsed = parse_closures("c.yaml", yaml);
        match parsed {
            Err(e) => e.to_string(),
            Ok(c) => Calendar::with_closures("c.yaml", c)
                .unwrap_err()
                .to_string(),
        }
    };
    let e = err("closures:\n  - date: 2026-12-25\n    label: Noël\n");
    assert!(e.starts_with("c.yaml:2:11: "), "{e}");
    assert!(
        e.contains("2026-12-25 is already not a working day (Noël"),
        "{e}"
    );
    let e =
        err("closures:\n  - date: 2027-05-07\n    label: a\n  - date: 2027-05-07\n    label: b\n");
    assert!(
        e.starts_with("c.yaml:4:11: ") && e.contains("listed twice"),
        "{e}"
    );
    let e = err("closures:\n  - date: 2027-13-07\n    label: a\n");
    assert!(e.starts_with("c.yaml:2:"), "{e}");
    let e = err("closures:\n  - date: 2027-05-07\n    lable: a\n");
    assert!(e.contains("lable"), "{e}");
    let e = err("closures:\n  - date: 2027-05-08\n    label: samedi\n");
    assert!(e.contains("samedi"), "{e}");
}

#[test]
fn holidays_of_a_year_are_named() {
    let list = Calendar::fwb().holidays(2027);
    let names: Vec<_> = list
        .iter()
        .map(|h| format!("{} {}", h.date, h.name))
        .collect();
    assert_eq!(
        names,
        [
            "2027-01-01 Nouvel An",
            "2027-03-28 Pâques",
            "2027-03-29 Lundi de Pâques",
            "2027-05-01 Fête du Travail",
            "2027-05-06 Ascension",
            "2027-05-16 Pentecôte",
            "2027-05-17 Lundi de Pentecôte",
            "2027-07-21 Fête nationale",
            "2027-08-15 Assomption",
            "2027-09-27 Fête de la Fédération Wallonie-Bruxelles",
            "2027-11-01 Toussaint",
            "2027-11-11 Armistice",
            "2027-12-25 Noël",
        ]
    );
}

/// Compares the statutory Belgian holidays with PyPI `holidays` (an independent implementation)
/// over 2020-2040. `scripts/test` installs it in a virtualenv and sets `JALON_PYTHON`.
#[test]
fn legal_holidays_match_the_python_holidays_oracle() {
    let python = std::env::var("JALON_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/be_holidays.py");
    let out = std::process::Command::new(&python)
        .args([script, "2020", "2040"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}; run scripts/test"));
    assert!(
        out.status.success(),
        "the holiday oracle failed (run scripts/test, which installs PyPI `holidays`): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let oracle: Vec<NaiveDate> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    let cal = Calendar::fwb();
    let ours: Vec<NaiveDate> = (2020..=2040)
        .flat_map(|y| cal.holidays(y))
        .filter(|h| h.kind == HolidayKind::Legal)
        .map(|h| h.date)
        .collect();
    assert_eq!(
        oracle.len(),
        21 * 12,
        "the oracle should list 12 holidays a year"
    );
    assert_eq!(ours, oracle);
    // The oracle does not know community holidays; 27 September is ours alone.
    for y in 2020..=2040 {
        let fwb = NaiveDate::from_ymd_opt(y, 9, 27).unwrap();
        assert!(matches!(
            cal.day_off(fwb),
            Some(DayOff::Holiday { .. } | DayOff::Saturday | DayOff::Sunday)
        ));
        assert!(
            cal.holidays(y)
                .iter()
                .any(|h| h.date == fwb && h.kind == HolidayKind::Community)
        );
    }
}

fn any_date() -> impl Strategy<Value = NaiveDate> {
    let first = NaiveDate::from_ymd_opt(FIRST_YEAR, 1, 1).unwrap();
    let days = (NaiveDate::from_ymd_opt(LAST_YEAR, 12, 31).unwrap() - first).num_days() as u64;
    (0..=days).prop_map(move |n| first + Days::new(n))
}

fn any_unit() -> impl Strategy<Value = Unit> {
    prop_oneof![
        Just(Unit::WorkingDays),
        Just(Unit::CalendarDays),
        Just(Unit::Months),
        Just(Unit::Years)
    ]
}

fn any_means() -> impl Strategy<Value = Option<Means>> {
    prop_oneof![
        Just(None),
        Just(Some(Means::RegisteredLetter)),
        Just(Some(Means::HandDelivered))
    ]
}

#[test]
fn a_fixed_date_is_that_day_of_the_year_of_the_act_and_never_moved() {
    let cal = Calendar::fwb();
    let april = DayOfYear::parse("04-01").unwrap();
    // Art. 9/1 "pour le 1er avril": a case opened on 1 Feb 2027 is due Thu 1 Apr 2027.
    let dl = cal.fixed_date(d("2027-02-01"), april).unwrap();
    assert_eq!(dl.due, d("2027-04-01"));
    assert!(!dl.not_moved);
    // Opened late (5 April), it is late from the start: the same 1 April, not next year's.
    assert_eq!(
        cal.fixed_date(d("2027-04-05"), april).unwrap().due,
        d("2027-04-01")
    );
    // Art. 4 "pour le 1er juillet": 1 July 2029 is a Sunday, and stays the due date.
    let july = DayOfYear::parse("07-01").unwrap();
    let dl = cal.fixed_date(d("2029-03-01"), july).unwrap();
    assert_eq!(dl.due, d("2029-07-01"));
    assert!(dl.not_moved && dl.moved.is_none());
    assert!(
        dl.explain_fr()
            .iter()
            .any(|l| l.contains("n'est pas reportée")),
        "{:?}",
        dl.explain_fr()
    );
    for bad in ["02-29", "2-01", "13-01", "04-31", "0401", "04-1", ""] {
        assert_eq!(DayOfYear::parse(bad), None, "{bad}");
    }
}

#[test]
fn a_next_date_is_the_first_such_day_after_the_act() {
    let cal = Calendar::fwb();
    let june = DayOfYear::parse("06-01").unwrap();
    // An integration that started on 5 Oct 2026 is reviewed from 1 June 2027…
    assert_eq!(
        cal.next_date(d("2026-10-05"), june).unwrap().due,
        d("2027-06-01")
    );
    // …one prolonged on 20 June 2027 from 1 June 2028, one entered on 1 June itself a year on.
    assert_eq!(
        cal.next_date(d("2027-06-20"), june).unwrap().due,
        d("2028-06-01")
    );
    assert_eq!(
        cal.next_date(d("2027-06-01"), june).unwrap().due,
        d("2028-06-01")
    );
    assert_eq!(
        cal.next_date(d("2027-05-31"), june).unwrap().due,
        d("2027-06-01")
    );
    let dl = cal.next_date(d("2029-02-01"), june).unwrap();
    assert!(dl.fixed_next && dl.explain_fr()[0].contains("premier 1er juin qui suit"));
}

#[test]
fn a_period_outside_title_iii_ends_where_it_falls() {
    let cal = Calendar::fwb();
    let ten = Some(Length::new(10, Unit::CalendarDays));
    // 15 Dec 2026 + 10 calendar days = Fri 25 Dec (Christmas).
    let moved = cal.deadline(d("2026-12-15"), None, ten).unwrap();
    assert_eq!(moved.due, d("2026-12-28"));
    let kept = cal
        .deadline_under(d("2026-12-15"), None, ten, EndRule::Kept)
        .unwrap();
    assert_eq!(kept.due, d("2026-12-25"));
    assert!(kept.not_moved && kept.moved.is_none());
    assert!(
        kept.explain_fr().iter().any(|l| l.contains("sans report")),
        "{:?}",
        kept.explain_fr()
    );
    // On a working day the rule changes nothing and says nothing.
    let plain = cal
        .deadline_under(d("2026-12-01"), None, ten, EndRule::Kept)
        .unwrap();
    let art22 = cal.deadline(d("2026-12-01"), None, ten).unwrap();
    assert_eq!((plain.due, plain.not_moved), (art22.due, false));
    // Its explanation cites no article of the decree for how days are counted.
    assert!(plain.outside_art_22 && !art22.outside_art_22);
    assert!(
        !plain.explain_fr().join(" ").contains("art. 22"),
        "{:?}",
        plain.explain_fr()
    );
}

proptest! {
    #[test]
    fn due_date_is_a_working_day_after_the_act(
        from in any_date(), means in any_means(), unit in any_unit(), n in 1u32..400,
    ) {
        let n = n.min(Length::max(unit));
        let dl = Calendar::fwb().deadline(from, means, Some(Length::new(n, unit))).unwrap();
        prop_assert!(Calendar::fwb().is_working_day(dl.due));
        prop_assert!(dl.due > dl.counted_from);
        prop_assert!(dl.due >= dl.raw_end);
        // Every day between the raw end and the due date is a day off (Art. 22, 2°).
        for day in dl.raw_end.iter_days().take_while(|x| *x < dl.due) {
            prop_assert!(!Calendar::fwb().is_working_day(day));
        }
    }

    #[test]
    fn due_date_is_monotonic_in_the_length(
        from in any_date(), unit in any_unit(), a in 1u32..300, b in 1u32..300,
    ) {
        let max = Length::max(unit);
        let (short, long) = (a.min(b).min(max), a.max(b).min(max));
        let cal = Calendar::fwb();
        let x = cal.deadline(from, None, Some(Length::new(short, unit))).unwrap().due;
        let y = cal.deadline(from, None, Some(Length::new(long, unit))).unwrap().due;
        prop_assert!(x <= y);
    }

    #[test]
    fn working_day_count_equals_the_length(from in any_date(), n in 1u32..2000) {
        let cal = Calendar::fwb();
        let dl = cal.deadline(from, None, Some(Length::new(n, Unit::WorkingDays))).unwrap();
        prop_assert_eq!(cal.working_days_between(from, dl.due), n);
        prop_assert_eq!(dl.raw_end, dl.due);
        // Brute force, without the table: count weekdays that are not holidays.
        let counted = from.iter_days().skip(1).take_while(|x| *x <= dl.due)
            .filter(|x| cal.day_off(*x).is_none()).count() as u32;
        prop_assert_eq!(counted, n);
    }

    #[test]
    fn registered_letter_takes_effect_on_the_third_working_day(from in any_date()) {
        let cal = Calendar::fwb();
        let dl = cal.deadline(from, Some(Means::RegisteredLetter), None).unwrap();
        prop_assert_eq!(cal.working_days_between(from, dl.due), 3);
        prop_assert!(cal.is_working_day(dl.due));
    }

    #[test]
    fn a_hand_delivered_letter_takes_effect_on_its_receipt_day(from in any_date()) {
        // Art. 22 moves the end of a period, not the effect of a notification: with no period,
        // a letter received on a Saturday, a Sunday or a holiday takes effect that very day.
        let dl = Calendar::fwb().deadline(from, Some(Means::HandDelivered), None).unwrap();
        prop_assert_eq!(dl.due, from);
        prop_assert!(dl.moved.is_none());
    }

    #[test]
    fn working_days_compose(from in any_date(), a in 0u32..500, b in 0u32..500) {
        let cal = Calendar::fwb();
        let step = cal.add_working_days(cal.add_working_days(from, a).unwrap(), b).unwrap();
        prop_assert_eq!(step, cal.add_working_days(from, a + b).unwrap());
    }

    #[test]
    fn months_keep_the_day_number_or_clamp(from in any_date(), n in 1u32..600) {
        let dl = Calendar::fwb().deadline(from, None, Some(Length::new(n, Unit::Months))).unwrap();
        let end = dl.raw_end;
        let total = from.year() * 12 + from.month0() as i32 + n as i32;
        prop_assert_eq!((end.year(), end.month0() as i32), (total / 12, total % 12));
        if dl.clamped_from_day.is_some() {
            prop_assert!(end.day() < from.day());
            prop_assert_eq!((end + Days::new(1)).day(), 1);
        } else {
            prop_assert_eq!(end.day(), from.day());
        }
    }
}
