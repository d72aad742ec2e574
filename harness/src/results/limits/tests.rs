//! One case per verdict, and the edges between them.

use super::*;

/// A closed loop on loopback, 1 publisher, window 1000, both processes half busy.
fn closed() -> LimitInputs {
    LimitInputs {
        measured: true,
        valid: true,
        offered_per_sec: None,
        published_per_sec: 1_000_000.0,
        saturated: false,
        window_secs: 2.0,
        server: Cpu {
            seconds: Some(1.0),
            cores: 1,
        },
        load: Cpu {
            seconds: Some(1.0),
            cores: 1,
        },
        server_in_load: false,
        window_messages: 1000.0,
        min_trip_ns: 20_000,
        link_sides: LinkSides::default(),
        link_rtt_ns: 0,
        link_busy: None,
    }
}

fn open(offered: f64, published: f64) -> LimitInputs {
    LimitInputs {
        offered_per_sec: Some(offered),
        published_per_sec: published,
        saturated: published < KEPT_UP * offered,
        ..closed()
    }
}

fn over_link(mut i: LimitInputs, publishers: bool, subscribers: bool) -> LimitInputs {
    i.link_sides = LinkSides {
        publishers,
        subscribers,
    };
    i.link_rtt_ns = 50_000_000;
    i.min_trip_ns = 50_000_000;
    i
}

#[test]
fn an_open_loop_that_kept_up_is_limited_by_its_offered_rate() {
    let (limit, f) = classify(&open(1000.0, 999.0));
    assert_eq!(limit, Limit::OfferedRate);
    assert_eq!(f.offered_share, Some(0.999));
    assert!(f.reason.contains("kept its offered rate"), "{}", f.reason);
    // Saturated by its subscribers falling behind: not kept up, whatever was published.
    let mut behind = open(1000.0, 1000.0);
    behind.saturated = true;
    assert_ne!(classify(&behind).0, Limit::OfferedRate);
    // An idle run (0.2 msg/s) may have no message inside a 3 s window: not saturated, kept up.
    let idle = LimitInputs {
        saturated: false,
        ..open(0.2, 0.0)
    };
    assert_eq!(classify(&idle).0, Limit::OfferedRate);
}

#[test]
fn busy_load_cores_make_the_figure_a_lower_bound() {
    let mut i = closed();
    i.load.seconds = Some(1.96);
    let (limit, f) = classify(&i);
    assert_eq!(limit, Limit::LoadGenerator);
    assert_eq!(f.load_cpu_busy, Some(0.98));
    assert_eq!(f.server_cpu_busy, Some(0.5));
    assert!(f.reason.contains("lower bound"), "{}", f.reason);
    assert!(
        f.reason.contains("load generator 98% of 1 core"),
        "{}",
        f.reason
    );
}

#[test]
fn busy_server_cores_limit_the_server() {
    let mut i = closed();
    i.server = Cpu {
        seconds: Some(3.7),
        cores: 2,
    };
    let (limit, f) = classify(&i);
    assert_eq!(limit, Limit::Server);
    assert_eq!(f.server_cpu_busy, Some(0.925));
    assert_eq!(f.server_cores, Some(2));
}

#[test]
fn both_busy_names_the_busier_and_a_tie_the_load_generator() {
    let mut i = closed();
    i.server.seconds = Some(1.98);
    i.load.seconds = Some(1.84);
    assert_eq!(classify(&i).0, Limit::Server);
    i.load.seconds = Some(1.98);
    assert_eq!(classify(&i).0, Limit::LoadGenerator);
}

#[test]
fn a_closed_loop_that_fills_its_window_over_the_link_is_window_bound() {
    // 1000 in flight over 50 ms allow 20K msg/s; 16K were published with idle processes.
    let mut i = over_link(closed(), true, true);
    i.published_per_sec = 16_000.0;
    let (limit, f) = classify(&i);
    assert_eq!(limit, Limit::Window);
    assert_eq!(f.window_reach_msgs_per_sec, Some(20_000.0));
    assert!(f.reason.contains("closed-loop window"), "{}", f.reason);
}

