//! Every built-in plugin except `roofline` (which has its own library,
//! `reallm-roofline-cdylib`) as one dynamic plugin library: the `llmcompass` and `table` backends, the
//! `llama` and `deepseek` models, the parallelism schemes and the batch policies. One library
//! of several kinds keeps the build to one link; the two libraries can be installed together.

// Name each crate so the linker keeps its `inventory` registrations.
use reallm_batching as _;
use reallm_deepseek as _;
use reallm_llama as _;
use reallm_llmcompass as _;
use reallm_measured as _;
use reallm_parallel as _;
use reallm_table as _;

reallm_plugin_api::export_plugin!();
