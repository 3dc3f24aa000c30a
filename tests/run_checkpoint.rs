//! Checkpoints round-trip bit-exactly, are written atomically, and fail with clear errors.

use qipo::run::Checkpoint;

fn sample() -> Checkpoint {
    let mut checkpoint = Checkpoint::new();
    // Values whose bits a lossy path would change: subnormals, negative zero, NaN payloads.
    let odd = vec![f32::MIN_POSITIVE / 3.0, -0.0, f32::from_bits(0x7fc0_1234), f32::MAX, 1.0 / 3.0, -7.25];
    checkpoint.insert("policy.params", &[2, 3], odd).unwrap();
    checkpoint.insert("critic.params", &[5], (0..5).map(|i| i as f32 * 0.1).collect()).unwrap();
    checkpoint.insert("scalar", &[], vec![4.5]).unwrap();
    checkpoint.insert("empty", &[0, 3], Vec::new()).unwrap();
    checkpoint.set_meta("stage", "policy");
    checkpoint.set_meta("step", "1500");
    checkpoint.set_meta_json("rng", &[3u64, 17, 99]).unwrap();
    checkpoint
}

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn a_checkpoint_round_trips_bit_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.safetensors");
    let saved = sample();
    saved.save_atomic(&path).unwrap();
    let loaded = Checkpoint::load(&path).unwrap();

    assert_eq!(loaded.source.as_deref(), Some(path.as_path()));
    assert_eq!(loaded.meta, saved.meta);
    assert_eq!(loaded.tensors.keys().collect::<Vec<_>>(), saved.tensors.keys().collect::<Vec<_>>());
    for (name, (shape, values)) in &saved.tensors {
        let (loaded_shape, loaded_values) = &loaded.tensors[name];
        assert_eq!(loaded_shape, shape, "{name}");
        assert_eq!(bits(loaded_values), bits(values), "{name}");
    }
    assert_eq!(loaded.meta("stage").unwrap(), "policy");
    assert_eq!(loaded.meta_json::<Vec<u64>>("rng").unwrap(), [3, 17, 99]);
    assert_eq!(loaded.tensor("critic.params", 5).unwrap().len(), 5);
}

#[test]
fn saving_replaces_the_old_file_and_leaves_no_temporary_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("critic.safetensors");
    let mut checkpoint = sample();
    checkpoint.save_atomic(&path).unwrap();
    checkpoint.set_meta("step", "3000");
    checkpoint.save_atomic(&path).unwrap();
    assert_eq!(Checkpoint::load(&path).unwrap().meta("step").unwrap(), "3000");
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["critic.safetensors"]);
}

#[test]
fn saving_into_a_missing_folder_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing-folder").join("x.safetensors");
    let message = format!("{:#}", sample().save_atomic(&path).unwrap_err());
    assert!(message.contains("x.safetensors"), "{message}");
}

#[test]
fn bad_files_are_one_line_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.safetensors");
    sample().save_atomic(&good).unwrap();
    let bytes = std::fs::read(&good).unwrap();

    let truncated = dir.path().join("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() - 7]).unwrap();
    let garbage = dir.path().join("garbage.safetensors");
    std::fs::write(&garbage, b"this is not a checkpoint at all").unwrap();
    let empty = dir.path().join("empty.safetensors");
    std::fs::write(&empty, b"").unwrap();
    let missing = dir.path().join("missing.safetensors");

    for path in [&truncated, &garbage, &empty, &missing] {
        let message = format!("{:#}", Checkpoint::load(path).unwrap_err());
        let name = path.file_name().unwrap().to_string_lossy();
        assert!(message.contains(name.as_ref()), "{message}");
        assert!(!message.contains('\n'), "{message}");
    }
    assert!(format!("{:#}", Checkpoint::load(&missing).unwrap_err()).contains("does not exist"));
}

#[test]
fn other_dtypes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f64.safetensors");
    let data = [1.0f64, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F64, vec![2], &data).unwrap();
    std::fs::write(&path, safetensors::serialize([("w", view)], None).unwrap()).unwrap();
    let message = Checkpoint::load(&path).unwrap_err().to_string();
    assert!(message.contains("f64.safetensors") && message.contains("'w'") && message.contains("F32"), "{message}");
}

#[test]
fn asking_for_a_missing_or_misshapen_tensor_names_file_and_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.safetensors");
    sample().save_atomic(&path).unwrap();
    let loaded = Checkpoint::load(&path).unwrap();

    let missing = loaded.tensor("target_critic.params", 5).unwrap_err().to_string();
    assert!(missing.contains("run.safetensors") && missing.contains("'target_critic.params'"), "{missing}");
    let wrong = loaded.tensor("critic.params", 6).unwrap_err().to_string();
    assert!(wrong.contains("run.safetensors") && wrong.contains("expected 6"), "{wrong}");
    let meta = loaded.meta("spec").unwrap_err().to_string();
    assert!(meta.contains("run.safetensors") && meta.contains("'spec'"), "{meta}");
}

#[test]
fn a_tensor_must_fill_its_shape() {
    let mut checkpoint = Checkpoint::new();
    let message = checkpoint.insert("w", &[2, 2], vec![1.0; 3]).unwrap_err().to_string();
    assert!(message.contains("'w'") && message.contains("4"), "{message}");
}

#[test]
fn a_flipped_bit_in_a_tensor_or_its_metadata_is_named_as_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flipped.safetensors");
    sample().save_atomic(&path).unwrap();
    let good = std::fs::read(&path).unwrap();
    // A mantissa bit of the last value (the data comes after the header, in name order).
    let mut bytes = good.clone();
    let last = bytes.len() - 4;
    bytes[last] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let message = format!("{:#}", Checkpoint::load(&path).unwrap_err());
    assert!(message.contains("flipped.safetensors") && message.contains("corrupted"), "{message}");
    assert!(!message.contains('\n'), "{message}");
    // A digit of the step in the header.
    let mut bytes = good.clone();
    let at = good.windows(6).position(|w| w == b"\"1500\"").unwrap();
    bytes[at + 2] = b'6';
    std::fs::write(&path, &bytes).unwrap();
    let message = format!("{:#}", Checkpoint::load(&path).unwrap_err());
    assert!(message.contains("corrupted"), "{message}");
}
