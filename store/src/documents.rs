//! Documents attached to a case: added with a history row of the case (in its hash chain, in
//! the same transaction as the bytes), listed, read back. Only the kinds the procedures
//! exchange are kept (PDF, ODT, DOCX, PNG, JPEG), each recognised by its bytes, never by the
//! name or the type a client declares; the stored SHA-256 is in the history row too, so a
//! document changed in the database no longer matches its case's chain.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use engine::machine::{Cause, Effect, History, Value, Variables};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::conn::Conn;
use super::drive::{Applied, apply, decode, read_case};
use super::entities::{case, document};
use super::registry::Deployed;
use super::transition::Row;
use super::{Error, Store};
use crate::clock::millis;

/// A kind of document jalon keeps, recognised by its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Pdf,
    Odt,
    Docx,
    Png,
    Jpeg,
}

impl Kind {
    pub const ALL: [Kind; 5] = [Kind::Pdf, Kind::Odt, Kind::Docx, Kind::Png, Kind::Jpeg];

    /// The media type sent back on download.
    pub fn media_type(self) -> &'static str {
        match self {
            Kind::Pdf => "application/pdf",
            Kind::Odt => "application/vnd.oasis.opendocument.text",
            Kind::Docx => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            Kind::Png => "image/png",
            Kind::Jpeg => "image/jpeg",
        }
    }

    /// Whether a type a client declared names this kind (`image/jpg` is a common alias).
    pub fn is_declared_as(self, declared: &str) -> bool {
        let essence = declared
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        essence == self.media_type() || (self == Kind::Jpeg && essence == "image/jpg")
    }

    /// What the bytes are, if one of the kinds kept. ODT and DOCX are ZIP archives: an ODT
    /// starts with its uncompressed `mimetype` entry (ODF 1.2, part 3, § 3.3), a DOCX lists
    /// `[Content_Types].xml` and `word/document.xml` in its central directory (ECMA-376 part 2).
    pub fn sniff(bytes: &[u8]) -> Option<Kind> {
        if bytes.starts_with(b"%PDF-") {
            Some(Kind::Pdf)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Kind::Png)
        } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
            Some(Kind::Jpeg)
        } else if bytes.starts_with(b"PK\x03\x04") {
            if zip::odt_mimetype(bytes) {
                Some(Kind::Odt)
            } else if zip::is_docx(bytes) {
                Some(Kind::Docx)
            } else {
                None
            }
        } else {
            None
        }
    }
}

/// What a ZIP archive says about itself, read without inflating anything.
mod zip {
    fn u16_at(b: &[u8], at: usize) -> Option<usize> {
        Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?) as usize)
    }

    fn u32_at(b: &[u8], at: usize) -> Option<usize> {
        Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?) as usize)
    }

    const ODT: &[u8] = b"application/vnd.oasis.opendocument.text";

    /// The first local entry is `mimetype`, stored, holding exactly the ODT media type.
    pub(super) fn odt_mimetype(b: &[u8]) -> bool {
        let entry = || -> Option<bool> {
            let (method, size) = (u16_at(b, 8)?, u32_at(b, 18)?);
            let (name_len, extra_len) = (u16_at(b, 26)?, u16_at(b, 28)?);
            let name = b.get(30..30 + name_len)?;
            let start = 30 + name_len + extra_len;
            let data = b.get(start..start + size)?;
            Some(method == 0 && name == b"mimetype" && data == ODT)
        };
        entry().unwrap_or(false)
    }

    /// The names of the central directory (none if it cannot be found or read).
    fn names(b: &[u8]) -> Vec<&[u8]> {
        const END: &[u8] = b"PK\x05\x06";
        const ENTRY: &[u8] = b"PK\x01\x02";
        // The end record is 22 bytes plus a comment of at most 65535.
        let from = b.len().saturating_sub(22 + 65_535);
        let Some(end) = b[from..]
            .windows(4)
            .rposition(|w| w == END)
            .map(|i| from + i)
        else {
            return Vec::new();
        };
        let read = || -> Option<Vec<&[u8]>> {
            let (count, mut at) = (u16_at(b, end + 10)?, u32_at(b, end + 16)?);
            let mut names = Vec::with_capacity(count.min(1024));
            for _ in 0..count {
                if b.get(at..at + 4)? != ENTRY {
                    return None;
                }
                let (name_len, extra_len, comment_len) = (
                    u16_at(b, at + 28)?,
                    u16_at(b, at + 30)?,
                    u16_at(b, at + 32)?,
                );
                names.push(b.get(at + 46..at + 46 + name_len)?);
                at += 46 + name_len + extra_len + comment_len;
            }
            Some(names)
        };
        read().unwrap_or_default()
    }

    pub(super) fn is_docx(b: &[u8]) -> bool {
        let names = names(b);
        let has = |n: &[u8]| names.contains(&n);
        has(b"[Content_Types].xml") && has(b"word/document.xml")
    }
}

