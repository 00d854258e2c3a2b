//! Record validation per key namespace (kad-dht/README.md, "Entry validation").
//!
//! A key `/ns/rest` belongs to namespace `ns`. Its [`Validator`] decides whether a value
//! may be stored under it (`Validate(key, value)`) and which of several values for it is
//! best (`Select(key, values)`).

use std::{collections::HashMap, fmt, sync::Arc};

use mycel_core::{PeerId, PublicKey};
use thiserror::Error;

/// Characters of a key quoted in a [`ValidationError::UnknownNamespace`] (the rest is cut).
const MAX_KEY_CHARS_IN_ERROR: usize = 64;

/// The namespace of public-key records: `/pk/<binary peer id>`.
pub const PUBLIC_KEY_NAMESPACE: &str = "pk";

/// Why a record was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// No validator handles the key's namespace (the key, lossily decoded and cut to 64
    /// characters).
    #[error("no validator for the namespace of key {0:?}")]
    UnknownNamespace(String),
    /// The namespace's validator refused the record.
    #[error("invalid record: {0}")]
    Invalid(String),
}

/// Validation and selection of the records of one namespace.
pub trait Validator: Send + Sync + 'static {
    /// Whether `value` may be stored under `key`.
    fn validate(&self, key: &[u8], value: &[u8]) -> Result<(), ValidationError>;

    /// Index of the best of `values` (never empty). Must be stable (same input, same
    /// answer). Default: 0.
    fn select(&self, key: &[u8], values: &[&[u8]]) -> usize {
        let _ = (key, values);
        0
    }
}

/// Accepts any record; selects the first value.
#[derive(Debug, Clone, Copy, Default)]
pub struct AcceptAll;

impl Validator for AcceptAll {
    fn validate(&self, _key: &[u8], _value: &[u8]) -> Result<(), ValidationError> {
        Ok(())
    }
}

/// The `pk` namespace: the key is `/pk/` followed by a binary peer id, the value the
/// protobuf-encoded public key that peer id was derived from.
///
/// All valid values for a key are the same key, so selection picks the first.
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicKeyValidator;

impl Validator for PublicKeyValidator {
    fn validate(&self, key: &[u8], value: &[u8]) -> Result<(), ValidationError> {
        let id = key
            .strip_prefix(b"/pk/")
            .ok_or_else(|| ValidationError::Invalid("key does not start with /pk/".into()))?;
        let peer = PeerId::from_bytes(id)
            .map_err(|e| ValidationError::Invalid(format!("key is not /pk/<peer id>: {e}")))?;
        let public_key = PublicKey::decode_protobuf(value)
            .map_err(|e| ValidationError::Invalid(format!("value is not a public key: {e}")))?;
        if !peer.is_public_key(&public_key) {
            return Err(ValidationError::Invalid(
                "public key does not match the peer id in the key".into(),
            ));
        }
        Ok(())
    }
}

/// The validators of a node, one per namespace, with an optional fallback for keys of
/// other namespaces (or of none).
#[derive(Clone, Default)]
pub struct Validators {
    namespaces: HashMap<String, Arc<dyn Validator>>,
    fallback: Option<Arc<dyn Validator>>,
}

impl Validators {
    /// No validators: every record is refused with [`ValidationError::UnknownNamespace`].
    pub fn new() -> Self {
        Validators::default()
    }

    /// The spec's validators: `pk` with [`PublicKeyValidator`]; other keys are refused.
    pub fn with_defaults() -> Self {
        Validators::new().with(PUBLIC_KEY_NAMESPACE, PublicKeyValidator)
    }

    /// Accepts every record, as rust-libp2p does (it validates nothing).
    pub fn accept_all() -> Self {
        Validators::new().with_fallback(AcceptAll)
    }

    /// Adds (or replaces) the validator of `namespace`.
    pub fn with(mut self, namespace: impl Into<String>, validator: impl Validator) -> Self {
        self.insert(namespace, Arc::new(validator));
        self
    }

    /// Adds (or replaces) the validator of `namespace`.
    pub fn insert(&mut self, namespace: impl Into<String>, validator: Arc<dyn Validator>) {
        self.namespaces.insert(namespace.into(), validator);
    }

    /// Sets the validator for keys whose namespace has none of its own.
    pub fn with_fallback(mut self, validator: impl Validator) -> Self {
        self.fallback = Some(Arc::new(validator));
        self
    }

    /// The namespace of a key `/ns/rest`: `ns`, if the key starts with `/`, has a second
    /// `/`, and `ns` is non-empty UTF-8.
    pub fn namespace(key: &[u8]) -> Option<&str> {
        let rest = key.strip_prefix(b"/")?;
        let end = rest.iter().position(|&b| b == b'/')?;
        let ns = std::str::from_utf8(&rest[..end]).ok()?;
        (!ns.is_empty()).then_some(ns)
    }

    /// Validates a record with its namespace's validator, else the fallback.
    pub fn validate(&self, key: &[u8], value: &[u8]) -> Result<(), ValidationError> {
        match self.validator(key) {
            Some(v) => v.validate(key, value),
            None => Err(ValidationError::UnknownNamespace(quote_key(key))),
        }
    }

    /// The index of the best of `values` by the key's validator (or the fallback), kept
    /// within `values`; 0 when no validator handles the key or `values` is empty.
    pub fn select(&self, key: &[u8], values: &[&[u8]]) -> usize {
        if values.is_empty() {
            return 0;
        }
        match self.validator(key) {
            Some(v) => v.select(key, values).min(values.len() - 1),
            None => 0,
        }
    }

