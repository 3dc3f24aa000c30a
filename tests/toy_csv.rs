//! Reading toy data from CSV files: the good cases, every bad case, and the writers.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use qipo::toy::{load_csv, write_data_csv, write_samples_csv, ToyCsvError, ToyData, ToyDataset};

/// A fresh path under the temp directory, unique per process and call.
fn temp_path(label: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("qipo-toy-csv-{}-{n}-{label}.csv", std::process::id()))
}

/// Writes `contents` to a fresh file, loads it, and removes the file.
fn load_text(label: &str, contents: &[u8]) -> (PathBuf, Result<ToyData, ToyCsvError>) {
    let path = temp_path(label);
    std::fs::write(&path, contents).unwrap();
    let result = load_csv(&path);
    std::fs::remove_file(&path).ok();
    (path, result)
}

/// Loads text that must fail, and checks the message is one line naming the file.
fn load_error(label: &str, contents: &str) -> ToyCsvError {
    let (path, result) = load_text(label, contents.as_bytes());
    let error = result.expect_err("the file should be rejected");
    let message = error.to_string();
    assert!(!message.contains('\n'), "multi-line message: {message}");
    assert!(message.contains(&path.display().to_string()), "file not named: {message}");
    error
}

#[test]
fn reads_points_and_energies() {
    let (_, result) = load_text("good", b"x,y,energy\n0.5,-1.25,0.3\n1,2,-4e-1\n");
    let data = result.unwrap();
    assert_eq!(data.dim, 2);
    assert_eq!(data.points, vec![0.5, -1.25, 1.0, 2.0]);
    assert_eq!(data.energies, vec![0.3, -0.4]);
}

#[test]
fn tolerates_bom_quotes_spaces_crlf_and_blank_lines() {
    let text = "\u{feff}\"x\", \"y\" , \"Energy\"\r\n\r\n 1 , 2 , 3 \r\n4,5,6\r\n\n\n";
    let data = load_text("lenient", text.as_bytes()).1.unwrap();
    assert_eq!(data.points, vec![1.0, 2.0, 4.0, 5.0]);
    assert_eq!(data.energies, vec![3.0, 6.0]);
}

#[test]
fn reads_quoted_fields() {
    let text = b"\"x\",\"y\",\"energy\"\n\"0.5\",-1.25,0.3\n1,\"2\",\"-4e-1\"\n";
    let data = load_text("quoted", text).1.unwrap();
    assert_eq!(data.points, vec![0.5, -1.25, 1.0, 2.0]);
    assert_eq!(data.energies, vec![0.3, -0.4]);
    // A quoted comma is part of the name, not a column break.
    let error = load_error("quoted-comma", "\"x, metres\",energy\n1,2\nfar,3\n");
    match &error {
        ToyCsvError::NotANumber { line, column, name, .. } => {
            assert_eq!((*line, *column, name.as_str()), (3, 1, "x, metres"))
        }
        other => panic!("unexpected error {other}"),
    }
}

#[test]
fn lines_are_counted_as_an_editor_counts_them() {
    // The header's quoted name spans lines 1 and 2; line 3 is blank.
    match load_error("multiline", "\"x\n(m)\",energy\n\n1,2\n3\n") {
        ToyCsvError::RaggedRow { line, found, expected, .. } => assert_eq!((line, found, expected), (5, 1, 2)),
        other => panic!("unexpected error {other}"),
    }
}

#[test]
fn reads_any_number_of_coordinate_columns() {
    let one = load_text("1d", b"t,energy\n1,0\n2,1\n3,2\n").1.unwrap();
    assert_eq!((one.dim, one.len()), (1, 3));
    let three = load_text("3d", b"a,b,c,energy\n1,2,3,0\n4,5,6,1\n").1.unwrap();
    assert_eq!((three.dim, three.len()), (3, 2));
    assert_eq!(three.point(1), &[4.0, 5.0, 6.0]);
}

#[test]
fn missing_file() {
    let path = temp_path("missing");
    let error = load_csv(&path).unwrap_err();
    assert!(matches!(error, ToyCsvError::NotFound { .. }), "{error}");
    assert!(error.to_string().contains("not found"));
}

#[test]
fn unreadable_file() {
    let (_, result) = load_text("binary", b"x,energy\n\xff\xfe,1\n");
    assert!(matches!(result.unwrap_err(), ToyCsvError::Unreadable { .. }));
    let error = load_csv(&std::env::temp_dir()).unwrap_err();
    assert!(matches!(error, ToyCsvError::Unreadable { .. }), "{error}");
}

