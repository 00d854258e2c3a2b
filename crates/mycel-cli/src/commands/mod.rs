//! One module per subcommand; each has a `run` that returns the exit status.

pub(crate) mod devp2p;
pub(crate) mod dial;
pub(crate) mod interop;
pub(crate) mod listen;
pub(crate) mod node;
pub(crate) mod perf;
