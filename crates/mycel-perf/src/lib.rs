//! mycel-perf