/// A document as listed and as its history row records it (no bytes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, FromQueryResult)]
pub struct DocumentMeta {
    pub id: String,
    pub case_id: String,
    pub file_name: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub uploaded_by: String,
    pub uploaded_at: i64,
}

/// The longest file name kept, in characters.
pub const MAX_FILE_NAME: usize = 255;

/// The name as kept: without any folder a browser or client put before it, trimmed.
/// Refused when nothing is left, when it is too long or holds a control character.
pub fn file_name(given: &str) -> Result<String, Error> {
    let base = given.rsplit(['/', '\\']).next().unwrap_or("").trim();
    let invalid = |why: &str| Error::Invalid {
        code: "invalid_upload",
        message: format!("the file name {why}"),
    };
    if base.is_empty() || base == "." || base == ".." {
        return Err(invalid("is empty"));
    }
    if base.chars().count() > MAX_FILE_NAME {
        return Err(invalid(&format!(
            "is longer than {MAX_FILE_NAME} characters"
        )));
    }
    if base.chars().any(char::is_control) {
        return Err(invalid("holds a control character"));
    }
    Ok(base.to_owned())
}

/// The kind of `bytes`, checked against the type the client declared, if it declared one
/// other than the generic `application/octet-stream`.
pub fn kind_of(bytes: &[u8], declared: Option<&str>) -> Result<Kind, Error> {
    if bytes.is_empty() {
        return Err(Error::Invalid {
            code: "invalid_upload",
            message: "the file is empty".into(),
        });
    }
    let kind = Kind::sniff(bytes).ok_or_else(|| Error::Invalid {
        code: "unsupported_document_type",
        message: "the file is not a PDF, ODT, DOCX, PNG or JPEG document (by its content)".into(),
    })?;
    match declared.map(str::trim).filter(|d| !d.is_empty()) {
        Some(d) if !kind.is_declared_as(d) && !d.starts_with("application/octet-stream") => {
            Err(Error::Invalid {
                code: "document_type_mismatch",
                message: format!(
                    "the file was declared as {d} but its content is {}",
                    kind.media_type()
                ),
            })
        }
        _ => Ok(kind),
    }
}

/// An upload to keep, as received.
pub struct Upload<'a> {
    pub file_name: &'a str,
    /// The part's `Content-Type`, if any.
    pub declared_type: Option<&'a str>,
    pub bytes: Vec<u8>,
}

fn meta_columns() -> [document::Column; 8] {
    use document::Column as C;
    [
        C::Id,
        C::CaseId,
        C::FileName,
        C::ContentType,
        C::Size,
        C::Sha256,
        C::UploadedBy,
        C::UploadedAt,
    ]
}

impl Store {
    /// Attaches a document to an open case: the document row, and a history row of the case
    /// that names it (file name, type, size, SHA-256), in one transaction. The case's version
    /// goes up like after any change of its history (its row holds the chain's last hash), so
    /// an event sent with the version read before is refused as stale.
    pub async fn add_document(
        &self,
        case_id: &str,
        by: &str,
        upload: Upload<'_>,
        now: DateTime<Utc>,
    ) -> Result<(DocumentMeta, case::Model), Error> {
        let name = file_name(upload.file_name)?;
        let kind = kind_of(&upload.bytes, upload.declared_type)?;
        let meta = DocumentMeta {
            id: uuid::Uuid::now_v7().to_string(),
            case_id: case_id.to_owned(),
            file_name: name,
            content_type: kind.media_type().to_owned(),
            size: upload.bytes.len() as i64,
            sha256: hex::encode(Sha256::digest(&upload.bytes)),
            uploaded_by: by.to_owned(),
            uploaded_at: millis(now),
        };
        // Shared by every run of the write (on SQLite it may run again), not copied.
        let bytes = Arc::new(upload.bytes);
        let store = self.clone();
        let written = {
            let meta = meta.clone();
            self.write(move |txn| {
                let (store, meta, bytes) = (store.clone(), meta.clone(), bytes.clone());
                Box::pin(async move { attach(&store, txn, &meta, &bytes, now).await })
            })
            .await?
        };
        self.applied(written.changed, written.due);
        Ok((meta, written.row))
    }

    /// The documents of a case, oldest first, without their bytes.
    pub async fn documents(&self, case_id: &str) -> Result<Vec<DocumentMeta>, Error> {
        Ok(document::Entity::find()
            .select_only()
            .columns(meta_columns())
            .filter(document::Column::CaseId.eq(case_id))
            .order_by_asc(document::Column::UploadedAt)
            .order_by_asc(document::Column::Id)
            .into_model::<DocumentMeta>()
            .all(&self.db)
            .await?)
    }

