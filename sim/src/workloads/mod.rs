//! Workloads the core provides besides trace replay ([`TraceWorkload`](crate::TraceWorkload)):
//! closed-loop clients ([`ClosedLoop`]) and synthetic request lengths and arrivals
//! ([`synthetic`]). All are pure and seeded: the same inputs give the same requests.

mod closed_loop;
pub mod synthetic;

pub use closed_loop::ClosedLoop;
pub use synthetic::{poisson_requests, LengthDist, LengthSampler};
