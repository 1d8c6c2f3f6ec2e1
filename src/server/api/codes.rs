//! Every error code the API answers, in one table: its HTTP status, the English message sent
//! when nothing more precise is known, the French sentence the pages show a person, and the
//! line of `docs/api-errors.md` that explains it. An `ApiError` is built from an `ErrorCode`,
//! so a code cannot be misspelled nor answer two statuses; a test keeps the doc in step.
//!
//! The French message is not sent in the error body: clients rely on its three keys (`code`,
//! `message`, `details`). The pages look it up here by code.

use axum::http::StatusCode;

macro_rules! codes {
    ($($variant:ident {
        code: $code:literal,
        status: $status:ident,
        en: $en:literal,
        fr: $fr:literal,
        doc: $doc:literal $(,)?
    })*) => {
        /// A machine code of the API's error body.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($variant,)*
        }

        impl ErrorCode {
            /// Every code, in the order of `docs/api-errors.md`.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The stable code sent as `code`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                }
            }

            pub fn status(self) -> StatusCode {
                match self {
                    $(ErrorCode::$variant => StatusCode::$status,)*
                }
            }

            /// The English `message` when the refusal has nothing more precise to say.
            pub fn message(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $en,)*
                }
            }

            /// What a person reads on a page, in plain French.
            pub fn message_fr(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $fr,)*
                }
            }

            /// The meaning, as `docs/api-errors.md` gives it.
            pub fn doc(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $doc,)*
                }
            }

            /// The entry of a code the store or the engine gave as text.
            pub fn parse(code: &str) -> Option<ErrorCode> {
                match code {
                    $($code => Some(ErrorCode::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

codes! {
    // Who is asking.
    Unauthenticated {
        code: "unauthenticated", status: UNAUTHORIZED,
        en: "send `Authorization: Bearer <token>` with a token from `jalon actors add`",
        fr: "Veuillez vous identifier pour continuer.",
        doc: "No `Authorization: Bearer` token, or one no actor holds (unknown or revoked).",
    }
    Forbidden {
        code: "forbidden", status: FORBIDDEN,
        en: "your roles do not allow this request",
        fr: "Vos rôles ne vous permettent pas d'accéder à cette page ou de faire cette demande.",
        doc: "The caller's roles do not allow this route or this case (the message names the role needed).",
    }
    CsrfFailed {
        code: "csrf_failed", status: FORBIDDEN,
        en: "the form's CSRF token is missing or does not match the session",
        fr: "Ce formulaire a expiré ou ne vient pas de jalon. Rechargez la page et recommencez ; rien n'a été modifié.",
        doc: "Pages only: a form was posted without the token of the signed-in session (a form from another site, or a page opened before signing in again).",
    }

    // How the request is written.
    RouteNotFound {
        code: "route_not_found", status: NOT_FOUND,
        en: "no such route",
        fr: "Cette page n'existe pas.",
        doc: "No route has this path.",
    }
    MethodNotAllowed {
        code: "method_not_allowed", status: METHOD_NOT_ALLOWED,
        en: "this route does not take this method",
        fr: "Cette action n'est pas possible à cette adresse.",
        doc: "The route exists but does not take this HTTP method.",
    }
    InvalidPath {
        code: "invalid_path", status: BAD_REQUEST,
        en: "a parameter of the path cannot be read",
        fr: "Cette adresse n'est pas valide.",
        doc: "A path parameter cannot be read (a word where a number is expected, a `%00`).",
    }
    InvalidQuery {
        code: "invalid_query", status: UNPROCESSABLE_ENTITY,
        en: "the query string does not have the expected shape",
        fr: "Les critères de recherche ne sont pas valides.",
        doc: "The query string has an unknown key or a value of the wrong type, a `%00`, or a `limit`/`offset` out of range.",
    }
    MissingContentType {
        code: "missing_content_type", status: BAD_REQUEST,
        en: "send the body as JSON with `Content-Type: application/json`",
        fr: "Votre demande n'a pas pu être lue. Veuillez réessayer.",
        doc: "A body was expected without `Content-Type: application/json` (or `application/…+json`).",
    }
    UnreadableBody {
        code: "unreadable_body", status: BAD_REQUEST,
        en: "the request body could not be received",
        fr: "Votre demande n'a pas pu être lue. Veuillez réessayer.",
        doc: "The body could not be received (the connection broke while it was read).",
    }
    MalformedJson {
        code: "malformed_json", status: BAD_REQUEST,
        en: "the body is not well-formed JSON",
        fr: "Votre demande n'a pas pu être lue. Veuillez réessayer.",
        doc: "The body is not well-formed JSON; the message gives the line and column.",
    }
    InvalidBody {
        code: "invalid_body", status: UNPROCESSABLE_ENTITY,
        en: "the body does not have the expected shape",
        fr: "Certaines informations envoyées ne sont pas dans la forme attendue.",
        doc: "The JSON body is not an object, lacks a field, has an unknown one or a value of the wrong type, or holds a NUL character.",
    }
    BodyTooLarge {
        code: "body_too_large", status: PAYLOAD_TOO_LARGE,
        en: "the request body is larger than the server accepts",
        fr: "L'envoi est trop volumineux.",
        doc: "The body is over the server's limit (refused before it is read when its length is announced).",
    }
    InvalidIdempotencyKey {
        code: "invalid_idempotency_key", status: BAD_REQUEST,
        en: "Idempotency-Key must be 1 to 200 visible ASCII characters",
        fr: "Votre demande n'a pas pu être lue. Veuillez réessayer.",
        doc: "The `Idempotency-Key` header is empty, longer than 200 characters or not visible ASCII.",
    }
    IdempotencyKeyReused {
        code: "idempotency_key_reused", status: UNPROCESSABLE_ENTITY,
        en: "this Idempotency-Key was used for a different request",
        fr: "Cette demande a déjà été envoyée avec d'autres informations. Veuillez recommencer.",
        doc: "The caller already used this `Idempotency-Key` for a request with another body.",
    }
    IdempotencyInProgress {
        code: "idempotency_in_progress", status: CONFLICT,
        en: "a request with this Idempotency-Key is still being processed",
        fr: "Votre demande est déjà en cours de traitement. Veuillez patienter un instant.",
        doc: "The first request with this `Idempotency-Key` has not finished; retry it later to read its answer.",
    }
    MissingReason {
        code: "missing_reason", status: UNPROCESSABLE_ENTITY,
        en: "this action needs a reason (it is recorded)",
        fr: "Veuillez indiquer la raison de cette décision : elle est conservée dans l'historique.",
        doc: "A notice retry, a correction, a deadline's extension or suspension, or a closing was asked with no or a blank `reason`.",
    }

    // What the request names.
    CaseNotFound {
        code: "case_not_found", status: NOT_FOUND,
        en: "case not found",
        fr: "Ce dossier est introuvable.",
        doc: "No case has this id.",
    }
    WorkflowNotFound {
        code: "workflow_not_found", status: NOT_FOUND,
        en: "workflow not found",
        fr: "Cette procédure est introuvable.",
        doc: "No deployed workflow has this id.",
    }
    WorkflowVersionNotFound {
        code: "workflow_version_not_found", status: NOT_FOUND,
        en: "workflow version not found",
        fr: "Cette version de la procédure est introuvable.",
        doc: "No deployed workflow version has this id.",
    }
    NoticeNotFound {
        code: "notice_not_found", status: NOT_FOUND,
        en: "notice not found",
        fr: "Ce courrier est introuvable.",
        doc: "No notice has this id.",
    }
    NoticeNotSent {
        code: "notice_not_sent", status: NOT_FOUND,
        en: "sent notice not found",
        fr: "Ce courrier n'a pas encore été envoyé.",
        doc: "The case has no sent notice with this id (not sent yet, or of another case): its bytes do not exist.",
    }
    ActorNotFound {
        code: "actor_not_found", status: NOT_FOUND,
        en: "actor not found",
        fr: "Cette personne est introuvable.",
        doc: "No actor has this id.",
    }
    DocumentNotFound {
        code: "document_not_found", status: NOT_FOUND,
        en: "document not found",
        fr: "Ce document est introuvable dans ce dossier.",
        doc: "The case has no document with this id (none, or one of another case).",
    }

    // The state of the case, or of what the request would change.
    StaleVersion {
        code: "stale_version", status: CONFLICT,
        en: "the case changed since it was read; read it again",
        fr: "Le dossier a été modifié entre-temps. Veuillez le recharger avant de recommencer.",
        doc: "`expected_version` is not the case's version: someone else moved it since it was read.",
    }
    DuplicateBusinessKey {
        code: "duplicate_business_key", status: CONFLICT,
        en: "a case with this business key already exists for this workflow",
        fr: "Un dossier de cette procédure porte déjà cette référence.",
        doc: "A case of this workflow already has this business `key`.",
    }
    NoticeNotRetryable {
        code: "notice_not_retryable", status: CONFLICT,
        en: "this notice cannot be sent again",
        fr: "Ce courrier ne peut pas être envoyé à nouveau.",
        doc: "The notice was already sent, or has no recipient address.",
    }
    CaseClosed {
        code: "case_closed", status: CONFLICT,
        en: "the case is closed",
        fr: "Ce dossier est clôturé : il n'est plus possible d'y agir.",
        doc: "The case reached a final state; `details.outcome` says which.",
    }
    EventNotAllowed {
        code: "event_not_allowed", status: CONFLICT,
        en: "this event is not accepted in the case's state",
        fr: "Cette action n'est pas possible dans l'état actuel du dossier.",
        doc: "The case's current state does not accept this event (`details.event`, `details.state`).",
    }
    RoleNotAllowed {
        code: "role_not_allowed", status: FORBIDDEN,
        en: "none of the actor's roles may do this",
        fr: "Vos rôles ne vous permettent pas de faire cette action sur ce dossier.",
        doc: "No role of the caller may start this case or send this event (`details.allowed` lists the roles that may).",
    }
    GuardFailed {
        code: "guard_failed", status: CONFLICT,
        en: "a condition of this event is not met",
        fr: "Les conditions de cette action ne sont pas remplies pour ce dossier.",
        doc: "A condition of the event on the case's variables does not hold (`details.variable`, `details.why`).",
    }
    DateOutOfRange {
        code: "date_out_of_range", status: UNPROCESSABLE_ENTITY,
        en: "a date input is outside the bounds its workflow sets",
        fr: "Cette date n'est pas possible : la procédure fixe un délai minimal ou maximal par rapport à une autre date du dossier.",
        doc: "A date input is before its earliest or after its latest allowed day, counted from another date of the case (`constraints` in the workflow; `details.bound`, `details.limit`, `details.message_fr`).",
    }
    PostedTooLate {
        code: "posted_too_late", status: UNPROCESSABLE_ENTITY,
        en: "the letter was posted after the last day of its period",
        fr: "Ce courrier a été posté après le dernier jour du délai : il ne peut plus être enregistré.",
        doc: "The event's letter must be posted within a period (`posted` in the workflow) and its dispatch date is after the period's last day (`details.posted`, `details.due`, `details.message_fr`).",
    }
    NoBranch {
        code: "no_branch", status: CONFLICT,
        en: "no branch of this event holds for the case's variables",
        fr: "Cette action n'est pas possible avec les informations actuelles du dossier.",
        doc: "None of the event's `when` branches holds for the case's variables.",
    }
    UnknownTimer {
        code: "unknown_timer", status: CONFLICT,
        en: "this timer is not armed",
        fr: "Ce délai n'est plus en cours pour ce dossier.",
        doc: "The timer to fire is not armed on the case (already fired or cancelled), or the workflow has no timer with the id a deadline change names.",
    }
    TimerNotArmed {
        code: "timer_not_armed", status: CONFLICT,
        en: "this deadline is not running in this case",
        fr: "Ce délai ne court pas pour ce dossier (il n'est pas ouvert, ou il est suspendu).",
        doc: "An extension or suspension names a deadline of the workflow that is not armed in the case now (not in its state, already expired, or suspended; `details.timer`).",
    }
    TimerNotSuspended {
        code: "timer_not_suspended", status: CONFLICT,
        en: "this deadline is not suspended",
        fr: "Ce délai n'est pas suspendu : il n'y a rien à reprendre.",
        doc: "A resumption names a deadline that is not suspended in the case (`details.timer`).",
    }
    TimerAlreadyFired {
        code: "timer_already_fired", status: CONFLICT,
        en: "the correction would move a deadline that already expired back into the future",
        fr: "Cette correction reporterait un délai déjà expiré, dont l'échéance a produit ses effets : le dossier doit être migré ou clôturé plutôt que corrigé.",
        doc: "A correction changes the date a deadline counts from, and that deadline already expired and fired; with the corrected date it would end on a day still to come (`details.timer`, `details.variable`, `details.corrected_due`). Migrate or close the case instead.",
    }
    MissingInput {
        code: "missing_input", status: UNPROCESSABLE_ENTITY,
        en: "a required input is missing",
        fr: "Une information obligatoire manque. Veuillez compléter le formulaire.",
        doc: "A required input of the start or event is absent (`details.input`).",
    }
    InvalidInput {
        code: "invalid_input", status: UNPROCESSABLE_ENTITY,
        en: "an input does not have the expected type or value",
        fr: "Une information fournie n'est pas valable. Veuillez la corriger.",
        doc: "An input has the wrong type or a value its declaration refuses (`details.input`, `details.why`).",
    }
    UnknownInput {
        code: "unknown_input", status: UNPROCESSABLE_ENTITY,
        en: "an input is not accepted here",
        fr: "Une information fournie n'est pas attendue pour cette action.",
        doc: "An input the start or event does not declare (`details.input`).",
    }
    InvalidBusinessKey {
        code: "invalid_business_key", status: UNPROCESSABLE_ENTITY,
        en: "the business key must be 1 to 200 characters",
        fr: "La référence du dossier n'est pas valable.",
        doc: "The business `key` of a new case is blank or longer than 200 characters.",
    }
    InvalidActor {
        code: "invalid_actor", status: UNPROCESSABLE_ENTITY,
        en: "the actor is not valid",
        fr: "Les informations de cette personne ne sont pas valables.",
        doc: "An actor's id, name, e-mail address or roles are not valid.",
    }

    // Documents of a case.
    UnknownDocument {
        code: "unknown_document", status: UNPROCESSABLE_ENTITY,
        en: "a document input names no document of this case",
        fr: "Le document indiqué n'est pas joint à ce dossier. Joignez-le d'abord, puis choisissez-le.",
        doc: "An input of type `document` is not the id of a document attached to the case (`details.input`, `details.document`; attach it first with `POST /cases/{id}/documents`).",
    }
    InvalidUpload {
        code: "invalid_upload", status: UNPROCESSABLE_ENTITY,
        en: "the upload is not a multipart form with one file",
        fr: "Aucun fichier n'a été reçu, ou son nom n'est pas valable. Choisissez un fichier et recommencez.",
        doc: "The body is not `multipart/form-data` with a non-empty `file` field, or the file name is empty, longer than 255 characters or holds a control character.",
    }
    UnsupportedDocumentType {
        code: "unsupported_document_type", status: UNPROCESSABLE_ENTITY,
        en: "the file is not a PDF, ODT, DOCX, PNG or JPEG document",
        fr: "Ce type de fichier n'est pas accepté : joignez un document PDF, ODT ou DOCX, ou une image PNG ou JPEG.",
        doc: "The file's content (its first bytes, not its name) is none of PDF, ODT, DOCX, PNG, JPEG.",
    }
    DocumentTypeMismatch {
        code: "document_type_mismatch", status: UNPROCESSABLE_ENTITY,
        en: "the file's declared type is not what its content is",
        fr: "Le contenu de ce fichier ne correspond pas à son type annoncé.",
        doc: "The part's `Content-Type` names another type than the file's content (`application/octet-stream` is accepted as no claim).",
    }
    DocumentTooLarge {
        code: "document_too_large", status: PAYLOAD_TOO_LARGE,
        en: "the document is larger than the server accepts",
        fr: "Ce fichier est trop volumineux pour être joint au dossier.",
        doc: "The file is over the server's document limit (`--max-document-bytes`, default 20 MB; `details.limit_bytes`); refused as soon as its length or its bytes pass it.",
    }

    // Deployments.
    InvalidWorkflow {
        code: "invalid_workflow", status: UNPROCESSABLE_ENTITY,
        en: "the workflow has errors",
        fr: "La procédure contient des erreurs et n'a pas été publiée.",
        doc: "The workflow fails `jalon validate` (every diagnostic with file, line, column and code in `details.diagnostics`).",
    }
    LimitExceeded {
        code: "limit_exceeded", status: UNPROCESSABLE_ENTITY,
        en: "the workflow goes over a limit",
        fr: "La procédure est trop grande pour être publiée.",
        doc: "The workflow goes over a limit of `docs/diagnostics.md` (`details.limit`, `max`, `value`).",
    }
    WorkflowsUnreadable {
        code: "workflows_unreadable", status: UNPROCESSABLE_ENTITY,
        en: "a workflow folder cannot be read",
        fr: "Les procédures n'ont pas pu être lues.",
        doc: "A workflow folder or template file cannot be read (deployment of a folder).",
    }
    InvalidMapping {
        code: "invalid_mapping", status: UNPROCESSABLE_ENTITY,
        en: "the migration's mapping has errors",
        fr: "Le fichier de correspondance de la migration contient des erreurs ; aucun dossier n'a été modifié.",
        doc: "A migration's mapping does not parse or does not fit the two versions (every diagnostic with file, line, column, code and hint in `details.diagnostics`; codes in `docs/diagnostics.md`).",
    }
    InvalidMigration {
        code: "invalid_migration", status: UNPROCESSABLE_ENTITY,
        en: "the migration cannot be made",
        fr: "Cette migration n'est pas possible ; aucun dossier n'a été modifié.",
        doc: "A migration's `from_version` is not an older version of the workflow, or a case it names is not an open case of an older version.",
    }

    // Waiting for a case to change.
    InvalidWait {
        code: "invalid_wait", status: UNPROCESSABLE_ENTITY,
        en: "`wait` is a whole number of seconds (`30s`, `30`) or milliseconds (`500ms`)",
        fr: "La durée d'attente demandée n'est pas valable.",
        doc: "`wait` is not a whole number of seconds (`30s`, `30`) or milliseconds (`500ms`); a longer wait than the server's bound (60 s) is shortened to it, not refused.",
    }
    TooManyWaits {
        code: "too_many_waits", status: TOO_MANY_REQUESTS,
        en: "too many requests are waiting for a change already; retry later",
        fr: "Trop de demandes attendent déjà une modification. Veuillez réessayer dans quelques instants.",
        doc: "The bound of open waits (`?wait=`, `/changes` streams) of this actor (`details.bound: \"actor\"`) or of the server (`\"server\"`) is reached; nothing waits; `Retry-After: 1`.",
    }

    // The server.
    DatabaseUnavailable {
        code: "database_unavailable", status: SERVICE_UNAVAILABLE,
        en: "the database cannot be reached; retry later",
        fr: "Le service est momentanément indisponible. Veuillez réessayer dans quelques instants.",
        doc: "The database does not answer; nothing was changed; `Retry-After: 5`.",
    }
    StorageFull {
        code: "storage_full", status: SERVICE_UNAVAILABLE,
        en: "the server's storage is full: writes fail until space is freed",
        fr: "Le service est momentanément indisponible. Veuillez réessayer plus tard.",
        doc: "The database's disk is full; nothing was changed; `Retry-After: 60`.",
    }
    DatabaseError {
        code: "database_error", status: INTERNAL_SERVER_ERROR,
        en: "the server could not complete the request; nothing was changed",
        fr: "Une erreur est survenue. Rien n'a été modifié ; veuillez réessayer.",
        doc: "The database failed the request for another reason (logged); nothing was changed.",
    }
    CorruptData {
        code: "corrupt_data", status: INTERNAL_SERVER_ERROR,
        en: "the server could not complete the request; nothing was changed",
        fr: "Une erreur est survenue. Rien n'a été modifié ; veuillez réessayer.",
        doc: "A stored row cannot be decoded (logged); nothing was changed.",
    }
    InternalError {
        code: "internal_error", status: INTERNAL_SERVER_ERROR,
        en: "the server failed on this request; nothing was changed",
        fr: "Une erreur est survenue. Rien n'a été modifié ; veuillez réessayer.",
        doc: "The server failed on this request (`details.request_id` names it in the log); nothing was changed.",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::ErrorCode;

    #[test]
    fn codes_are_unique_snake_case_and_errors() {
        let mut seen = BTreeSet::new();
        for &c in ErrorCode::ALL {
            let s = c.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(
                s.split('_')
                    .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase())),
                "{s} is not snake_case"
            );
            assert!(
                c.status().is_client_error() || c.status().is_server_error(),
                "{s}"
            );
            assert_eq!(ErrorCode::parse(s), Some(c));
            for text in [c.message(), c.message_fr(), c.doc()] {
                assert!(!text.is_empty() && !text.contains('|'), "{s}: {text}");
            }
        }
        assert_eq!(ErrorCode::parse("no_such_code"), None);
    }

    /// The row `docs/api-errors.md` must have for a code.
    fn row(c: ErrorCode) -> String {
        format!(
            "| `{}` | {} | {} | {} |",
            c.as_str(),
            c.status().as_u16(),
            c.doc(),
            c.message_fr()
        )
    }

    /// `docs/api-errors.md` lists every code of the table, and only those, with its status,
    /// meaning and French message: a code added, removed or changed here fails until the page
    /// says the same.
    #[test]
    fn every_code_is_documented() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/api-errors.md");
        let doc = std::fs::read_to_string(&path).unwrap();
        let documented: BTreeSet<&str> = doc.lines().filter(|l| l.starts_with("| `")).collect();
        let expected: Vec<String> = ErrorCode::ALL.iter().map(|&c| row(c)).collect();
        let missing: Vec<&String> = expected
            .iter()
            .filter(|r| !documented.contains(r.as_str()))
            .collect();
        let expected: BTreeSet<&str> = expected.iter().map(String::as_str).collect();
        let stale: Vec<&&str> = documented.difference(&expected).collect();
        assert!(
            missing.is_empty() && stale.is_empty(),
            "docs/api-errors.md is out of step with src/server/api/codes.rs.\n\
             rows to add:\n{}\nrows to remove:\n{}",
            missing
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
            stale.iter().map(|r| **r).collect::<Vec<_>>().join("\n"),
        );
    }

    /// Every code the store can refuse or fail with has an entry, so the API answers it with
    /// the table's status. The store knows no HTTP: its codes are the string literals given
    /// as `code:` of an error, to `Error::not_found(`, as the code in a match arm's tuple
    /// `=> ("…", details)`, or returned by `Error::code`.
    #[test]
    fn every_store_code_is_in_the_table() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("store/src");
        let mut found = BTreeSet::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let error_rs = path.ends_with("error.rs");
            let pieces: Vec<&str> = text.split('"').collect();
            for i in (1..pieces.len()).step_by(2) {
                let before = pieces[i - 1].trim_end();
                let is_code = before.ends_with("code:")
                    || before.ends_with("not_found(")
                    || (before.ends_with("=> (") && pieces[i + 1].starts_with(','))
                    || (error_rs && before.ends_with("=>"));
                if is_code {
                    found.insert(pieces[i].to_owned());
                }
            }
        }
        assert!(
            found.contains("case_not_found") && found.contains("limit_exceeded"),
            "the scan finds the store's codes: {found:?}"
        );
        let unknown: Vec<&String> = found
            .iter()
            .filter(|c| ErrorCode::parse(c).is_none())
            .collect();
        assert!(
            unknown.is_empty(),
            "store codes missing from src/server/api/codes.rs: {unknown:?}"
        );
    }
}
