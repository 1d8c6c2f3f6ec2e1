//! Forms generated from a workflow: one field per input of a start or an event, typed from the
//! variable's declaration (a date picker for a date, a list for an enum, a text area for a
//! text…), the posted text turned back into the JSON the engine types (`Inputs`), and a
//! refusal of the engine told in French beside the field it names.

use std::collections::HashMap;
use std::sync::Arc;

use engine::definition::model::VarType;
use engine::machine::{Definition, Inputs, Refusal};
use maud::{Markup, html};

/// Posted fields of inputs are `v.<variable>`, so that a variable named `event` or `reason`
/// cannot collide with the form's own fields.
pub const PREFIX: &str = "v.";

/// The text posted for each input (by variable name), to show the form again as it was sent.
#[derive(Debug, Default, Clone)]
pub struct Values(pub HashMap<String, String>);

impl Values {
    fn get(&self, name: &str) -> &str {
        self.0.get(name).map(String::as_str).unwrap_or("")
    }
}

/// A refusal's reason placed beside the field it is about.
#[derive(Debug, Clone)]
pub struct FieldError {
    pub input: String,
    pub message: String,
}

/// A value name made readable when the workflow gives no label: `avis_favorable` → "avis
/// favorable".
pub fn readable(value: &str) -> String {
    value.replace('_', " ")
}

/// The French label of a variable, else its name made readable.
pub fn label(def: &Definition, name: &str) -> String {
    def.variables
        .get(name)
        .and_then(|v| v.label.clone())
        .unwrap_or_else(|| readable(name))
}

/// The French label the workflow gives an enum value (every value has one once validated).
pub fn enum_label(def: &Definition, name: &str, value: &str) -> String {
    def.variables
        .get(name)
        .map(|v| v.label_of(value))
        .unwrap_or_else(|| readable(value))
}

/// A stored value as an actor reads it: dates in long French, enum values readable, booleans
/// as oui / non.
pub fn display(def: &Definition, name: &str, value: &serde_json::Value) -> String {
    use serde_json::Value as J;
    match (def.var_type(name), value) {
        (Some(VarType::Date), J::String(s)) => s
            .parse::<chrono::NaiveDate>()
            .map(engine::calendar::french::long_date)
            .unwrap_or_else(|_| s.clone()),
        (Some(VarType::Enum), J::String(s)) => enum_label(def, name, s),
        (_, J::Bool(true)) => "oui".into(),
        (_, J::Bool(false)) => "non".into(),
        (_, J::String(s)) => s.clone(),
        (_, J::Null) => "—".into(),
        (_, other) => other.to_string(),
    }
}

/// The fields of `required` and `optional` inputs. `scope` makes the ids unique on a page
/// with several forms.
pub fn fields(
    def: &Definition,
    required: &[Arc<str>],
    optional: &[Arc<str>],
    values: &Values,
    error: Option<&FieldError>,
    scope: &str,
) -> Markup {
    let all = required
        .iter()
        .map(|n| (n, true))
        .chain(optional.iter().map(|n| (n, false)));
    html! {
        @for (name, is_required) in all {
            (field(def, name, is_required, values, error.filter(|e| *e.input == **name), scope))
        }
    }
}

/// A refusal's reason under the field `id` (the field points to it with
/// `aria-describedby="{id}-erreur"`).
pub fn error_beside(error: Option<&FieldError>, id: &str) -> Markup {
    html! {
        @if let Some(e) = error { p.error id=(format!("{id}-erreur")) { (e.message) } }
    }
}

