//! The compliance suite every mycel muxer runs (`mycel_core::testing::muxer`).

mycel_core::muxer_compliance_tests!(mycel_mplex::Config::default());
