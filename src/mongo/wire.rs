//! MongoDB wire-protocol framing: turn received bytes into requests and replies into bytes.
//!
//! Only the framing lives here (header, OP_MSG sections, legacy OP_QUERY, OP_REPLY); what a
//! command *means* is decided elsewhere. Everything is pure and synchronous so the connection
//! task can feed it whatever it has read so far.
//!
//! Every length in a message comes from the peer, so nothing here trusts one: each read is
//! bounds-checked against the bytes actually present, and the lints below keep it that way.
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

use bson::{Bson, Document, RawBsonRef, RawDocument, RawDocumentBuf};

#[cfg(test)]
mod tests;

/// Largest message we accept or send. This is the `maxMessageSizeBytes` MongoDB advertises
/// in `hello`, and OP_MSG.md says "Each `OP_MSG` MUST NOT exceed the `maxMessageSizeBytes` as
/// configured by the MongoDB Handshake".
pub const MAX_MESSAGE_SIZE: usize = 48_000_000;

/// Legacy reply opcode; only used to answer an OP_QUERY handshake.
pub const OP_REPLY: i32 = 1;
/// Legacy query opcode; drivers still send their first `hello`/`isMaster` with it.
pub const OP_QUERY: i32 = 2004;
/// The opcode every modern command uses.
pub const OP_MSG: i32 = 2013;

/// Standard message header: four little-endian int32s.
const HEADER_LEN: usize = 16;

/// Smallest BSON document: int32 length plus the terminating NUL (`{}` is 5 bytes).
const MIN_DOCUMENT_LEN: usize = 5;

/// Nesting limit for received documents, counting the command body as level 1. MongoDB
/// "supports no more than 100 levels of nesting for BSON documents"; 128 leaves room for the
/// command envelope around such a document (`insert` -> `documents` -> document is already
/// three levels). bson's decoders recurse once per level with no limit of their own, so
/// without this a 48 MB message of nested documents would overflow the connection task's
/// stack (a tokio worker has 2 MiB).
const MAX_BSON_DEPTH: usize = 128;

/// OP_MSG flagBits. OP_MSG.md: "The low 16 bits declare what the current message contains,
/// and what the expectations of the recipient are. The high 16 bits are designed to declare
/// optional attributes".
const FLAG_CHECKSUM_PRESENT: u32 = 1;
const FLAG_MORE_TO_COME: u32 = 1 << 1;
/// Required bits we understand; "Clients MUST error if any unsupported or undefined required
/// bits are set to 1 and MUST ignore all undefined optional bits." The same rule protects the
/// server. exhaustAllowed (bit 16) is optional: "Setting the `exhaustAllowed` bit on a request
/// does not guarantee that the responses will have the `moreToCome` bit set", so ignoring it
/// and answering once is correct.
const REQUIRED_FLAGS_MASK: u32 = 0xFFFF;
const KNOWN_REQUIRED_FLAGS: u32 = FLAG_CHECKSUM_PRESENT | FLAG_MORE_TO_COME;

/// Smallest OP_MSG: header, flagBits, one kind byte and an empty document.
const MIN_OP_MSG_LEN: usize = HEADER_LEN + 4 + 1 + MIN_DOCUMENT_LEN;
/// Smallest OP_QUERY: header, flags, empty cstring, numberToSkip, numberToReturn, `{}`.
const MIN_OP_QUERY_LEN: usize = HEADER_LEN + 4 + 1 + 4 + 4 + MIN_DOCUMENT_LEN;

/// The standard message header.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Header {
    pub length: i32,
    pub request_id: i32,
    pub response_to: i32,
    pub op_code: i32,
}

/// One parsed client message.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// An OP_MSG command. `body` already has every kind-1 document sequence merged in as an
    /// array under its identifier. When `more_to_come` is set the client expects no reply.
    Msg {
        header: Header,
        more_to_come: bool,
        body: Document,
    },
    /// A legacy OP_QUERY, which drivers use for the initial handshake.
    Query {
        header: Header,
        collection: String,
        number_to_skip: i32,
        number_to_return: i32,
        query: Document,
    },
}

impl Request {
    pub fn header(&self) -> &Header {
        match self {
            Request::Msg { header, .. } | Request::Query { header, .. } => header,
        }
    }
}

