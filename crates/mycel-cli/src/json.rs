//! The few JSON lines the CLI prints, written by hand (flat objects of strings, numbers,
//! null and string arrays).

use std::fmt::Write;

/// A JSON value the CLI prints.
pub(crate) enum Value<'a> {
    Bool(bool),
    Str(&'a str),
    Num(f64),
    Int(u64),
    Null,
    StrList(&'a [String]),
}

/// One JSON object on one line, keys in the order given.
pub(crate) fn object(fields: &[(&str, Value<'_>)]) -> String {
    let mut out = String::from("{");
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        string(&mut out, key);
        out.push(':');
        match value {
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Str(s) => string(&mut out, s),
            Value::Num(n) if n.is_finite() => {
                let _ = write!(out, "{n:.3}");
            }
            Value::Num(_) | Value::Null => out.push_str("null"),
            Value::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Value::StrList(list) => {
                out.push('[');
                for (j, s) in list.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    string(&mut out, s);
                }
                out.push(']');
            }
        }
    }
    out.push('}');
    out
}

fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_every_kind_of_value() {
        let protocols = vec!["/ipfs/ping/1.0.0".to_string(), "/a\"b".to_string()];
        let line = object(&[
            ("ok", Value::Bool(true)),
            ("peer", Value::Str("12D3")),
            ("rtt_ms", Value::Num(1.23456)),
            ("bytes", Value::Int(10)),
            ("agent", Value::Null),
            ("nan", Value::Num(f64::NAN)),
            ("protocols", Value::StrList(&protocols)),
        ]);
        assert_eq!(
            line,
            r#"{"ok":true,"peer":"12D3","rtt_ms":1.235,"bytes":10,"agent":null,"nan":null,"protocols":["/ipfs/ping/1.0.0","/a\"b"]}"#
        );
    }

    #[test]
    fn escapes_control_characters() {
        let line = object(&[("error", Value::Str("a\nb\\c\u{1}"))]);
        assert_eq!(line, r#"{"error":"a\nb\\c\u0001"}"#);
    }
}
