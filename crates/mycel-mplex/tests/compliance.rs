//! The compliance suite every mycel muxer runs (`mycel_core::testing::muxer`).

mycel_core::muxer_compliance_tests!(
    mycel_mplex::Config::default(),
    streams_limited_to_3: mycel_mplex::Config {
        max_streams: 3,
        ..mycel_mplex::Config::default()
    }
);