    /// One document of a case, with its bytes.
    pub async fn document(&self, case_id: &str, id: &str) -> Result<document::Model, Error> {
        document::Entity::find_by_id(id)
            .filter(document::Column::CaseId.eq(case_id))
            .one(&self.db)
            .await?
            .ok_or_else(|| {
                Error::not_found("document_not_found", format!("document {id} of this case"))
            })
    }
}

/// Inside the write: the case must be open; then the document row, then the case's history
/// row through the Writer (the one place history rows and the case's last hash are written),
/// as an outcome of no machine step: the case as it was, one transition further, with its
/// history row as the only effect.
async fn attach(
    store: &Store,
    txn: Conn<'_>,
    meta: &DocumentMeta,
    bytes: &[u8],
    now: DateTime<Utc>,
) -> Result<Applied, Error> {
    let row = read_case(txn, &meta.case_id).await?;
    if row.status == case::Status::Closed {
        return Err(Error::Conflict {
            code: "case_closed",
            message: format!(
                "the case is closed ({}): no document can be added",
                row.outcome.as_deref().unwrap_or("")
            ),
        });
    }
    let deployed: Arc<Deployed> = store.registry.version(txn, row.version_id).await?;
    let mut case = decode(&row)?;
    // The history row's `seq` is the case's transition count: the next number is this row's.
    case.transitions += 1;
    let inputs: Variables = [
        ("file_name", Value::Text(meta.file_name.as_str().into())),
        (
            "content_type",
            Value::Text(meta.content_type.as_str().into()),
        ),
        ("size", Value::Integer(meta.size)),
        ("sha256", Value::Text(meta.sha256.as_str().into())),
    ]
    .into_iter()
    .map(|(k, v)| (Arc::from(k), v))
    .collect();
    let history = History {
        at: now,
        actor: Some(meta.uploaded_by.clone()),
        trigger: Cause::Document {
            id: meta.id.as_str().into(),
        },
        from_state: Some(case.state.clone()),
        to_state: case.state.clone(),
        inputs,
        reason: None,
        detail: Vec::new(),
    };
    txn.exec(&document::Entity::insert(document::ActiveModel {
        id: Set(meta.id.clone()),
        case_id: Set(meta.case_id.clone()),
        file_name: Set(meta.file_name.clone()),
        content_type: Set(meta.content_type.clone()),
        size: Set(meta.size),
        sha256: Set(meta.sha256.clone()),
        uploaded_by: Set(meta.uploaded_by.clone()),
        uploaded_at: Set(meta.uploaded_at),
        bytes: Set(bytes.to_vec()),
    }))
    .await?;
    let effects = vec![Effect::History(Box::new(history))];
    apply(
        store,
        txn,
        now,
        &deployed,
        Row::Existing(&row),
        &case,
        effects,
        None,
    )
    .await
}

/// The `document` values an event or a correction gives: (input, the document id it gives).
/// Both are checked by [`check_attached`], so no path sets a `document` variable to an id
/// that names no document of the case.
pub(super) fn document_inputs(
    def: &engine::machine::Definition,
    trigger: &engine::machine::Trigger,
) -> Vec<(String, String)> {
    use engine::machine::Trigger;
    let (Trigger::Event { inputs, .. } | Trigger::Correction { inputs, .. }) = trigger else {
        return Vec::new();
    };
    inputs
        .iter()
        .filter(|(name, _)| def.var_type(name) == Some(engine::definition::VarType::Document))
        .filter_map(|(name, v)| Some((name.clone(), v.as_str()?.to_owned())))
        .collect()
}

/// Refuses (422 `unknown_document`) unless each given document id names a document of the
/// case. Run in the transaction of the event or correction, after the machine accepted it, so
/// a document is never referenced before it was attached and other refusals come first.
pub(super) async fn check_attached(
    txn: Conn<'_>,
    case_id: &str,
    given: &[(String, String)],
) -> Result<(), Error> {
    for (name, id) in given {
        let found: Option<Id> = txn
            .one(
                &document::Entity::find()
                    .select_only()
                    .column(document::Column::Id)
                    .filter(document::Column::Id.eq(id.as_str()))
                    .filter(document::Column::CaseId.eq(case_id))
                    .limit(1),
            )
            .await?;
        if found.is_none() {
            return Err(Error::Rejected {
                code: "unknown_document",
                message: format!(
                    "input '{name}' names no document of this case ('{id}'): attach it first \
                     (POST /cases/{{id}}/documents) and give its id"
                ),
                details: serde_json::json!({ "input": name, "document": id }),
            });
        }
    }
    Ok(())
}

