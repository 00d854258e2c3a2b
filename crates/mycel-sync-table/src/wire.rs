//! The wire (proto/sync_table.proto): updates as pubsub payloads, snapshot requests and
//! responses on `/mycel/sync-table/1.0.0`. Every decoder checks its size cap before
//! parsing, and a response's entry count before decoding it.

use bytes::Bytes;
use mycel_core::PeerId;
use mycel_proto::{prost::Message as _, sync_table as pb};

use super::{
    Entry, Lease, MAX_SNAPSHOT_PAGE_ENTRIES, MAX_SNAPSHOT_PAGE_SIZE, MAX_SNAPSHOT_REQUEST_SIZE,
    MAX_TABLE_KEY_LEN, MAX_TABLE_NAME_LEN, MAX_TABLE_UPDATE_SIZE, MAX_TABLE_VALUE_SIZE,
    SnapshotPage, SyncTableError, Update,
};

/// Bytes of a snapshot response besides its entries: the `more` flag.
pub(crate) const SNAPSHOT_RESPONSE_OVERHEAD: usize = 2;

/// Field number of `SnapshotResponse.entries`.
const RESPONSE_ENTRIES: u64 = 1;

/// A request for the snapshot entries of a table after a key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotRequest {
    /// The table's name (one host may serve several).
    pub table: String,
    /// Entries whose keys sort after this one are wanted; all of them when `None`.
    pub start_after: Option<String>,
}

/// The protobuf bytes of an update (a pubsub payload).
pub fn encode_update(update: &Update) -> Vec<u8> {
    to_proto(update).encode_to_vec()
}

/// An update from its protobuf bytes, at most [`MAX_TABLE_UPDATE_SIZE`] of them. The value
/// shares `bytes` rather than copying it.
pub fn decode_update(bytes: Bytes) -> Result<Update, SyncTableError> {
    check_size("update", bytes.len(), MAX_TABLE_UPDATE_SIZE)?;
    from_proto(pb::Update::decode(bytes).map_err(invalid)?)
}

/// The protobuf bytes of a snapshot request.
pub fn encode_snapshot_request(request: &SnapshotRequest) -> Vec<u8> {
    pb::SnapshotRequest {
        start_after: request.start_after.clone(),
        table: request.table.clone(),
    }
    .encode_to_vec()
}

/// A snapshot request from its protobuf bytes, at most [`MAX_SNAPSHOT_REQUEST_SIZE`].
pub fn decode_snapshot_request(bytes: Bytes) -> Result<SnapshotRequest, SyncTableError> {
    check_size("snapshot request", bytes.len(), MAX_SNAPSHOT_REQUEST_SIZE)?;
    let request = pb::SnapshotRequest::decode(bytes).map_err(invalid)?;
    if let Some(key) = &request.start_after {
        check_key(key)?;
    }
    check_table_name(&request.table)?;
    Ok(SnapshotRequest {
        table: request.table,
        start_after: request.start_after,
    })
}

/// The protobuf bytes of a snapshot response.
pub fn encode_snapshot_response(page: &SnapshotPage) -> Vec<u8> {
    pb::SnapshotResponse {
        entries: page.entries.iter().map(to_proto).collect(),
        more: page.more,
    }
    .encode_to_vec()
}

/// A snapshot response from its protobuf bytes: at most [`MAX_SNAPSHOT_PAGE_SIZE`]
/// bytes and [`MAX_SNAPSHOT_PAGE_ENTRIES`] entries (counted before decoding), each a
/// valid update.
pub fn decode_snapshot_response(bytes: Bytes) -> Result<SnapshotPage, SyncTableError> {
    check_size("snapshot response", bytes.len(), MAX_SNAPSHOT_PAGE_SIZE)?;
    if count_field(&bytes, RESPONSE_ENTRIES)? > MAX_SNAPSHOT_PAGE_ENTRIES {
        return Err(SyncTableError::TooManyEntries {
            max: MAX_SNAPSHOT_PAGE_ENTRIES,
        });
    }
    let response = pb::SnapshotResponse::decode(bytes).map_err(invalid)?;
    Ok(SnapshotPage {
        entries: response
            .entries
            .into_iter()
            .map(from_proto)
            .collect::<Result<_, _>>()?,
        more: response.more,
    })
}

/// What `update` adds to an encoded snapshot response: tag, length, message.
pub(crate) fn snapshot_entry_len(update: &Update) -> usize {
    let len = to_proto(update).encoded_len();
    1 + varint_len(len as u64) + len
}

