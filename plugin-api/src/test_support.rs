//! Shared fixtures for plugin tests (feature `test-support`): one toy device with round
//! numbers, and a compact listing of a model graph. Plugin crates enable the feature in their
//! `[dev-dependencies]`; nothing here is part of the stable interface.

use crate::{DType, DeviceSpec, Interconnect, Kernel, ModelGraph, ScaleOut, Segment, Shard, Topology, WorkKind};

/// A device with round numbers, so that roofline times are hand calculations: 1000 TFLOP/s
/// matrix (fp16/bf16; fp8 ×2, int8 ×2, fp32 ×0.5, no fp4), 100 TFLOP/s vector, 2 TB/s DRAM,
/// 80 GiB, 100 cores at 1 GHz with 16×16 systolic arrays, 192 KiB SRAM per core, 40 MiB L2,
/// 8 links of 25 GB/s per direction with 1 µs latency in a fully connected node of 8, and a
/// 50 GB/s, 5 µs scale-out link per device.
pub fn toy_device() -> DeviceSpec {
    DeviceSpec {
        name: "toy".into(),
        frequency_hz: 1e9,
        core_count: 100,
        sublane_count: 4,
        systolic_array_height: 16,
        systolic_array_width: 16,
        mac_per_cycle: 1.0,
        systolic_dtype: DType::F16,
        vector_width: 32,
        vector_flop_per_cycle: 4,
        sram_bytes_per_core: 192 * 1024,
        l2_bytes: 40 << 20,
        l2_bytes_per_cycle: 5120.0,
        mem_bw_bytes_per_s: 2e12,
        mem_capacity_bytes: 80 << 30,
        peak_matmul_flops: 1e15,
        peak_vector_flops: 1e14,
        fp8_multiplier: 2.0,
        int8_multiplier: 2.0,
        fp4_multiplier: 0.0,
        fp32_multiplier: 0.5,
        interconnect: Interconnect {
            link_name: "toy".into(),
            link_bw_per_direction_bytes_per_s: 25e9,
            link_bw_both_directions_bytes_per_s: 50e9,
            link_latency_s: 1e-6,
            flit_bytes: 16,
            header_bytes: 16,
            max_payload_bytes: 256,
            link_count: 8,
            topology: Topology::FullyConnected,
            devices_per_node: 8,
        },
        scale_out: ScaleOut { bw_per_device_bytes_per_s: 50e9, latency_s: 5e-6 },
    }
}

/// One line per work item of `graph`: `stage layers×count kind` (kernel kind or collective
/// name), in graph order; for readable assertions on a model's or a pass's output.
pub fn graph_listing(graph: &ModelGraph) -> Vec<String> {
    graph
        .stages
        .iter()
        .enumerate()
        .flat_map(|(si, st)| {
            st.segments.iter().flat_map(move |seg| {
                seg.items.iter().map(move |it| {
                    let kind = match &it.work {
                        WorkKind::Kernel(k) => k.kind_name(),
                        WorkKind::Comm(c) => c.kind.name(),
                    };
                    format!("{si} {}x{} {kind}", seg.n_layers, it.count)
                })
            })
        })
        .collect()
}

/// The kernels of `segment` with sharding rule `shard`, in order (collectives panic: a
/// segment's items of one shard rule are kernels in every built-in model).
pub fn shard_kernels(segment: &Segment, shard: Shard) -> Vec<Kernel> {
    segment
        .items
        .iter()
        .filter(|it| it.shard == shard)
        .map(|it| match it.work {
            WorkKind::Kernel(k) => k,
            WorkKind::Comm(c) => panic!("a collective with shard rule {shard:?}: {c:?}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Kernel, Phase, Segment, SegmentKind, Shard, Stage, WorkItem};

    #[test]
    fn toy_device_peaks_and_listing() {
        let d = toy_device();
        assert_eq!(d.peak_matmul_flops_for(DType::F8), 2e15);
        let mut g = ModelGraph::default();
        g.stages.push(Stage {
            segments: vec![Segment {
                kind: SegmentKind::Layers,
                first_layer: 0,
                n_layers: 3,
                items: vec![WorkItem { count: 2, ..WorkItem::kernel(Kernel::matmul(1, 2, 3, DType::Bf16), Shard::Replicated, Phase::Ffn) }],
            }],
        });
        assert_eq!(graph_listing(&g), vec!["0 3x2 matmul".to_string()]);
    }
}
