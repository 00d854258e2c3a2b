//! mycel-host