#[derive(FromQueryResult, serde::Deserialize)]
struct Id {
    #[allow(dead_code)]
    id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ZIP archive of stored (uncompressed) entries, with its central directory.
    fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, data) in entries {
            let offset = out.len() as u32;
            let mut header = Vec::new();
            header.extend_from_slice(b"PK\x03\x04");
            header.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // version, flags, method, time, date
            header.extend_from_slice(&0u32.to_le_bytes()); // crc (not checked here)
            header.extend_from_slice(&(data.len() as u32).to_le_bytes());
            header.extend_from_slice(&(data.len() as u32).to_le_bytes());
            header.extend_from_slice(&(name.len() as u16).to_le_bytes());
            header.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(&header);
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(data);
            central.extend_from_slice(b"PK\x01\x02");
            central.extend_from_slice(&[20, 0]);
            central.extend_from_slice(&header[4..]);
            central.extend_from_slice(&[0; 10]); // comment len, disk, attributes
            central.extend_from_slice(&offset.to_le_bytes());
            central.extend_from_slice(name.as_bytes());
        }
        let (at, len) = (out.len() as u32, central.len() as u32);
        out.extend_from_slice(&central);
        out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
        let n = (entries.len() as u16).to_le_bytes();
        out.extend_from_slice(&[n[0], n[1], n[0], n[1]]);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&at.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out
    }

    #[test]
    fn each_kind_is_recognised_by_its_bytes() {
        let odt = zip(&[
            ("mimetype", b"application/vnd.oasis.opendocument.text"),
            ("content.xml", b"<office:document-content/>"),
        ]);
        let docx = zip(&[
            ("[Content_Types].xml", b"<Types/>"),
            ("word/document.xml", b"<w:document/>"),
        ]);
        let cases: [(&[u8], Option<Kind>); 10] = [
            (b"%PDF-1.7\n%\xe2\xe3", Some(Kind::Pdf)),
            (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", Some(Kind::Png)),
            (&[0xff, 0xd8, 0xff, 0xe0, 0, 16], Some(Kind::Jpeg)),
            (&odt, Some(Kind::Odt)),
            (&docx, Some(Kind::Docx)),
            // A spreadsheet is an ODF archive too, but not a text.
            (
                &zip(&[(
                    "mimetype",
                    b"application/vnd.oasis.opendocument.spreadsheet",
                )]),
                None,
            ),
            // A text template's type only starts like a text's.
            (
                &zip(&[(
                    "mimetype",
                    b"application/vnd.oasis.opendocument.text-template",
                )]),
                None,
            ),
            // An Excel workbook has content types but no word/document.xml.
            (
                &zip(&[
                    ("[Content_Types].xml", b"<Types/>"),
                    ("xl/workbook.xml", b""),
                ]),
                None,
            ),
            (b"MZ\x90\0 an executable", None),
            (b"<html>%PDF-1.7</html>", None),
        ];
        for (i, (bytes, kind)) in cases.iter().enumerate() {
            assert_eq!(Kind::sniff(bytes), *kind, "case {i}");
        }
        // A truncated archive is nothing, not a panic.
        for cut in 0..odt.len() {
            let _ = Kind::sniff(&odt[..cut]);
            let _ = Kind::sniff(&docx[..cut.min(docx.len())]);
        }
    }

    #[test]
    fn a_declared_type_must_agree_with_the_bytes() {
        let png = b"\x89PNG\r\n\x1a\n....";
        assert_eq!(kind_of(png, None).unwrap(), Kind::Png);
        assert_eq!(kind_of(png, Some("image/png")).unwrap(), Kind::Png);
        assert_eq!(
            kind_of(png, Some("application/octet-stream")).unwrap(),
            Kind::Png
        );
        assert_eq!(
            kind_of(b"\xff\xd8\xff\xdb", Some("image/jpg")).unwrap(),
            Kind::Jpeg
        );
        assert_eq!(
            kind_of(png, Some("application/pdf")).unwrap_err().code(),
            "document_type_mismatch"
        );
        assert_eq!(
            kind_of(b"plain text", Some("application/pdf"))
                .unwrap_err()
                .code(),
            "unsupported_document_type"
        );
        assert_eq!(kind_of(b"", None).unwrap_err().code(), "invalid_upload");
    }

    #[test]
    fn a_file_name_keeps_only_its_last_part() {
        assert_eq!(
            file_name("C:\\Users\\x\\rapport.pdf").unwrap(),
            "rapport.pdf"
        );
        assert_eq!(file_name("../../etc/passwd").unwrap(), "passwd");
        assert_eq!(file_name(" avis n° 3.odt ").unwrap(), "avis n° 3.odt");
        for bad in ["", "dossier/", "..", "a\nb.pdf", &"x".repeat(256)] {
            assert_eq!(
                file_name(bad).unwrap_err().code(),
                "invalid_upload",
                "{bad:?}"
            );
        }
    }
}
