//! mpdk load generation and benchmarks.
