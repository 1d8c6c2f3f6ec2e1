//! Forms generated from a workflow (being written).
