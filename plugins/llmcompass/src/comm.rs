//! Collectives over the scale-up links (LLMCompass's all-reduce model and analogues) and the
//! scale-out network (alpha-beta).
//!
//! Reference: `shared/reference/llmcompass-model.md` §3
//! (`communication_primitives.AllReduceMultiPCB.simulate`). Only all-reduce exists in
//! LLMCompass; the other collectives below are built from the same two stages and are
//! documented per function.

use reallm_plugin_api::{Collective, CollectiveKind, CommAlgo, Interconnect, LinkScope, PluginError, ScaleOut, Topology};

/// One message of `bytes` with its headers (§3): one header for the message plus one per
/// packet of `max_payload` bytes; the header is rounded up to whole flits.
/// `d_eff = hdr + ceil(d / pay)·hdr + d`.
pub fn with_headers(link: &Interconnect, bytes: f64) -> f64 {
    let flit = link.flit_bytes.max(1) as f64;
    let hdr = (link.header_bytes as f64 / flit).ceil() * flit;
    let pay = link.max_payload_bytes.max(1) as f64;
    hdr + (bytes / pay).ceil() * hdr + bytes
}

/// Bandwidths of one FC "edge" (the links to one of the `P − 1` peers), bytes/s:
/// `(per direction, both directions) · n_l / (P − 1)`.
fn fc_edges(link: &Interconnect, p: f64) -> (f64, f64) {
    let links = link.link_count as f64 / (p - 1.0);
    (link.link_bw_per_direction_bytes_per_s * links, link.link_bw_both_directions_bytes_per_s * links)
}

/// LLMCompass's all-reduce over `p` devices of a `bytes` tensor (§3), seconds.
///
/// * FC: `(P−1)·(L + d_eff/e2) + d_eff/e1` with `e1, e2 = bw1, bw2 · n_l/(P−1)`: a
///   reduce-scatter over bidirectional edges, then one all-gather transfer on a
///   unidirectional edge, with no latency term (as in LLMCompass).
/// * RING: `2(P−1)·(L + d_eff/e)` with `e = bw1 · n_l`.
///
/// `D / internal_link_bw` is 0 (LLMCompass's default internal bandwidth is infinite).
pub fn all_reduce_s(link: &Interconnect, topology: Topology, bytes: f64, p: u32) -> f64 {
    if p <= 1 || bytes <= 0.0 {
        return 0.0;
    }
    let pf = p as f64;
    let d_eff = with_headers(link, bytes / pf);
    let lat = link.link_latency_s;
    match topology {
        Topology::FullyConnected => {
            let (e1, e2) = fc_edges(link, pf);
            (pf - 1.0) * (lat + d_eff / e2) + d_eff / e1
        }
        Topology::Ring => {
            let e = link.link_bw_per_direction_bytes_per_s * link.link_count as f64;
            2.0 * (pf - 1.0) * (lat + d_eff / e)
        }
        // A topology of a later plugin API: rejected by `collective_s` before this is reached.
        _ => f64::NAN,
    }
}

/// Seconds of one collective on the scale-up links, by kind (`bytes` as defined on
/// [`Collective`]; chunks are `d = D/P`):
///
/// | kind | FC | RING |
/// |---|---|---|
/// | all-reduce | §3 | §3 |
/// | reduce-scatter | `(P−1)·(L + d_eff/e2)`, the first stage of the §3 FC all-reduce | `(P−1)·(L + d_eff/e)` |
/// | all-gather | `L + d_eff/e1`, the second stage plus one latency | `(P−1)·(L + d_eff/e)` |
/// | all-to-all | `L + d_eff/e1`: every peer gets its chunk at once over its own edge | `(P−1)·L + P(P−1)/2 · d_eff/e`: the chunk to the peer `h` hops away crosses `h` links |
/// | send/recv | `L + D_eff/e1`, the whole message over the edge to the peer | `L + D_eff/e` |
///
/// With `CommAlgo::Ring` the RING column is used whatever the topology; with `Multishot` the
/// FC column; `Ring2d` runs the RING formula over the rows then the columns of a `p1 × p2`
/// grid (`p1` the largest divisor of P not above √P, `p2 = P/p1`), each dimension on half the
/// links and the second on chunks already divided by `p1`.
pub fn scale_up_s(link: &Interconnect, c: &Collective) -> f64 {
    let p = c.ranks;
    if p <= 1 || c.bytes == 0 {
        return 0.0;
    }
    let topology = match c.algo {
        CommAlgo::Auto => link.topology,
        CommAlgo::Ring => Topology::Ring,
        CommAlgo::Multishot => Topology::FullyConnected,
        CommAlgo::Ring2d => return ring_2d_s(link, c),
        // An algorithm of a later plugin API: rejected by `collective_s`.
        _ => return f64::NAN,
    };
    scale_up_topology_s(link, topology, c.kind, c.bytes as f64, p)
}

