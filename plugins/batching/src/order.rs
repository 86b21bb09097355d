//! The order in which waiting requests are offered for admission.

use reallm_plugin_api::RequestState;
use serde::Deserialize;

/// Admission order of waiting requests (the `order` parameter of every policy).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// First come, first served: the waiting queue's own (arrival) order.
    #[default]
    Fcfs,
    /// Higher [`RequestState::priority`] first; ties keep arrival order (stable).
    Priority,
}

/// Iterator over indices of `waiting` in admission order, without allocating.
///
/// With [`Order::Priority`] it walks the distinct priority levels from the highest down and,
/// within a level, the queue in arrival order. Finding the next level costs one pass over the
/// queue, so a call that admits `a` requests costs O((a + 1) · n) at worst; policies stop at the
/// first request that does not fit, so few levels are visited.
#[derive(Debug, Clone)]
pub(crate) struct WaitingOrder<'a> {
    waiting: &'a [RequestState],
    order: Order,
    /// Priority level being walked (unused for FCFS).
    level: i32,
    pos: usize,
    done: bool,
}

impl<'a> WaitingOrder<'a> {
    pub(crate) fn new(waiting: &'a [RequestState], order: Order) -> Self {
        // The top priority level (a pass over the queue) only matters to `Priority`.
        let top = match order {
            Order::Fcfs => 0,
            Order::Priority => waiting.iter().map(|r| r.priority).max().unwrap_or(0),
        };
        WaitingOrder { waiting, order, level: top, pos: 0, done: waiting.is_empty() }
    }
}

impl Iterator for WaitingOrder<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        match self.order {
            Order::Fcfs => {
                let i = self.pos;
                self.pos += 1;
                (i < self.waiting.len()).then_some(i)
            }
            Order::Priority => loop {
                if self.done {
                    return None;
                }
                while self.pos < self.waiting.len() {
                    let i = self.pos;
                    self.pos += 1;
                    if self.waiting[i].priority == self.level {
                        return Some(i);
                    }
                }
                let level = self.level;
                match self.waiting.iter().map(|r| r.priority).filter(|&p| p < level).max() {
                    Some(next) => {
                        self.level = next;
                        self.pos = 0;
                    }
                    None => self.done = true,
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(priorities: &[i32]) -> Vec<RequestState> {
        priorities.iter().enumerate().map(|(i, &p)| RequestState { priority: p, ..RequestState::new(i as u64, i as f64, 10, 10) }).collect()
    }

    #[test]
    fn fcfs_is_queue_order() {
        let q = queue(&[0, 5, -1]);
        assert_eq!(WaitingOrder::new(&q, Order::Fcfs).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(WaitingOrder::new(&[], Order::Fcfs).count(), 0);
    }

    #[test]
    fn priority_is_stable_descending() {
        // Levels 5 (indices 1, 4), 0 (0, 3), −2 (2).
        let q = queue(&[0, 5, -2, 0, 5]);
        assert_eq!(WaitingOrder::new(&q, Order::Priority).collect::<Vec<_>>(), vec![1, 4, 0, 3, 2]);
        assert_eq!(WaitingOrder::new(&[], Order::Priority).count(), 0);
        let extremes = queue(&[i32::MIN, i32::MAX]);
        assert_eq!(WaitingOrder::new(&extremes, Order::Priority).collect::<Vec<_>>(), vec![1, 0]);
    }
}
