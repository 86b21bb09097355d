//! Alpha–beta collective costs.
//!
//! For `P` ranks, tensor bytes `D`, per-device bandwidth `B` (bytes/s one direction) and hop
//! latency `α`:
//!
//! | collective | ring (and `auto` on a ring) | multishot / `auto` on a fully connected node |
//! |---|---|---|
//! | all-reduce | `2(P−1)·α + 2(P−1)/P·D/B` | `2α + 2(P−1)/P·D/B` (reduce-scatter + all-gather, each one shot) |
//! | all-gather, reduce-scatter | `(P−1)·α + (P−1)/P·D/B` | `α + (P−1)/P·D/B` |
//! | all-to-all | `α + (P−1)/P·D/B` (scale-out: `⌈log2 P⌉·α + …`) | `α + (P−1)/P·D/B` (every rank sends to all peers at once) |
//! | send/recv | `α + D/B` | same |
//!
//! `ring2d` arranges the ranks as an `a×b` grid (`a` the largest divisor ≤ √P) and runs the
//! ring algorithm along rows (over `D`) then columns (over `D/a`) for reduce-scatter and back
//! for all-gather. Scale-up collectives use `link_count × link bandwidth per direction` and
//! the link latency; scale-out ones use the device's scale-out bandwidth and latency.

use reallm_plugin_api::{Collective, CollectiveKind, CommAlgo, DeviceSpec, LinkScope, PluginError, Topology};

/// Seconds for `c` on `device`, with `link_efficiency` the achieved fraction of bandwidth.
pub fn collective_time(device: &DeviceSpec, c: &Collective, link_efficiency: f64) -> Result<f64, PluginError> {
    collective_time_with(device, c, link_efficiency, None)
}

/// As [`collective_time`], with the per-step latency of scale-up collectives replaced by
/// `scale_up_latency_s` when given (a fitted NCCL latency rather than the raw link latency).
pub fn collective_time_with(
    device: &DeviceSpec,
    c: &Collective,
    link_efficiency: f64,
    scale_up_latency_s: Option<f64>,
) -> Result<f64, PluginError> {
    if c.ranks == 0 {
        return Err(PluginError::invalid("collective over 0 ranks"));
    }
    if c.ranks == 1 && c.kind != CollectiveKind::SendRecv {
        return Ok(0.0);
    }
    let (bw, alpha) = match c.scope {
        LinkScope::ScaleUp => {
            (device.interconnect.device_bw_per_direction_bytes_per_s(), scale_up_latency_s.unwrap_or(device.interconnect.link_latency_s))
        }
        LinkScope::ScaleOut => (device.scale_out.bw_per_device_bytes_per_s, device.scale_out.latency_s),
        other => return Err(PluginError::unsupported(format!("collectives over {other:?} links"))),
    };
    if bw <= 0.0 {
        return Err(PluginError::invalid(format!("device `{}` has no bandwidth for {:?} collectives", device.name, c.scope)));
    }
    let bw = bw * link_efficiency;
    let p = c.ranks as f64;
    let d = c.bytes as f64;
    let one_shot = match c.algo {
        CommAlgo::Multishot => true,
        CommAlgo::Ring | CommAlgo::Ring2d => false,
        CommAlgo::Auto => device.interconnect.topology == Topology::FullyConnected && c.scope == LinkScope::ScaleUp,
        other => return Err(PluginError::unsupported(format!("the {other:?} collective algorithm"))),
    };
    // (latency steps, bytes on the wire per rank) of one reduce-scatter or all-gather phase.
    let phase = |ranks: f64, bytes: f64| -> f64 {
        let steps = if one_shot { 1.0 } else { ranks - 1.0 };
        steps * alpha + (ranks - 1.0) / ranks * bytes / bw
    };
    let half = |bytes: f64| -> f64 {
        if c.algo == CommAlgo::Ring2d {
            let (a, b) = grid(c.ranks);
            if a > 1 {
                // Rows over the whole buffer, then columns over 1/b of it.
                return phase(b as f64, bytes) + phase(a as f64, bytes / b as f64);
            }
        }
        phase(p, bytes)
    };
    Ok(match c.kind {
        CollectiveKind::AllReduce => 2.0 * half(d),
        CollectiveKind::AllGather | CollectiveKind::ReduceScatter => half(d),
        // Every rank sends its P−1 slices to all peers concurrently: one latency, and the
        // rank's outgoing bytes over its bandwidth.
        // Scale-out: the NIC's message overheads make the latency grow with the peer count;
        // ⌈log2 P⌉ latencies (a dissemination schedule) sits between one shot and P − 1 steps.
        CollectiveKind::AllToAll => {
            let steps = if c.scope == LinkScope::ScaleOut { p.log2().ceil().max(1.0) } else { 1.0 };
            steps * alpha + (p - 1.0) / p * d / bw
        }
        CollectiveKind::SendRecv => alpha + d / bw,
        other => return Err(PluginError::unsupported(format!("{other:?} collectives"))),
    })
}