fn field(
    def: &Definition,
    name: &str,
    required: bool,
    values: &Values,
    error: Option<&FieldError>,
    scope: &str,
) -> Markup {
    let id = format!("{scope}-{name}");
    let error_id = format!("{id}-erreur");
    let posted = format!("{PREFIX}{name}");
    let text = label(def, name);
    let value = values.get(name);
    let ty = def.var_type(name).unwrap_or(VarType::Text);
    let described = error.map(|_| error_id.as_str());
    let invalid = error.map(|_| "true");
    let marker = html! {
        @if required { " " span.required { "(obligatoire)" } } @else { " " span.muted { "(facultatif)" } }
    };
    let error_line = error_beside(error, &id);
    // A required yes/no always has a value (unticked is "non"): a checkbox, never marked
    // required (the browser would then demand a tick). An optional one may be left unsaid.
    if ty == VarType::Boolean && required {
        let checked = matches!(value, "true" | "on");
        return html! {
            div.field.check {
                input type="checkbox" id=(id) name=(posted) value="true" checked[checked]
                    aria-describedby=[described] aria-invalid=[invalid];
                label for=(id) { (text) }
                (error_line)
            }
        };
    }
    html! {
        div.field {
            label for=(id) { (text) (marker) }
            @match ty {
                VarType::Date => {
                    input type="date" id=(id) name=(posted) value=(value) required[required]
                        aria-describedby=[described] aria-invalid=[invalid];
                    p.hint { "Format : jj/mm/aaaa (ou aaaa-mm-jj)." }
                }
                VarType::Enum => {
                    select id=(id) name=(posted) required[required]
                        aria-describedby=[described] aria-invalid=[invalid] {
                        option value="" { "— Choisir —" }
                        @for v in def.variables.get(name).map(|v| v.values.as_slice()).unwrap_or(&[]) {
                            option value=(v) selected[v == value] { (enum_label(def, name, v)) }
                        }
                    }
                }
                VarType::Boolean => {
                    select id=(id) name=(posted) aria-describedby=[described] aria-invalid=[invalid] {
                        option value="" { "— Non précisé —" }
                        option value="true" selected[value == "true"] { "oui" }
                        option value="false" selected[value == "false"] { "non" }
                    }
                }
                VarType::Integer => {
                    input type="number" step="1" inputmode="numeric" id=(id) name=(posted)
                        value=(value) required[required]
                        aria-describedby=[described] aria-invalid=[invalid];
                }
                VarType::Email => {
                    input type="email" id=(id) name=(posted) value=(value) required[required]
                        autocomplete="off" aria-describedby=[described] aria-invalid=[invalid];
                }
                VarType::Document => {
                    // The case page lists its documents under this id (`documents.rs`).
                    input type="text" id=(id) name=(posted) value=(value) required[required]
                        list="documents-du-dossier"
                        aria-describedby=[described] aria-invalid=[invalid];
                    p.hint { "Identifiant d'un document joint au dossier (voir « Documents joints ») ; à l'ouverture d'un dossier, référence du document (nom de fichier, numéro d'enregistrement…)." }
                }
                VarType::Text => {
                    textarea id=(id) name=(posted) rows="3" required[required]
                        aria-describedby=[described] aria-invalid=[invalid] { (value) }
                }
            }
            (error_line)
        }
    }
}

/// The inputs posted for `required` and `optional`, typed as the API's JSON would be, and the
/// texts as posted. An empty field is not given (a required one is then refused as missing by
/// the engine); a whole number that does not read as one is passed as text, so that the
/// engine refuses it as invalid.
pub fn collect(
    def: &Definition,
    required: &[Arc<str>],
    optional: &[Arc<str>],
    posted: &[(String, String)],
) -> (Inputs, Values) {
    let mut values = Values::default();
    for (k, v) in posted {
        if let Some(name) = k.strip_prefix(PREFIX) {
            values.0.insert(name.to_owned(), v.clone());
        }
    }
    let mut inputs = Inputs::new();
    for (name, is_required) in required
        .iter()
        .map(|n| (n, true))
        .chain(optional.iter().map(|n| (n, false)))
    {
        let raw = values.get(name);
        let ty = def.var_type(name).unwrap_or(VarType::Text);
        let json = match ty {
            VarType::Boolean if is_required => {
                serde_json::Value::Bool(matches!(raw, "true" | "on"))
            }
            VarType::Boolean => match raw {
                "true" | "on" => serde_json::Value::Bool(true),
                "false" => serde_json::Value::Bool(false),
                _ => continue,
            },
            _ if raw.trim().is_empty() => continue,
            VarType::Integer => raw
                .trim()
                .parse::<i64>()
                .map(serde_json::Value::from)
                .unwrap_or_else(|_| serde_json::Value::String(raw.to_owned())),
            VarType::Date | VarType::Enum | VarType::Email => {
                serde_json::Value::String(raw.trim().to_owned())
            }
            VarType::Text | VarType::Document => serde_json::Value::String(raw.to_owned()),
        };
        inputs.insert(name.to_string(), json);
    }
    (inputs, values)
}