/// Why a message could not be framed. Any of these means the byte stream can no longer be
/// trusted, so the connection should be closed after (at most) logging it.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("message length {length} is below the {minimum}-byte minimum for {what}")]
    TooShort {
        length: i32,
        minimum: usize,
        what: &'static str,
    },
    #[error(
        "message length {length} exceeds the maximum message size of {MAX_MESSAGE_SIZE} bytes"
    )]
    TooLarge { length: usize },
    #[error("unsupported opCode {op_code}")]
    UnknownOpCode { op_code: i32 },
    #[error("OP_MSG flagBits {flags:#010x} set a required bit this server does not support")]
    BadFlags { flags: u32 },
    #[error(
        "OP_MSG checksum mismatch: message carries {declared:#010x}, computed {computed:#010x}"
    )]
    ChecksumMismatch { declared: u32, computed: u32 },
    #[error("{what} at offset {offset} needs {needed} bytes but only {available} remain")]
    Truncated {
        what: &'static str,
        offset: usize,
        needed: usize,
        available: usize,
    },
    #[error("malformed OP_MSG section at offset {offset}: {reason}")]
    BadSection { offset: usize, reason: String },
    #[error("invalid cstring {what} at offset {offset}: {reason}")]
    BadCString {
        what: &'static str,
        offset: usize,
        reason: &'static str,
    },
    #[error("invalid BSON {what} at offset {offset}: {reason}")]
    BadBson {
        what: &'static str,
        offset: usize,
        reason: String,
    },
    #[error("OP_MSG must carry exactly one kind-0 body section, found {count}")]
    BodySectionCount { count: usize },
    #[error("OP_MSG document sequence {identifier:?} repeats a body field or another sequence")]
    DuplicateField { identifier: String },
    #[error("{count} unexpected trailing bytes after {what} at offset {offset}")]
    TrailingBytes {
        what: &'static str,
        offset: usize,
        count: usize,
    },
}

/// Parse one message from the front of `buf`.
///
/// `Ok(None)` means the message is not complete yet: read more bytes and call again. A
/// declared length that is too large, too small or for an unknown opcode is an error as soon
/// as the header bytes that show it have arrived, so a hostile peer can't make us buffer
/// 2 GiB or wait forever. `Ok(Some((request, consumed)))` returns the request and how many
/// bytes of `buf` it occupied.
pub fn parse(buf: &[u8]) -> Result<Option<(Request, usize)>, WireError> {
    let Some(length) = le_i32(buf, 0) else {
        return Ok(None);
    };
    let declared = check_length(length, HEADER_LEN, "a message header")?;
    if declared > MAX_MESSAGE_SIZE {
        return Err(WireError::TooLarge { length: declared });
    }
    let (Some(request_id), Some(response_to), Some(op_code)) =
        (le_i32(buf, 4), le_i32(buf, 8), le_i32(buf, 12))
    else {
        return Ok(None);
    };
    let header = Header {
        length,
        request_id,
        response_to,
        op_code,
    };
    let minimum = match op_code {
        OP_MSG => MIN_OP_MSG_LEN,
        OP_QUERY => MIN_OP_QUERY_LEN,
        // OP_COMPRESSED (2012) lands here too: we never advertise a compressor, and the
        // legacy opcodes (OP_INSERT, OP_GET_MORE, ...) were removed in MongoDB 6.0.
        _ => return Err(WireError::UnknownOpCode { op_code }),
    };
    let what = if op_code == OP_MSG {
        "OP_MSG"
    } else {
        "OP_QUERY"
    };
    check_length(length, minimum, what)?;
    let Some(message) = buf.get(..declared) else {
        return Ok(None);
    };
    let request = if op_code == OP_MSG {
        parse_msg(header, message)?
    } else {
        parse_query(header, message)?
    };
    Ok(Some((request, declared)))
}

/// Encode an OP_MSG reply: flagBits 0 and exactly one kind-0 section holding `body`.
pub fn encode_msg(request_id: i32, response_to: i32, body: &Document) -> Vec<u8> {
    // uint32 flagBits = 0: we never send a checksum, and "The server will never produce
    // replies with the `moreToCome` bit set unless the request has the `exhaustAllowed` bit
    // set", which we don't honour. Then the section kind byte, 0 = body.
    const PREFIX: [u8; 5] = [0, 0, 0, 0, 0];
    frame(request_id, response_to, OP_MSG, &PREFIX, body)
}

