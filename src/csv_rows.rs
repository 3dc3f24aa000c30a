//! CSV text as rows of fields, each with the line it starts on, for the readers of toy data
//! and of states.

/// The rows of `text`, each with its fields and the line it starts on, counted as in an
/// editor (the first line is 1). A UTF-8 byte-order mark is dropped, blank lines (empty or
/// only spaces) are skipped and fields are trimmed. Quoted fields may hold commas, doubled
/// quotes and line breaks; rows may have any number of fields.
pub fn rows(text: &str) -> Result<Vec<(usize, Vec<String>)>, csv::Error> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut rows = Vec::new();
    // Line breaks counted so far, up to byte `counted`.
    let (mut breaks, mut counted) = (0, 0);
    for record in reader.records() {
        let record = record?;
        let fields: Vec<String> = record.iter().map(|field| field.trim().to_string()).collect();
        if let [only] = fields.as_slice() {
            if only.is_empty() {
                continue;
            }
        }
        // A record's position is where the reader stood before it, which can be before the
        // line breaks ending the previous row and any blank lines.
        let before = record.position().map_or(0, |p| p.byte() as usize);
        let start = before + text[before..].bytes().take_while(|&b| b == b'\r' || b == b'\n').count();
        breaks += text.as_bytes()[counted..start].iter().filter(|&&b| b == b'\n').count();
        counted = start;
        rows.push((1 + breaks, fields));
    }
    Ok(rows)
}