#[test]
fn empty_file_has_no_header() {
    assert!(matches!(load_error("empty", ""), ToyCsvError::NoHeader { .. }));
    assert!(matches!(load_error("blank", "\n  \n"), ToyCsvError::NoHeader { .. }));
}

#[test]
fn last_column_must_be_energy() {
    match load_error("noenergy", "x,y,z\n1,2,3\n4,5,6\n") {
        ToyCsvError::NoEnergyColumn { found, .. } => assert_eq!(found, "z"),
        other => panic!("unexpected error {other}"),
    }
    // A header of numbers is a missing header.
    assert!(matches!(load_error("numbers", "1,2,3\n4,5,6\n"), ToyCsvError::NoEnergyColumn { .. }));
}

#[test]
fn needs_a_coordinate_column() {
    assert!(matches!(load_error("nocoords", "energy\n1\n2\n"), ToyCsvError::NoCoordinateColumns { .. }));
}

#[test]
fn ragged_row_names_its_line() {
    match load_error("ragged", "x,y,energy\n1,2,3\n\n4,5\n") {
        ToyCsvError::RaggedRow { line, found, expected, .. } => assert_eq!((line, found, expected), (4, 2, 3)),
        other => panic!("unexpected error {other}"),
    }
    assert!(matches!(load_error("trailing-comma", "x,energy\n1,2,\n3,4\n"), ToyCsvError::RaggedRow { line: 2, .. }));
}

#[test]
fn non_numeric_value_names_line_and_column() {
    let error = load_error("text", "x,y,energy\n1,2,3\n4,five,6\n");
    match &error {
        ToyCsvError::NotANumber { line, column, name, value, .. } => {
            assert_eq!((*line, *column, name.as_str(), value.as_str()), (3, 2, "y", "five"))
        }
        other => panic!("unexpected error {other}"),
    }
    assert!(error.to_string().contains("line 3, column 2 (y)"), "{error}");
    assert!(matches!(load_error("emptyfield", "x,energy\n1,\n2,3\n"), ToyCsvError::NotANumber { column: 2, .. }));
}

#[test]
fn nan_and_infinity_are_rejected() {
    for (label, text, column) in [
        ("nan", "x,y,energy\n1,NaN,3\n4,5,6\n", 2),
        ("inf", "x,y,energy\n1,2,3\n4,5,inf\n", 3),
        ("neginf", "x,y,energy\n-infinity,2,3\n4,5,6\n", 1),
        ("overflow", "x,y,energy\n1e39,2,3\n4,5,6\n", 1),
    ] {
        match load_error(label, text) {
            ToyCsvError::NotFinite { column: c, .. } => assert_eq!(c, column, "{label}"),
            other => panic!("{label}: unexpected error {other}"),
        }
    }
}

#[test]
fn fewer_than_two_rows() {
    assert!(matches!(load_error("headeronly", "x,y,energy\n"), ToyCsvError::TooFewRows { rows: 0, .. }));
    assert!(matches!(load_error("onerow", "x,y,energy\n1,2,3\n"), ToyCsvError::TooFewRows { rows: 1, .. }));
}

#[test]
fn written_data_loads_back_exactly() {
    let data = ToyDataset::TwoSpirals.sample(500, 21);
    let path = temp_path("roundtrip");
    write_data_csv(&path, &data).unwrap();
    let loaded = load_csv(&path);
    std::fs::remove_file(&path).ok();
    assert_eq!(loaded.unwrap(), data);
}

#[test]
fn samples_are_written_with_coordinate_headers() {
    let path = temp_path("samples2d");
    write_samples_csv(&path, &[1.0, 2.0, 3.5, -4.0], 2).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text, "x,y\n1,2\n3.5,-4\n");

    write_samples_csv(&path, &[1.0, 2.0, 3.0], 3).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(text, "x0,x1,x2\n1,2,3\n");

    assert!(write_samples_csv(&path, &[1.0, 2.0, 3.0], 2).is_err());
    assert!(write_samples_csv(&path, &[1.0], 0).is_err());
    let missing_dir = std::env::temp_dir().join("qipo-no-such-dir").join("x.csv");
    assert!(write_samples_csv(&missing_dir, &[1.0, 2.0], 2).is_err());
}