fn varint_len(value: u64) -> usize {
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

fn to_proto(update: &Update) -> pb::Update {
    let lease = |l: &Lease| pb::Lease {
        owner: Bytes::copy_from_slice(l.owner.as_bytes()),
        expires_ms: l.expires_ms,
    };
    pb::Update {
        key: update.key.clone(),
        value: update.entry.value.clone(),
        clock: update.entry.clock,
        writer: Bytes::copy_from_slice(update.entry.writer.as_bytes()),
        time_ms: update.entry.time_ms,
        lease: update.entry.lease.as_ref().map(lease),
        seen_lease: update.seen_lease.as_ref().map(lease),
    }
}

fn from_proto(update: pb::Update) -> Result<Update, SyncTableError> {
    check_key(&update.key)?;
    if let Some(value) = update
        .value
        .as_ref()
        .filter(|v| v.len() > MAX_TABLE_VALUE_SIZE)
    {
        return Err(SyncTableError::ValueTooLarge {
            len: value.len(),
            max: MAX_TABLE_VALUE_SIZE,
        });
    }
    let lease = |l: pb::Lease, what| -> Result<Lease, SyncTableError> {
        Ok(Lease {
            owner: PeerId::from_bytes(&l.owner).map_err(|_| SyncTableError::InvalidPeerId(what))?,
            expires_ms: l.expires_ms,
        })
    };
    Ok(Update {
        key: update.key,
        entry: Entry {
            value: update.value,
            clock: update.clock,
            writer: PeerId::from_bytes(&update.writer)
                .map_err(|_| SyncTableError::InvalidPeerId("writer"))?,
            time_ms: update.time_ms,
            lease: update.lease.map(|l| lease(l, "lease owner")).transpose()?,
        },
        seen_lease: update
            .seen_lease
            .map(|l| lease(l, "seen lease owner"))
            .transpose()?,
    })
}

fn check_key(key: &str) -> Result<(), SyncTableError> {
    if key.len() > MAX_TABLE_KEY_LEN {
        return Err(SyncTableError::KeyTooLong {
            len: key.len(),
            max: MAX_TABLE_KEY_LEN,
        });
    }
    Ok(())
}

/// A table name is 1 to [`MAX_TABLE_NAME_LEN`] bytes.
pub(crate) fn check_table_name(name: &str) -> Result<(), SyncTableError> {
    if name.is_empty() || name.len() > MAX_TABLE_NAME_LEN {
        return Err(SyncTableError::InvalidTableName {
            len: name.len(),
            max: MAX_TABLE_NAME_LEN,
        });
    }
    Ok(())
}

fn check_size(what: &'static str, len: usize, max: usize) -> Result<(), SyncTableError> {
    if len > max {
        return Err(SyncTableError::TooLarge {
            what,
            len: len as u64,
            max,
        });
    }
    Ok(())
}

fn invalid(e: mycel_proto::prost::DecodeError) -> SyncTableError {
    SyncTableError::InvalidProtobuf(e.to_string())
}

/// How many times field `number` occurs at the top level of protobuf `bytes`, walking
/// the fields without decoding them.
fn count_field(mut bytes: &[u8], number: u64) -> Result<usize, SyncTableError> {
    let mut count = 0;
    while !bytes.is_empty() {
        let key = varint(&mut bytes)?;
        let skip = match key & 7 {
            0 => {
                varint(&mut bytes)?;
                0
            }
            1 => 8,
            5 => 4,
            2 => varint(&mut bytes)?,
            wire => {
                return Err(SyncTableError::InvalidProtobuf(format!(
                    "unsupported wire type {wire}"
                )));
            }
        };
        if skip > bytes.len() as u64 {
            return Err(SyncTableError::InvalidProtobuf("truncated field".into()));
        }
        bytes = &bytes[skip as usize..];
        if key >> 3 == number {
            count += 1;
        }
    }
    Ok(count)
}

/// A protobuf varint (up to 10 bytes) off the front of `bytes`.
fn varint(bytes: &mut &[u8]) -> Result<u64, SyncTableError> {
    let mut value = 0u64;
    for (i, byte) in bytes.iter().take(10).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *bytes = &bytes[i + 1..];
            return Ok(value);
        }
    }
    Err(SyncTableError::InvalidProtobuf(
        "truncated or overlong varint".into(),
    ))
}