/// A refusal in French, with the input it is about when it names one.
pub fn refusal_fr(def: &Definition, r: &Refusal) -> (Option<FieldError>, String) {
    let roles = |allowed: &[String]| {
        allowed
            .iter()
            .map(|r| def.roles.get(r).cloned().unwrap_or_else(|| readable(r)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match r {
        Refusal::MissingInput { input } => {
            let message = "Cette information est obligatoire.".to_owned();
            let general = format!(
                "Une information obligatoire manque : « {} ».",
                label(def, input)
            );
            (
                Some(FieldError {
                    input: input.clone(),
                    message,
                }),
                general,
            )
        }
        Refusal::InvalidInput { input, why } => {
            let message = match def.var_type(input) {
                // The engine's reason for a dispatch date (`posted`) later than today.
                Some(VarType::Date) if why.contains("after today") => {
                    "Cette date est postérieure à aujourd'hui : un courrier ne peut pas avoir été posté dans le futur."
                }
                Some(VarType::Date) => "Indiquez une date valide (entre 1900 et 2299).",
                Some(VarType::Integer) => "Indiquez un nombre entier.",
                Some(VarType::Email) => {
                    "Indiquez une adresse électronique valable (par exemple prenom.nom@exemple.be)."
                }
                Some(VarType::Enum) => "Choisissez une des valeurs proposées.",
                Some(VarType::Boolean) => "Indiquez oui ou non.",
                Some(VarType::Text | VarType::Document) | None => {
                    "Ce texte est trop long (10 000 caractères au plus)."
                }
            }
            .to_owned();
            let general = format!(
                "Une information n'est pas valable : « {} ». {message}",
                label(def, input)
            );
            (
                Some(FieldError {
                    input: input.clone(),
                    message,
                }),
                general,
            )
        }
        Refusal::UnknownInput { input } => (
            None,
            format!(
                "L'information « {} » n'est pas attendue pour cette action.",
                label(def, input)
            ),
        ),
        Refusal::GuardFailed { variable, .. } => (
            None,
            format!(
                "Cette action n'est pas encore possible : la condition prévue par la procédure sur « {} » n'est pas remplie.",
                label(def, variable)
            ),
        ),
        Refusal::RoleNotAllowed { allowed, .. } => (
            None,
            format!(
                "Vos rôles ne vous permettent pas de faire cette action. Rôles autorisés : {}.",
                roles(allowed)
            ),
        ),
        Refusal::EventNotAllowed { .. } => (
            None,
            "Cette action n'est pas possible dans l'état actuel du dossier.".into(),
        ),
        Refusal::CaseClosed { .. } => (
            None,
            "Ce dossier est clos : plus aucune action n'est possible.".into(),
        ),
        Refusal::NoBranch { .. } => (
            None,
            "Aucune suite prévue par la procédure ne correspond aux informations du dossier."
                .into(),
        ),
        Refusal::UnknownTimer { .. } => (
            None,
            "Ce délai n'est plus en cours ; rien n'a été modifié.".into(),
        ),
        Refusal::MissingReason { .. } => (
            Some(FieldError {
                input: "reason".into(),
                message: "Indiquez la raison de cette décision.".into(),
            }),
            "Veuillez indiquer la raison de cette décision : elle est conservée dans l'historique."
                .into(),
        ),
        Refusal::TimerNotArmed { .. } => (
            None,
            "Ce délai ne court pas pour ce dossier (il n'est pas ouvert, ou il est suspendu) ; \
             rien n'a été modifié."
                .into(),
        ),
        Refusal::TimerNotSuspended { .. } => (
            None,
            "Ce délai n'est pas suspendu : il n'y a rien à reprendre.".into(),
        ),
        Refusal::TimerAlreadyFired {
            timer,
            corrected_due,
            ..
        } => (
            None,
            format!(
                "Cette correction reporterait au {} le délai « {} », déjà expiré et dont \
                 l'échéance a produit ses effets : le dossier doit être migré ou clôturé plutôt \
                 que corrigé.",
                engine::calendar::french::long_date(*corrected_due),
                def.timer(timer)
                    .and_then(|t| t.label.as_ref().map(|l| l.to_string()))
                    .unwrap_or_else(|| readable(timer))
            ),
        ),
        Refusal::PostedTooLate {
            input, message_fr, ..
        }
        | Refusal::DateOutOfRange {
            input, message_fr, ..
        } => (
            Some(FieldError {
                input: input.clone(),
                message: message_fr.clone(),
            }),
            message_fr.clone(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def() -> Definition {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("workflows/chambre-recours/workflow.yaml"),
        )
        .unwrap();
        let wf = engine::definition::parse(&text).expect("parses");
        Definition::compile(wf).expect("compiles")
    }

    fn names(v: &[&str]) -> Vec<Arc<str>> {
        v.iter().map(|s| Arc::from(*s)).collect()
    }

    #[test]
    fn posted_text_becomes_typed_inputs() {
        let d = def();
        let posted: Vec<(String, String)> = [
            ("v.avis", "favorable_au_requerant"),
            ("v.votes_pour", " 4 "),
            ("v.votes_contre", ""),
            ("v.dossier_complet", "false"),
            ("event", "rendre_avis"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let (inputs, values) = collect(
            &d,
            &names(&["avis", "votes_pour", "votes_contre"]),
            &names(&["dossier_complet"]),
            &posted,
        );
        assert_eq!(inputs["avis"], "favorable_au_requerant");
        assert_eq!(inputs["votes_pour"], 4);
        assert!(!inputs.contains_key("votes_contre"), "empty is not given");
        assert_eq!(inputs["dossier_complet"], false);
        assert_eq!(values.get("votes_pour"), " 4 ");
        assert!(!values.0.contains_key("event"));
    }

    #[test]
    fn a_required_checkbox_left_unticked_is_no() {
        let d = def();
        let (inputs, _) = collect(&d, &names(&["dossier_complet"]), &[], &[]);
        assert_eq!(inputs["dossier_complet"], false);
        let on = vec![("v.dossier_complet".to_string(), "true".to_string())];
        let (inputs, _) = collect(&d, &names(&["dossier_complet"]), &[], &on);
        assert_eq!(inputs["dossier_complet"], true);
    }

    #[test]
    fn a_word_for_a_number_is_left_to_the_engine_to_refuse() {
        let d = def();
        let posted = vec![("v.votes_pour".to_string(), "quatre".to_string())];
        let (inputs, _) = collect(&d, &names(&["votes_pour"]), &[], &posted);
        assert_eq!(inputs["votes_pour"], "quatre");
    }

    #[test]
    fn fields_are_typed_labelled_and_marked() {
        let d = def();
        let err = FieldError {
            input: "date_seance".into(),
            message: "Cette information est obligatoire.".into(),
        };
        let html = fields(
            &d,
            &names(&["date_seance", "avis"]),
            &names(&["rapporteur"]),
            &Values::default(),
            Some(&err),
            "f",
        )
        .into_string();
        assert!(html.contains(r#"<label for="f-date_seance">Date de la séance <span class="required">(obligatoire)</span></label>"#), "{html}");
        assert!(html.contains(r#"<input type="date" id="f-date_seance" name="v.date_seance" value="" required aria-describedby="f-date_seance-erreur" aria-invalid="true">"#), "{html}");
        assert!(html.contains(r#"<p class="error" id="f-date_seance-erreur">Cette information est obligatoire.</p>"#), "{html}");
        assert!(
            html.contains(
                r#"<option value="favorable_au_requerant">Avis favorable au requérant</option>"#
            ),
            "{html}"
        );
        assert!(
            html.contains(r#"<textarea id="f-rapporteur" name="v.rapporteur" rows="3">"#),
            "{html}"
        );
        assert!(html.contains("(facultatif)"), "{html}");
    }

    #[test]
    fn refusals_name_their_field_in_french() {
        let d = def();
        let (f, msg) = refusal_fr(
            &d,
            &Refusal::InvalidInput {
                input: "date_seance".into(),
                why: "x".into(),
            },
        );
        assert_eq!(f.unwrap().input, "date_seance");
        assert!(msg.contains("Date de la séance"), "{msg}");
        let (f, msg) = refusal_fr(
            &d,
            &Refusal::RoleNotAllowed {
                action: "x".into(),
                allowed: vec!["president".into()],
            },
        );
        assert!(f.is_none());
        assert!(msg.contains("Président de la Chambre de recours"), "{msg}");
    }
}
