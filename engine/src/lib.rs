pub mod calendar;
pub mod definition;
pub mod machine;
pub mod scenario;