#[test]
fn a_publisher_crossing_the_link_is_held_by_its_own_round_trips() {
    // long-poll over a WAN: one publish POST per round trip, far under the harness's window.
    let mut i = over_link(open(100_000.0, 4_608.0), true, true);
    i.published_per_sec = 4_608.0;
    let (limit, f) = classify(&i);
    assert_eq!(limit, Limit::Window);
    assert!(f.reason.contains("publisher's own window"), "{}", f.reason);
    // The same rate with the link on the subscribers only: the publisher was not delayed, so
    // its shortfall is not the link's doing.
    let only_subs = LimitInputs {
        link_sides: LinkSides {
            publishers: false,
            subscribers: true,
        },
        ..i
    };
    assert_eq!(classify(&only_subs).0, Limit::Unknown);
}

#[test]
fn subscribers_crossing_the_link_that_fall_behind_are_held_by_their_requests() {
    let mut i = over_link(open(100_000.0, 100_000.0), false, true);
    i.saturated = true;
    let (limit, f) = classify(&i);
    assert_eq!(limit, Limit::Window);
    assert!(
        f.reason.contains("subscribers' own requests"),
        "{}",
        f.reason
    );
}

#[test]
fn a_full_link_direction_limits_the_link() {
    let mut i = over_link(closed(), true, true);
    i.published_per_sec = 5_000.0;
    i.link_busy = Some(0.97);
    let (limit, f) = classify(&i);
    assert_eq!(limit, Limit::Link);
    assert_eq!(f.link_busy, Some(0.97));
    i.link_busy = Some(0.5);
    assert_ne!(classify(&i).0, Limit::Link);
}

#[test]
fn no_saturated_resource_on_loopback_is_unknown_not_a_guess() {
    // Loopback: 1000 in flight over 20 µs would allow 50M msg/s; 1M is far from it.
    let (limit, f) = classify(&closed());
    assert_eq!(limit, Limit::Unknown);
    assert_eq!(f.window_reach_msgs_per_sec, Some(50_000_000.0));
    assert!(
        f.reason.contains("no resource was saturated"),
        "{}",
        f.reason
    );
}

#[test]
fn a_remote_server_without_metrics_is_unknown_unless_the_load_was_busy() {
    let mut i = over_link(closed(), true, true);
    i.published_per_sec = 16_000.0;
    i.server.seconds = None;
    let (limit, f) = classify(&i);
    assert_eq!(
        limit,
        Limit::Unknown,
        "the window needs the server known idle"
    );
    assert_eq!(f.server_cpu_busy, None);
    assert_eq!(f.server_cores, None);
    assert!(f.reason.contains("not measured"), "{}", f.reason);
    i.load.seconds = Some(1.9);
    assert_eq!(classify(&i).0, Limit::LoadGenerator);
}

#[test]
fn an_in_process_server_cannot_be_told_from_the_load() {
    let mut i = closed();
    i.server.seconds = None;
    i.server_in_load = true;
    i.load.seconds = Some(1.95);
    assert_eq!(classify(&i).0, Limit::Unknown);
}

#[test]
fn an_unmeasured_run_is_unknown() {
    let i = LimitInputs::default();
    let (limit, f) = classify(&i);
    assert_eq!(limit, Limit::Unknown);
    assert_eq!(f.load_cpu_busy, None, "no window: no share, never zero");
}

#[test]
fn shards_that_agree_keep_their_verdict_and_others_are_unknown() {
    let f = LimitFigures::default();
    let agree = [
        (Some(Limit::Server), Some(&f)),
        (Some(Limit::Server), Some(&f)),
    ];
    assert_eq!(merged(&agree).0, Some(Limit::Server));
    let differ = [
        (Some(Limit::Server), Some(&f)),
        (Some(Limit::Window), Some(&f)),
    ];
    let (limit, figures) = merged(&differ);
    assert_eq!(limit, Some(Limit::Unknown));
    assert!(figures.unwrap().reason.contains("shard 1: window"));
}

#[test]
fn names_serialize_as_the_issue_spells_them() {
    let all = [
        Limit::LoadGenerator,
        Limit::Server,
        Limit::Window,
        Limit::Link,
        Limit::OfferedRate,
        Limit::Unknown,
    ];
    for l in all {
        assert_eq!(serde_json::to_value(l).unwrap(), l.name());
    }
}

#[test]
fn an_invalid_run_is_unknown_whatever_it_published() {
    let mut i = over_link(open(100.0, 100.0), true, true);
    i.saturated = true;
    i.valid = false;
    let (limit, f) = classify(&i);
    assert_eq!(limit, Limit::Unknown);
    assert!(f.reason.contains("invalid"), "{}", f.reason);
}