/// Encode an OP_REPLY, the only valid answer to an OP_QUERY: responseFlags 0, cursorID 0,
/// startingFrom 0, numberReturned 1, then `doc`.
pub fn encode_reply(request_id: i32, response_to: i32, doc: &Document) -> Vec<u8> {
    let mut prefix = Vec::with_capacity(20);
    prefix.extend_from_slice(&0i32.to_le_bytes()); // responseFlags
    prefix.extend_from_slice(&0i64.to_le_bytes()); // cursorID
    prefix.extend_from_slice(&0i32.to_le_bytes()); // startingFrom
    prefix.extend_from_slice(&1i32.to_le_bytes()); // numberReturned
    frame(request_id, response_to, OP_REPLY, &prefix, doc)
}

/// MongoDB's error code for a reply that exceeds the size limits.
const BSON_OBJECT_TOO_LARGE: i32 = 10334;
/// MongoDB's generic server-side error code.
const INTERNAL_ERROR: i32 = 1;

/// Header, opcode-specific prefix, document. A reply that cannot be sent as is becomes an
/// error reply for that one command, which the driver reports to the application, instead
/// of a dead connection: BSON cannot encode every `Document` (a key or regex containing NUL
/// has no cstring form), and drivers refuse messages above `maxMessageSizeBytes`.
fn frame(
    request_id: i32,
    response_to: i32,
    op_code: i32,
    prefix: &[u8],
    doc: &Document,
) -> Vec<u8> {
    let overhead = HEADER_LEN + prefix.len();
    let doc = match bson::to_vec(doc) {
        Ok(bytes) if overhead + bytes.len() <= MAX_MESSAGE_SIZE => bytes,
        Ok(bytes) => error_document(
            BSON_OBJECT_TOO_LARGE,
            "BSONObjectTooLarge",
            &format!(
                "reply of {} bytes exceeds the maximum message size of {MAX_MESSAGE_SIZE} bytes",
                overhead + bytes.len()
            ),
        ),
        Err(error) => error_document(
            INTERNAL_ERROR,
            "InternalError",
            &format!("reply could not be encoded as BSON: {error}"),
        ),
    };
    let total = overhead + doc.len();
    // Cannot saturate: total <= MAX_MESSAGE_SIZE, or a short error document.
    let length = i32::try_from(total).unwrap_or(i32::MAX);
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(&request_id.to_le_bytes());
    out.extend_from_slice(&response_to.to_le_bytes());
    out.extend_from_slice(&op_code.to_le_bytes());
    out.extend_from_slice(prefix);
    out.extend_from_slice(&doc);
    out
}

/// `{ok: 0, errmsg, code, codeName}`, MongoDB's command error shape. Built with the raw
/// writer because its keys are constants, so unlike `bson::to_vec` it cannot fail.
fn error_document(code: i32, code_name: &str, errmsg: &str) -> Vec<u8> {
    let mut doc = RawDocumentBuf::new();
    doc.append("ok", 0.0);
    doc.append("errmsg", errmsg);
    doc.append("code", code);
    doc.append("codeName", code_name);
    doc.into_bytes()
}

/// Validate a declared message length against a minimum, returning it as a usize.
fn check_length(length: i32, minimum: usize, what: &'static str) -> Result<usize, WireError> {
    usize::try_from(length)
        .ok()
        .filter(|&l| l >= minimum)
        .ok_or(WireError::TooShort {
            length,
            minimum,
            what,
        })
}

fn le_word(buf: &[u8], at: usize) -> Option<[u8; 4]> {
    let bytes = buf.get(at..at.checked_add(4)?)?;
    let mut word = [0u8; 4];
    word.iter_mut().zip(bytes).for_each(|(d, s)| *d = *s);
    Some(word)
}

fn le_i32(buf: &[u8], at: usize) -> Option<i32> {
    le_word(buf, at).map(i32::from_le_bytes)
}

