//! Review output for people and CI (text, JSON, GitHub annotations, SARIF).
