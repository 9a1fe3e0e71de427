//! Request pacing for one access token.
//!
//! Genesys Cloud counts requests per token per minute (default 300) and answers 429 with
//! `Retry-After` beyond that. The pacer makes that never happen in normal operation:
//!
//! * **Spacing**: consecutive sends are at least `window / limit` apart, so the load is smooth
//!   (no burst of `limit` requests at the start of a minute).
//! * **Sliding-window guarantee**: the pacer remembers the last `limit` send slots and never
//!   hands out a slot earlier than `window + margin` after the slot `limit` sends ago. Any
//!   interval of length `window + margin` therefore holds at most `limit` sends, whatever the
//!   phase of the server's window; the margin absorbs latency jitter between our send and the
//!   server's count.
//! * **Pause gate**: a 429 that arrives anyway (another process sharing the token, a limit
//!   lower than configured) pauses *every* task sharing the token until `Retry-After` has
//!   passed, and the slots after the pause are spaced again (no thundering herd).
//!
//! Slots are reserved under a short mutex and waited for outside it, so callers are served in
//! arrival order and the lock is never held across an await.

use std::collections::VecDeque;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

/// Shared pacer of one access token.
#[derive(Debug)]
pub struct Pacer {
    limit: Option<u32>,
    spacing: Duration,
    horizon: Duration,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Reserved send slots, oldest first (at most `limit`).
    ring: VecDeque<Instant>,
    /// Earliest next slot by spacing.
    next: Instant,
    /// Nobody sends before this instant (set by a 429).
    paused_until: Option<Instant>,
    granted: u64,
    pauses: u64,
}

impl Pacer {
    /// `limit` requests per `window` (None: unlimited but still honours pauses), plus `margin`.
    pub fn new(limit: Option<u32>, window: Duration, margin: Duration) -> Self {
        let limit = limit.filter(|l| *l > 0);
        let spacing = match limit {
            Some(l) => window / l,
            None => Duration::ZERO,
        };
        Self {
            limit,
            spacing,
            horizon: window + margin,
            state: Mutex::new(State {
                ring: VecDeque::with_capacity(limit.unwrap_or(0).min(100_000) as usize),
                next: Instant::now(),
                paused_until: None,
                granted: 0,
                pauses: 0,
            }),
        }
    }

    /// Waits for a send slot.
    pub async fn acquire(&self) {
        loop {
            let slot = self.reserve(Instant::now());
            if let Some(at) = slot {
                tokio::time::sleep_until(at).await;
            }
            // A 429 seen by another task while we slept moves everyone behind the gate.
            let now = Instant::now();
            let paused = self.state.lock().paused_until.is_some_and(|p| p > now);
            if !paused {
                return;
            }
        }
    }

    /// Reserves the next slot; `None` means "send now".
    fn reserve(&self, now: Instant) -> Option<Instant> {
        let mut st = self.state.lock();
        let mut at = now;
        if let Some(p) = st.paused_until {
            if p > at {
                at = p;
            } else {
                st.paused_until = None;
            }
        }
        if let Some(limit) = self.limit {
            if st.next > at {
                at = st.next;
            }
            if st.ring.len() >= limit as usize
                && let Some(oldest) = st.ring.pop_front()
            {
                let earliest = oldest + self.horizon;
                if earliest > at {
                    at = earliest;
                }
            }
            st.ring.push_back(at);
            st.next = at + self.spacing;
        }
        st.granted += 1;
        (at > now).then_some(at)
    }

    /// Pauses every user of this token for `retry_after` (from a 429).
    pub fn pause(&self, retry_after: Duration) {
        let until = Instant::now() + retry_after;
        let mut st = self.state.lock();
        st.pauses += 1;
        if st.paused_until.is_none_or(|p| p < until) {
            st.paused_until = Some(until);
        }
        if st.next < until {
            st.next = until;
        }
    }

    /// Instant until which sends are paused, if any.
    pub fn paused_until(&self) -> Option<Instant> {
        let now = Instant::now();
        self.state.lock().paused_until.filter(|p| *p > now)
    }

    /// Slots granted so far.
    pub fn granted(&self) -> u64 {
        self.state.lock().granted
    }

