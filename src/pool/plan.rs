//! How one session's budget is shared between what asks for it: pure arithmetic, so every
//! case is a unit test.
//!
//! The budget itself is a hard limit enforced where requests leave (the client's
//! `RequestBudget`). The plan keeps the pollers under it instead of queueing at it: each
//! recording's pollers have nominal intervals (comments every 3 s, the heartbeat every 7 s,
//! likes every 5 s by default); when the sum does not fit, their intervals are stretched, in
//! priority order — the end-of-broadcast status and the chat first, detection next, like
//! counts last. Detection keeps a floor so that a session busy recording is never blind.
//! Comments page by cursor, so a stretched chat interval delays comments but loses none.

/// Requests per minute asked for, by class.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Demand {
    /// Heartbeats and comment polls of live recordings at their nominal intervals.
    pub critical: f64,
    /// What detection would use: its accounts at `poll_interval`, plus the tray.
    pub detection: f64,
    /// Like-count polls at their nominal interval.
    pub low: f64,
}

/// Knobs of the plan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlanOptions {
    /// Share of the budget kept free for what no interval plans: `info` after an end,
    /// retries, the post-live merge, confirming a push.
    pub headroom: f64,
    /// Share of the budget detection keeps however busy the recordings are.
    pub detection_floor: f64,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            headroom: 0.1,
            detection_floor: 0.2,
        }
    }
}

/// The outcome: what detection may use and how much slower each poller class runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// Requests per minute the detection scheduler paces itself to (at least 1).
    pub detection_per_minute: u32,
    /// Multiplier of the critical pollers' intervals (1 = as configured).
    pub critical_stretch: f64,
    /// Multiplier of the like pollers' intervals; [`MAX_STRETCH`] means "nearly paused".
    pub low_stretch: f64,
}

/// The largest stretch applied: a starved class still polls now and then.
pub const MAX_STRETCH: f64 = 60.0;

fn stretch(demand: f64, granted: f64) -> f64 {
    if demand <= 0.0 {
        1.0
    } else if granted <= 0.0 {
        MAX_STRETCH
    } else {
        (demand / granted).clamp(1.0, MAX_STRETCH)
    }
}

fn finite(x: f64) -> f64 {
    if x.is_finite() {
        x.max(0.0)
    } else {
        0.0
    }
}

/// Shares `budget_per_minute` between the demands.
pub fn plan(budget_per_minute: u32, demand: Demand, opts: PlanOptions) -> Plan {
    let (critical, detection, low) = (
        finite(demand.critical),
        finite(demand.detection),
        finite(demand.low),
    );
    let headroom = finite(opts.headroom).min(0.5);
    let floor_share = finite(opts.detection_floor).min(0.9);
    let usable = f64::from(budget_per_minute.max(1)) * (1.0 - headroom);
    let detection_floor = detection.min(usable * floor_share);
    let critical_granted = critical.min(usable - detection_floor);
    let rest = usable - critical_granted;
    let detection_granted = detection.min(rest).max(detection_floor);
    let low_granted = (rest - detection_granted).max(0.0);
    Plan {
        detection_per_minute: (detection_granted.floor() as u32).max(1),
        critical_stretch: stretch(critical, critical_granted),
        low_stretch: stretch(low, low_granted),
    }
}

/// What one recording's pollers ask for at their nominal intervals.
pub fn recording_demand(pollers: &[(super::PollerClass, std::time::Duration)]) -> Demand {
    let mut d = Demand::default();
    for (class, every) in pollers {
        let per_minute = 60.0 / every.as_secs_f64().max(0.001);
        match class {
            super::PollerClass::Critical => d.critical += per_minute,
            super::PollerClass::Low => d.low += per_minute,
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One recording in full footprint at the default intervals.
    fn one_recording() -> Demand {
        Demand {
            critical: 60.0 / 3.0 + 60.0 / 7.0,
            detection: 0.0,
            low: 60.0 / 5.0,
        }
    }

    fn times(d: Demand, n: f64) -> Demand {
        Demand {
            critical: d.critical * n,
            detection: d.detection,
            low: d.low * n,
        }
    }

    /// Requests per minute the pollers and detection send under plan `p`.
    fn used(d: Demand, p: Plan) -> f64 {
        d.critical / p.critical_stretch
            + f64::from(p.detection_per_minute).min(d.detection.max(1.0))
            + d.low / p.low_stretch
    }

    #[test]
    fn an_idle_session_gives_detection_everything_usable() {
        let p = plan(
            60,
            Demand {
                detection: 500.0,
                ..Default::default()
            },
            PlanOptions::default(),
        );
        assert_eq!(p.detection_per_minute, 54);
        assert_eq!(p.critical_stretch, 1.0);
        assert_eq!(p.low_stretch, 1.0);
    }

    #[test]
    fn one_recording_fits_a_default_budget_unstretched() {
        let d = Demand {
            detection: 6.0,
            ..one_recording()
        };
        let p = plan(60, d, PlanOptions::default());
        assert_eq!(p.critical_stretch, 1.0);
        assert_eq!(p.low_stretch, 1.0);
        assert_eq!(p.detection_per_minute, 6);
    }

    #[test]
    fn recordings_stretch_likes_before_the_chat_and_detection_keeps_its_floor() {
        for n in [2.0, 4.0, 8.0, 20.0] {
            let d = Demand {
                detection: 200.0,
                ..times(one_recording(), n)
            };
            let p = plan(60, d, PlanOptions::default());
            assert!(
                p.critical_stretch >= 1.0 && p.low_stretch >= p.critical_stretch,
                "{n}: {p:?}"
            );
            assert!(
                p.detection_per_minute >= 10,
                "{n}: detection starved: {p:?}"
            );
            // A starved class still polls at its longest stretch; the headroom takes that.
            assert!(used(d, p) <= 60.0, "{n}: plans {} of 60", used(d, p));
        }
    }

    #[test]
    fn absurd_inputs_stay_bounded() {
        let d = Demand {
            critical: f64::NAN,
            detection: f64::INFINITY,
            low: -5.0,
        };
        let p = plan(
            0,
            d,
            PlanOptions {
                headroom: 9.0,
                detection_floor: f64::NAN,
            },
        );
        assert!(p.detection_per_minute >= 1);
        assert!(p.critical_stretch.is_finite() && p.low_stretch.is_finite());
    }
}
