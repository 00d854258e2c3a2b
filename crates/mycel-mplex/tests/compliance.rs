//! The compliance suite every mycel muxer runs (`mycel_core::testing::muxer`).

use mycel_core::testing::muxer as suite;

fn muxer() -> mycel_mplex::Config {
    mycel_mplex::Config::default()
}

#[tokio::test]
async fn close_implies_flush() {
    suite::close_implies_flush(&muxer()).await;
}

#[tokio::test]
async fn half_close_keeps_the_other_direction_open() {
    suite::half_close_keeps_the_other_direction_open(&muxer()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_streams_both_ways_at_once() {
    suite::many_streams_both_ways_at_once(&muxer()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unread_stream_does_not_stop_another() {
    suite::an_unread_stream_does_not_stop_another(&muxer()).await;
}

#[tokio::test]
async fn dropping_a_stream_the_remote_finished_delivers_what_was_written() {
    suite::dropping_a_stream_the_remote_finished_delivers_what_was_written(&muxer()).await;
}

#[tokio::test]
async fn dropping_a_stream_after_closing_it_sends_no_reset() {
    suite::dropping_a_stream_after_closing_it_sends_no_reset(&muxer()).await;
}

#[tokio::test]
async fn dropping_a_stream_resets_it() {
    suite::dropping_a_stream_resets_it(&muxer()).await;
}

#[tokio::test]
async fn close_ends_the_session_on_both_sides() {
    suite::close_ends_the_session_on_both_sides(&muxer()).await;
}
