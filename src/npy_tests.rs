//! Tests of the `.npy` reader and writer against files built by hand.

use super::*;

/// A hand-built `.npy` file: `version` 1, 2 or 3, the given header fields, then `data`.
fn npy(version: u8, descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
    let fortran = if fortran { "True" } else { "False" };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}");
    let prefix = if version == 1 { 10 } else { 12 };
    while (prefix + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY".to_vec();
    out.extend_from_slice(&[version, 0]);
    if version == 1 {
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// A `[n, d]` f32 matrix file, version 1.0.
fn matrix(values: &[f32], n: usize, d: usize) -> Vec<u8> {
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    npy(1, "<f4", false, &format!("({n}, {d})"), &data)
}

fn read_matrix(bytes: &[u8]) -> Result<(Vec<f32>, [usize; 2]), NpyError> {
    let dir = std::env::temp_dir().join(format!(
        "byzsgd-npy-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.npy");
    std::fs::write(&path, bytes).unwrap();
    let out = read_f32_matrix(&path);
    std::fs::remove_dir_all(&dir).unwrap();
    out
}

#[test]
fn reads_a_matrix_in_every_version() {
    let values = [1.0, -2.5, 3.0, f32::MAX, 0.0, 1e-30];
    assert_eq!(
        read_matrix(&matrix(&values, 2, 3)).unwrap(),
        (values.to_vec(), [2, 3])
    );
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    for version in [2, 3] {
        let bytes = npy(version, "<f4", false, "(3,2)", &data);
        assert_eq!(read_matrix(&bytes).unwrap(), (values.to_vec(), [3, 2]));
    }
}

#[test]
fn round_trip_of_a_vector() {
    let values = [0.5f32, -1.0, 7.25];
    let bytes = encode_f32_vector(&values);
    assert_eq!(
        bytes.len() % 64,
        (4 * values.len()) % 64,
        "data starts on a 64-byte boundary"
    );
    assert_eq!(decode_f32(&bytes).unwrap(), (values.to_vec(), vec![3]));
    let dir = std::env::temp_dir().join(format!("byzsgd-npy-rt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("v.npy");
    write_f32_vector(&path, &values).unwrap();
    assert_eq!(read_f32_array(&path).unwrap(), (values.to_vec(), vec![3]));
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "no temporary file left behind"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn refuses_a_missing_file_naming_it() {
    let err = read_f32_matrix("/nonexistent/x.npy").unwrap_err();
    assert!(matches!(err, NpyError::Io { .. }));
    assert!(err.to_string().contains("/nonexistent/x.npy"), "{err}");
}

#[test]
fn refuses_bad_magic() {
    assert!(matches!(
        decode_f32(b"PK\x03\x04 not npy"),
        Err(NpyError::NotNpy)
    ));
    assert!(matches!(decode_f32(b""), Err(NpyError::NotNpy)));
}

#[test]
fn refuses_unsupported_version() {
    let mut bytes = matrix(&[1.0], 1, 1);
    bytes[6] = 4;
    let err = decode_f32(&bytes).unwrap_err();
    assert!(
        matches!(err, NpyError::UnsupportedVersion { major: 4, minor: 0 }),
        "{err}"
    );
}

#[test]
fn refuses_malformed_headers() {
    let truncated = &matrix(&[1.0], 1, 1)[..20];
    assert!(matches!(
        decode_f32(truncated),
        Err(NpyError::MalformedHeader(_))
    ));
    for shape in ["(2, x)", "[2, 2]", "(2, 2"] {
        let err = decode_f32(&npy(1, "<f4", false, shape, &[0; 16])).unwrap_err();
        assert!(
            matches!(err, NpyError::MalformedHeader(_)),
            "{shape}: {err}"
        );
    }
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let header = "{'descr': '<f4', 'shape': (1,), }\n";
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    let err = decode_f32(&bytes).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
}

#[test]
fn refuses_wrong_dtype_naming_it() {
    let err = read_matrix(&npy(1, "<f8", false, "(1, 1)", &1.0f64.to_le_bytes())).unwrap_err();
    assert!(matches!(&err, NpyError::WrongDtype { found } if found == "<f8"));
    let msg = err.to_string();
    assert!(msg.contains("'<f8'") && msg.contains("'<f4'"), "{msg}");
    let err = decode_f32(&npy(1, ">f4", false, "(1, 1)", &[0; 4])).unwrap_err();
    assert!(matches!(err, NpyError::WrongDtype { .. }));
}

#[test]
fn refuses_fortran_order() {
    let err = read_matrix(&npy(1, "<f4", true, "(2, 2)", &[0; 16])).unwrap_err();
    assert!(matches!(err, NpyError::FortranOrder), "{err}");
}

#[test]
fn refuses_wrong_rank_or_empty_naming_the_shape() {
    for (shape, dims) in [
        ("(4,)", vec![4]),
        ("(1, 2, 2)", vec![1, 2, 2]),
        ("(0, 3)", vec![0, 3]),
        ("()", vec![]),
    ] {
        let count: usize = dims.iter().product();
        let err = read_matrix(&npy(1, "<f4", false, shape, &vec![0; 4 * count])).unwrap_err();
        assert!(
            matches!(&err, NpyError::WrongShape { found, .. } if *found == dims),
            "{shape}: {err}"
        );
        assert!(err.to_string().contains("[n, d]"), "{err}");
    }
}

#[test]
fn refuses_truncated_data() {
    let bytes = matrix(&[1.0, 2.0, 3.0, 4.0], 2, 2);
    let err = read_matrix(&bytes[..bytes.len() - 3]).unwrap_err();
    assert!(
        matches!(
            err,
            NpyError::Truncated {
                expected: 16,
                found: 13
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("16") && err.to_string().contains("13"));
}

#[test]
fn refuses_trailing_bytes() {
    let mut bytes = matrix(&[1.0, 2.0], 1, 2);
    bytes.push(0);
    let err = read_matrix(&bytes).unwrap_err();
    assert!(
        matches!(
            err,
            NpyError::TrailingBytes {
                expected: 8,
                found: 9
            }
        ),
        "{err}"
    );
}
