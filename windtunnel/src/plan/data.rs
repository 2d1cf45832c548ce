//! CSV files of test data for a plan: one row per iteration, its columns as variables
//! (`{{customers.email}}`), taken in order (shared by all agents, from the top again at the
//! end) or at random from the agent's seeded generator.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Deserialize;

use crate::agent::AgentRng;

/// How rows are taken.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Order {
    /// One after another across all agents, wrapping around.
    #[default]
    Sequential,
    /// Drawn from each agent's seeded generator.
    Random,
}

/// A CSV file, read and checked.
#[derive(Debug)]
pub(crate) struct DataSet {
    pub(crate) name: String,
    pub(crate) columns: Vec<String>,
    rows: Vec<Vec<String>>,
    order: Order,
    next: AtomicUsize,
}

impl DataSet {
    /// Reads `path`: a header row of unique, non-empty names, then at least one row of as
    /// many fields. The error gives the file and line.
    pub(crate) fn read(name: &str, path: &Path, order: Order) -> Result<Self, String> {
        let shown = path.display();
        let bytes = crate::config::read_bounded(path)
            .map_err(|e| format!("cannot read the CSV file `{shown}`: {e}"))?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(bytes.as_slice());
        let header = reader
            .headers()
            .map_err(|e| format!("{shown}: {}", csv_error(&e)))?
            .clone();
        let columns: Vec<String> = header.iter().map(|c| c.trim().to_owned()).collect();
        if columns.iter().all(String::is_empty) {
            return Err(format!(
                "{shown}:1: the file has no header row (the first row names the columns)"
            ));
        }
        for (i, c) in columns.iter().enumerate() {
            if c.is_empty() {
                return Err(format!("{shown}:1: column {} has no name", i + 1));
            }
            if columns[..i].contains(c) {
                return Err(format!("{shown}:1: two columns are named `{c}`"));
            }
        }
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| format!("{shown}: {}", csv_error(&e)))?;
            rows.push(record.iter().map(str::to_owned).collect());
        }
        if rows.is_empty() {
            return Err(format!("{shown}: no rows after the header"));
        }
        Ok(DataSet {
            name: name.to_owned(),
            columns,
            rows,
            order,
            next: AtomicUsize::new(0),
        })
    }

    /// The row for the next iteration.
    pub(crate) fn row(&self, rng: &mut AgentRng) -> &[String] {
        let i = match self.order {
            Order::Sequential => self.next.fetch_add(1, Ordering::Relaxed) % self.rows.len(),
            Order::Random => rng.below(self.rows.len() as u64) as usize,
        };
        &self.rows[i]
    }
}

fn csv_error(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => {
            let line = pos.as_ref().map_or(0, csv::Position::line);
            format!(
                "line {line}: a malformed row: {len} field(s) where the header has \
                 {expected_len}"
            )
        }
        csv::ErrorKind::Utf8 { pos, .. } => {
            let line = pos.as_ref().map_or(0, csv::Position::line);
            format!("line {line}: not valid UTF-8")
        }
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(test: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("windtunnel-data-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(format!("{test}.csv"));
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn rows_in_order_and_at_random() {
        let d = DataSet::read(
            "c",
            &file("ok", "name,email\nada,a@x\nbob,b@x\n"),
            Order::Sequential,
        )
        .unwrap();
        assert_eq!(d.columns, ["name", "email"]);
        let mut rng = AgentRng::new(1, 0);
        let names: Vec<String> = (0..3).map(|_| d.row(&mut rng)[0].clone()).collect();
        assert_eq!(names, ["ada", "bob", "ada"]);
        let d = DataSet::read("c", &file("rand", "n\n1\n2\n3\n"), Order::Random).unwrap();
        let mut a = AgentRng::new(7, 0);
        let mut b = AgentRng::new(7, 0);
        let first: Vec<String> = (0..5).map(|_| d.row(&mut a)[0].clone()).collect();
        let again: Vec<String> = (0..5).map(|_| d.row(&mut b)[0].clone()).collect();
        assert_eq!(first, again);
    }

    #[test]
    fn malformed_files_name_the_line() {
        let err = DataSet::read(
            "c",
            &file("short", "name,email\nada,a@x\nbob\n"),
            Order::Random,
        )
        .unwrap_err();
        assert!(
            err.ends_with("short.csv: line 3: a malformed row: 1 field(s) where the header has 2"),
            "{err}"
        );
        let err = DataSet::read("c", &file("dup", "a,a\n1,2\n"), Order::Random).unwrap_err();
        assert!(err.contains(":1: two columns are named `a`"), "{err}");
        let err = DataSet::read("c", &file("empty", "a\n"), Order::Random).unwrap_err();
        assert!(err.contains("no rows"), "{err}");
        let err = DataSet::read("c", Path::new("/nonexistent/x.csv"), Order::Random).unwrap_err();
        assert!(err.contains("cannot read the CSV file"), "{err}");
    }
}