    /// 429 pauses applied so far.
    pub fn pauses(&self) -> u64 {
        self.state.lock().pauses
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives `reserve` with a synthetic clock: a caller arrives whenever the previous one
    /// was served (a saturating load), and checks every slot against the guarantee.
    fn saturate(p: &Pacer, n: usize, t0: Instant) -> Vec<Instant> {
        let mut now = t0;
        let mut slots = Vec::new();
        for _ in 0..n {
            let at = p.reserve(now).unwrap_or(now);
            slots.push(at);
            now = at;
        }
        slots
    }

    #[test]
    fn never_more_than_limit_in_any_window() {
        let window = Duration::from_secs(60);
        let p = Pacer::new(Some(10), window, Duration::from_millis(500));
        let t0 = Instant::now();
        let slots = saturate(&p, 35, t0);
        for (i, s) in slots.iter().enumerate() {
            let n = slots[i..].iter().take_while(|t| **t < *s + window).count();
            assert!(n <= 10, "window at {:?} has {n}", *s - t0);
        }
        // Spacing 6 s plus 0.5 s margin per window: ~3.5 windows for 35 sends.
        let total = *slots.last().unwrap() - t0;
        assert!(total >= Duration::from_secs(204), "{total:?}");
        assert!(total <= Duration::from_secs(207), "{total:?}");
    }

    #[test]
    fn burst_of_arrivals_is_spaced() {
        let p = Pacer::new(
            Some(600),
            Duration::from_secs(60),
            Duration::from_millis(500),
        );
        let t0 = Instant::now();
        // 32 tasks arriving at the same instant get slots 100 ms apart.
        let slots: Vec<Instant> = (0..32).map(|_| p.reserve(t0).unwrap_or(t0)).collect();
        for w in slots.windows(2) {
            assert_eq!(w[1] - w[0], Duration::from_millis(100));
        }
    }

    #[test]
    fn achieved_rate_is_close_to_the_limit() {
        let window = Duration::from_secs(60);
        let p = Pacer::new(Some(300), window, Duration::from_millis(500));
        let t0 = Instant::now();
        let slots = saturate(&p, 3000, t0);
        let elapsed = (*slots.last().unwrap() - t0).as_secs_f64();
        let rate_per_min = 2999.0 / elapsed * 60.0;
        assert!(rate_per_min / 300.0 >= 0.99, "{rate_per_min}");
        for (i, s) in slots.iter().enumerate() {
            let n = slots[i..].iter().take_while(|t| **t < *s + window).count();
            assert!(n <= 300);
        }
    }

    #[test]
    fn pause_moves_every_later_slot() {
        let p = Pacer::new(Some(60), Duration::from_secs(60), Duration::ZERO);
        let t0 = Instant::now();
        assert_eq!(p.reserve(t0), None);
        p.pause(Duration::from_secs(5));
        let paused = p.paused_until().unwrap();
        let a = p.reserve(t0).unwrap();
        let b = p.reserve(t0).unwrap();
        assert!(a >= paused);
        assert_eq!(b - a, Duration::from_secs(1));
        let unlimited = Pacer::new(None, Duration::from_secs(60), Duration::ZERO);
        unlimited.pause(Duration::from_secs(2));
        let until = unlimited.paused_until().unwrap();
        assert!(unlimited.reserve(Instant::now()).unwrap() >= until);
        assert_eq!(unlimited.pauses(), 1);
    }

    #[tokio::test]
    async fn pause_applies_to_tasks_already_waiting() {
        let p = std::sync::Arc::new(Pacer::new(
            Some(600),
            Duration::from_secs(60),
            Duration::ZERO,
        ));
        let start = Instant::now();
        let mut handles = Vec::new();
        for _ in 0..8 {
            let p = p.clone();
            handles.push(tokio::spawn(async move {
                p.acquire().await;
                Instant::now()
            }));
        }
        // Slots are 100 ms apart; pausing now delays all not yet served.
        p.pause(Duration::from_millis(300));
        let mut late = 0;
        for h in handles {
            if h.await.unwrap() - start >= Duration::from_millis(300) {
                late += 1;
            }
        }
        // At most the first slot (t=0) could have been served before the pause.
        assert!(late >= 7, "{late}");
    }
}
