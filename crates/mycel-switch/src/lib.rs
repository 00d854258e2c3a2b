//! mycel-switch
