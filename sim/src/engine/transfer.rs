//! Moving a finished prefill's KV from the prefill pool to the decode pool.

use super::{Engine, Transfer};
use crate::error::Result;
use crate::router::RouteRequest;
use reallm_plugin_api::RequestState;

/// Seconds to move data over a link with latency `lat_s` when the transfer itself takes
/// `full_s` (bytes / bandwidth), not overlapped with anything.
#[inline]
pub(super) fn serial_s(lat_s: f64, full_s: f64) -> f64 {
    lat_s + full_s
}

/// The same, moved layer by layer alongside `compute_s` of work over `layers` layers: layer
/// l's share moves while the other layers compute, so only one layer's share and whatever
/// the compute cannot hide remain. Used by the prefill→decode KV transfer and by loads from
/// the prefix cache's lower tiers.
#[inline]
pub(super) fn overlapped_s(lat_s: f64, full_s: f64, layers: u32, compute_s: f64) -> f64 {
    let per_layer = full_s / layers.max(1) as f64;
    lat_s + per_layer + (full_s - per_layer - compute_s).max(0.0)
}

impl Engine<'_> {
    /// Seconds a finished prefill's KV takes to reach the decode pool: link latency plus
    /// bytes / bandwidth, where bytes = KV bytes per token (the target's, plus a speculative
    /// drafter's) × prompt tokens and the default
    /// bandwidth is the device's scale-out bandwidth times the replica's KV shards. With
    /// layer-wise overlap, layer l's KV moves while layers l+1.. are prefilled: only the last
    /// layer's share and whatever the link could not hide behind the prefill remain.
    pub(super) fn transfer_time(&self, pool: usize, q: &RequestState, prefill_s: f64) -> f64 {
        let p = &self.pools[pool];
        let info = &p.cost.info;
        // A speculative-decoding drafter's KV of the prompt moves with the target's.
        let draft_kv = p.drafter.as_ref().map_or(0, |d| d.info.kv_bytes_per_token);
        let bytes = (info.kv_bytes_per_token + draft_kv) as f64 * q.prompt_tokens as f64;
        let a = p.cost.plan.attention;
        let shards = (a.tp as u64).min(info.n_kv_heads.max(1)) * a.pp as u64 * a.cp as u64;
        let bw = self.transfer.bandwidth_bytes_per_s.unwrap_or(p.device.scale_out.bw_per_device_bytes_per_s * shards as f64);
        let lat = self.transfer.latency_s.unwrap_or(p.device.scale_out.latency_s);
        let full = bytes / bw;
        if self.transfer.layerwise_overlap {
            overlapped_s(lat, full, info.n_layers, prefill_s)
        } else {
            serial_s(lat, full)
        }
    }

    pub(super) fn transfer_done(&mut self, x: usize, now: f64) -> Result<()> {
        let Transfer { mut state, from } = self.transfers[x].take().expect("live transfer");
        self.free_transfers.push(x);
        let src = &mut self.replicas[from];
        let caching = self.caching[src.pool];
        super::prefix::release(&mut src.kv, self.prefix.get_mut(state.id as usize).filter(|_| caching), &mut state);
        src.outstanding -= 1;
        let rec = self.live.record_mut(state.id);
        let req = RouteRequest { seq: rec.seq, prompt_tokens: state.prompt_tokens, session: None };
        let to = self.route(1, req, None);
        self.live.record_mut(state.id).decode_replica = Some(to as u32);
        let dst = &mut self.replicas[to];
        dst.waiting_decodes += state.is_decoding() as usize;
        dst.waiting.push_back(state);
        dst.outstanding += 1;
        dst.requests += 1;
        self.try_schedule(from, now)?;
        self.try_schedule(to, now)
    }
}
