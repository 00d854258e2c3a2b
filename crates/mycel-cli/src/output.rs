//! What the commands print: one line at a time on stdout, flushed at once.

use std::{io::Write, time::Duration};

use crate::json::{Value, object};

/// Prints one line on stdout and flushes it at once.
pub(crate) fn emit(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

pub(crate) fn fail(error: &str) -> i32 {
    emit(&object(&[
        ("ok", Value::Bool(false)),
        ("error", Value::Str(error)),
    ]));
    1
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
