//! The Pareto frontier of points where both coordinates are better when larger.
//!
//! Point `q` dominates `p` when `q.x ≥ p.x`, `q.y ≥ p.y` and at least one is strictly larger.
//! The frontier is the set of eligible points no eligible point dominates (equal points do
//! not dominate each other, so duplicates are all on it). Points with a non-finite coordinate
//! are never eligible.

/// Which of `points` are on the frontier of the eligible ones: O(n log n).
///
/// Sorted by x descending, a point is non-dominated exactly when its y is the largest of its
/// x-group and strictly larger than every y seen at a larger x.
pub fn frontier(points: &[(f64, f64)], eligible: &[bool]) -> Vec<bool> {
    assert_eq!(points.len(), eligible.len(), "one eligibility flag per point");
    let mut idx: Vec<usize> = (0..points.len()).filter(|&i| eligible[i] && points[i].0.is_finite() && points[i].1.is_finite()).collect();
    idx.sort_by(|&a, &b| points[b].0.total_cmp(&points[a].0).then(points[b].1.total_cmp(&points[a].1)));
    let mut on = vec![false; points.len()];
    let mut best_y_before = f64::NEG_INFINITY;
    let mut g = 0;
    while g < idx.len() {
        let x = points[idx[g]].0;
        let group_max = points[idx[g]].1;
        let mut end = g;
        while end < idx.len() && points[idx[end]].0 == x {
            let i = idx[end];
            on[i] = points[i].1 == group_max && group_max > best_y_before;
            end += 1;
        }
        best_y_before = best_y_before.max(group_max);
        g = end;
    }
    on
}

/// Whether `q` dominates `p` (the definition, for tests and checks).
pub fn dominates(q: (f64, f64), p: (f64, f64)) -> bool {
    q.0 >= p.0 && q.1 >= p.1 && (q.0 > p.0 || q.1 > p.1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hand_example() {
        // (1,5) (2,4) (3,1) are the frontier; (1,1) and (2,3) are dominated; (3,1) twice: both on.
        let p = [(1.0, 5.0), (2.0, 4.0), (3.0, 1.0), (1.0, 1.0), (2.0, 3.0), (3.0, 1.0)];
        assert_eq!(frontier(&p, &[true; 6]), vec![true, true, true, false, false, true]);
        // Without (2,4), (2,3) is on it; an ineligible point is never on it and dominates nothing.
        assert_eq!(frontier(&p, &[true, false, true, true, true, true]), vec![true, false, true, false, true, true]);
        assert_eq!(frontier(&[(f64::NAN, 9.0), (1.0, 1.0)], &[true, true]), vec![false, true]);
    }

    proptest! {
        /// Every frontier point is non-dominated and every dominated point is off it (checked
        /// against the O(n²) definition), on small integer grids so that ties are common.
        #[test]
        fn frontier_matches_definition(pts in prop::collection::vec((0u8..12, 0u8..12, any::<bool>()), 0..60)) {
            let points: Vec<(f64, f64)> = pts.iter().map(|&(x, y, _)| (x as f64, y as f64)).collect();
            let eligible: Vec<bool> = pts.iter().map(|p| p.2).collect();
            let on = frontier(&points, &eligible);
            for i in 0..points.len() {
                let dominated = (0..points.len()).any(|j| eligible[j] && dominates(points[j], points[i]));
                prop_assert_eq!(on[i], eligible[i] && !dominated, "point {} {:?}", i, points[i]);
            }
        }
    }
}