    fn validator(&self, key: &[u8]) -> Option<&Arc<dyn Validator>> {
        Validators::namespace(key)
            .and_then(|ns| self.namespaces.get(ns))
            .or(self.fallback.as_ref())
    }
}

impl fmt::Debug for Validators {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.namespaces.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("Validators")
            .field("namespaces", &names)
            .field("fallback", &self.fallback.is_some())
            .finish()
    }
}

/// The key as text for an error: lossy UTF-8, cut to [`MAX_KEY_CHARS_IN_ERROR`] characters.
fn quote_key(key: &[u8]) -> String {
    String::from_utf8_lossy(key)
        .chars()
        .take(MAX_KEY_CHARS_IN_ERROR)
        .collect()
}

#[cfg(test)]
mod tests {
    use mycel_core::Keypair;

    use super::*;

    fn pk_record(kp: &Keypair) -> (Vec<u8>, Vec<u8>) {
        let mut key = b"/pk/".to_vec();
        key.extend_from_slice(&kp.peer_id().to_bytes());
        (key, kp.public().encode_protobuf())
    }

    #[test]
    fn namespace_is_text_between_first_two_slashes() {
        assert_eq!(Validators::namespace(b"/pk/abc"), Some("pk"));
        assert_eq!(Validators::namespace(b"/ipns/"), Some("ipns"));
        assert_eq!(Validators::namespace(b"/a/b/c"), Some("a"));
        assert_eq!(Validators::namespace(b"/pk"), None);
        assert_eq!(Validators::namespace(b""), None);
        assert_eq!(Validators::namespace(b"noslash"), None);
        assert_eq!(Validators::namespace(b"pk/abc"), None);
        assert_eq!(Validators::namespace(b"//abc"), None);
        assert_eq!(Validators::namespace(b"/\xff/abc"), None);
    }

    #[test]
    fn pk_record_with_matching_key_is_valid() {
        let kp = Keypair::generate();
        let (key, value) = pk_record(&kp);
        assert_eq!(Validators::with_defaults().validate(&key, &value), Ok(()));
    }

    #[test]
    fn pk_record_with_another_peers_key_is_invalid() {
        let (key, _) = pk_record(&Keypair::generate());
        let (_, other) = pk_record(&Keypair::generate());
        let err = Validators::with_defaults()
            .validate(&key, &other)
            .unwrap_err();
        assert!(matches!(err, ValidationError::Invalid(_)));
    }

    #[test]
    fn pk_record_with_garbage_value_or_key_is_invalid() {
        let validators = Validators::with_defaults();
        let (key, value) = pk_record(&Keypair::generate());
        assert!(matches!(
            validators.validate(&key, b"not a key"),
            Err(ValidationError::Invalid(_))
        ));
        assert!(matches!(
            validators.validate(b"/pk/not a peer id", &value),
            Err(ValidationError::Invalid(_))
        ));
        assert!(matches!(
            PublicKeyValidator.validate(b"/other/x", &value),
            Err(ValidationError::Invalid(_))
        ));
    }

    #[test]
    fn unknown_namespace_refused_by_defaults_accepted_by_accept_all() {
        let long_key = [b"/v/".as_slice(), &[b'x'; 100]].concat();
        let err = Validators::with_defaults()
            .validate(&long_key, b"value")
            .unwrap_err();
        let ValidationError::UnknownNamespace(quoted) = err else {
            panic!("expected UnknownNamespace, got {err:?}");
        };
        assert_eq!(quoted.chars().count(), MAX_KEY_CHARS_IN_ERROR);
        assert!(quoted.starts_with("/v/x"));
        assert!(Validators::new().validate(b"/pk/x", b"v").is_err());
        assert_eq!(
            Validators::accept_all().validate(&long_key, b"value"),
            Ok(())
        );
        assert_eq!(
            Validators::accept_all().validate(b"no namespace", b""),
            Ok(())
        );
    }

    struct PickIndex(usize);

    impl Validator for PickIndex {
        fn validate(&self, _key: &[u8], value: &[u8]) -> Result<(), ValidationError> {
            if value.is_empty() {
                Err(ValidationError::Invalid("empty".into()))
            } else {
                Ok(())
            }
        }

        fn select(&self, _key: &[u8], _values: &[&[u8]]) -> usize {
            self.0
        }
    }

    #[test]
    fn custom_validator_select_is_used_and_clamped() {
        let values: [&[u8]; 3] = [b"a", b"b", b"c"];
        let validators = Validators::with_defaults()
            .with("one", PickIndex(1))
            .with("far", PickIndex(99));
        assert_eq!(validators.select(b"/one/k", &values), 1);
        assert_eq!(validators.select(b"/far/k", &values), 2);
        assert_eq!(validators.select(b"/far/k", &[]), 0);
        assert_eq!(validators.select(b"/unknown/k", &values), 0);
        assert_eq!(validators.validate(b"/one/k", b"v"), Ok(()));
        assert!(validators.validate(b"/one/k", b"").is_err());
        let debug = format!("{validators:?}");
        assert!(debug.contains("\"far\", \"one\", \"pk\""), "{debug}");
    }

    #[test]
    fn fallback_handles_keys_without_own_validator() {
        let values: [&[u8]; 2] = [b"a", b"b"];
        let validators = Validators::with_defaults().with_fallback(PickIndex(1));
        assert_eq!(validators.select(b"/other/k", &values), 1);
        assert_eq!(validators.select(b"no namespace", &values), 1);
        assert!(validators.validate(b"/other/k", b"").is_err());
        let (key, value) = pk_record(&Keypair::generate());
        assert_eq!(validators.validate(&key, &value), Ok(()));
    }
}
