//! `jalon graph WORKFLOW --format mermaid|dot`: the state diagram of a workflow.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use engine::definition::graph;
use engine::definition::load::{LoadError, WorkflowFile};

use super::Failure;

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// Mermaid `stateDiagram-v2` (renders in GitLab, GitHub and most Markdown viewers).
    Mermaid,
    /// Graphviz: `jalon graph FILE --format dot | dot -Tsvg > graph.svg`.
    Dot,
}

#[derive(Args)]
pub struct GraphArgs {
    /// The workflow file.
    #[arg(value_name = "WORKFLOW")]
    workflow: PathBuf,
    #[arg(long, value_enum, default_value = "mermaid")]
    format: Format,
}

pub fn run(a: GraphArgs) -> Result<(), Failure> {
    let file = match WorkflowFile::load(&a.workflow) {
        Ok(f) => f,
        Err(LoadError::Io { path, error }) => {
            return Err(Failure::Usage(format!(
                "cannot read {}: {error}",
                path.display()
            )));
        }
        Err(LoadError::Parse { path, diagnostic }) => {
            return Err(Failure::Run(anyhow::anyhow!(
                "{}",
                diagnostic.render(&path.display().to_string())
            )));
        }
    };
    let text = match a.format {
        Format::Mermaid => graph::mermaid(&file.workflow),
        Format::Dot => graph::dot(&file.workflow),
    };
    print!("{text}");
    Ok(())
}