/// OP_MSG body after the header: `uint32 flagBits; Section+ sections; [uint32 checksum;]`.
fn parse_msg(header: Header, message: &[u8]) -> Result<Request, WireError> {
    let mut cursor = Cursor::new(message, HEADER_LEN);
    let flags = cursor.u32("OP_MSG flagBits")?;
    if flags & REQUIRED_FLAGS_MASK & !KNOWN_REQUIRED_FLAGS != 0 {
        return Err(WireError::BadFlags { flags });
    }
    if flags & FLAG_CHECKSUM_PRESENT != 0 {
        cursor.strip_checksum()?;
    }

    let mut body = None;
    let mut body_count = 0usize;
    let mut sequences: Vec<(String, Vec<Document>)> = Vec::new();
    while !cursor.is_empty() {
        let offset = cursor.pos;
        match cursor.u8("section kind")? {
            0 => {
                body_count += 1;
                body = Some(cursor.document("body section")?);
            }
            1 => sequences.push(cursor.sequence()?),
            // "Any unknown Payload Types MUST result in an error and the socket MUST be closed."
            kind => {
                return Err(WireError::BadSection {
                    offset,
                    reason: format!("unknown payload type {kind}"),
                })
            }
        }
    }
    // "A fully constructed `OP_MSG` MUST contain exactly one `Payload Type 0`".
    let mut body = match (body, body_count) {
        (Some(body), 1) => body,
        _ => return Err(WireError::BodySectionCount { count: body_count }),
    };
    // "... optionally any number of `Payload Type 1` where each identifier MUST be unique per
    // message." A sequence stands for the command argument of the same name, so the body
    // carrying that field as well is just as ambiguous as two sequences sharing a name.
    for (identifier, documents) in sequences {
        if body.contains_key(&identifier) {
            return Err(WireError::DuplicateField { identifier });
        }
        let array = documents.into_iter().map(Bson::Document).collect();
        body.insert(identifier, Bson::Array(array));
    }
    Ok(Request::Msg {
        header,
        more_to_come: flags & FLAG_MORE_TO_COME != 0,
        body,
    })
}

/// OP_QUERY after the header: `int32 flags; cstring fullCollectionName; int32 numberToSkip;
/// int32 numberToReturn; document query; [document returnFieldsSelector;]`.
fn parse_query(header: Header, message: &[u8]) -> Result<Request, WireError> {
    let mut cursor = Cursor::new(message, HEADER_LEN);
    // The query flags (tailable, secondaryOk, ...) only matter for real cursors; a command
    // sent to `<db>.$cmd` ignores them, so they are read and dropped.
    cursor.u32("OP_QUERY flags")?;
    let collection = cursor.cstring("fullCollectionName")?;
    let number_to_skip = cursor.i32("numberToSkip")?;
    let number_to_return = cursor.i32("numberToReturn")?;
    let query = cursor.document("query")?;
    // The projection is validated so a malformed one is caught, but commands never use it.
    if !cursor.is_empty() {
        cursor.document("returnFieldsSelector")?;
    }
    if !cursor.is_empty() {
        return Err(WireError::TrailingBytes {
            what: "OP_QUERY",
            offset: cursor.pos,
            count: cursor.remaining(),
        });
    }
    Ok(Request::Query {
        header,
        collection,
        number_to_skip,
        number_to_return,
        query,
    })
}

