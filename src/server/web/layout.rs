//! The frame of every page: language, landmarks (header, nav, main, footer), a link to skip to
//! the content, the menu for the viewer's roles and the sign-out form.

use maud::{DOCTYPE, Markup, html};

use super::session::Viewer;

/// The menu entry of the current page (marked `aria-current`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Nav {
    Tasks,
    Start,
    Operator,
    Procedures,
    None,
}

/// A whole page: `title` is the document's title and the first heading's text is the caller's.
pub fn page(title: &str, viewer: Option<&Viewer>, current: Nav, main: Markup) -> Markup {
    let item = |nav: Nav, href: &str, label: &str| {
        html! {
            li {
                @if nav == current {
                    a href=(href) aria-current="page" { (label) }
                } @else {
                    a href=(href) { (label) }
                }
            }
        }
    };
    html! {
        (DOCTYPE)
        html lang="fr" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — jalon" }
                link rel="stylesheet" href=(super::assets::css_path());
            }
            body {
                a.skip href="#contenu" { "Aller au contenu" }
                header.site {
                    a.brand href="/" { "jalon" }
                    @if let Some(v) = viewer {
                        nav aria-label="Menu principal" {
                            ul {
                                (item(Nav::Tasks, "/", "Mes tâches"))
                                (item(Nav::Start, "/nouveau", "Nouveau dossier"))
                                @if v.actor.oversees() {
                                    (item(Nav::Operator, "/operateur", "Opérateurs"))
                                }
                                (item(Nav::Procedures, "/workflows", "Procédures"))
                            }
                        }
                        form.signout method="post" action="/deconnexion" {
                            (v.csrf_field())
                            span.who { (v.actor.name) }
                            button type="submit" { "Se déconnecter" }
                        }
                    }
                }
                main id="contenu" tabindex="-1" {
                    (main)
                }
                footer.site {
                    p { "jalon — procédures du pilotage des écoles (Fédération Wallonie-Bruxelles)" }
                }
            }
        }
    }
}

/// A table that stacks on a phone: a header per column, each cell labelled with its column's
/// header (`data-label`, shown by the stylesheet when the table stacks), inside a box that
/// scrolls rather than widen the page. The one way pages write such a table.
pub fn responsive_table(headers: &[&str], rows: impl IntoIterator<Item = Vec<Markup>>) -> Markup {
    html! {
        div.table-wrap {
            table.responsive {
                thead { tr { @for h in headers { th scope="col" { (h) } } } }
                tbody {
                    @for row in rows {
                        tr {
                            @for (h, cell) in headers.iter().zip(row) {
                                td data-label=(h) { (cell) }
                            }
                        }
                    }
                }
            }
        }
    }
}
