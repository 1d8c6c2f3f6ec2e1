//! Documents of a case, through the API and the case page, on both backends: real small PDF,
//! PNG, ODT and DOCX files (the archives written by Python's `zipfile`, an independent
//! writer) are attached, listed, downloaded byte for byte with their SHA-256, recorded in the
//! case's history chain, and named by a `document` input; every refusal leaves the case, its
//! history and its documents as they were.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::harness::{Backend, Reply, TestApp, reply, spawn_app, spawn_with};
use super::web_client::WebClient;
use jalon::server::Config;
use jalon::server::UPLOAD_FORM_OVERHEAD;
use notifiers::test_support::{leaves, parse_eml};

const WORKFLOW: &str = "rapport-zone";
const BOUNDARY: &str = "----jalon-documents-5b2e";

/// One part of a form: field name, file name (a file part), declared type, bytes.
type Part<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8]);
/// The same, owned (a page test builds its forms).
type OwnedPart = (String, Option<String>, Option<String>, Vec<u8>);
/// An upload and what it must give: token, file name, declared type, bytes, type found.
type Sent<'a> = (&'a str, &'a str, Option<&'a str>, &'a [u8], &'a str);

fn multipart(parts: &[Part<'_>]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, file, ty, bytes) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        let mut head = format!("Content-Disposition: form-data; name=\"{name}\"");
        if let Some(f) = file {
            head.push_str(&format!("; filename=\"{f}\""));
        }
        head.push_str("\r\n");
        if let Some(t) = ty {
            head.push_str(&format!("Content-Type: {t}\r\n"));
        }
        head.push_str("\r\n");
        body.extend_from_slice(head.as_bytes());
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn upload_parts(app: &TestApp, token: &str, case: &str, parts: &[Part<'_>]) -> Reply {
    let r = app
        .http
        .post(format!("{}/api/v1/cases/{case}/documents", app.base))
        .bearer_auth(token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(multipart(parts))
        .send()
        .await
        .expect("request sent");
    reply(r).await
}

async fn upload(
    app: &TestApp,
    token: &str,
    case: &str,
    name: &str,
    ty: Option<&str>,
    bytes: &[u8],
) -> Reply {
    upload_parts(app, token, case, &[("file", Some(name), ty, bytes)]).await
}

/// The head of an upload announcing `length` bytes, sent without its body: the answer.
async fn announced_upload(app: &TestApp, token: &str, case: &str, length: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = format!(
        "POST /api/v1/cases/{case}/documents HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {length}\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A one-page PDF, its cross-reference table counted from the bytes written.
fn small_pdf(text: &str) -> Vec<u8> {
    let stream = format!("BT /F1 12 Tf 72 720 Td ({text}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R \
         /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_owned(),
        format!(
            "<< /Length {} >>\nstream\n{stream}\nendstream",
            stream.len()
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
    ];
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = pdf.len();
    pdf.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for o in offsets {
        pdf.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    pdf
}

/// A 1×1 red PNG (chunk CRCs and the zlib stream computed with Python's zlib).
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90, 0x77, 0x53,
    0xde, 0x00, 0x00, 0x00, 0x0c, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0x00,
    0x00, 0x03, 0x01, 0x01, 0x00, 0xc9, 0xfe, 0x92, 0xef, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e,
    0x44, 0xae, 0x42, 0x60, 0x82,
];

/// An ODT or DOCX archive written by Python's `zipfile` (deflated entries, as office suites
/// write them; the ODT's `mimetype` first and stored, as ODF requires).
fn office(kind: &str) -> Vec<u8> {
    const SCRIPT: &str = r#"
import io, sys, zipfile
b = io.BytesIO()
D = zipfile.ZIP_DEFLATED
with zipfile.ZipFile(b, "w") as z:
    if sys.argv[1] == "odt":
        z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text",
                   compress_type=zipfile.ZIP_STORED)
        z.writestr("content.xml", "<office:document-content>" + "rapport " * 50 + "</office:document-content>", compress_type=D)
        z.writestr("META-INF/manifest.xml", "<manifest:manifest/>", compress_type=D)
    else:
        z.writestr("[Content_Types].xml", '<Types><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>', compress_type=D)
        z.writestr("_rels/.rels", "<Relationships/>", compress_type=D)
        z.writestr("word/document.xml", "<w:document>" + "avis " * 50 + "</w:document>", compress_type=D)
sys.stdout.buffer.write(b.getvalue())
"#;
    let python = std::env::var("JALON_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let out = std::process::Command::new(python)
        .args(["-c", SCRIPT, kind])
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

async fn get_bytes(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.http
        .get(format!("{}{path}", app.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("request sent")
}

/// What a refusal must leave as it was: the case's version, its history, its documents, an
/// intact chain.
async fn snapshot(app: &TestApp, case: &str) -> (Value, Value, Value) {
    let c = app.get(&app.admin, &format!("/api/v1/cases/{case}")).await;
    let h = app
        .get(&app.admin, &format!("/api/v1/cases/{case}/history"))
        .await;
    let d = app
        .get(&app.admin, &format!("/api/v1/cases/{case}/documents"))
        .await;
    let v = app
        .get(&app.admin, &format!("/api/v1/cases/{case}/verify"))
        .await;
    assert_eq!(v.body["intact"], true, "{}", v.body);
    (c.body["row_version"].clone(), h.body, d.body)
}

async fn start(app: &TestApp, token: &str, key: &str) -> String {
    let c = app.start(token, WORKFLOW, key, json!({})).await;
    assert_eq!(c.status, 201, "{}", c.body);
    c.body["id"].as_str().unwrap().to_owned()
}

async fn attach_list_download_and_verify(backend: Backend) {
    let app = spawn_app(backend).await;
    let dc = app.actor("Delegue", &["delegue_coordonnateur"]).await;
    let dz = app.actor("Directrice Zone", &["directeur_zone"]).await;
    let case = start(&app, &dc, "2026-zone-1").await;
    let v0 = app.get(&dc, &format!("/api/v1/cases/{case}")).await.body["row_version"]
        .as_i64()
        .unwrap();
    let history0 = app
        .get(&dc, &format!("/api/v1/cases/{case}/history"))
        .await
        .body
        .as_array()
        .unwrap()
        .len();

    let pdf = small_pdf("Modele de rapport 2026");
    let (odt, docx) = (office("odt"), office("docx"));
    let files: [Sent<'_>; 4] = [
        (
            &dc,
            "modèle 2026.pdf",
            Some("application/pdf"),
            &pdf,
            "application/pdf",
        ),
        (
            &dz,
            "C:\\scans\\carte.png",
            Some("image/png"),
            PNG,
            "image/png",
        ),
        (
            &dz,
            "rapport.odt",
            Some("application/octet-stream"),
            &odt,
            "application/vnd.oasis.opendocument.text",
        ),
        (
            &dc,
            "avis.docx",
            None,
            &docx,
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
    ];
    let mut ids = Vec::new();
    for (token, name, declared, bytes, found) in files {
        let r = upload(&app, token, &case, name, declared, bytes).await;
        assert_eq!(r.status, 201, "{name}: {}", r.body);
        assert_eq!(r.body["content_type"], found, "{name}");
        assert_eq!(r.body["sha256"], sha256(bytes), "{name}");
        assert_eq!(r.body["size"], bytes.len(), "{name}");
        ids.push(r.body["id"].as_str().unwrap().to_owned());
    }

    let listed = app
        .get(&dz, &format!("/api/v1/cases/{case}/documents"))
        .await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let names: Vec<&str> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["file_name"].as_str().unwrap())
        .collect();
    // The folders a client put before the name are not kept.
    assert_eq!(
        names,
        ["modèle 2026.pdf", "carte.png", "rapport.odt", "avis.docx"]
    );

    for ((_, name, _, bytes, found), id) in files.iter().zip(&ids) {
        let r = get_bytes(&app, &dz, &format!("/api/v1/cases/{case}/documents/{id}")).await;
        assert_eq!(r.status(), 200);
        let header = |h: &str| r.headers()[h].to_str().unwrap().to_owned();
        assert_eq!(header("content-type"), *found);
        assert_eq!(header("x-content-sha256"), sha256(bytes));
        let disposition = header("content-disposition");
        assert!(disposition.starts_with("attachment; "), "{disposition}");
        let base = name.rsplit('\\').next().unwrap();
        let encoded: String = base
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        assert!(
            disposition.ends_with(&format!("filename*=UTF-8''{encoded}")),
            "{disposition}"
        );
        assert_eq!(r.bytes().await.unwrap().as_ref(), *bytes, "{name}");
    }

    // Each upload is a row of the case's history, in its chain, and a new version.
    let c = app.get(&dc, &format!("/api/v1/cases/{case}")).await;
    assert_eq!(c.body["row_version"].as_i64().unwrap(), v0 + 4);
    assert_eq!(c.body["state"], "rapports_attendus");
    let h = app.get(&dc, &format!("/api/v1/cases/{case}/history")).await;
    let rows = h.body.as_array().unwrap();
    assert_eq!(rows.len(), history0 + 4);
    for ((_, _, _, bytes, found), (row, id)) in files.iter().zip(rows[history0..].iter().zip(&ids))
    {
        assert_eq!(row["trigger"], format!("document {id}"));
        assert_eq!(row["inputs"]["sha256"], sha256(bytes));
        assert_eq!(row["inputs"]["content_type"], *found);
        assert_eq!(row["from_state"], row["to_state"]);
    }
    for (row, doc) in rows[history0..].iter().zip(listed.body.as_array().unwrap()) {
        assert_eq!(row["actor"], doc["uploaded_by"]);
    }
    let v = app.get(&dc, &format!("/api/v1/cases/{case}/verify")).await;
    assert_eq!(
        (v.body["intact"].clone(), v.body["rows"].clone()),
        (json!(true), json!(history0 + 4)),
        "{}",
        v.body
    );

    // A `document` input names one of the case's documents.
    let e = app
        .event(&dc, &case, "fixer_modele", json!({ "modele": ids[0] }))
        .await;
    assert_eq!(e.status, 200, "{}", e.body);
    assert_eq!(e.body["variables"]["modele"], ids[0]);
    // Its notice links the document's download on the case's page.
    app.deliver().await;
    let notices = app.get(&dc, &format!("/api/v1/cases/{case}/notices")).await;
    let sent = notices
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["template"] == "modele-fixe" && n["status"] == "sent")
        .unwrap_or_else(|| panic!("{}", notices.body))
        .clone();
    let eml = get_bytes(
        &app,
        &dc,
        &format!("/api/v1/cases/{case}/notices/{}/eml", sent["id"]),
    )
    .await
    .bytes()
    .await
    .unwrap();
    let parsed = tokio::task::block_in_place(|| parse_eml(&eml));
    let text: String = leaves(&parsed["body"])
        .iter()
        .filter(|p| p["content_type"] == "text/plain")
        .filter_map(|p| p["content"].as_str())
        .collect();
    let link = format!("{}/cases/{case}/documents/{}", app.base, ids[0]);
    assert!(text.contains(&link), "{text}");
    let v = app.get(&dc, &format!("/api/v1/cases/{case}/verify")).await;
    assert_eq!(v.body["intact"], true, "{}", v.body);
}

async fn refusals_change_nothing(backend: Backend) {
    // The same server restarted with a limit of 2 KiB per document.
    const LIMIT: usize = 2048;
    let first = spawn_app(backend).await;
    let cfg = Config {
        max_document_bytes: LIMIT,
        store: Default::default(),
        ..first.cfg.clone()
    };
    let (data, clock) = (first.data(), first.clock.clone());
    drop(first);
    let app = spawn_with(cfg, data, clock).await;

    let dc = app.actor("Delegue", &["delegue_coordonnateur"]).await;
    let outsider = app.actor("Autre", &["chambre_secretaire"]).await;
    let operator = app.actor("Operatrice", &["operator"]).await;
    let case = start(&app, &dc, "2026-zone-2").await;
    let other = start(&app, &dc, "2026-zone-3").await;
    let png = upload(&app, &dc, &case, "carte.png", Some("image/png"), PNG).await;
    assert_eq!(png.status, 201, "{}", png.body);
    let png_id = png.body["id"].as_str().unwrap().to_owned();
    let elsewhere = upload(&app, &dc, &other, "autre.png", None, PNG).await;
    let elsewhere_id = elsewhere.body["id"].as_str().unwrap().to_owned();
    let before = snapshot(&app, &case).await;

    let big = small_pdf(&"x".repeat(LIMIT));
    assert!(big.len() > LIMIT);
    let fits = small_pdf("petit");
    let refusals: Vec<(&str, Reply, u16, &str)> = vec![
        (
            "over the limit",
            upload(&app, &dc, &case, "gros.pdf", None, &big).await,
            413,
            "document_too_large",
        ),
        (
            "not a kept kind",
            upload(
                &app,
                &dc,
                &case,
                "image.gif",
                None,
                b"GIF89a\x01\0\x01\0\0\0\0;",
            )
            .await,
            422,
            "unsupported_document_type",
        ),
        (
            "a name only",
            upload(
                &app,
                &dc,
                &case,
                "faux.pdf",
                Some("application/pdf"),
                b"not a pdf at all",
            )
            .await,
            422,
            "unsupported_document_type",
        ),
        (
            "declared as another type",
            upload(&app, &dc, &case, "carte.pdf", Some("application/pdf"), PNG).await,
            422,
            "document_type_mismatch",
        ),
        (
            "no file field",
            upload_parts(&app, &dc, &case, &[("fichier", Some("a.pdf"), None, &fits)]).await,
            422,
            "invalid_upload",
        ),
        (
            "not a multipart form",
            app.post(
                &dc,
                &format!("/api/v1/cases/{case}/documents"),
                json!({ "file": "x" }),
            )
            .await,
            422,
            "invalid_upload",
        ),
        (
            "an empty file",
            upload(&app, &dc, &case, "vide.pdf", None, b"").await,
            422,
            "invalid_upload",
        ),
        (
            "no read right",
            upload(&app, &outsider, &case, "a.pdf", None, &fits).await,
            403,
            "forbidden",
        ),
        (
            "reads but takes no part",
            upload(&app, &operator, &case, "a.pdf", None, &fits).await,
            403,
            "forbidden",
        ),
        (
            "no read right to the list",
            app.get(&outsider, &format!("/api/v1/cases/{case}/documents"))
                .await,
            403,
            "forbidden",
        ),
        (
            "a document of another case",
            app.get(
                &dc,
                &format!("/api/v1/cases/{case}/documents/{elsewhere_id}"),
            )
            .await,
            404,
            "document_not_found",
        ),
        (
            "a document input naming no document",
            app.event(
                &dc,
                &case,
                "fixer_modele",
                json!({ "modele": "0190b5d0-0000-7000-8000-000000000000" }),
            )
            .await,
            422,
            "unknown_document",
        ),
        (
            "a document input naming another case's document",
            app.event(
                &dc,
                &case,
                "fixer_modele",
                json!({ "modele": elsewhere_id }),
            )
            .await,
            422,
            "unknown_document",
        ),
    ];
    for (what, r, status, code) in &refusals {
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (*status, Some(*code)),
            "{what}: {}",
            r.body
        );
        assert!(
            r.body["message_fr"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}"
        );
    }
    for (what, r, _, code) in &refusals {
        if *code == "unknown_document" {
            assert_eq!(r.body["details"]["input"], "modele", "{what}: {}", r.body);
        }
    }
    assert_eq!(
        refusals[0].1.body["details"]["limit_bytes"], LIMIT,
        "{}",
        refusals[0].1.body
    );
    // A body announced over the document and its form is refused before it is read.
    let announced = announced_upload(&app, &dc, &case, LIMIT + UPLOAD_FORM_OVERHEAD + 1).await;
    assert!(announced.starts_with("HTTP/1.1 413"), "{announced}");
    assert!(announced.contains("\"document_too_large\""), "{announced}");
    upload(&app, &dc, "no-such-case", "a.pdf", None, &fits)
        .await
        .assert_refused(404, "case_not_found");
    app.get(
        &outsider,
        &format!("/api/v1/cases/{case}/documents/{png_id}"),
    )
    .await
    .assert_refused(403, "forbidden");
    assert_eq!(snapshot(&app, &case).await, before);
    // The operator reads what an actor of the case reads.
    let listed = app
        .get(&operator, &format!("/api/v1/cases/{case}/documents"))
        .await;
    assert_eq!(listed.status, 200, "{}", listed.body);

    // A closed case takes no more documents.
    let closed = app.event(&dc, &case, "cloturer", json!({})).await;
    assert_eq!(closed.status, 200, "{}", closed.body);
    let before = snapshot(&app, &case).await;
    upload(&app, &dc, &case, "tard.pdf", None, &fits)
        .await
        .assert_refused(409, "case_closed");
    assert_eq!(snapshot(&app, &case).await, before);
}

/// A correction sets a `document` variable only to a document of the case, checked as an
/// event's input is: a missing id or another case's document is refused (422
/// `unknown_document`) with the case, its history and its documents unchanged.
async fn correction_names_a_document_of_the_case(backend: Backend) {
    let app = spawn_app(backend).await;
    let dc = app.actor("Delegue", &["delegue_coordonnateur"]).await;
    let case = start(&app, &dc, "2026-zone-4").await;
    let other = start(&app, &dc, "2026-zone-5").await;
    let attached = upload(&app, &dc, &case, "modele.png", None, PNG).await;
    assert_eq!(attached.status, 201, "{}", attached.body);
    let attached_id = attached.body["id"].as_str().unwrap().to_owned();
    let elsewhere = upload(&app, &dc, &other, "autre.png", None, PNG).await;
    assert_eq!(elsewhere.status, 201, "{}", elsewhere.body);
    let elsewhere_id = elsewhere.body["id"].as_str().unwrap().to_owned();
    let correct = |modele: String| {
        let (app, case) = (&app, &case);
        async move {
            app.post(
                &app.admin,
                &format!("/api/v1/cases/{case}/corrections"),
                json!({ "inputs": { "modele": modele }, "reason": "modèle mal référencé" }),
            )
            .await
        }
    };

    let before = snapshot(&app, &case).await;
    for (what, id) in [
        (
            "no such document",
            "0190b5d0-0000-7000-8000-000000000000".to_owned(),
        ),
        ("another case's document", elsewhere_id.clone()),
    ] {
        let r = correct(id.clone()).await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (422, Some("unknown_document")),
            "{what}: {}",
            r.body
        );
        assert_eq!(r.body["details"]["input"], "modele", "{what}: {}", r.body);
        assert_eq!(r.body["details"]["document"], id, "{what}: {}", r.body);
        assert_eq!(snapshot(&app, &case).await, before, "{what}");
    }

    let r = correct(attached_id.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["variables"]["modele"], attached_id.as_str());
    let (version, history, _) = snapshot(&app, &case).await;
    assert_eq!(version, before.0.as_i64().unwrap() + 1);
    let (rows, rows_before) = (history.as_array().unwrap(), before.1.as_array().unwrap());
    assert_eq!(rows.len(), rows_before.len() + 1, "{history}");
    assert_eq!(rows.last().unwrap()["trigger"], "correction", "{history}");
}

/// The same refusal from the case page's correction form: the case page again, the French
/// sentence beside the field, what was typed kept, nothing changed.
async fn correction_form_names_a_document_of_the_case(backend: Backend) {
    use super::web_client::hidden_field;
    let app = spawn_app(backend).await;
    let dc = app.actor("Delegue", &["delegue_coordonnateur"]).await;
    let case = start(&app, &dc, "2026-zone-4").await;
    let admin = app.sign_in("admin@example.org").await;
    let (_, html) = admin.get(&format!("/cases/{case}")).await;
    let version = hidden_field(&html, "expected_version").expect("a version");
    let before = snapshot(&app, &case).await;
    let missing = "0190b5d0-0000-7000-8000-000000000000";
    let (status, html) = admin
        .post_form(
            &format!("/cases/{case}/decisions"),
            &[
                ("change", "correction"),
                ("v.modele", missing),
                ("reason", "modèle mal référencé"),
                ("expected_version", &version),
            ],
        )
        .await;
    assert_eq!(status, 422, "{html}");
    assert!(
        html.contains(
            r#"id="d-correction-modele-erreur">Le document indiqué n'est pas joint à ce dossier."#
        ),
        "{html}"
    );
    assert!(html.contains(&format!(r#"value="{missing}""#)), "{html}");
    assert_eq!(snapshot(&app, &case).await, before);
}

/// The page's form of `fixer_modele`, as posted: the status and the redirect or page.
async fn act(web: &WebClient, case: &str, version: &str, modele: &str) -> (u16, String) {
    web.post_form(
        &format!("/cases/{case}/actions"),
        &[
            ("event", "fixer_modele"),
            ("expected_version", version),
            ("v.modele", modele),
        ],
    )
    .await
}

async fn page_lists_and_uploads(backend: Backend) {
    let app = spawn_app(backend).await;
    let dc = app.actor("Delegue", &["delegue_coordonnateur"]).await;
    let case = start(&app, &dc, "2026-zone-4").await;
    let web = app.sign_in("delegue@example.org").await;
    let (status, html) = web.get(&format!("/cases/{case}")).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("Aucun document joint à ce dossier."),
        "{html}"
    );
    assert!(html.contains("enctype=\"multipart/form-data\""), "{html}");

    let pdf = small_pdf("Rapport de la zone");
    let post = |parts: Vec<OwnedPart>| {
        let body = multipart(
            &parts
                .iter()
                .map(|(n, f, t, b)| (n.as_str(), f.as_deref(), t.as_deref(), b.as_slice()))
                .collect::<Vec<_>>(),
        );
        web.request(reqwest::Method::POST, &format!("/cases/{case}/documents"))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(body)
    };
    let token = web.csrf().to_owned();
    let file = |name: &str, bytes: &[u8]| {
        (
            "file".to_owned(),
            Some(name.to_owned()),
            Some("application/pdf".to_owned()),
            bytes.to_vec(),
        )
    };
    // Without the session's token, or with the token after the file, nothing is read.
    let no_token = web.send(post(vec![file("rapport.pdf", &pdf)])).await;
    assert_eq!(no_token.status, 403, "{}", no_token.body);
    assert!(no_token.body.contains("csrf_failed"), "{}", no_token.body);
    let token_after = web
        .send(post(vec![
            file("rapport.pdf", &pdf),
            ("_csrf".into(), None, None, token.clone().into_bytes()),
        ]))
        .await;
    assert_eq!(token_after.status, 403, "{}", token_after.body);
    // A refused kind is a French page with the code, nothing attached.
    let refused = web
        .send(post(vec![
            ("_csrf".into(), None, None, token.clone().into_bytes()),
            file("notes.txt", b"juste du texte"),
        ]))
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("Ce type de fichier n&#39;est pas accepté")
            || refused
                .body
                .contains("Ce type de fichier n'est pas accepté"),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("unsupported_document_type"),
        "{}",
        refused.body
    );
    let none = app
        .get(&dc, &format!("/api/v1/cases/{case}/documents"))
        .await;
    assert_eq!(none.body, json!([]));

    let done = web
        .send(post(vec![
            ("_csrf".into(), None, None, token.into_bytes()),
            file("rapport de zone.pdf", &pdf),
        ]))
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        done.location.as_deref(),
        Some(&*format!("/cases/{case}#documents"))
    );
    let listed = app
        .get(&dc, &format!("/api/v1/cases/{case}/documents"))
        .await;
    let id = listed.body[0]["id"].as_str().unwrap().to_owned();
    let (status, html) = web.get(&format!("/cases/{case}")).await;
    assert_eq!(status, 200);
    let link = format!("/cases/{case}/documents/{id}");
    assert!(html.contains(&link), "{html}");
    assert!(html.contains("rapport de zone.pdf"), "{html}");
    assert!(html.contains("Document joint"), "{html}");
    assert!(html.contains(&sha256(&pdf)), "{html}");
    let r = web.send(web.request(reqwest::Method::GET, &link)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.as_bytes(), pdf.as_slice());

    // The action's document field offers the case's documents, and takes one of them only.
    assert!(
        html.contains(&format!(
            "<option value=\"{id}\">rapport de zone.pdf</option>"
        )),
        "{html}"
    );
    assert!(html.contains("list=\"documents-du-dossier\""), "{html}");
    let version =
        app.get(&dc, &format!("/api/v1/cases/{case}")).await.body["row_version"].to_string();
    // Refused beside its field, with what was typed kept.
    let (status, page) = act(&web, &case, &version, "rapport.pdf").await;
    assert_eq!(status, 422, "{page}");
    assert!(
        page.contains("id=\"e-fixer_modele-modele-erreur\""),
        "{page}"
    );
    assert!(page.contains("joint à ce dossier"), "{page}");
    assert!(page.contains("value=\"rapport.pdf\""), "{page}");
    let (status, location) = act(&web, &case, &version, &id).await;
    assert_eq!(status, 303, "{location}");
    let c = app.get(&dc, &format!("/api/v1/cases/{case}")).await;
    assert_eq!(c.body["variables"]["modele"], id);
}

crate::on_both_backends!(
    correction_form_names_a_document_of_the_case,
    attach_list_download_and_verify,
    refusals_change_nothing,
    correction_names_a_document_of_the_case,
    page_lists_and_uploads
);
