//! Row copying into groups and the elementwise minimum against their CPU twins.

mod common;

use common::{gpu, random};
use qipo::gpu::{GpuBuffer, Recorder};
use qipo::kernels::rows::{Minimum, MinimumParams};
use qipo::reference;
use qipo::selftest::rows::{check_copy_rows, check_minimum, CopyCase, MinimumCase};

#[test]
fn copy_rows_matches_reference() {
    // (groups, per_group, dst_group, dst_first, width): QIPO's slot 0 and slots 1..M, and odd cases.
    for (groups, per_group, dst_group, dst_first, width) in
        [(1, 1, 1, 0, 1), (7, 1, 17, 0, 6), (7, 16, 17, 1, 6), (33, 3, 5, 2, 3), (257, 2, 2, 0, 7)]
    {
        let seed = (groups * per_group) as u64;
        let case = CopyCase { groups, per_group, dst_group, dst_first, width, seed };
        let check = check_copy_rows(gpu(), &case).unwrap();
        assert!(check.passed, "{case:?}: {check}");
    }
}

#[test]
fn minimum_matches_reference() {
    for n in [1usize, 7, 33, 257, 1000] {
        let case = MinimumCase { n, seed: n as u64 };
        let check = check_minimum(gpu(), &case).unwrap();
        assert!(check.passed, "{case:?}: {check}");
    }
}

/// Three seeds' twin heads in one buffer (Q1 then Q2 per seed, with a gap): one dispatch gives
/// every seed's min(Q1, Q2), one seed after another.
#[test]
fn minimum_over_copies_matches_reference() {
    let gpu = gpu();
    let (copies, len, gap) = (3usize, 37usize, 4usize);
    let stride = 2 * len + gap;
    let heads = random(77, copies * stride + 1, 5.0);
    let buf = GpuBuffer::from_slice(gpu, "heads", &heads).unwrap();
    let out = GpuBuffer::zeros(gpu, "out", copies * len + 1).unwrap();
    let op = Minimum::new(gpu, &buf, &buf, &out).unwrap();
    let params = MinimumParams {
        count: (copies * len) as u32,
        a_off: 1,
        b_off: (1 + len) as u32,
        out_off: 1,
        copy_len: len as u32,
        copy_stride: stride as u32,
    };
    let mut rec = Recorder::new(gpu);
    op.record_with(&mut rec, params);
    rec.submit_and_wait().unwrap();
    let got = out.read::<f32>(gpu).unwrap();
    for c in 0..copies {
        let own = &heads[1 + c * stride..];
        let want = reference::rows::minimum(&own[..len], &own[len..2 * len]);
        assert_eq!(&got[1 + c * len..][..len], &want[..], "copy {c}");
    }
    assert_eq!(got[0], 0.0, "nothing written before the output");
}
