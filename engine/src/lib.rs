pub mod calendar;
pub mod definition;
