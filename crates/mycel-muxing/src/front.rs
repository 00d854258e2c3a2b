//! [`front!`](crate::front): what every protocol front implements the same way.

/// Implements, for a protocol front, the two traits every front implements alike:
/// [`MuxerUpgrade`](mycel_core::MuxerUpgrade) for its configuration (a
/// [`Connection`](crate::Connection) of the protocol, charging the node's buffer budget
/// when the switch passes one) and [`ProtocolError`](crate::ProtocolError) for its error.
///
/// The configuration needs a `buffer_budget: Option<BufferBudget>` field and `Clone`; the
/// error enum needs the variants `Closed`, `TooManyStreams` and `Io(std::io::Error)`.
/// Every other variant is a protocol violation to the switch.
///
/// ```text
/// mycel_muxing::front! {
///     protocol: Yamux,
///     config: Config,
///     error: YamuxError,
///     id: PROTOCOL_ID,
/// }
/// ```
#[macro_export]
macro_rules! front {
    (protocol: $protocol:ty, config: $config:ty, error: $error:ident, id: $id:expr $(,)?) => {
        impl $crate::__core::MuxerUpgrade for $config {
            fn protocol(&self) -> $crate::__core::ProtocolId {
                $id
            }

            fn upgrade(
                &self,
                io: $crate::__core::BoxedIo,
                role: $crate::__core::Role,
            ) -> Box<dyn $crate::__core::MuxedConnection> {
                Box::new($crate::Connection::<$protocol>::new(io, role, self.clone()))
            }

            fn upgrade_with_budget(
                &self,
                io: $crate::__core::BoxedIo,
                role: $crate::__core::Role,
                budget: $crate::__core::BufferBudget,
            ) -> Box<dyn $crate::__core::MuxedConnection> {
                let mut config = self.clone();
                config.buffer_budget = Some(budget);
                Box::new($crate::Connection::<$protocol>::new(io, role, config))
            }
        }

        impl $crate::ProtocolError for $error {
            fn closed() -> Self {
                $error::Closed
            }

            fn too_many_streams() -> Self {
                $error::TooManyStreams
            }

            fn into_muxer_error(self) -> $crate::__core::MuxerError {
                match self {
                    $error::Closed => $crate::__core::MuxerError::Closed,
                    $error::TooManyStreams => $crate::__core::MuxerError::TooManyStreams,
                    $error::Io(e) => $crate::__core::MuxerError::Io(e),
                    e => $crate::__core::MuxerError::Protocol(Box::new(e)),
                }
            }
        }
    };
}
