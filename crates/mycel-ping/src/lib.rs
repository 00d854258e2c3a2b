//! mycel-ping