/// `a × b = p` with `a` the largest divisor of `p` not above `√p`.
// `%` rather than `is_multiple_of` (Rust 1.87) to keep the workspace's rust-version 1.80.
#[allow(clippy::manual_is_multiple_of)]
fn grid(p: u32) -> (u32, u32) {
    let mut a = (p as f64).sqrt() as u32;
    while a > 1 && p % a != 0 {
        a -= 1;
    }
    (a.max(1), p / a.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::toy_device;

    fn ar(bytes: u64, ranks: u32, algo: CommAlgo) -> Collective {
        Collective { kind: CollectiveKind::AllReduce, bytes, ranks, scope: LinkScope::ScaleUp, algo }
    }

    #[test]
    fn ring_all_reduce_by_hand() {
        let dev = toy_device();
        // 8 ranks, 16 MiB, B = 8 × 25 GB/s = 200 GB/s, α = 1 µs:
        // 2·7·1 µs + 2·7/8·16,777,216 / 2e11 = 14 µs + 146.8 µs.
        let t = collective_time(&dev, &ar(16 << 20, 8, CommAlgo::Ring), 1.0).unwrap();
        let expect = 14e-6 + 2.0 * 7.0 / 8.0 * 16_777_216.0 / 2e11;
        assert!((t - expect).abs() < 1e-12, "{t} vs {expect}");
        // Multishot on the same: 2 latency steps.
        let t = collective_time(&dev, &ar(16 << 20, 8, CommAlgo::Multishot), 1.0).unwrap();
        assert!((t - (2e-6 + 2.0 * 7.0 / 8.0 * 16_777_216.0 / 2e11)).abs() < 1e-12);
        // One rank costs nothing.
        assert_eq!(collective_time(&dev, &ar(1 << 20, 1, CommAlgo::Ring), 1.0).unwrap(), 0.0);
    }

    #[test]
    fn scale_out_and_send_recv() {
        let dev = toy_device();
        let c = Collective { kind: CollectiveKind::SendRecv, bytes: 1_000_000, ranks: 2, scope: LinkScope::ScaleOut, algo: CommAlgo::Auto };
        // 5 µs + 1 MB / 50 GB/s = 25 µs.
        assert!((collective_time(&dev, &c, 1.0).unwrap() - 25e-6).abs() < 1e-12);
    }

    #[test]
    fn ring2d_grid() {
        assert_eq!(grid(16), (4, 4));
        assert_eq!(grid(8), (2, 4));
        assert_eq!(grid(7), (1, 7));
        let dev = toy_device();
        let flat = collective_time(&dev, &ar(1 << 24, 16, CommAlgo::Ring), 1.0).unwrap();
        let two_d = collective_time(&dev, &ar(1 << 24, 16, CommAlgo::Ring2d), 1.0).unwrap();
        // Fewer latency steps (2·(3+3) vs 2·15) for slightly more bytes.
        assert!(two_d < flat);
    }
}