fn scale_up_topology_s(link: &Interconnect, topology: Topology, kind: CollectiveKind, bytes: f64, p: u32) -> f64 {
    if p <= 1 || bytes <= 0.0 {
        return 0.0;
    }
    let pf = p as f64;
    let lat = link.link_latency_s;
    let chunk = with_headers(link, bytes / pf);
    let ring_e = link.link_bw_per_direction_bytes_per_s * link.link_count as f64;
    let (e1, e2) = fc_edges(link, pf);
    match (kind, topology) {
        (CollectiveKind::AllReduce, _) => all_reduce_s(link, topology, bytes, p),
        (CollectiveKind::ReduceScatter, Topology::FullyConnected) => (pf - 1.0) * (lat + chunk / e2),
        (CollectiveKind::AllGather, Topology::FullyConnected) | (CollectiveKind::AllToAll, Topology::FullyConnected) => lat + chunk / e1,
        (CollectiveKind::ReduceScatter, Topology::Ring) | (CollectiveKind::AllGather, Topology::Ring) => {
            (pf - 1.0) * (lat + chunk / ring_e)
        }
        (CollectiveKind::AllToAll, Topology::Ring) => (pf - 1.0) * lat + pf * (pf - 1.0) / 2.0 * chunk / ring_e,
        (CollectiveKind::SendRecv, Topology::FullyConnected) => lat + with_headers(link, bytes) / e1,
        (CollectiveKind::SendRecv, Topology::Ring) => lat + with_headers(link, bytes) / ring_e,
        // Kinds and topologies of a later plugin API: rejected by `collective_s`.
        _ => f64::NAN,
    }
}

fn ring_2d_s(link: &Interconnect, c: &Collective) -> f64 {
    let p = c.ranks;
    let mut p1 = (p as f64).sqrt().floor() as u32;
    while p1 > 1 && !p.is_multiple_of(p1) {
        p1 -= 1;
    }
    let p1 = p1.max(1);
    let p2 = p / p1;
    let half = Interconnect { link_count: (link.link_count / 2).max(1), ..link.clone() };
    let bytes = c.bytes as f64;
    match c.kind {
        // Point-to-point and all-to-all have no two-dimensional form here: plain ring.
        CollectiveKind::SendRecv | CollectiveKind::AllToAll => scale_up_topology_s(link, Topology::Ring, c.kind, bytes, p),
        kind => {
            scale_up_topology_s(&half, Topology::Ring, kind, bytes, p1)
                + scale_up_topology_s(&half, Topology::Ring, kind, bytes / p1 as f64, p2)
        }
    }
}

/// Seconds of one collective over the scale-out network, alpha-beta with a ring schedule
/// (`α` = one-way latency, `β` = per-device bandwidth per direction, `d = D/P`):
/// all-reduce `2(P−1)(α + d/β)`; reduce-scatter, all-gather and all-to-all `(P−1)(α + d/β)`;
/// send/recv `α + D/β`.
pub fn scale_out_s(net: &ScaleOut, c: &Collective) -> Result<f64, PluginError> {
    if c.ranks <= 1 || c.bytes == 0 {
        return Ok(0.0);
    }
    if !(net.bw_per_device_bytes_per_s.is_finite() && net.bw_per_device_bytes_per_s > 0.0) {
        return Err(PluginError::invalid("scale-out collective on a device whose scale_out bandwidth is not positive"));
    }
    let p = c.ranks as f64;
    let d = c.bytes as f64 / p;
    let step = net.latency_s + d / net.bw_per_device_bytes_per_s;
    Ok(match c.kind {
        CollectiveKind::AllReduce => 2.0 * (p - 1.0) * step,
        CollectiveKind::ReduceScatter | CollectiveKind::AllGather | CollectiveKind::AllToAll => (p - 1.0) * step,
        CollectiveKind::SendRecv => net.latency_s + c.bytes as f64 / net.bw_per_device_bytes_per_s,
        other => return Err(PluginError::unsupported(format!("{other:?} collectives"))),
    })
}

/// Seconds of one collective, scale-up or scale-out by its scope.
pub fn collective_s(link: &Interconnect, net: &ScaleOut, c: &Collective) -> Result<f64, PluginError> {
    // Kinds, algorithms, scopes and topologies a later plugin API may add are not modelled.
    use CollectiveKind as K;
    if !matches!(c.kind, K::AllReduce | K::ReduceScatter | K::AllGather | K::AllToAll | K::SendRecv)
        || !matches!(c.algo, CommAlgo::Auto | CommAlgo::Ring | CommAlgo::Ring2d | CommAlgo::Multishot)
        || !matches!(link.topology, Topology::FullyConnected | Topology::Ring)
    {
        return Err(PluginError::unsupported(format!("{:?} {:?} collectives on a {:?} topology", c.algo, c.kind, link.topology)));
    }
    match c.scope {
        LinkScope::ScaleUp => {
            if c.ranks > 1
                && (link.link_count == 0
                    || link.link_bw_per_direction_bytes_per_s <= 0.0
                    || link.link_bw_both_directions_bytes_per_s <= 0.0)
            {
                return Err(PluginError::invalid("scale-up collective on a device without scale-up links (link_count or bandwidth is 0)"));
            }
            Ok(scale_up_s(link, c))
        }
        LinkScope::ScaleOut => scale_out_s(net, c),
        other => Err(PluginError::unsupported(format!("collectives over {other:?} links"))),
    }
}