/// A bounds-checked reader over one complete message. `pos` is an offset from the start of
/// the message so errors point at the offending byte; `end` shrinks when a section (or the
/// trailing checksum) is carved off, and no read ever passes it.
struct Cursor<'a> {
    message: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Cursor<'a> {
    fn new(message: &'a [u8], pos: usize) -> Self {
        Cursor {
            message,
            pos,
            end: message.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.end
    }

    fn remaining(&self) -> usize {
        self.end.saturating_sub(self.pos)
    }

    fn take(&mut self, needed: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        let truncated = WireError::Truncated {
            what,
            offset: self.pos,
            needed,
            available: self.remaining(),
        };
        let Some(stop) = self.pos.checked_add(needed).filter(|&s| s <= self.end) else {
            return Err(truncated);
        };
        let bytes = self.message.get(self.pos..stop).ok_or(truncated)?;
        self.pos = stop;
        Ok(bytes)
    }

    fn word(&mut self, what: &'static str) -> Result<[u8; 4], WireError> {
        let bytes = self.take(4, what)?;
        Ok(le_word(bytes, 0).unwrap_or_default())
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, WireError> {
        let bytes = self.take(1, what)?;
        Ok(bytes.first().copied().unwrap_or_default())
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, WireError> {
        self.word(what).map(u32::from_le_bytes)
    }

    fn i32(&mut self, what: &'static str) -> Result<i32, WireError> {
        self.word(what).map(i32::from_le_bytes)
    }

    /// "checksum: crc32c message checksum. When present, the appropriate flag MUST be set in
    /// the flagBits." It is the last 4 bytes and covers every byte before it.
    fn strip_checksum(&mut self) -> Result<(), WireError> {
        let at =
            self.end
                .checked_sub(4)
                .filter(|&at| at >= self.pos)
                .ok_or(WireError::Truncated {
                    what: "OP_MSG checksum",
                    offset: self.pos,
                    needed: 4,
                    available: self.remaining(),
                })?;
        let covered = self.message.get(..at).unwrap_or_default();
        let declared = le_word(self.message, at).map_or(0, u32::from_le_bytes);
        let computed = crc32c::crc32c(covered);
        if declared != computed {
            return Err(WireError::ChecksumMismatch { declared, computed });
        }
        self.end = at;
        Ok(())
    }

    fn cstring(&mut self, what: &'static str) -> Result<String, WireError> {
        let offset = self.pos;
        let rest = self.message.get(self.pos..self.end).unwrap_or_default();
        let nul = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or(WireError::BadCString {
                what,
                offset,
                reason: "missing NUL terminator",
            })?;
        let bytes = self.take(nul, what)?;
        self.take(1, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| WireError::BadCString {
            what,
            offset,
            reason: "not valid UTF-8",
        })
    }

    /// Read one BSON document whose leading int32 must fit in what is left of the current
    /// bounds. OP_MSG.md: "The payload size is inferred from the document's leading int32",
    /// so that int32 is checked here before bson ever sees (or allocates for) it.
    fn document(&mut self, what: &'static str) -> Result<Document, WireError> {
        let offset = self.pos;
        let bad = |reason: String| WireError::BadBson {
            what,
            offset,
            reason,
        };
        let declared = le_i32(self.message.get(..self.end).unwrap_or_default(), offset)
            .ok_or_else(|| bad(format!("only {} bytes left", self.remaining())))?;
        let length = usize::try_from(declared)
            .ok()
            .filter(|&l| l >= MIN_DOCUMENT_LEN)
            .ok_or_else(|| bad(format!("declared length {declared} is below 5")))?;
        if length > self.remaining() {
            return Err(bad(format!(
                "declared length {length} exceeds the {} bytes left",
                self.remaining()
            )));
        }
        let bytes = self.take(length, what)?;
        // bson's raw reader checks that the int32 length equals the slice length and that
        // every element stays inside it. The conversion goes through the raw reader rather
        // than `Document::from_reader`, whose serde path needs roughly 17 KiB of stack per
        // nesting level in debug builds and overflowed a 2 MiB stack at ~120 levels.
        let raw = RawDocument::from_bytes(bytes).map_err(|e| bad(e.to_string()))?;
        check_depth(raw, 1).map_err(bad)?;
        Document::try_from(raw).map_err(|e| bad(e.to_string()))
    }

    /// A kind-1 section: `int32 size; cstring identifier; document* documents;` where size
    /// "includes this 4-byte field" and the documents fill the rest exactly.
    fn sequence(&mut self) -> Result<(String, Vec<Document>), WireError> {
        let offset = self.pos;
        let bad = |reason: String| WireError::BadSection { offset, reason };
        let size = self.i32("document sequence size")?;
        let body_len = usize::try_from(size)
            .ok()
            .and_then(|s| s.checked_sub(4))
            .ok_or_else(|| bad(format!("size {size} is smaller than its own 4 bytes")))?;
        if body_len > self.remaining() {
            return Err(bad(format!(
                "size {size} exceeds the {} bytes left in the message",
                self.remaining()
            )));
        }
        let outer_end = self.end;
        self.end = self.pos + body_len;
        let identifier = self.cstring("document sequence identifier")?;
        if identifier.is_empty() {
            return Err(bad("empty identifier".to_owned()));
        }
        let mut documents = Vec::new();
        while !self.is_empty() {
            documents.push(self.document("document sequence entry")?);
        }
        self.end = outer_end;
        Ok((identifier, documents))
    }
}

/// Reject documents nested deeper than [`MAX_BSON_DEPTH`], walking the raw bytes with an
/// explicit depth so our own recursion is bounded too.
fn check_depth(doc: &RawDocument, depth: usize) -> Result<(), String> {
    if depth > MAX_BSON_DEPTH {
        return Err(format!("nested deeper than {MAX_BSON_DEPTH} levels"));
    }
    for element in doc {
        let (_, value) = element.map_err(|e| e.to_string())?;
        check_value(value, depth)?;
    }
    Ok(())
}

fn check_value(value: RawBsonRef<'_>, depth: usize) -> Result<(), String> {
    match value {
        RawBsonRef::Document(inner) => check_depth(inner, depth + 1),
        RawBsonRef::Array(array) => {
            let inner = RawDocument::from_bytes(array.as_bytes()).map_err(|e| e.to_string())?;
            check_depth(inner, depth + 1)
        }
        RawBsonRef::JavaScriptCodeWithScope(code) => check_depth(code.scope, depth + 1),
        _ => Ok(()),
    }
}
