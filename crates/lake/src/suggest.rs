//! Rule suggestions (being written).
